import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Config } from '../../lambdas/config/schema.js';
import { PROJECT_ROOT } from '../project-root.js';
import { sendJson } from '../http-messages.js';
import { bundleClient, bundlePage } from './client-bundle.js';
import { handleTokenRequest, TOKEN_PATH } from './token-endpoint.js';

const PAGE_DIRECTORY = resolve(PROJECT_ROOT, 'local/page');

/** The routes this module answers, for the runtime's 404 list. */
export const PAGE_ROUTES = ['GET /', 'GET /client.js', 'POST /_local/token'] as const;

/** What the page needs to know about this runtime, embedded into its HTML. */
export interface PageSettings {
  /** Topics the producer endpoint accepts (`kafka.topics`). */
  readonly topics: readonly string[];
  /** Channel names to suggest: the access table's patterns without wildcards. */
  readonly channels: readonly string[];
  /** Presence channels to suggest: `channels.presence` with `*` made `lobby` (`presence-*` -> `presence-lobby`). */
  readonly presenceChannels: readonly string[];
}

export interface PageRoutesOptions {
  readonly config: Config;
  readonly jwtSecret: string;
}

type Asset = { readonly type: string; readonly body: () => Promise<string> };

/**
 * The demo page of the local runtime (protocol section 7): its HTML, CSS and script,
 * the SDK bundle, and the local-only token endpoint. Bundles are built with esbuild on
 * first request and kept for the runtime's life.
 */
export class PageRoutes {
  readonly #assets: Record<string, Asset>;
  readonly #built = new Map<string, Promise<string>>();

  constructor(private readonly options: PageRoutesOptions) {
    const service = options.config.notification_service;
    const settings: PageSettings = {
      topics: service.kafka.topics,
      channels: Object.keys(service.channels.access).filter((pattern) => !pattern.includes('*')),
      presenceChannels: service.channels.presence.map((pattern) => pattern.replaceAll('*', 'lobby')),
    };
    this.#assets = {
      '/': { type: 'text/html; charset=utf-8', body: () => pageHtml(settings) },
      '/page.css': { type: 'text/css; charset=utf-8', body: () => readFile(resolve(PAGE_DIRECTORY, 'page.css'), 'utf8') },
      '/page.js': { type: 'text/javascript; charset=utf-8', body: bundlePage },
      '/client.js': { type: 'text/javascript; charset=utf-8', body: bundleClient },
    };
  }

  /** Answers the request when it is one of the page's; false otherwise. */
  async handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean> {
    if (path === TOKEN_PATH) {
      await handleTokenRequest(this.options, request, response);
      return true;
    }
    const asset = Object.hasOwn(this.#assets, path) ? this.#assets[path] : undefined;
    if (!asset || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    let body: string;
    try {
      body = await this.#build(path, asset);
    } catch (error) {
      sendJson(response, 500, { message: `cannot build ${path}: ${(error as Error).message}` });
      return true;
    }
    response.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  }

  #build(path: string, asset: Asset): Promise<string> {
    let built = this.#built.get(path);
    if (!built) {
      built = asset.body();
      this.#built.set(path, built);
      // A failed build (a syntax error while editing) is tried again on the next request.
      built.catch(() => this.#built.delete(path));
    }
    return built;
  }
}

async function pageHtml(settings: PageSettings): Promise<string> {
  const template = await readFile(resolve(PAGE_DIRECTORY, 'index.html'), 'utf8');
  // Inside <script>, `<` is escaped so no value can close the element.
  const json = JSON.stringify(settings).replace(/</g, '\\u003c');
  return template.replace('{{settings}}', json);
}
