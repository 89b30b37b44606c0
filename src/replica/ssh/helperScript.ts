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
 * receive header {root}. Writes files (and directories) under root, many at once over one stream, with
 *        the same protocol as the SFTP path: each file goes to a temp name beside its target, then, on
 *        commit, the target is checked against the expectation and the temp linked (create: never
 *        replaces what appeared meanwhile) or renamed (replace) over it. Parents are created as needed
 *        and must be real directories (never a symlink). stdin carries frames
 *        `type u8, id u32be, length u32be, payload`:
 *          B begin  JSON {p: path under root, t: temp name, m: mode, u: uid, g: gid, s: mtime (s),
 *                   e: expectation: null (absent) | {k:'f', z: size, t: mtime ms} | {k:'d'} | {k:'l', l: target},
 *                   x: (optional) the first 16 or more hex digits of the SHA-256 the bytes had where
 *                   they were read: anything else received is not put in place (error code Corrupt)}
 *          D data   bytes of file `id`, in order
 *          C commit the file is complete: check, put in place, answer
 *          A abort  drop the temp file (no answer)
 *          M mkdir  JSON {p, m, u, g}: create a directory (an existing one is fine), answer
 *        Answers are JSON lines: {i: id, st: [type f|d|l|o, size, mtime s, mode, uid, gid], h: sha256 hex
 *        of the bytes received (files)} or
 *        {i: id, e: {c: errno code | 'Changed' | 'Unsafe', m: message}}, after a first line {ready: true}
 *        sent as soon as the header is read. A file that failed is answered
 *        at once (its later frames are ignored). At the end of stdin, unfinished temp files are removed.
 *        No symlink is ever followed by the helper unless `follow` is asked for (list only).
 */
export const HELPER_VERSION = '4';

/** The oldest node the helper runs on. */
export const MIN_NODE_MAJOR = 14;
/**
 * The helper's exit status on a node older than MIN_NODE_MAJOR, before it prints anything (node itself
 * never exits with it). The client takes it as "did not start": a helper found in a home directory
 * shared with a host that has a newer node is run on trust, and this is where that host says no.
 */
export const HELPER_EXIT_OLD_NODE = 14;

export const HELPER_SCRIPT = String.raw`'use strict';
// ssh-sync remote helper. Self-contained; needs node >= ${MIN_NODE_MAJOR}. Started by ssh-sync over ssh.
// First, before anything is printed: a node too old says so by its exit status alone.
if (!(Number(String(process.versions && process.versions.node).split('.')[0]) >= ${MIN_NODE_MAJOR})) process.exit(${HELPER_EXIT_OLD_NODE});
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
  if (command === 'receive') return receive();
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
  var buf = Buffer.allocUnsafe(1 << 20);
  var i = 0;
  // Synchronous reads: a stream per file cost ~10 times the read itself for small files (100,000
  // files: ~17 s). The output is flushed (and drained) every 64 KiB.
  function next() {
    while (i < paths.length) {
      var p = abs(root, Buffer.from(paths[i++]));
      var fd = null;
      try {
        // Never blocking on a FIFO (or a device) that took a file's place since the listing.
        fd = fs.openSync(p, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0));
        if (!fs.fstatSync(fd).isFile()) { var notFile = new Error('not a regular file'); notFile.code = 'EINVAL'; throw notFile; }
        var h = crypto.createHash('sha256');
        for (var n = fs.readSync(fd, buf, 0, buf.length, null); n > 0; n = fs.readSync(fd, buf, 0, buf.length, null)) h.update(buf.subarray(0, n));
        field('ok');
        field(h.digest('hex'));
      } catch (e) {
        field('E');
        field(e.code || 'EIO');
      } finally {
        if (fd !== null) fs.closeSync(fd);
      }
      if (pendingBytes > 65536) return flush().then(next);
    }
    return flush().then(function () { process.exit(0); });
  }
  next();
}

// ---- receive ------------------------------------------------------------------------------------
function receive() {
  // Before anything else: the client sends no file until it has seen this (see HelperUploader.started).
  process.stdout.write('{"ready":true}\n');
  var root = String(header.root).replace(/\/+$/, '');
  var C = fs.constants;
  var EMPTY = Buffer.alloc(0);
  var NS = BigInt(1000000000);
  var open = new Map(); // id -> { fd, temp, target, rel, meta } | { failed: true }
  function absOf(rel) { return rel === '' ? (root === '' ? '/' : root) : root + '/' + rel; }
  function answer(obj) {
    var b = Buffer.from(JSON.stringify(obj) + '\n');
    pending.push(b);
    pendingBytes += b.length;
  }
  function problem(c, m) { var e = new Error(m); e.sync = c; return e; }
  function answerError(id, rel, e) {
    answer({ i: id, e: { c: e.sync || e.code || 'EIO', m: e.sync ? e.message : (e.message || String(e)) } });
  }
  function statFields(st) {
    var t = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'o';
    return [t, Number(st.size), Number(st.mtimeNs / NS), Number(st.mode) & 4095, Number(st.uid), Number(st.gid)];
  }
  function ensureParents(rel) {
    var parts = rel.split('/');
    var dir = '';
    for (var i = 0; i < parts.length - 1; i++) {
      dir = dir === '' ? parts[i] : dir + '/' + parts[i];
      var p = absOf(dir);
      var st = null;
      try { st = fs.lstatSync(p); } catch (e) { if (e.code !== 'ENOENT') throw e; }
      if (st === null) {
        try { fs.mkdirSync(p, 0x1ed); } catch (e) { if (e.code !== 'EEXIST') throw e; }
        st = fs.lstatSync(p);
      }
      if (!st.isDirectory()) {
        throw problem('Unsafe', 'refusing to write ' + rel + ': its parent ' + dir + ' is a ' + (st.isSymbolicLink() ? 'symbolic link' : 'file') + ', not a directory');
      }
    }
  }
  // Where /proc/self/fd exists (Linux), each file's parent directory is opened from the root one name
  // at a time, never following a link, and everything else goes through that open directory: a
  // directory swapped for a symlink at any moment cannot carry a write outside the root. Elsewhere the
  // parents are checked by path just before use (a window of microseconds).
  var PINNED = (function () { try { return fs.statSync('/proc/self/fd').isDirectory() && !!C.O_DIRECTORY && !!C.O_NOFOLLOW; } catch (e) { return false; } })();
  var DIR_FLAGS = C.O_RDONLY | (C.O_DIRECTORY || 0) | (C.O_NOFOLLOW || 0);
  function fdPath(fd, name) { return '/proc/self/fd/' + fd + '/' + name; }
  function openParent(rel) {
    var parts = rel.split('/');
    var fd = fs.openSync(absOf(''), C.O_RDONLY | (C.O_DIRECTORY || 0));
    var dir = '';
    try {
      for (var i = 0; i < parts.length - 1; i++) {
        dir = dir === '' ? parts[i] : dir + '/' + parts[i];
        var p = fdPath(fd, parts[i]);
        var next;
        try { next = fs.openSync(p, DIR_FLAGS); }
        catch (e) {
          if (e.code === 'ENOENT') {
            try { fs.mkdirSync(p, 0x1ed); } catch (x) { if (x.code !== 'EEXIST') throw x; }
            try { next = fs.openSync(p, DIR_FLAGS); } catch (x) { e = x; next = undefined; }
          }
          if (next === undefined) {
            if (e.code === 'ELOOP' || e.code === 'ENOTDIR' || e.code === 'EMLINK') {
              var what = 'file';
              try { if (fs.lstatSync(p).isSymbolicLink()) what = 'symbolic link'; } catch (x) { /* gone */ }
              throw problem('Unsafe', 'refusing to write ' + rel + ': its parent ' + dir + ' is a ' + what + ', not a directory');
            }
            throw e;
          }
        }
        fs.closeSync(fd);
        fd = next;
      }
      return fd;
    } catch (e) {
      try { fs.closeSync(fd); } catch (x) { /* closed */ }
      throw e;
    }
  }
  // The files of one input chunk mostly share a directory: its pinned fd is opened once for them
  // (shared, counted) and let go when the chunk is done, so no directory stays pinned for longer than
  // it takes to write what had already arrived.
  var shared = null; // { dir, fd, users }
  function sharedParent(rel) {
    var dir = rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
    if (shared === null || shared.dir !== dir) {
      unshare();
      shared = { dir: dir, fd: openParent(rel), users: 0 };
    }
    shared.users++;
    return shared;
  }
  function unshare() {
    if (shared !== null && shared.users === 0) { try { fs.closeSync(shared.fd); } catch (e) { /* closed */ } }
    if (shared !== null) shared.detached = true;
    shared = null;
  }
  /** The parent of rel as a place to work in: {fd: its open fd or -1, target, at(name): a path to name in it}. */
  function placeOf(rel) {
    var name = rel.slice(rel.lastIndexOf('/') + 1);
    if (PINNED) {
      var dir = sharedParent(rel);
      var fd = dir.fd;
      return { fd: fd, dir: dir, target: fdPath(fd, name), at: function (n) { return fdPath(fd, n); } };
    }
    ensureParents(rel);
    var target = absOf(rel);
    var dirPath = target.slice(0, target.lastIndexOf('/') + 1);
    return { fd: -1, target: target, at: function (n) { return dirPath + n; } };
  }
  function release(place) {
    if (!place || place.fd < 0) return;
    var fd = place.fd;
    var dir = place.dir;
    place.fd = -1;
    // A shared directory is closed by its last user once its chunk is done (see unshare).
    if (dir && (--dir.users > 0 || !dir.detached)) return;
    try { fs.closeSync(fd); } catch (e) { /* closed */ }
  }
  function describe(st) {
    if (st === null) return 'nothing';
    return st.isFile() ? 'a file' : st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'something else';
  }
  function check(rel, p, e) {
    var st = null;
    try { st = fs.lstatSync(p, BIG); } catch (x) { if (x.code !== 'ENOENT') throw x; }
    // A link scanned through (--symlinks follow) is expected as what it points to.
    if (st !== null && e !== null && e.k !== 'l' && st.isSymbolicLink()) { try { st = fs.statSync(p, BIG); } catch (x) { /* dangling */ } }
    var ok;
    if (e === null) ok = st === null;
    else if (st === null) ok = false;
    else if (e.k === 'f') ok = st.isFile() && Number(st.size) === e.z && Number(st.mtimeNs / NS) * 1000 === e.t;
    else if (e.k === 'd') ok = st.isDirectory();
    else if (e.k === 'l') ok = st.isSymbolicLink() && fs.readlinkSync(p, 'utf8') === e.l;
    else ok = false;
    if (!ok) throw problem('Changed', rel + ' changed since it was scanned (found ' + describe(st) + '); it will be looked at again on the next run');
  }
  function setMeta(fd, m) {
    if (m.m !== null && m.m !== undefined) fs.fchmodSync(fd, m.m);
    if (m.u !== null && m.u !== undefined && m.g !== null && m.g !== undefined) {
      // Ownership is kept only where permitted (usually as root).
      try { fs.fchownSync(fd, m.u, m.g); } catch (e) { if (e.code !== 'EPERM') throw e; }
    }
    if (m.s !== null && m.s !== undefined) fs.futimesSync(fd, m.s, m.s);
  }
  function drop(f) {
    if (f.fd !== undefined && f.fd !== null) { try { fs.closeSync(f.fd); } catch (e) { /* closed */ } f.fd = null; }
    if (f.temp) { try { fs.unlinkSync(f.temp); } catch (e) { /* gone */ } f.temp = null; }
    release(f.place);
  }
  function fail(id, rel, e) {
    var f = open.get(id);
    if (f && !f.failed) drop(f);
    open.set(id, { failed: true });
    answerError(id, rel, e);
  }
  function begin(id, req) {
    try {
      if (typeof req.p !== 'string' || req.p === '' || req.p.split('/').some(function (x) { return x === '' || x === '.' || x === '..'; }) || typeof req.t !== 'string' || req.t.indexOf('/') >= 0 || req.t.indexOf('.ssh-sync-tmp.') !== 0) {
        throw problem('Unsafe', 'refusing a bad path');
      }
      var f = { fd: null, temp: null, target: null, place: null, rel: req.p, req: req, hash: crypto.createHash('sha256') };
      open.set(id, f);
      f.place = placeOf(req.p);
      f.target = f.place.target;
      var temp = f.place.at(req.t);
      f.fd = fs.openSync(temp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | (C.O_NOFOLLOW || 0), 0x180);
      f.temp = temp;
    } catch (e) { fail(id, req.p, e); }
  }
  function data(id, bytes) {
    var f = open.get(id);
    if (!f || f.failed) return;
    try {
      var off = 0;
      while (off < bytes.length) off += fs.writeSync(f.fd, bytes, off, bytes.length - off);
      f.hash.update(bytes);
    } catch (e) { fail(id, f.rel, e); }
  }
  function commit(id) {
    var f = open.get(id);
    if (!f) return;
    open.delete(id);
    if (f.failed) return;
    try {
      var digest = f.hash.digest('hex');
      if (typeof f.req.x === 'string' && (f.req.x.length < 16 || digest.slice(0, f.req.x.length) !== f.req.x)) {
        throw problem('Corrupt', f.rel + ': the bytes received are not the bytes read (SHA-256 ' + digest + ', expected ' + f.req.x + '); not put in place');
      }
      setMeta(f.fd, f.req);
      // What is answered is the file as written: the inode the temp name holds is the one put in place.
      var st = statFields(fs.fstatSync(f.fd, BIG));
      fs.closeSync(f.fd);
      f.fd = null;
      // Creating: the link below refuses an existing target, so it is the check.
      if (f.req.e !== null) check(f.rel, f.target, f.req.e);
      if (f.req.e === null) {
        // Creating: a hard link never replaces something that appeared since the check.
        try { fs.linkSync(f.temp, f.target); fs.unlinkSync(f.temp); }
        catch (e) {
          if (e.code === 'EEXIST') throw problem('Changed', f.rel + ' appeared while it was being written; it will be looked at again on the next run');
          if (e.code !== 'EPERM' && e.code !== 'ENOTSUP' && e.code !== 'EOPNOTSUPP' && e.code !== 'EMLINK') throw e;
          check(f.rel, f.target, null);
          fs.renameSync(f.temp, f.target);
        }
      } else fs.renameSync(f.temp, f.target);
      f.temp = null;
      answer({ i: id, st: st, h: digest });
      release(f.place);
    } catch (e) {
      drop(f);
      answerError(id, f.rel, e);
    }
  }
  function abort(id) {
    var f = open.get(id);
    open.delete(id);
    if (f && !f.failed) drop(f);
  }
  function mkdir(id, req) {
    var place = null;
    var dfd = -1;
    try {
      if (typeof req.p !== 'string' || req.p === '' || req.p.split('/').some(function (x) { return x === '' || x === '.' || x === '..'; })) throw problem('Unsafe', 'refusing a bad path');
      place = placeOf(req.p);
      var p = place.target;
      try { fs.mkdirSync(p, 0x1c0); } catch (e) { if (e.code !== 'EEXIST') throw e; }
      // Metadata through the directory itself, opened without following a link put there meanwhile.
      try { dfd = fs.openSync(p, DIR_FLAGS); } catch (e) {
        if (e.code !== 'ELOOP' && e.code !== 'ENOTDIR') throw e;
        var st = null;
        try { st = fs.lstatSync(p); } catch (x) { /* gone */ }
        throw problem('Changed', req.p + ': ' + describe(st) + ' appeared where a directory was to be created');
      }
      if (req.m !== null && req.m !== undefined) fs.fchmodSync(dfd, req.m);
      if (req.u !== null && req.u !== undefined && req.g !== null && req.g !== undefined) {
        try { fs.fchownSync(dfd, req.u, req.g); } catch (e) { if (e.code !== 'EPERM') throw e; }
      }
      answer({ i: id, st: statFields(fs.fstatSync(dfd, BIG)) });
    } catch (e) { answerError(id, req.p, e); }
    finally {
      if (dfd >= 0) { try { fs.closeSync(dfd); } catch (e) { /* closed */ } }
      release(place);
    }
  }
  function frame(type, id, payload) {
    var req;
    if (type === 66 || type === 77) {
      try { req = JSON.parse(payload.toString('utf8')); } catch (e) { return answerError(id, '', problem('Unsafe', 'bad request')); }
    }
    if (type === 66) begin(id, req);
    else if (type === 67) commit(id);
    else if (type === 65) abort(id);
    else if (type === 77) mkdir(id, req);
    else answerError(id, '', problem('Unsafe', 'unknown frame ' + type));
  }
  // Frames are parsed as bytes arrive; file data is written straight through, never buffered whole.
  var head = EMPTY;
  var type = 0;
  var id = 0;
  var left = -1;
  var parts = [];
  onInput = function () {
    var buf = inbuf;
    inbuf = EMPTY;
    var pos = 0;
    while (pos < buf.length) {
      if (left < 0) {
        var take = Math.min(9 - head.length, buf.length - pos);
        head = head.length === 0 && take === 9 ? buf.subarray(pos, pos + 9) : Buffer.concat([head, buf.subarray(pos, pos + take)]);
        pos += take;
        if (head.length < 9) break;
        type = head[0];
        id = head.readUInt32BE(1);
        left = head.readUInt32BE(5);
        head = EMPTY;
        parts = [];
        if (left === 0) { if (type !== 68) frame(type, id, EMPTY); left = -1; }
        continue;
      }
      var n = Math.min(left, buf.length - pos);
      var piece = buf.subarray(pos, pos + n);
      pos += n;
      left -= n;
      if (type === 68) data(id, piece);
      else parts.push(piece);
      if (left === 0) {
        if (type !== 68) frame(type, id, parts.length === 1 ? parts[0] : Buffer.concat(parts));
        left = -1;
      }
    }
    unshare();
    flush();
  };
  onEnd = function () {
    open.forEach(function (f) { if (!f.failed) drop(f); });
    open.clear();
    flush().then(function () { process.exit(0); });
  };
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
