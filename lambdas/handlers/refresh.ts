import { handleClientFrame } from './client-frame.js';

/** Route `refresh`: see handleClientFrame. */
export const handler = handleClientFrame;
