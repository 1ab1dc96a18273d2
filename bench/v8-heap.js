// Writes three large heap snapshots (>= 500 MB each) of one process that leaks
// a known class, LeakedSession, between them: the input of bench/v8.sh.
//
//   node --expose-gc --max-old-space-size=8192 bench/v8-heap.js OUTDIR [RECORDS]
//
// The bulk of the heap is RECORDS steady Record objects (each with its own
// string and array, about five heap nodes); 40,000 LeakedSession objects are
// added to a global Map after the first snapshot and 40,000 more after the
// second, with short-lived garbage in between.
'use strict';
const v8 = require('v8');
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
const records = Number(process.argv[3] || 1300000);

class Record {
  constructor(i, parent) {
    this.id = i;
    this.name = `record-${i}-${(i * 2654435761) % 1000003}`;
    this.tags = [i & 7, i & 15];
    this.parent = parent;
  }
}

class LeakedSession {
  constructor(id) {
    this.id = id;
    this.user = `user-${id}`;
    this.scratch = new Array(16).fill(id);
  }
}

// Globals, as a long-lived service holds them (V8 would free dead locals).
const store = (globalThis.store = []);
for (let i = 0; i < records; i++) store.push(new Record(i, store[i >> 1]));
const sessions = (globalThis.sessions = new Map());
let next = 0;

function garbage() {
  let g = [];
  for (let i = 0; i < 200000; i++) g.push({ i, s: `tmp-${i}` });
  return g.length;
}

function snapshot(name) {
  global.gc();
  const file = v8.writeHeapSnapshot(path.join(out, name));
  fs.chmodSync(file, 0o600);
  console.log(`${file} ${fs.statSync(file).size}`);
}

snapshot('s1.heapsnapshot');
for (let i = 0; i < 40000; i++, next++) sessions.set(`s${next}`, new LeakedSession(next));
garbage();
snapshot('s2.heapsnapshot');
for (let i = 0; i < 40000; i++, next++) sessions.set(`s${next}`, new LeakedSession(next));
garbage();
snapshot('s3.heapsnapshot');
