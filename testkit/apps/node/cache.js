// Leak: a module-level Map caches every response by request id and never
// evicts, so it grows with every request.
'use strict';
const serve = require('./serve');

class CachedResponse {
  constructor(id) {
    this.id = id;
    // What a real cache holds of its users; redaction tests look for it.
    this.owner = `LEAKHOUND-SECRET-v8 session ${id}`;
    this.headers = { 'content-type': 'application/json' };
    this.body = new Array(256).fill(id);
  }
}

const responseCache = new Map();

serve((id) => {
  const r = new CachedResponse(id);
  responseCache.set(`req-${id}`, r);
  return r.body.length;
});
