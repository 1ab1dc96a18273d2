// No leak: a bounded LRU cache (Map insertion order, evicting the oldest)
// and plenty of short-lived garbage per request.
'use strict';
const serve = require('./serve');

const CAPACITY = 50;

class Entry {
  constructor(id) {
    this.id = id;
    this.body = new Array(256).fill(id);
  }
}

const lru = new Map();

serve((id) => {
  const key = `req-${id}`;
  lru.delete(key);
  lru.set(key, new Entry(id));
  if (lru.size > CAPACITY) lru.delete(lru.keys().next().value);
  // Garbage: parsed, transformed and dropped.
  let junk = [];
  for (let i = 0; i < 200; i++) junk.push({ i, s: `row-${id}-${i}`, a: [i, i + 1] });
  junk = junk.map((r) => JSON.stringify(r)).join('\n');
  return junk.length;
});
