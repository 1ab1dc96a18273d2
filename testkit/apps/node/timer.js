// Leak: every request starts a polling interval that is never cleared. Node's
// timer list keeps each Timeout, its callback, and the SessionPoller the
// callback captures.
'use strict';
const serve = require('./serve');

class SessionPoller {
  constructor(id) {
    this.id = id;
    this.polls = 0;
    this.history = new Array(256).fill(id);
  }
  poll() {
    this.polls++;
  }
}

serve((id) => {
  const poller = new SessionPoller(id);
  setInterval(() => poller.poll(), 3600 * 1000);
  return poller.history.length;
});
