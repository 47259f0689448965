import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * `zod/mini`, the tree-shakable form of zod, with English messages. Every schema of the
 * service, the CDK app and the client SDK imports it from here, as a namespace
 * (`import * as z from './zod-mini.js'`): the Lambda bundles and the browser bundle
 * then carry only the validators they use. (The classic `z` namespace cannot be
 * tree-shaken: it is over 400 KB in every bundle; neither can `zod/mini`'s own `z`
 * export, which is why it is not used.)
 *
 * `zod/mini` loads no locale, so every issue would read "Invalid input"; the English
 * messages ("Too small: expected number to be >=1024") say what is allowed. A host
 * application (of the client SDK) that chose its own locale keeps it.
 */
if (!config().localeError) config(en());

export * from 'zod/mini';
