import { promises as fs } from 'node:fs';
import { after } from 'node:test';
import { Sandbox } from '../helpers/cli';
import { removeDir, tempDir, writeTree, type TreeSpec } from '../helpers/tmp';

const made: string[] = [];
after(async () => {
  for (const dir of made) await removeDir(dir);
});

/** A sandbox with `a` (local) and `b` (peer) laid out as given; removed after the file's tests. */
export async function sandbox(a: TreeSpec = {}, b: TreeSpec = {}): Promise<Sandbox> {
  const root = await tempDir();
  made.push(root);
  const box = new Sandbox(root);
  await fs.mkdir(box.a);
  await fs.mkdir(box.b);
  await writeTree(box.a, a);
  await writeTree(box.b, b);
  return box;
}
