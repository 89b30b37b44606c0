import { createHash } from 'node:crypto';

/**
 * The remote helper: a small self-contained program run with `node` (>= 14) on the server over `exec`.
 * It is uploaded over SFTP to `~/.cache/ssh-sync/helper-<VERSION>-<sha8>.js` and checked by hash
 * before every run (see remoteHelper.ts). Bump VERSION whenever the protocol changes.
 *
 * Protocol (all commands): `node <helper> <command>`; the first line of stdin is a JSON request
 * header. Output is a stream of NUL-terminated fields, grouped in records of a fixed width per command.
 *
 * list   header {root, start, follow}. Records of 11 fields:
 *          type, id, size, mtimeMs, mode (octal), uid, gid, ino, dev, link target or errno code, path
 *        `path` is relative to `root` (raw bytes of the names). type is f (file), d (directory),
 *        l (symlink), o (something else), N (a link that cannot be followed: --follow only),
 *        X (a directory that is a symlink loop: --follow only), E (lstat or readdir failed; errno code in
 *        the target field), D (directory `id` listed completely).
 *        Directories are listed only when the client asks: stdin carries `<id>\n` lines (id 0 is
 *        `start`). A directory record carries a fresh id. The helper exits when stdin ends and every
 *        request has been answered. This is how the client's filter prunes at the source: an excluded
 *        directory (node_modules) is simply never asked for.
 * hash   header {root, paths}. Records of 2 fields per path, in order: `ok, <sha256 hex>` or `E, <errno code>`.
 * watch  header {root}. stdin then carries NUL-terminated commands: `w<path>` watch a directory,
 *        `n<path>` watch a directory that just appeared and report what is already in it, `s` sync
 *        (answered by `r`). Output records (1 field): `c<path>` something changed at path, `d<path>` a
 *        directory appeared at path (the client answers `n<path>` if it wants it watched), `o` overflow
 *        (events were lost: rescan), `e<message>` an error. It exits when stdin ends.
 *        No symlink is ever followed by the helper unless `follow` is asked for (list only).
 */
export const HELPER_VERSION = '1';

export const HELPER_SCRIPT = String.raw`'use strict';
// ssh-sync remote helper. Self-contained; needs node >= 14. Started by ssh-sync over ssh.
var fs = require('fs');
var crypto = require('crypto');
var NUL = Buffer.from([0]);
var SLASH = Buffer.from('/');
var command = process.argv[2];
var BIG = { bigint: true };

var pending = [];
var pendingBytes = 0;
function field(value) {
  var b = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
  pending.push(b, NUL);
  pendingBytes += b.length + 1;
}
function flush() {
  if (pending.length === 0) return Promise.resolve();
  var chunk = Buffer.concat(pending, pendingBytes);
  pending = [];
  pendingBytes = 0;
  if (process.stdout.write(chunk)) return Promise.resolve();
  return new Promise(function (resolve) { process.stdout.once('drain', resolve); });
}
function maybeFlush() {
  return pendingBytes > 65536 ? flush() : Promise.resolve();
}
function join(dir, name) {
  return dir.length === 0 ? name : Buffer.concat([dir, SLASH, name]);
}
function abs(root, rel) {
  return rel.length === 0 ? root : Buffer.concat([root, SLASH, rel]);
}
function fail(message) {
  process.stderr.write('ssh-sync helper: ' + message + '\n');
  process.exit(2);
}

// stdin: one JSON header line, then command-specific input.
var inbuf = Buffer.alloc(0);
var header = null;
var onInput = null;
var onEnd = null;
process.stdin.on('data', function (d) {
  inbuf = inbuf.length === 0 ? d : Buffer.concat([inbuf, d]);
  if (header === null) {
    var nl = inbuf.indexOf(10);
    if (nl < 0) return;
    try { header = JSON.parse(inbuf.subarray(0, nl).toString('utf8')); } catch (e) { fail('bad request header'); }
    inbuf = inbuf.subarray(nl + 1);
    start();
  }
  if (onInput) onInput();
});
process.stdin.on('end', function () {
  if (header === null) fail('no request header');
  if (onEnd) onEnd();
});
process.stdout.on('error', function () { process.exit(0); });

function start() {
  if (command === 'list') return list();
  if (command === 'hash') return hash();
  if (command === 'watch') return watch();
  fail('unknown command ' + command);
}

// ---- list ---------------------------------------------------------------------------------------
function list() {
  var root = Buffer.from(header.root);
  var follow = !!header.follow;
  var nextId = 1;
  var dirs = new Map(); // id -> { rel, chain }
  dirs.set(0, { rel: Buffer.from(header.start || ''), chain: null });
  var queue = [];
  var inputEnded = false;
  var running = false;
  var MS = BigInt(1000000);
  function record(type, id, st, target, rel) {
    // Whole milliseconds, floored from nanoseconds (a float mtimeMs can round up into the next second).
    var head = st
      ? type + '\0' + id + '\0' + st.size + '\0' + st.mtimeNs / MS + '\0' + (Number(st.mode) & 4095).toString(8) + '\0' + st.uid + '\0' + st.gid + '\0' + st.ino + '\0' + st.dev + '\0'
      : type + '\0' + id + '\0\0\0\0\0\0\0\0';
    var h = Buffer.from(head);
    var t = Buffer.isBuffer(target) ? target : Buffer.from(String(target));
    pending.push(h, t, NUL, rel, NUL);
    pendingBytes += h.length + t.length + rel.length + 2;
  }
  function inChain(node, key) {
    for (var n = node; n; n = n.parent) if (n.key === key) return true;
    return false;
  }
  function listDir(id) {
    var dir = dirs.get(id);
    if (!dir) return;
    dirs.delete(id);
    var names;
    try {
      names = fs.readdirSync(abs(root, dir.rel), { encoding: 'buffer' });
    } catch (e) {
      record('E', id, null, e.code || 'EIO', dir.rel);
      record('D', id, null, '', dir.rel);
      return;
    }
    for (var i = 0; i < names.length; i++) {
      var rel = join(dir.rel, names[i]);
      var p = abs(root, rel);
      var st;
      try { st = fs.lstatSync(p, BIG); } catch (e) {
        if (e.code !== 'ENOENT') record('E', '', null, e.code || 'EIO', rel);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (!follow) {
          var target = '';
          try { target = fs.readlinkSync(p, { encoding: 'buffer' }); } catch (e) { record('E', '', null, e.code || 'EIO', rel); continue; }
          record('l', '', st, target, rel);
          continue;
        }
        try { st = fs.statSync(p, BIG); } catch (e) { record('N', '', null, '', rel); continue; }
      }
      if (st.isFile()) record('f', '', st, '', rel);
      else if (st.isDirectory()) {
        var isTemp = names[i].toString('latin1').indexOf('.ssh-sync-tmp.') === 0;
        var key = st.dev + ':' + st.ino;
        if (follow && inChain(dir.chain, key)) {
          record('X', '', st, '', rel);
          continue;
        }
        var childId = isTemp ? '' : nextId++;
        if (!isTemp) dirs.set(childId, { rel: rel, chain: follow ? { key: key, parent: dir.chain } : null });
        record('d', childId, st, '', rel);
      } else record('o', '', st, '', rel);
    }
    record('D', id, null, '', dir.rel);
  }
  if (follow) {
    try {
      var s = fs.statSync(abs(root, dirs.get(0).rel), BIG);
      dirs.get(0).chain = { key: s.dev + ':' + s.ino, parent: null };
    } catch (e) { /* reported by the listing */ }
  }
  function pump() {
    if (running) return;
    running = true;
    (function step() {
      var n = 0;
      while (queue.length > 0 && pendingBytes <= 262144 && n++ < 4096) listDir(queue.shift());
      var wait = pendingBytes > 262144 || queue.length === 0 ? flush() : Promise.resolve();
      wait.then(function () {
        if (queue.length > 0) return setImmediate(step);
        running = false;
        if (inputEnded) process.exit(0);
      });
    })();
  }
  onInput = function () {
    var nl;
    while ((nl = inbuf.indexOf(10)) >= 0) {
      var line = inbuf.subarray(0, nl).toString('utf8');
      inbuf = inbuf.subarray(nl + 1);
      if (line !== '') queue.push(Number(line));
    }
    pump();
  };
  onEnd = function () {
    inputEnded = true;
    if (!running) flush().then(function () { process.exit(0); });
  };
}

// ---- hash ---------------------------------------------------------------------------------------
function hash() {
  var root = Buffer.from(header.root);
  var paths = header.paths || [];
  var i = 0;
  function next() {
    if (i >= paths.length) return flush().then(function () { process.exit(0); });
    var p = abs(root, Buffer.from(paths[i++]));
    var h = crypto.createHash('sha256');
    var s = fs.createReadStream(p);
    s.on('error', function (e) { field('E'); field(e.code || 'EIO'); maybeFlush().then(next); });
    s.on('data', function (d) { h.update(d); });
    s.on('end', function () { field('ok'); field(h.digest('hex')); maybeFlush().then(next); });
  }
  next();
}

// ---- watch --------------------------------------------------------------------------------------
function watch() {
  var root = Buffer.from(header.root);
  var watchers = new Map(); // rel (latin1 key) -> { w, ino }
  var changed = new Set();
  var overflow = false;
  var timer = null;
  var MAX = 10000;
  function key(rel) { return rel.toString('latin1'); }
  function fromKey(k) { return Buffer.from(k, 'latin1'); }
  function emit(rel) {
    if (overflow) return;
    changed.add(key(rel));
    if (changed.size > MAX) { overflow = true; changed.clear(); }
    schedule();
  }
  function schedule() {
    if (timer === null) timer = setTimeout(send, 30);
  }
  function send() {
    timer = null;
    if (overflow) { field('o'); overflow = false; }
    changed.forEach(function (k) {
      var rel = fromKey(k);
      var kind = 'c';
      try {
        var st = fs.lstatSync(abs(root, rel));
        if (st.isDirectory()) {
          var known = watchers.get(k);
          if (!known || known.ino !== st.ino) {
            if (known) unwatchUnder(k);
            kind = 'd';
          }
        }
      } catch (e) { unwatchUnder(k); }
      field(Buffer.concat([Buffer.from(kind), rel]));
    });
    changed.clear();
    flush();
  }
  function unwatchUnder(k) {
    var prefix = k + '/';
    watchers.forEach(function (v, other) {
      if (other === k || other.indexOf(prefix) === 0) { try { v.w.close(); } catch (e) { /* gone */ } watchers.delete(other); }
    });
  }
  function add(rel, report) {
    var k = key(rel);
    var p = abs(root, rel);
    var st;
    try { st = fs.lstatSync(p); } catch (e) { return; }
    if (!st.isDirectory()) return;
    if (watchers.has(k)) { if (watchers.get(k).ino === st.ino) return; unwatchUnder(k); }
    var w;
    try {
      w = fs.watch(p, { persistent: true, encoding: 'buffer' }, function (_type, name) {
        if (name && name.length > 0) emit(join(rel, name));
        else { overflow = true; schedule(); }
      });
    } catch (e) {
      field('e' + 'cannot watch ' + p.toString() + ': ' + (e.code || e.message));
      overflow = true;
      schedule();
      return;
    }
    w.on('error', function (e) {
      var cur = watchers.get(k);
      if (cur && cur.w === w) watchers.delete(k);
      try { w.close(); } catch (x) { /* gone */ }
      if (e && e.code === 'EPERM' || e && e.code === 'ENOENT') { emit(rel); return; }
      field('e' + 'watcher failed: ' + (e && (e.code || e.message))); overflow = true; schedule();
    });
    watchers.set(k, { w: w, ino: st.ino });
    if (report) {
      var names = [];
      try { names = fs.readdirSync(p, { encoding: 'buffer' }); } catch (e) { /* reported as changed anyway */ }
      for (var i = 0; i < names.length; i++) emit(join(rel, names[i]));
    }
  }
  onInput = function () {
    var z;
    while ((z = inbuf.indexOf(0)) >= 0) {
      var cmd = inbuf.subarray(0, z);
      inbuf = inbuf.subarray(z + 1);
      var c = String.fromCharCode(cmd[0]);
      if (c === 'w') add(cmd.subarray(1), false);
      else if (c === 'n') add(cmd.subarray(1), true);
      else if (c === 's') { field('r'); flush(); }
    }
  };
  onEnd = function () { process.exit(0); };
}
`;

/** Hex SHA-256 of the helper text, as uploaded. */
export const HELPER_SHA256 = createHash('sha256').update(HELPER_SCRIPT).digest('hex');

/** The helper's file name under ~/.cache/ssh-sync. */
export const HELPER_FILE = `helper-${HELPER_VERSION}-${HELPER_SHA256.slice(0, 8)}.js`;
