import { handleClientFrame } from './client-frame.js';

/** Route `presence`: see handleClientFrame. */
export const handler = handleClientFrame;
