import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join, relative } from 'node:path';

/** The folders whose files the handlers are made of (the shared contract among them). */
export const HANDLER_SOURCE_FOLDERS: readonly string[] = ['lambdas', 'protocol'];

/** Files whose change can change what a handler does; editors' swap and backup files are not. */
const SOURCE_FILE = /\.(?:[cm]?[jt]s|json)$/;

export interface SourceWatcherOptions {
  /** The folders' parent (the project root). */
  readonly root: string;
  /** Folders under `root`, watched with all they contain; those that do not exist are skipped. */
  readonly folders: readonly string[];
  /** A save touches a file more than once, and a checkout many files: one change is reported after this quiet time. @default 200 */
  readonly debounceMs?: number;
  /** The files (relative to `root`) that changed since the last call. */
  readonly onChange: (files: readonly string[]) => void;
}

/** Watches source folders and reports their changes, debounced. */
export class SourceWatcher {
  readonly #watchers: FSWatcher[];
  readonly #changed = new Set<string>();
  readonly #options: SourceWatcherOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SourceWatcherOptions) {
    this.#options = options;
    this.#watchers = options.folders
      .map((folder) => join(options.root, folder))
      .filter((path) => existsSync(path))
      .map((path) =>
        watch(path, { recursive: true }, (_event, file) => {
          if (file && SOURCE_FILE.test(file)) this.#note(relative(options.root, join(path, file.toString())));
        }),
      );
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers) watcher.close();
  }

  #note(file: string): void {
    this.#changed.add(file);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const files = [...this.#changed];
      this.#changed.clear();
      this.#options.onChange(files);
    }, this.#options.debounceMs ?? 200);
  }
}
