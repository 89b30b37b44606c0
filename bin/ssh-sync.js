#!/usr/bin/env node
'use strict';
// The `ssh-sync` command: runs the bundled CLI (built by `npm run build`, which `npm ci` runs).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`ssh-sync: ${bundle} is missing; run 'npm run build' in ${path.dirname(__dirname)} first\n`);
  process.exit(1);
}
require(bundle);
