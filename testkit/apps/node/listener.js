// Leak: every request subscribes to a process-wide EventEmitter and never
// unsubscribes. The listener closure captures the request's context, so each
// RequestContext (and its payload) lives as long as the emitter.
'use strict';
const { EventEmitter } = require('events');
const serve = require('./serve');

class RequestContext {
  constructor(id) {
    this.id = id;
    // What a real request holds of its user; redaction tests look for it.
    this.owner = `LEAKHOUND-SECRET-v8 request ${id}`;
    this.startedAt = Date.now();
    this.payload = new Array(256).fill(id);
  }
}

const configBus = new EventEmitter();
configBus.setMaxListeners(0);

serve((id) => {
  const ctx = new RequestContext(id);
  configBus.on('config-changed', function onConfigChanged(cfg) {
    ctx.config = cfg;
  });
  return ctx.payload.length;
});
