import { handleClientFrame } from './client-frame.js';

/** Route `members`: see handleClientFrame. */
export const handler = handleClientFrame;
