import { handleClientFrame } from './client-frame.js';

/** Route `unsubscribe`: see handleClientFrame. */
export const handler = handleClientFrame;
