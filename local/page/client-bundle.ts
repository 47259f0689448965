import { resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { CLIENT_BUNDLE_OPTIONS, bundleClient as buildClientBundle } from '../../client/build.js';
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

/** The page's script bundled with the SDK's own options (client/build.ts), the SDK left to `/client.js`. */
async function bundle(entry: string, plugins: Plugin[] = []): Promise<string> {
  const result = await build({ ...CLIENT_BUNDLE_OPTIONS, entryPoints: [entry], plugins, metafile: false });
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
