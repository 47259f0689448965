import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lambdas/config/errors.js';
import { apiGatewayNotes, loadConfigFile, parseConfig, serviceConfigFromJson } from '../../lambdas/config/load.js';

function errorOf(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  describe('parseConfig', () => {
    it('gives the protocol defaults for an empty document', () => {
      const config = parseConfig({});
      expect(config.notification_service.websocket).toEqual({
        max_frame_size: 65536,
        subprotocols: ['chat', 'notifications'],
        idle_timeout: 900,
        read_timeout: 60,
        write_timeout: 60,
        max_connections_per_user: 5,
        rate_limit_per_second: 10,
        rate_limit_burst: 20,
        heartbeat_interval: 300,
        history_ttl: 604800,
      });
      expect(config.notification_service.channels.access).toEqual({
        'booking-updates': ['*'],
        'waitlist-notifications': ['*'],
      });
    });

    it('names an unknown key and lists the allowed ones', () => {
      const error = errorOf(() => parseConfig({ notification_service: { websocket: { max_frame_sise: 10 } } }));
      expect(error.message).toContain('notification_service.websocket.max_frame_sise: unknown key');
      expect(error.message).toContain('max_frame_size');
    });

    it('names an unknown key of SERVICE_CONFIG by its full path and lists the keys allowed there', () => {
      const error = errorOf(() => serviceConfigFromJson(JSON.stringify({ websocket: { max_frame_sise: 10 } })));
      expect(error.issues).toEqual([expect.stringMatching(/^notification_service\.websocket\.max_frame_sise: unknown key \(allowed: max_frame_size, /)]);
    });

    it('names a bad value and what is allowed', () => {
      const error = errorOf(() => parseConfig({ notification_service: { websocket: { max_connections_per_user: 0 } } }));
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]).toMatch(/^notification_service\.websocket\.max_connections_per_user: .*>=1/);
    });

    it('refuses a topic name the Kafka trigger would refuse at deploy time', () => {
      const error = errorOf(() => parseConfig({ notification_service: { kafka: { topics: ['x'] } } }));
      expect(error.message).toContain('notification_service.kafka.topics.0');
    });

    it('makes no channel a presence channel by default, and caps what is told at 100 members', () => {
      const config = parseConfig({});
      expect(config.notification_service.channels.presence).toEqual([]);
      expect(config.notification_service.channels.presence_max_members).toBe(100);
    });

    it('names a bad presence pattern or member cap', () => {
      expect(errorOf(() => parseConfig({ notification_service: { channels: { presence: ['Presence lobby'] } } })).message).toContain(
        'notification_service.channels.presence.0',
      );
      expect(errorOf(() => parseConfig({ notification_service: { channels: { presence: 'presence-*' } } })).message).toContain(
        'notification_service.channels.presence',
      );
      expect(errorOf(() => parseConfig({ notification_service: { channels: { presence_max_members: 0 } } })).message).toContain(
        'notification_service.channels.presence_max_members',
      );
    });

    it("refuses a message size above API Gateway's 128 KB", () => {
      const error = errorOf(() => parseConfig({ notification_service: { websocket: { max_frame_size: 200_000 } } }));
      expect(error.message).toContain('notification_service.websocket.max_frame_size');
    });
  });

  describe('loadConfigFile', () => {
    it('reads the shipped Config.toml: presence-* is a presence channel open to any user', () => {
      const config = loadConfigFile(join(import.meta.dirname, '..', '..', 'Config.toml'));
      expect(config.notification_service.channels.presence).toEqual(['presence-*']);
      expect(config.notification_service.channels.access['presence-*']).toEqual(['*']);
    });

    it('reads TOML and reports a type error with the key', () => {
      const dir = mkdtempSync(join(tmpdir(), 'config-'));
      const path = join(dir, 'Config.toml');
      writeFileSync(path, '[notification_service.websocket]\nidle_timeout = "soon"\n');
      const error = errorOf(() => loadConfigFile(path));
      expect(error.message).toContain('notification_service.websocket.idle_timeout');
    });

    it('treats a missing file as all defaults', () => {
      const config = loadConfigFile(join(tmpdir(), 'no-such-dir', 'Config.toml'));
      expect(config.notification_service.websocket.heartbeat_interval).toBe(300);
    });

    it('reports TOML syntax errors with the file name', () => {
      const dir = mkdtempSync(join(tmpdir(), 'config-'));
      const path = join(dir, 'Config.toml');
      writeFileSync(path, '[notification_service.websocket\n');
      expect(errorOf(() => loadConfigFile(path)).message).toContain(`${path}: not valid TOML`);
    });
  });

  describe('apiGatewayNotes', () => {
    it('says what API Gateway does with values it cannot honour', () => {
      const config = parseConfig({ notification_service: { websocket: { heartbeat_interval: 650, idle_timeout: 600 } } });
      const notes = apiGatewayNotes(config.notification_service);
      expect(notes.some((note) => note.startsWith('notification_service.websocket.heartbeat_interval = 650'))).toBe(true);
      expect(notes.some((note) => note.includes('max_frame_size = 65536'))).toBe(true);
    });

    it('is silent when every value holds on API Gateway', () => {
      const config = parseConfig({
        notification_service: { websocket: { idle_timeout: 600, heartbeat_interval: 120, max_frame_size: 32768 } },
      });
      expect(apiGatewayNotes(config.notification_service)).toEqual([]);
    });
  });

  describe('serviceConfigFromJson', () => {
    it('names the environment variable when its JSON is bad', () => {
      expect(errorOf(() => serviceConfigFromJson('{', 'SERVICE_CONFIG')).message).toBe('SERVICE_CONFIG: not valid JSON');
    });
  });
});
