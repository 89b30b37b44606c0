import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conflictCopyName } from '../../src/session/conflictName';

describe('conflictCopyName', () => {
  const when = new Date('2026-11-25T10:15:00.123Z');

  test('keeps the extension last and numbers later candidates', () => {
    assert.equal(conflictCopyName('report.txt', 'host', when), 'report.conflict-host-20261125T101500Z.txt');
    assert.equal(conflictCopyName('report.txt', 'host', when, 2), 'report.conflict-host-20261125T101500Z-2.txt');
    assert.equal(conflictCopyName('Makefile', 'host', when), 'Makefile.conflict-host-20261125T101500Z');
  });

  test('stays within 255 bytes by shortening the stem, never splitting a character', () => {
    const long = 'é'.repeat(127) + '.md'; // 257 bytes
    const name = conflictCopyName(long, 'host', when, 12);
    assert.ok(Buffer.byteLength(name) <= 255, `${Buffer.byteLength(name)} bytes`);
    assert.match(name, /^é+\.conflict-host-20261125T101500Z-12\.md$/);
  });
});
