import { handleClientFrame } from './client-frame.js';

/** Route `heartbeat`: see handleClientFrame. */
export const handler = handleClientFrame;
