import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: Config.toml lives here, and route table entries are relative to it. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
