// What-if shim (bench --nodelay-shim only): turns Nagle's algorithm off (TCP_NODELAY) on every socket
// the ssh-sync process connects, i.e. what `client.setNoDelay(true)` in src/replica/ssh would do.
'use strict';
const net = require('node:net');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  this.setNoDelay(true);
  return connect.apply(this, args);
};
