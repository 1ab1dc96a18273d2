// The HTTP harness every Node sample app shares: the app gives a request
// handler; the harness serves it at /req and writes heap snapshots on demand.
//
//   GET /req?id=N          one unit of the app's work (the part that leaks, or not)
//   GET /snapshot?path=P   full GC, then v8.writeHeapSnapshot(P), mode 0600; answers P
//
// Listens on $LISTEN (host:port, port 0 picks one) and prints
// "listening on HOST:PORT" once ready, as testkit::start_listening expects.
// Run with --expose-gc so snapshots hold only what is really retained.
'use strict';
const http = require('http');
const fs = require('fs');
const v8 = require('v8');

module.exports = function serve(handle) {
  const [host, port] = (process.env.LISTEN || '127.0.0.1:0').split(':');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/req') {
      const body = String(handle(Number(url.searchParams.get('id') || 0)));
      res.end(body);
    } else if (url.pathname === '/snapshot') {
      if (global.gc) global.gc();
      const file = v8.writeHeapSnapshot(url.searchParams.get('path'));
      fs.chmodSync(file, 0o600); // heap snapshots hold secrets
      res.end(file);
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  server.listen(Number(port), host, () => {
    const a = server.address();
    console.log(`listening on ${a.address}:${a.port}`);
  });
};
