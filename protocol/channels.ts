/**
 * Channel names (protocol section 5). Kept free of configuration so the client SDK
 * can validate names before sending them.
 */

/** A general channel name: lower case, no whitespace, no encoding tricks. */
export const CHANNEL_NAME = /^[a-z0-9][a-z0-9._:-]{0,127}$/;

/** A user id as it may appear in `sub` and in `user-{userId}`. */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;

export const SYSTEM_ANNOUNCEMENTS = 'system-announcements';
export const PERSONAL_PREFIX = 'user-';

export function personalChannel(userId: string): string {
  return `${PERSONAL_PREFIX}${userId}`;
}

/** The channels every connection holds from the moment it opens. */
export function automaticChannels(userId: string): string[] {
  return [personalChannel(userId), SYSTEM_ANNOUNCEMENTS];
}

/** The user a `user-{id}` channel belongs to, or undefined for any other channel. */
export function ownerOfPersonalChannel(channel: string): string | undefined {
  if (!channel.startsWith(PERSONAL_PREFIX)) return undefined;
  const userId = channel.slice(PERSONAL_PREFIX.length);
  return USER_ID.test(userId) ? userId : undefined;
}

/** True when `channel` is a well-formed name: the general form or `user-{userId}`. */
export function isValidChannelName(channel: string): boolean {
  return CHANNEL_NAME.test(channel) || ownerOfPersonalChannel(channel) !== undefined;
}
