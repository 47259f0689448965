import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUNCTIONS } from '../protocol/routes.js';
import { bundleFunctions } from '../bench/function-bundles.js';

/**
 * Bundle size of every function of the route table, bundled as the CDK bundles it (the
 * esbuild options of lib/service-function.ts, FUNCTION_BUNDLING: ESM, minified), and how
 * many copies of each npm package went into it (two installed versions of one package
 * both bundled show as 2). Prints a Markdown table; writes nothing else.
 *
 *   npx tsx scripts/bundle-sizes.ts
 */

/** The npm package a bundled input belongs to, with the path that tells its copies apart. */
function packageCopy(input: string): { readonly name: string; readonly copy: string } | undefined {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const rest = input.slice(at + 'node_modules/'.length).split('/');
  const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  if (!name) return undefined;
  return { name, copy: `${input.slice(0, at)}node_modules/${name}` };
}

const outDir = await mkdtemp(join(tmpdir(), 'bundle-sizes-'));
try {
  const bundles = await bundleFunctions(FUNCTIONS, outDir);
  console.log('| Function | Bundle (KB) | Packages bundled more than once |');
  console.log('|---|---:|---|');
  let totalKb = 0;
  for (const { definition, outfile, output } of bundles) {
    const kb = (await stat(outfile)).size / 1024;
    totalKb += kb;
    const copies = new Map<string, Set<string>>();
    for (const input of Object.keys(output.inputs)) {
      const owner = packageCopy(input);
      if (!owner) continue;
      copies.set(owner.name, (copies.get(owner.name) ?? new Set()).add(owner.copy));
    }
    const repeated = [...copies].filter(([, paths]) => paths.size > 1).map(([name, paths]) => `${name} ×${paths.size}`);
    console.log(`| ${definition.id} | ${kb.toFixed(1)} | ${repeated.join(', ') || '-'} |`);
  }
  console.log(`| **All ${FUNCTIONS.length}** | ${totalKb.toFixed(1)} | |`);
} finally {
  await rm(outDir, { recursive: true, force: true });
}
