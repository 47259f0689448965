import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SourceWatcher } from '../../local/lambda/source-watcher.js';

/** What `npm run dev` reloads on: source files under the watched folders, one report per burst. */

let root: string;
let watcher: SourceWatcher | undefined;
let reports: (readonly string[])[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'source-watcher-'));
  await mkdir(join(root, 'lambdas', 'handlers'), { recursive: true });
  await mkdir(join(root, 'local'));
  reports = [];
  watcher = new SourceWatcher({
    root,
    folders: ['lambdas', 'protocol'],
    debounceMs: 100,
    onChange: (files) => reports.push([...files].sort()),
  });
});

afterEach(async () => {
  watcher?.close();
  await rm(root, { recursive: true, force: true });
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function firstReport(): Promise<readonly string[]> {
  const deadline = Date.now() + 5_000;
  while (reports.length === 0) {
    if (Date.now() > deadline) throw new Error('no change reported within 5 s');
    await pause(20);
  }
  return reports[0]!;
}

describe('SourceWatcher', () => {
  it('reports a burst of changes once, with every source file in it, from nested folders too', async () => {
    // Act: the burst in one turn of the event loop, so that a stalled machine cannot put
    // the debounce's quiet time between two of its writes.
    writeFileSync(join(root, 'lambdas', 'handlers', 'a.ts'), 'export {};\n');
    writeFileSync(join(root, 'lambdas', 'b.ts'), 'export {};\n');
    writeFileSync(join(root, 'lambdas', 'handlers', 'a.ts'), 'export const a = 1;\n');

    // Assess
    expect(await firstReport()).toEqual([join('lambdas', 'b.ts'), join('lambdas', 'handlers', 'a.ts')]);
    await pause(300);
    expect(reports).toHaveLength(1);
  });

  it('ignores editor swap and backup files, and folders it does not watch', async () => {
    // Act: none of these is a handler source; then one that is, as a marker
    await writeFile(join(root, 'lambdas', 'handlers', '.a.ts.swp'), 'x');
    await writeFile(join(root, 'lambdas', 'handlers', 'a.ts~'), 'x');
    await writeFile(join(root, 'local', 'runtime.ts'), 'export {};\n');
    await pause(300);
    await writeFile(join(root, 'lambdas', 'marker.ts'), 'export {};\n');

    // Assess: the only report is the marker's
    expect(await firstReport()).toEqual([join('lambdas', 'marker.ts')]);
    await pause(300);
    expect(reports).toEqual([[join('lambdas', 'marker.ts')]]);
  });
});
