// A Node server with no debug endpoint and no leakhound code at all: the
// inspector (opened by leakhound with SIGUSR1, or by `soak` itself) is the
// only way in. It leaks: every request's record is kept in a module-level
// map that nothing ever deletes from. GET /work?n=N handles N requests.
'use strict';
const http = require('http');

class Session {
  constructor(id) {
    this.id = id;
    this.payload = 'x'.repeat(16 * 1024) + id;
    this.createdAt = Date.now();
  }
}

const sessions = new Map();
let next = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/work') {
    res.writeHead(404);
    res.end('not found\n');
    return;
  }
  const n = Number(url.searchParams.get('n') || '1');
  for (let i = 0; i < n; i++) {
    const s = new Session(next++);
    sessions.set(s.id, s);
  }
  res.end(`ok ${n}\n`);
});

const [host, port] = (process.env.LISTEN || '127.0.0.1:3000').split(':');
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
