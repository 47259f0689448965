import type { ChannelsConfig } from '../config/schema.js';
import type { RejectionCode } from '../protocol/error-codes.js';
import { CHANNEL_NAME, SYSTEM_ANNOUNCEMENTS, ownerOfPersonalChannel } from '../protocol/channels.js';
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

  constructor(config: Pick<ChannelsConfig, 'access'>) {
    this.rules = Object.entries(config.access).map(([source, roles]) => ({
      source,
      pattern: new RegExp(`^${source.split('*').map(escapeRegExp).join('[a-z0-9._:-]*')}$`),
      roles: new Set(roles),
    }));
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
   * Whether two users who both hold `channel` may see each other's presence
   * (docs/security.md, "Presence privacy"). Only through a channel that a role rule
   * restricts: everyone holds `system-announcements`, a personal channel relates no one
   * to anyone, and a channel open to any user (`"*"`) proves no relation; it would let
   * anyone join it and probe who is online. A channel no rule names is held by admins
   * only, who see everyone anyway.
   */
  revealsPresence(channel: string): boolean {
    if (channel === SYSTEM_ANNOUNCEMENTS || ownerOfPersonalChannel(channel) !== undefined) return false;
    if (!CHANNEL_NAME.test(channel)) return false;
    const rule = this.ruleFor(channel);
    return rule !== undefined && !rule.roles.has(ANY_USER);
  }

  /** The first rule whose pattern names the channel: the one canSubscribe applies. */
  private ruleFor(channel: string) {
    return this.rules.find((candidate) => candidate.pattern.test(channel));
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
