import { handleClientFrame } from './client-frame.js';

/** Route `subscribe`: see handleClientFrame. */
export const handler = handleClientFrame;
