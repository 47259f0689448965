import { handleClientFrame } from './client-frame.js';

/** Route `inbox`: see handleClientFrame. */
export const handler = handleClientFrame;
