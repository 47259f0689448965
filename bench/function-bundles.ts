import { join, relative } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { FUNCTION_BUNDLING } from '../lib/service-function.js';
import type { FunctionDefinition } from '../protocol/routes.js';
import { PROJECT_ROOT } from '../local/project-root.js';

/** One function's bundle as the CDK builds it: where it was written and what went in. */
export interface FunctionBundle {
  readonly definition: FunctionDefinition;
  /** `{outDir}/{id}/index.mjs`. */
  readonly outfile: string;
  readonly output: Metafile['outputs'][string];
}

/**
 * Bundles every function of `definitions` as the CDK bundles it (the esbuild options of
 * lib/service-function.ts, FUNCTION_BUNDLING: ESM, minified), in one esbuild call with
 * one entry point each and no code splitting: each output is the bundle a build of that
 * function alone makes, and node_modules is read once. Shared by bench B4 (cold start)
 * and scripts/bundle-sizes.ts.
 */
export async function bundleFunctions(definitions: readonly FunctionDefinition[], outDir: string): Promise<FunctionBundle[]> {
  const { metafile } = await build({
    entryPoints: definitions.map((definition) => ({ in: join(PROJECT_ROOT, definition.entry), out: join(definition.id, 'index') })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: false,
    platform: 'node',
    target: FUNCTION_BUNDLING.target,
    format: FUNCTION_BUNDLING.format,
    mainFields: [...FUNCTION_BUNDLING.mainFields],
    banner: { js: FUNCTION_BUNDLING.banner },
    minify: FUNCTION_BUNDLING.minify,
    external: [...FUNCTION_BUNDLING.externalModules],
    logLevel: 'error',
    metafile: true,
  });
  return definitions.map((definition) => {
    const outfile = join(outDir, definition.id, 'index.mjs');
    const output = metafile.outputs[relative(process.cwd(), outfile)];
    if (!output) throw new Error(`esbuild wrote no ${outfile}`);
    return { definition, outfile, output };
  });
}
