import { handleClientFrame } from './client-frame.js';

/** Route `markRead`: see handleClientFrame. */
export const handler = handleClientFrame;
