import { z } from 'zod';
import { messageId, notificationPayload } from './frames.js';
import { USER_ID, isValidChannelName } from './channels.js';

/**
 * A producer record: the JSON value of one Kafka record (protocol section 6).
 * At most one target; with none, the channel is the one the topic maps to.
 */
export const producerRecord = z
  .object({
    messageId: messageId.optional(),
    type: z.literal('notification'),
    payload: notificationPayload,
    targetUserId: z.string().regex(USER_ID, 'a user id').optional(),
    channel: z
      .string()
      .refine(isValidChannelName, 'a channel name (^[a-z0-9][a-z0-9._:-]{0,127}$ or user-{userId})')
      .optional(),
    broadcast: z.literal(true).optional(),
  })
  .refine(
    (record) => [record.targetUserId, record.channel, record.broadcast].filter((v) => v !== undefined).length <= 1,
    { message: 'at most one of targetUserId, channel and broadcast', path: ['targetUserId'] },
  );
export type ProducerRecord = z.infer<typeof producerRecord>;

/** Where a record goes, once the topic default has been applied. */
export type Target =
  | { kind: 'user'; userId: string }
  | { kind: 'channel'; channel: string }
  | { kind: 'broadcast' };
