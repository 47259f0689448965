import {
  MemoryConnectionStore,
  MemoryDeliveryLedger,
  MemoryInboxStore,
  MemoryNotificationLog,
  MemoryPresenceStore,
  MemoryRateLimiter,
  MemoryState,
  MemorySubscriptionStore,
} from '../../lambdas/adapters/memory/index.js';
import { MemoryPresenceChannelStore } from '../../lambdas/adapters/memory/presence-channel-store.js';
import { describeConnectionStoreContract } from './contracts/connection-store.contract.js';
import { describeDeliveryLedgerContract } from './contracts/delivery-ledger.contract.js';
import { describeInboxStoreContract } from './contracts/inbox-store.contract.js';
import { describeNotificationLogContract } from './contracts/notification-log.contract.js';
import type { PortSetFactory } from './contracts/port-set.js';
import { describePresenceChannelStoreContract } from './contracts/presence-channel-store.contract.js';
import { describePresenceStoreContract } from './contracts/presence-store.contract.js';
import { describeRateLimiterContract } from './contracts/rate-limiter.contract.js';
import { describeSubscriptionStoreContract } from './contracts/subscription-store.contract.js';

const createMemoryPorts: PortSetFactory = async () => {
  const state = new MemoryState();
  return {
    connections: new MemoryConnectionStore(state),
    subscriptions: new MemorySubscriptionStore(state),
    presence: new MemoryPresenceStore(state),
    notifications: new MemoryNotificationLog(state),
    ledger: new MemoryDeliveryLedger(state),
    rateLimiter: (options) => new MemoryRateLimiter(state, options),
    loseConnectionItem: async (connectionId) => {
      state.connections.delete(connectionId);
    },
    seedSubscriptions: async (channel, subscribers) => {
      const held = state.subscriptions.get(channel) ?? new Map<string, string>();
      for (const { connectionId, userId } of subscribers) held.set(connectionId, userId);
      state.subscriptions.set(channel, held);
    },
  };
};

describeConnectionStoreContract('memory', createMemoryPorts);
describeSubscriptionStoreContract('memory', createMemoryPorts);
describePresenceStoreContract('memory', createMemoryPorts);
describeNotificationLogContract('memory', createMemoryPorts);
describeDeliveryLedgerContract('memory', createMemoryPorts);
describeRateLimiterContract('memory', createMemoryPorts);
describePresenceChannelStoreContract('memory', async () => new MemoryPresenceChannelStore());
describeInboxStoreContract('memory', async () => {
  const state = new MemoryState();
  return { inbox: new MemoryInboxStore(state), notifications: new MemoryNotificationLog(state) };
});
