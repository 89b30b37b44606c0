// Preloaded into the ssh-sync process (NODE_OPTIONS=--require) by the benchmark: counts the TCP bytes
// of every socket the process connects (net.Socket bytesWritten/bytesRead) and appends one JSON line to
// $BENCH_NETCOUNT at exit. No proxy in the data path, so it does not change what it measures.
'use strict';
const net = require('node:net');
const fs = require('node:fs');
const out = process.env.BENCH_NETCOUNT;
if (out) {
  const live = new Set();
  let sent = 0, received = 0, connections = 0;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    if (!live.has(this)) {
      live.add(this);
      connections++;
      this.once('close', () => {
        sent += this.bytesWritten || 0;
        received += this.bytesRead || 0;
        live.delete(this);
      });
    }
    return connect.apply(this, args);
  };
  process.on('exit', () => {
    for (const s of live) { sent += s.bytesWritten || 0; received += s.bytesRead || 0; }
    try { fs.appendFileSync(out, JSON.stringify({ pid: process.pid, sent, received, connections }) + '\n'); } catch { /* ignore */ }
  });
}
