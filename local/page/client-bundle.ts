import { resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { bundleClient as buildClientBundle } from '../../client/build.js';
import { PROJECT_ROOT } from '../project-root.js';

/** The demo page's script, bundled as `GET /page.js`. */
const PAGE_ENTRY = resolve(PROJECT_ROOT, 'local/page/app.ts');

/**
 * The page imports the SDK from source (so it type-checks); in the browser that import
 * becomes `/client.js`, the same bundle any other page would load.
 */
const sdkFromBundle: Plugin = {
  name: 'sdk-from-bundle',
  setup(builder) {
    builder.onResolve({ filter: /\/client\/index\.js$/ }, () => ({ path: '/client.js', external: true }));
  },
};

async function bundle(entry: string, plugins: Plugin[] = []): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Node only: the SDK imports `ws` dynamically when there is no global WebSocket.
    external: ['ws'],
    plugins,
    // The schemas use zod/mini, which tree-shakes; minified, the SDK is about 16 KB gzipped.
    minify: true,
    logLevel: 'silent',
    legalComments: 'none',
  });
  return result.outputFiles[0]!.text;
}

/** The SDK as one ES module for browsers: the client package's own build (client/build.ts), the same file as its dist/index.js. */
export async function bundleClient(): Promise<string> {
  return (await buildClientBundle()).code;
}

/** The demo page's script, importing the SDK from `/client.js`. */
export function bundlePage(): Promise<string> {
  return bundle(PAGE_ENTRY, [sdkFromBundle]);
}
