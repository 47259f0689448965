/**
 * What could not be delivered, as an operator reads it from the on-failure queue: what
 * (the record's position or the messageId), to whom (the connection and user) and why.
 */
export type DeadLetter = RecordDeadLetter | PostDeadLetter;

/** A Kafka record that can never be delivered as it stands (not JSON, no target, ...). */
export interface RecordDeadLetter {
  readonly kind: 'record';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly reason: string;
  /** The record's value, cut to {@link DEAD_LETTER_VALUE_LIMIT} characters, when it could be read. */
  readonly value?: string;
  /** ISO; when it was set aside. */
  readonly at: string;
}

/** One post that failed after every retry the invocation's time allowed. */
export interface PostDeadLetter {
  readonly kind: 'post';
  readonly messageId: string;
  readonly connectionId: string;
  readonly userId: string;
  readonly reason: string;
  readonly attempts: number;
  readonly at: string;
}

/** Characters of a record value kept in its dead letter (SQS takes 256 KiB a message). */
export const DEAD_LETTER_VALUE_LIMIT = 64 * 1024;
