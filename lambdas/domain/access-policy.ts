import type { ChannelsConfig } from '../config/schema.js';
import type { RejectionCode } from '../../protocol/error-codes.js';
import { CHANNEL_NAME, SYSTEM_ANNOUNCEMENTS, ownerOfPersonalChannel } from '../../protocol/channels.js';
import type { Identity } from './model.js';

export const ADMIN_ROLE = 'admin';
/** In a channel's role list: any authenticated user. */
export const ANY_USER = '*';

export type AccessDecision = { readonly allowed: true } | { readonly allowed: false; readonly code: RejectionCode; readonly reason: string };

const ALLOWED: AccessDecision = { allowed: true };

/**
 * Who may subscribe to which channel (protocol section 5). Names are matched exactly as
 * sent: nothing is trimmed, lower-cased or decoded, so no variant of a name can reach a
 * channel its canonical form would refuse.
 */
export class AccessPolicy {
  private readonly rules: readonly { readonly pattern: RegExp; readonly source: string; readonly roles: ReadonlySet<string> }[];
  private readonly presencePatterns: readonly RegExp[];

  /** `presence` left out: no channel is a presence channel. */
  constructor(config: Pick<ChannelsConfig, 'access'> & Partial<Pick<ChannelsConfig, 'presence'>>) {
    this.rules = Object.entries(config.access).map(([source, roles]) => ({
      source,
      pattern: patternOf(source),
      roles: new Set(roles),
    }));
    this.presencePatterns = (config.presence ?? []).map(patternOf);
  }

  canSubscribe(identity: Identity, channel: string): AccessDecision {
    const owner = ownerOfPersonalChannel(channel);
    if (owner !== undefined) {
      if (owner === identity.userId || identity.roles.includes(ADMIN_ROLE)) return ALLOWED;
      return { allowed: false, code: 'FORBIDDEN', reason: `${channel} is another user's personal channel` };
    }
    if (!CHANNEL_NAME.test(channel)) {
      return { allowed: false, code: 'INVALID_CHANNEL', reason: 'channel names match ^[a-z0-9][a-z0-9._:-]{0,127}$ or user-{userId}' };
    }
    if (channel === SYSTEM_ANNOUNCEMENTS) return ALLOWED;
    if (identity.roles.includes(ADMIN_ROLE)) return ALLOWED;
    const rule = this.ruleFor(channel);
    if (!rule) return { allowed: false, code: 'FORBIDDEN', reason: `no access rule names ${channel}` };
    if (rule.roles.has(ANY_USER) || identity.roles.some((role) => rule.roles.has(role))) return ALLOWED;
    return { allowed: false, code: 'FORBIDDEN', reason: `${channel} needs one of the roles ${[...rule.roles].join(', ')}` };
  }

  /**
   * Whether `channel` is a presence channel (protocol section 9): its subscribers see
   * each other (`members`, `join` / `leave`, the `presence` query; docs/security.md,
   * "Presence privacy"). Only by `channels.presence`, never inferred: a deployment names
   * them on purpose. `system-announcements` and personal channels never are (everyone
   * holds the first; the second relates no one to anyone), whatever a pattern matches.
   */
  isPresenceChannel(channel: string): boolean {
    if (channel === SYSTEM_ANNOUNCEMENTS || ownerOfPersonalChannel(channel) !== undefined) return false;
    if (!CHANNEL_NAME.test(channel)) return false;
    return this.presencePatterns.some((pattern) => pattern.test(channel));
  }

  /** Whether two users who both hold `channel` may see each other's presence: a presence channel. */
  revealsPresence(channel: string): boolean {
    return this.isPresenceChannel(channel);
  }

  /** The first rule whose pattern names the channel: the one canSubscribe applies. */
  private ruleFor(channel: string) {
    return this.rules.find((candidate) => candidate.pattern.test(channel));
  }
}

function patternOf(source: string): RegExp {
  return new RegExp(`^${source.split('*').map(escapeRegExp).join('[a-z0-9._:-]*')}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
