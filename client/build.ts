/**
 * Builds the client SDK: one ES module (esbuild, zod bundled in, `ws` left as the dynamic
 * import only Node without a global WebSocket reaches) and its declarations (tsc, from
 * client/tsconfig.build.json). The package's dist/, `npm run bundle:client` and the demo
 * page's `GET /client.js` all come from {@link bundleClient}, with the same options.
 *
 *   tsx client/build.ts            writes client/dist (npm run build:client; npm pack runs it)
 *   tsx client/build.ts --stdout   prints the bundle (npm run bundle:client)
 *
 * It follows imports, wherever the shared protocol lives: only the declaration files the
 * entry's declarations reach are published, and the build fails if one of them imports a
 * package (the published types must need nothing, zod included).
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions } from 'esbuild';

const CLIENT_DIR = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(CLIENT_DIR, 'index.ts');
const BUILD_TSCONFIG = join(CLIENT_DIR, 'tsconfig.build.json');
/** Where `npm run build:client` writes; client/package.json's `exports` point into it. */
export const CLIENT_DIST = join(CLIENT_DIR, 'dist');

/** The one esbuild configuration of the SDK. */
export const CLIENT_BUNDLE_OPTIONS = {
  entryPoints: [ENTRY],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  // Node only: the SDK imports `ws` dynamically when there is no global WebSocket.
  external: ['ws'],
  // The schemas use zod/mini, which tree-shakes: minified, about 17 KB gzipped.
  minify: true,
  legalComments: 'none',
  logLevel: 'silent',
  metafile: true,
} as const satisfies BuildOptions;

export interface ClientBundle {
  readonly code: string;
  /** The packages bundled in (from node_modules), with their folders: their licenses ship beside the bundle. */
  readonly bundledPackages: ReadonlyMap<string, string>;
}

/** The SDK as one ES module for browsers and Node.js. */
export async function bundleClient(): Promise<ClientBundle> {
  const result = await build(CLIENT_BUNDLE_OPTIONS);
  const bundledPackages = new Map<string, string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input.split(sep).join('/'));
    if (match) bundledPackages.set(match[2]!, resolve(match[1]!));
  }
  return { code: result.outputFiles[0]!.text, bundledPackages };
}

/**
 * The declaration files of the public API: tsc's output for client/index.ts, then only
 * the files its declarations reach (an internal module such as the zod schemas is left
 * out). Keys are paths relative to dist/types. Fails on a type error or when a reached
 * declaration imports a package.
 */
export async function emitDeclarations(): Promise<Map<string, string>> {
  // Loaded here: the local runtime imports this module for bundleClient only.
  const { default: ts } = await import('typescript');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    BUILD_TSCONFIG,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error(`${BUILD_TSCONFIG}: unreadable`);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const emitted = new Map<string, string>();
  const result = program.emit(undefined, (fileName, text) => emitted.set(resolve(fileName), text), undefined, true);
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    throw new Error(
      ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (name) => name, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\n' }),
    );
  }
  const outDir = resolve(parsed.options.outDir!);
  const rootDir = resolve(parsed.options.rootDir!);
  const entry = join(outDir, relative(rootDir, ENTRY)).replace(/\.ts$/, '.d.ts');
  const reached = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(relative(outDir, file))) continue;
    const text = emitted.get(file);
    if (text === undefined) throw new Error(`${relative(CLIENT_DIR, file)}: reached from ${relative(CLIENT_DIR, entry)} but not emitted`);
    reached.set(relative(outDir, file), text);
    for (const specifier of importedSpecifiers(text)) {
      if (!specifier.startsWith('.')) {
        throw new Error(`${relative(outDir, file)} imports '${specifier}': the published types must not need a package`);
      }
      pending.push(resolve(dirname(file), specifier).replace(/\.js$/, '.d.ts'));
    }
  }
  return reached;
}

/** Every module a declaration file refers to: imports, exports from, import() types, type references. */
function importedSpecifiers(text: string): string[] {
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /<reference\s+(?:types|path)="([^"]+)"/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

export interface PackageBuild {
  readonly files: readonly string[];
  /** dist/index.js: bytes, and bytes gzipped. */
  readonly bundleBytes: number;
  readonly bundleGzipBytes: number;
}

/** Writes the package's dist/: the bundle, the reached declarations, the licenses. */
export async function buildClientPackage(outDir: string = CLIENT_DIST): Promise<PackageBuild> {
  const [bundle, declarations] = await Promise.all([bundleClient(), emitDeclarations()]);
  await rm(outDir, { recursive: true, force: true });
  const files: string[] = [];
  const write = async (path: string, text: string) => {
    await mkdir(dirname(join(outDir, path)), { recursive: true });
    await writeFile(join(outDir, path), text);
    files.push(path);
  };
  await write('index.js', bundle.code);
  for (const [path, text] of [...declarations].sort(([a], [b]) => a.localeCompare(b))) await write(join('types', path), text);
  await copyFile(join(CLIENT_DIR, '..', 'LICENSE'), join(outDir, 'LICENSE'));
  files.push('LICENSE');
  // zod is bundled in: its license travels with it.
  const notices: string[] = [];
  for (const [name, folder] of [...bundle.bundledPackages].sort(([a], [b]) => a.localeCompare(b))) {
    const { version, license } = JSON.parse(await readFile(join(folder, 'package.json'), 'utf8')) as { version: string; license: string };
    notices.push(`## ${name} ${version} (${license})\n\n${(await readFile(join(folder, 'LICENSE'), 'utf8')).trim()}\n`);
  }
  await write('THIRD-PARTY-LICENSES.md', `# Bundled into index.js\n\n${notices.join('\n')}`);
  return { files, bundleBytes: Buffer.byteLength(bundle.code), bundleGzipBytes: gzipSync(bundle.code).length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--stdout')) {
    process.stdout.write((await bundleClient()).code);
  } else {
    const result = await buildClientPackage();
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
    console.log(`client/dist: ${result.files.length} files; index.js ${kb(result.bundleBytes)}, ${kb(result.bundleGzipBytes)} gzipped`);
  }
}
