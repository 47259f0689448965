export * from './channels.js';
export * from './error-codes.js';
export * from './frames.js';
export * from './records.js';
