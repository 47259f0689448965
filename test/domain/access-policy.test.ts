import { describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../lambdas/domain/access-policy.js';

const policy = new AccessPolicy({
  access: { 'booking-updates': ['*'], 'staff-*': ['staff'], 'ops.alerts': ['oncall', 'staff'] },
});
const alice = { userId: 'alice', roles: [] };
const staff = { userId: 'sam', roles: ['staff'] };
const admin = { userId: 'root', roles: ['admin'] };

describe('AccessPolicy', () => {
  describe('canSubscribe', () => {
    it('lets a user into their own personal channel', () => {
      expect(policy.canSubscribe(alice, 'user-alice')).toEqual({ allowed: true });
    });

    it("rejects another user's personal channel", () => {
      expect(policy.canSubscribe(alice, 'user-bob')).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    });

    it("lets admin into another user's personal channel", () => {
      expect(policy.canSubscribe(admin, 'user-bob')).toEqual({ allowed: true });
    });

    it('lets everyone into system-announcements', () => {
      expect(policy.canSubscribe(alice, 'system-announcements')).toEqual({ allowed: true });
    });

    it('allows any authenticated user where the rule says "*"', () => {
      expect(policy.canSubscribe(alice, 'booking-updates')).toEqual({ allowed: true });
    });

    it('matches wildcard patterns and checks roles', () => {
      expect(policy.canSubscribe(staff, 'staff-berlin')).toEqual({ allowed: true });
      expect(policy.canSubscribe(alice, 'staff-berlin')).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    });

    it('treats a dot in a pattern literally', () => {
      expect(policy.canSubscribe(staff, 'ops.alerts')).toEqual({ allowed: true });
      expect(policy.canSubscribe(staff, 'opsxalerts')).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    });

    it('refuses channels no rule names', () => {
      expect(policy.canSubscribe(alice, 'payroll')).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    });

    it.each([
      ['upper case', 'Booking-updates'],
      ['leading space', ' booking-updates'],
      ['trailing newline', 'booking-updates\n'],
      ['percent encoding', 'booking%2Dupdates'],
      ['control character', 'booking\u0000updates'],
      ['unicode look-alike', 'bookіng-updates'],
      ['empty', ''],
      ['too long', `a${'b'.repeat(128)}`],
    ])('rejects a name with %s as INVALID_CHANNEL', (_label, channel) => {
      expect(policy.canSubscribe(admin, channel)).toMatchObject({ allowed: false, code: 'INVALID_CHANNEL' });
    });

    it('does not let a case variant of the owner reach a personal channel', () => {
      expect(policy.canSubscribe(alice, 'user-Alice')).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
    });
  });
});
