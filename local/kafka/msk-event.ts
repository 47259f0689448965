import { LOCAL_ACCOUNT, LOCAL_REGION } from '../aws-identity.js';

/** One record as Lambda's MSK trigger delivers it: key and value base64, headers as byte arrays. */
export interface MskRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly timestampType: 'CREATE_TIME';
  readonly key?: string;
  readonly value: string;
  readonly headers: ReadonlyArray<Record<string, number[]>>;
}

/** The event Lambda's MSK event source mapping invokes a function with. */
export interface MskEvent {
  readonly eventSource: 'aws:kafka';
  readonly eventSourceArn: string;
  readonly bootstrapServers: string;
  /** Records grouped by `{topic}-{partition}`. */
  readonly records: Readonly<Record<string, readonly MskRecord[]>>;
}

export const LOCAL_CLUSTER_ARN = `arn:aws:kafka:${LOCAL_REGION}:${LOCAL_ACCOUNT}:cluster/local/00000000-0000-0000-0000-000000000000-1`;
export const LOCAL_BOOTSTRAP_SERVERS = [1, 2].map((broker) => `b-${broker}.local.kafka.${LOCAL_REGION}.amazonaws.com:9098`).join(',');

/**
 * Wraps record values into MSK events as Lambda does, keeping each topic-partition's
 * offsets increasing across events, as a real log would.
 */
export class MskEventBuilder {
  readonly #nextOffsets = new Map<string, number>();

  build(topic: string, partition: number, values: readonly string[], key?: string): MskEvent {
    const partitionKey = `${topic}-${partition}`;
    let offset = this.#nextOffsets.get(partitionKey) ?? 0;
    const timestamp = Date.now();
    const records = values.map(
      (value): MskRecord => ({
        topic,
        partition,
        offset: offset++,
        timestamp,
        timestampType: 'CREATE_TIME',
        ...(key !== undefined ? { key: Buffer.from(key, 'utf8').toString('base64') } : {}),
        value: Buffer.from(value, 'utf8').toString('base64'),
        headers: [],
      }),
    );
    this.#nextOffsets.set(partitionKey, offset);
    return {
      eventSource: 'aws:kafka',
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: LOCAL_BOOTSTRAP_SERVERS,
      records: { [partitionKey]: records },
    };
  }
}
