import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.js';
import { producerRecord } from '../../protocol/records.js';
import type { CommandOutput } from '../../local/commands/command-line.js';
import { main as send } from '../../local/commands/send.js';
import { main as token } from '../../local/commands/token.js';
import { DEFAULT_LOCAL_JWT_SECRET, resolveJwtSecret } from '../../local/jwt-secret.js';
import { startEmulator, type Emulator } from './emulator-harness.js';

function capture(): CommandOutput & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (text) => stdout.push(text), err: (text) => stderr.push(text) };
}

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

describe('local commands', () => {
  describe('secret resolution', () => {
    it('prefers JWT_SECRET, then auth.hs256_secret, then the local default', () => {
      const configured = parseConfig({ notification_service: { auth: { hs256_secret: 'from-config-file' } } });

      expect(resolveJwtSecret(configured, { JWT_SECRET: 'from-environment' })).toEqual({ secret: 'from-environment', source: 'JWT_SECRET' });
      expect(resolveJwtSecret(configured, {}).secret).toBe('from-config-file');
      expect(resolveJwtSecret(parseConfig({}), {})).toEqual({ secret: DEFAULT_LOCAL_JWT_SECRET, source: 'default' });
    });
  });

  describe('token', () => {
    it('prints an HS256 JWT with sub, roles, iat and exp, signed with the resolved secret', async () => {
      process.env.JWT_SECRET = 'commands-test-secret';
      const output = capture();

      const code = await token(['--user', 'alice', '--roles', 'admin, staff', '--ttl', '120'], output);

      expect(code).toBe(0);
      const { payload, protectedHeader } = await jwtVerify(output.stdout[0]!, new TextEncoder().encode('commands-test-secret'));
      expect(protectedHeader.alg).toBe('HS256');
      expect(payload).toMatchObject({ sub: 'alice', roles: ['admin', 'staff'] });
      expect(payload.exp! - payload.iat!).toBe(120);
    });

    it.each([[[]], [['--user']], [['--user', 'alice', '--ttl', '-5']], [['--user', 'alice', '--bogus']], [['--user', 'has space']]])(
      'prints usage and exits 2 for %j',
      async (argv) => {
        const output = capture();

        expect(await token(argv, output)).toBe(2);
        expect(output.stderr.join('\n')).toContain('Usage: npm run token');
        expect(output.stdout).toEqual([]);
      },
    );
  });

  describe('send', () => {
    it('publishes a valid producer record to the producer endpoint and prints the summary', async () => {
      emulator = await startEmulator({ Fanout: async () => ({ records: 1, delivered: 1 }) });
      const output = capture();

      const code = await send(
        [
          '--title',
          'Booking Confirmed',
          '--message',
          'See you',
          '--user',
          'bob',
          '--priority',
          'high',
          '--action-url',
          '/bookings/1',
          '--url',
          emulator.runtime.httpUrl,
        ],
        output,
      );

      expect(code).toBe(0);
      expect(JSON.parse(output.stdout.at(-1)!)).toEqual({ records: 1, delivered: 1 });
      const [event] = emulator.recorder.of('Fanout');
      const [record] = event.records['booking-updates-0'];
      const value = producerRecord.parse(JSON.parse(Buffer.from(record.value, 'base64').toString('utf8')));
      expect(value).toMatchObject({
        type: 'notification',
        targetUserId: 'bob',
        payload: { title: 'Booking Confirmed', message: 'See you', priority: 'high', actionUrl: '/bookings/1' },
      });
      expect(value.messageId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('sends to the topic, channel or broadcast asked for', async () => {
      emulator = await startEmulator({}, { config: parseConfig({ notification_service: { kafka: { topics: ['alerts'] } } }) });
      const base = ['--title', 'T', '--message', 'M', '--topic', 'alerts', '--url', emulator.runtime.httpUrl];

      expect(await send([...base, '--channel', 'team-a'], capture())).toBe(0);
      expect(await send([...base, '--broadcast'], capture())).toBe(0);
      const values = emulator.recorder.of('Fanout').map((event) => JSON.parse(Buffer.from(event.records['alerts-0'][0].value, 'base64').toString('utf8')));

      expect(values[0]).toMatchObject({ channel: 'team-a' });
      expect(values[0]).not.toHaveProperty('broadcast');
      expect(values[1]).toMatchObject({ broadcast: true });
    });

    it.each([
      [['--message', 'M']],
      [['--title', 'T', '--message', 'M', '--user', 'bob', '--broadcast']],
      [['--title', 'T', '--message', 'M', '--priority', 'extreme']],
      [['--title', 'T', '--message', 'M', '--channel', 'Not A Channel']],
      [['--title', 'T', '--message', 'M', '--unknown']],
    ])('prints usage and exits 2 for %j', async (argv) => {
      const output = capture();

      expect(await send(argv, output, {})).toBe(2);
      expect(output.stderr.join('\n')).toContain('Usage: npm run send');
    });

    it('exits 1 when the runtime refuses the record', async () => {
      emulator = await startEmulator();
      const output = capture();

      const code = await send(['--title', 'T', '--message', 'M', '--topic', 'elsewhere', '--url', emulator.runtime.httpUrl], output);

      expect(code).toBe(1);
      expect(output.stderr.join('\n')).toContain('404');
    });
  });
});
