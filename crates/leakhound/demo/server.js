// The app `leakhound demo` runs, and the Node app of the runner tests. It has
// no debug endpoint and no leakhound code at all: the inspector (opened by
// leakhound with SIGUSR1, or turned on by `soak` itself) is the only way in.
//
// Its leak is the classic one: a cache of sessions keyed by request, with no
// eviction. GET /work?n=N handles N requests. It listens on $LISTEN, or on a
// free loopback port, and prints `listening on ADDR`.
'use strict';
const http = require('http');

class Session {
  constructor(id) {
    this.id = id;
    this.createdAt = Date.now();
    // What a real session drags along: a history of small records.
    this.history = Array.from({ length: 64 }, (_, i) => ({ at: this.createdAt + i, path: `/item/${id}/${i}` }));
  }
}

// The leak: every session is cached, and nothing ever evicts one.
const sessionCache = new Map();
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
    sessionCache.set(s.id, s);
  }
  res.end(`ok ${n}\n`);
});

const [host, port] = (process.env.LISTEN || '127.0.0.1:0').split(':');
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
