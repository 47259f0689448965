export { MemoryState } from './state.js';
export { MemoryConnectionStore } from './connection-store.js';
export { MemorySubscriptionStore } from './subscription-store.js';
export { MemoryPresenceStore } from './presence-store.js';
export { MemoryNotificationLog } from './notification-log.js';
export { MemoryRateLimiter } from './rate-limiter.js';
export { MemoryDeliveryLedger } from './delivery-ledger.js';
export { MemoryInboxStore } from './inbox-store.js';
