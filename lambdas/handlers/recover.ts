import { handleClientFrame } from './client-frame.js';

/** Route `recover`: see handleClientFrame. */
export const handler = handleClientFrame;
