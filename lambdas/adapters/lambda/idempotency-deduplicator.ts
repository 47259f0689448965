import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyAlreadyInProgressError, IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { TransientError } from '../../domain/errors.js';
import type { Deduplicator, OnceOutcome } from '../../domain/ports.js';

export interface PowertoolsDeduplicatorProps {
  /** A plain DynamoDB client (not a document client: Powertools marshals itself). */
  readonly client: DynamoDBClient;
  /** The Idempotency table (key `id`, TTL `expiration`, see tables.ts). */
  readonly tableName: string;
  /** How long a completed key keeps later runs away. */
  readonly expiresAfterSeconds: number;
  /**
   * Prefix of every stored key. Fixed rather than derived from the function name, so a
   * renamed or redeployed function still recognises what it already delivered.
   * @default 'fanout'
   */
  readonly keyPrefix?: string;
  /**
   * How long an in-progress key holds when no Lambda context was registered (the local
   * runtime, the library API).
   * @default 900000 - Lambda's longest timeout
   */
  readonly inProgressTimeoutMs?: number;
}

/** The Lambda context as far as idempotency needs it. */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

/**
 * {@link Deduplicator} on Powertools idempotency with its DynamoDB persistence layer: a
 * conditional write marks a key in progress, the result marks it complete, a failure
 * deletes it so that a retry runs the work again.
 */
export class PowertoolsDeduplicator implements Deduplicator {
  readonly #persistenceStore: DynamoDBPersistenceLayer;
  readonly #config: IdempotencyConfig;
  readonly #keyPrefix: string;

  constructor(props: PowertoolsDeduplicatorProps) {
    this.#persistenceStore = new DynamoDBPersistenceLayer({ tableName: props.tableName, awsSdkV3Client: props.client });
    this.#config = new IdempotencyConfig({
      eventKeyJmesPath: 'key',
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: props.expiresAfterSeconds,
    });
    this.#keyPrefix = props.keyPrefix ?? 'fanout';
    const inProgressTimeoutMs = props.inProgressTimeoutMs ?? 900_000;
    this.registerLambdaContext({ getRemainingTimeInMillis: () => inProgressTimeoutMs });
  }

  /**
   * Lets an in-progress key expire with the invocation that holds it, so that a run that
   * crashed (timeout, out of memory) does not block its retry until the key's expiry.
   */
  registerLambdaContext(context: RemainingTime): void {
    this.#config.registerLambdaContext(context as Parameters<IdempotencyConfig['registerLambdaContext']>[0]);
  }

  async once<T>(key: string, work: () => Promise<T>): Promise<OnceOutcome<T>> {
    // Powertools answers a duplicate with the stored result of the first run; whether
    // `work` ran in this call is what tells the two apart.
    let completed: { result: T } | undefined;
    let ran = false;
    const runOnce = makeIdempotent(
      async (_input: { key: string }) => {
        ran = true;
        const result = await work();
        completed = { result };
        return result;
      },
      { persistenceStore: this.#persistenceStore, config: this.#config, keyPrefix: this.#keyPrefix },
    );
    try {
      const result = (await runOnce({ key })) as T;
      return ran ? { duplicate: false, result } : { duplicate: true };
    } catch (error) {
      // The work is done and only marking it complete failed: report it done. The key stays
      // in progress until it expires, which keeps redeliveries away meanwhile.
      if (completed) return { duplicate: false, result: completed.result };
      if (ran) throw error;
      if (error instanceof IdempotencyAlreadyInProgressError) {
        throw new TransientError(`another run for ${key} is still in progress`, { cause: error });
      }
      throw new TransientError(`the idempotency store failed for ${key}`, { cause: error });
    }
  }
}
