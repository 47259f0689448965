/**
 * The progress of a run on stderr: on a terminal, one status line rewritten in place
 * (benchmark, elapsed time, what it is doing); elsewhere (CI logs), a line at most
 * every two seconds. Finished benchmarks leave one line each.
 */
export class ProgressDisplay {
  readonly #stream: NodeJS.WriteStream;
  readonly #interactive: boolean;
  readonly #runStartedAt = Date.now();
  #label = '';
  #text = '';
  #startedAt = 0;
  #lastPrintedAt = 0;
  #ticker: NodeJS.Timeout | undefined;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#interactive = Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
  }

  start(label: string): void {
    this.#label = label;
    this.#text = 'starting';
    this.#startedAt = Date.now();
    this.#lastPrintedAt = 0;
    if (this.#interactive) {
      this.#ticker = setInterval(() => this.#render(), 500);
      this.#ticker.unref();
    }
    this.#render();
  }

  update(text: string): void {
    this.#text = text;
    this.#render();
  }

  /** Ends the current benchmark with a one-line outcome. */
  finish(outcome: string): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    const line = `${this.#label.padEnd(28)} ${clock(Date.now() - this.#startedAt)}  ${outcome}`;
    this.#stream.write(this.#interactive ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** A line of its own, above the status line. */
  note(text: string): void {
    this.#stream.write(this.#interactive ? `\r\x1b[2K${text}\n` : `${text}\n`);
    if (this.#ticker) this.#render();
  }

  #render(): void {
    const now = Date.now();
    const line = `${this.#label.padEnd(28)} ${clock(now - this.#startedAt)}  ${this.#text}   [run ${clock(now - this.#runStartedAt)}]`;
    if (this.#interactive) {
      const width = this.#stream.columns ?? 120;
      this.#stream.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
    } else if (now - this.#lastPrintedAt >= 2_000) {
      this.#lastPrintedAt = now;
      this.#stream.write(`${line}\n`);
    }
  }
}

function clock(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
