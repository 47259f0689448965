import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODE, CLOSE_CODES, DISCONNECT_REASONS, UNKNOWN_CLOSE, closeCodeEntry } from '../../client/close-codes.js';

/** The rows of the markdown table whose header starts with `firstHeader`, as cells. */
function tableRows(markdown: string, firstHeader: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`| ${firstHeader} |`));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

describe('close codes', () => {
  it('lists every code the SDK closes a socket with, as closed by the client', () => {
    for (const code of [CLOSE_CODE.NORMAL, CLOSE_CODE.HEARTBEAT_TIMEOUT, CLOSE_CODE.OFFLINE]) {
      expect(CLOSE_CODES[code]?.by).toContain('client');
    }
  });

  it('reads a code it does not know as a lost connection to come back from', () => {
    expect(closeCodeEntry(4999)).toEqual({ code: 4999, ...UNKNOWN_CLOSE });
    expect(closeCodeEntry(4999)).toMatchObject({ reconnect: true, error: 'CONNECTION_LOST' });
  });

  it('says in client/README.md what the tables in close-codes.ts say', async () => {
    const readme = await readFile(new URL('../../client/README.md', import.meta.url), 'utf8');
    const closeRows = tableRows(readme, 'code | closed by').filter(([code]) => /^\d+$/.test(code!));
    const reasonRows = tableRows(readme, 'reason | meaning');

    expect(closeRows.map(([code, , , reconnect, error]) => [Number(code), reconnect!.startsWith('yes'), error])).toEqual(
      Object.values(CLOSE_CODES).map((entry) => [entry.code, entry.reconnect, `\`${entry.error}\``]),
    );
    expect(reasonRows.map(([reason, , reconnect, error]) => [reason, reconnect!.startsWith('yes'), error])).toEqual(
      Object.entries(DISCONNECT_REASONS).map(([reason, entry]) => [`\`${reason}\``, entry.reconnect, `\`${entry.error}\``]),
    );
  });
});
