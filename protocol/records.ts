import * as z from './zod-mini.js';
import { messageId, notificationPayload } from './frames.js';
import { USER_ID, isValidChannelName } from './channels.js';

/**
 * A producer record: the JSON value of one Kafka record (protocol section 6).
 * At most one target; with none, the channel is the one the topic maps to.
 */
export const producerRecord = z
  .object({
    messageId: z.optional(messageId),
    type: z.literal('notification'),
    payload: notificationPayload,
    targetUserId: z.optional(z.string().check(z.regex(USER_ID, 'a user id'))),
    channel: z.optional(z.string().check(z.refine(isValidChannelName, 'a channel name (^[a-z0-9][a-z0-9._:-]{0,127}$ or user-{userId})'))),
    broadcast: z.optional(z.literal(true)),
  })
  .check(
    z.refine((record) => [record.targetUserId, record.channel, record.broadcast].filter((v) => v !== undefined).length <= 1, {
      message: 'at most one of targetUserId, channel and broadcast',
      path: ['targetUserId'],
    }),
  );
export type ProducerRecord = z.infer<typeof producerRecord>;

/** Where a record goes, once the topic default has been applied. */
export type Target = { kind: 'user'; userId: string } | { kind: 'channel'; channel: string } | { kind: 'broadcast' };
