import { handleClientFrame } from './client-frame.js';

/** Route `stats`: see handleClientFrame. */
export const handler = handleClientFrame;
