import { handleClientFrame } from './client-frame.js';

/** Route `$default`: see handleClientFrame. */
export const handler = handleClientFrame;
