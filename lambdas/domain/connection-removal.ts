import type { Connection } from './model.js';
import type { ConnectionStore, Log } from './ports.js';

/** Told of a connection just removed from the store, with the channels it held. */
export type ConnectionRemovalListener = (connection: Connection) => Promise<void>;

/**
 * The store, except that a `remove` that removed the connection then tells `listener`
 * (presence channels send the `leave` of a socket found gone: a 410 during a fan-out).
 * Only the call that removed it gets the connection back, so each removal is told once.
 * A failing listener is logged: the removal stands.
 */
export function tellingRemovals(store: ConnectionStore, listener: ConnectionRemovalListener, log: Log): ConnectionStore {
  const remove = async (connectionId: string): Promise<Connection | undefined> => {
    const removed = await store.remove(connectionId);
    if (removed) {
      try {
        await listener(removed);
      } catch (error) {
        log.warn('removal listener failed', { connectionId, error: error instanceof Error ? error.name : String(error) });
      }
    }
    return removed;
  };
  // Every other method is the store's own, bound to it.
  return new Proxy(store, {
    get(target, property) {
      if (property === 'remove') return remove;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
