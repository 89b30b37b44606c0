/**
 * `report.txt` -> `report.conflict-<peer>-20261125T101500Z.txt`: the name a kept local version gets when
 * a conflict is resolved by keeping both. The extension stays last so editors still recognise the type.
 */
export function conflictCopyName(name: string, peer: string, when: Date, n = 1): string {
  const stamp = when.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const dot = name.lastIndexOf('.');
  const hasExt = dot > 0;
  let stem = hasExt ? name.slice(0, dot) : name;
  const ext = hasExt ? name.slice(dot) : '';
  const tail = `.conflict-${peer}-${stamp}${n > 1 ? `-${n}` : ''}${ext}`;
  // Within the usual 255-byte name limit: a long name gives up the end of its stem, never the tail.
  while (stem.length > 1 && Buffer.byteLength(stem + tail) > MAX_NAME_BYTES) stem = [...stem].slice(0, -1).join('');
  return `${stem}${tail}`;
}

const MAX_NAME_BYTES = 255;
