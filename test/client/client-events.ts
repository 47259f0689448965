import type { NotificationClient, NotificationClientEvents } from '../../client/index.js';

/** Everything a client emitted, in order, and a way to wait for the next event that matches. */
export class ClientEvents {
  readonly log: { [K in keyof NotificationClientEvents]: { event: K; value: NotificationClientEvents[K] } }[keyof NotificationClientEvents][] = [];

  constructor(private readonly client: NotificationClient) {
    for (const event of [
      'notification',
      'state',
      'welcome',
      'recovered',
      'error',
      'disconnected',
      'refreshed',
      'join',
      'leave',
      'members',
      'unread',
      'continuityLost',
    ] as const) {
      client.on(event as keyof NotificationClientEvents, (value: unknown) => this.log.push({ event, value } as never));
    }
  }

  of<K extends keyof NotificationClientEvents>(event: K): NotificationClientEvents[K][] {
    return this.log.filter((entry) => entry.event === event).map((entry) => entry.value as NotificationClientEvents[K]);
  }

  states(): string[] {
    return this.of('state').map((change) => change.state);
  }

  notificationIds(): string[] {
    return this.of('notification').map((frame) => frame.messageId);
  }

  /** Resolves with the first event of that kind that matches, already emitted or still to come. */
  once<K extends keyof NotificationClientEvents>(
    event: K,
    predicate: (value: NotificationClientEvents[K]) => boolean = () => true,
  ): Promise<NotificationClientEvents[K]> {
    const already = this.of(event).find(predicate);
    return already === undefined ? this.next(event, predicate) : Promise.resolve(already);
  }

  /** Resolves with the first event of that kind, from now on, that matches. */
  next<K extends keyof NotificationClientEvents>(
    event: K,
    predicate: (value: NotificationClientEvents[K]) => boolean = () => true,
  ): Promise<NotificationClientEvents[K]> {
    return new Promise((resolve) => {
      const off = this.client.on(event, (value) => {
        if (!predicate(value)) return;
        off();
        resolve(value);
      });
    });
  }
}

/**
 * Waits for `promise`; if it does not come within `ms`, fails with what the client did
 * meanwhile instead of a bare timeout.
 */
export async function step<T>(events: ClientEvents, what: string, promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const log = events.log.map(({ event, value }) => `${event}: ${JSON.stringify(value).slice(0, 160)}`);
      reject(new Error(`stalled waiting for ${what}; the client emitted:\n${log.join('\n')}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
