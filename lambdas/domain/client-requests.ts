import { randomUUID } from 'node:crypto';
import type { WebSocketConfig } from '../config/schema.js';
import type * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { clientEnvelope, clientPayloads, type ClientRequestType, type ServerFrame } from '../../protocol/frames.js';
import { ADMIN_ROLE } from './access-policy.js';
import type { ConnectionService } from './connection-service.js';
import { ConnectionNotFoundError, ProtocolError } from './errors.js';
import type { InboxService } from './inbox-service.js';
import type { Identity } from './model.js';
import type { Clock, HeartbeatActivity, Log, RateLimiter } from './ports.js';
import type { PresenceChannelService } from './presence-channel-service.js';
import type { PresenceService } from './presence-service.js';
import type { RecoveryService } from './recovery-service.js';
import { errorFrame, serverFrame } from './server-frames.js';
import type { StatsService } from './stats-service.js';
import type { SubscriptionService } from './subscription-service.js';
import type { StreamHeads } from './stream-heads.js';
import type { TokenRefreshService } from './token-refresh.js';

/** Deepest JSON nesting accepted; deeper documents are refused before they are parsed. */
export const MAX_JSON_DEPTH = 32;

export interface ClientRequestContext {
  readonly connectionId: string;
  readonly identity: Identity;
}

export interface ClientRequestsOptions {
  readonly clock: Clock;
  readonly log: Log;
  readonly rateLimiter: RateLimiter;
  readonly maxFrameSize: number;
  /** idle_timeout and heartbeat_interval: how often a heartbeat moves the activity index. */
  readonly websocket: Pick<WebSocketConfig, 'idle_timeout' | 'heartbeat_interval'>;
  readonly connections: ConnectionService;
  readonly subscriptions: SubscriptionService;
  readonly presence: PresenceService;
  readonly presenceChannels: PresenceChannelService;
  readonly stats: StatsService;
  readonly recovery: RecoveryService;
  readonly refresh: TokenRefreshService;
  readonly inbox: InboxService;
  /** Stream heads for `heartbeat` answers (docs/protocol.md section 11); without it, none are sent. */
  readonly streamHeads?: Pick<StreamHeads, 'tryOf'>;
}

/**
 * Every client frame goes through here, whichever route carried it: size, rate, JSON,
 * envelope and payload checks, then the request itself. Anything wrong becomes an
 * `error` frame with a documented code; nothing is changed by a refused frame.
 */
export class ClientRequests {
  constructor(private readonly options: ClientRequestsOptions) {}

  async handle(context: ClientRequestContext, body: string): Promise<ServerFrame> {
    const { clock, log } = this.options;
    let replyTo: string | undefined;
    try {
      if (Buffer.byteLength(body, 'utf8') > this.options.maxFrameSize) {
        throw new ProtocolError('MESSAGE_TOO_LARGE', `messages are limited to ${this.options.maxFrameSize} bytes`);
      }
      // Parsed before the rate check (bounded by max_frame_size, so cheap) so that even a
      // RATE_LIMITED answer carries replyTo; malformed frames still spend a token.
      let document: object | undefined;
      let malformed: unknown;
      try {
        document = parseJsonObject(body);
        replyTo = messageIdOf(document);
      } catch (error) {
        malformed = error;
      }
      // Checked before the rate check too, but refused after it (a refused frame still
      // spends its token), so that a valid heartbeat is known when its token is taken.
      let request: ParsedRequest | undefined;
      let refusal: unknown = malformed;
      if (document !== undefined) {
        try {
          request = parseRequest(document, context.connectionId);
        } catch (error) {
          refusal = error;
        }
      }
      const now = clock.now();
      // A heartbeat is recorded by the write that takes its token: one write, not two.
      // The read that write needs tells the connection's channels, for the answer's heads.
      let holder: { readonly userId: string; readonly channels: readonly string[] } | undefined;
      const heartbeat =
        request?.type === 'heartbeat'
          ? {
              ...this.heartbeatActivity(now),
              read: (connection: { readonly userId: string; readonly channels: readonly string[] }) => {
                holder = connection;
              },
            }
          : undefined;
      if (!(await this.options.rateLimiter.tryTake(context.connectionId, now.getTime(), heartbeat))) {
        throw new ProtocolError('RATE_LIMITED', 'too many messages; slow down');
      }
      if (request === undefined) throw refusal;
      return await this.dispatch(context, request, now, holder);
    } catch (error) {
      if (error instanceof ProtocolError) {
        log.info('request refused', { connectionId: context.connectionId, messageId: replyTo, code: error.code, reason: error.message });
        return errorFrame(clock, error.code, error.message, replyTo);
      }
      if (error instanceof ConnectionNotFoundError) {
        return errorFrame(clock, 'NOT_REGISTERED', 'this connection is no longer registered; reconnect', replyTo);
      }
      log.error('request failed', { connectionId: context.connectionId, messageId: replyTo, error: describe(error) });
      return errorFrame(clock, 'INTERNAL', 'internal error; try again', replyTo);
    }
  }

  private async dispatch(
    context: ClientRequestContext,
    request: ParsedRequest,
    now: Date,
    holder: { readonly userId: string; readonly channels: readonly string[] } | undefined,
  ): Promise<ServerFrame> {
    const { clock } = this.options;
    const { connectionId, identity } = context;
    const { type, payload, messageId: replyTo } = request;
    this.options.log.debug('request', { connectionId, messageId: replyTo, type });
    switch (type) {
      case 'subscribe': {
        const request = payload as z.infer<typeof clientPayloads.subscribe>;
        const answer =
          request.action === 'unsubscribe'
            ? await this.options.subscriptions.unsubscribe(connectionId, request.channels)
            : await this.options.subscriptions.subscribe(connectionId, identity, request.channels);
        return serverFrame(clock, 'subscription', answer, replyTo);
      }
      case 'unsubscribe': {
        const request = payload as z.infer<typeof clientPayloads.unsubscribe>;
        return serverFrame(clock, 'subscription', await this.options.subscriptions.unsubscribe(connectionId, request.channels), replyTo);
      }
      case 'heartbeat': {
        // Already recorded: the write that took its token (see handle). The heads let a
        // client find the last notification it missed (docs/protocol.md section 11).
        const streams = holder ? await this.options.streamHeads?.tryOf({ connectionId, ...holder }) : undefined;
        return serverFrame(clock, 'heartbeat', { connectionId, timestamp: now.toISOString(), status: 'alive', ...(streams ? { streams } : {}) }, replyTo);
      }
      case 'presence': {
        const request = payload as z.infer<typeof clientPayloads.presence>;
        return serverFrame(clock, 'presence', await this.options.presence.query(context, request.userIds), replyTo);
      }
      case 'members': {
        const request = payload as z.infer<typeof clientPayloads.members>;
        return serverFrame(clock, 'members', await this.options.presenceChannels.members(connectionId, request.channel), replyTo);
      }
      case 'recover': {
        const request = payload as z.infer<typeof clientPayloads.recover>;
        const answer =
          request.streams !== undefined
            ? await this.options.recovery.recoverStreams(connectionId, identity, request.streams)
            : await this.options.recovery.recover(connectionId, identity, request.since!);
        return serverFrame(clock, 'recovered', answer, replyTo);
      }
      case 'stats': {
        if (!identity.roles.includes(ADMIN_ROLE)) throw new ProtocolError('FORBIDDEN', 'stats needs the admin role');
        return serverFrame(clock, 'stats', await this.options.stats.collect(), replyTo);
      }
      case 'refresh': {
        const request = payload as z.infer<typeof clientPayloads.refresh>;
        return serverFrame(clock, 'refreshed', await this.options.refresh.refresh(connectionId, identity, request.token), replyTo);
      }
      case 'inbox': {
        // Always the caller's own inbox: the payload names no user.
        const request = payload as z.infer<typeof clientPayloads.inbox>;
        return serverFrame(clock, 'inbox', await this.options.inbox.list(identity.userId, request), replyTo);
      }
      case 'markRead': {
        const request = payload as z.infer<typeof clientPayloads.markRead>;
        const target = 'all' in request ? 'all' : request.messageIds;
        return serverFrame(clock, 'inboxState', await this.options.inbox.markRead(identity.userId, connectionId, target), replyTo);
      }
    }
  }

  /**
   * What a heartbeat records. lastSeenAt (exact, `heartbeatAt` in DynamoDB) is written
   * with every heartbeat's token at no extra cost; the activity index's copy only when
   * older than {@link activityIndexRefreshSeconds}, because each move of it costs two
   * index writes.
   */
  private heartbeatActivity(now: Date): HeartbeatActivity {
    const refreshMs = activityIndexRefreshSeconds(this.options.websocket) * 1000;
    return { at: now.toISOString(), indexIfBefore: new Date(now.getTime() - refreshMs).toISOString() };
  }
}

/**
 * How old the activity index's lastSeenAt may get before a heartbeat moves it:
 * idle_timeout less half a heartbeat interval (750 s by default, so every third beat at
 * 300 s). Cleanup lists by the index and decides on the exact value, so this bounds no
 * promise; it only keeps a connection that beats on time out of cleanup's listing (its
 * index copy stays younger than idle_timeout as long as no beat is half an interval
 * late), where each one listed costs cleanup a consistent read.
 */
export function activityIndexRefreshSeconds(websocket: Pick<WebSocketConfig, 'idle_timeout' | 'heartbeat_interval'>): number {
  return Math.max(0, websocket.idle_timeout - websocket.heartbeat_interval / 2);
}

/** A frame that passed every check: what dispatch needs. */
interface ParsedRequest {
  readonly type: ClientRequestType;
  readonly payload: unknown;
  readonly messageId: string;
}

/** Envelope, type, payload and the connectionId claim; throws the ProtocolError to answer. */
function parseRequest(document: object, connectionId: string): ParsedRequest {
  const envelope = parseEnvelope(document);
  // Own keys only: `in` would take "constructor" or "__proto__" for request types.
  if (!Object.hasOwn(clientPayloads, envelope.type)) {
    throw new ProtocolError('UNKNOWN_TYPE', `unknown type ${JSON.stringify(envelope.type)}; known: ${Object.keys(clientPayloads).join(', ')}`);
  }
  const type = envelope.type as ClientRequestType;
  const payload = parsePayload(clientPayloads[type], envelope.payload);
  const claimed = (payload as { connectionId?: string }).connectionId;
  if (claimed !== undefined && claimed !== connectionId) {
    throw new ProtocolError('FORBIDDEN', 'payload.connectionId must be your own connection id');
  }
  // A request without a messageId gets one from the server; the reply names it.
  return { type, payload, messageId: envelope.messageId ?? randomUUID() };
}

function parseJsonObject(body: string): object {
  if (jsonDepthExceeds(body, MAX_JSON_DEPTH)) {
    throw new ProtocolError('INVALID_MESSAGE', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new ProtocolError('INVALID_MESSAGE', 'not JSON: a frame is one JSON object');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ProtocolError('INVALID_MESSAGE', 'a frame is one JSON object');
  }
  return document;
}

/** The request's messageId when it is a valid one, so even a refused frame gets `replyTo`. */
function messageIdOf(document: object): string | undefined {
  const candidate = (document as { messageId?: unknown }).messageId;
  return clientEnvelope.shape.messageId.safeParse(candidate).success ? (candidate as string) : undefined;
}

function parseEnvelope(document: object): z.infer<typeof clientEnvelope> {
  const result = clientEnvelope.safeParse(document);
  if (!result.success) throw new ProtocolError('INVALID_MESSAGE', describeIssues(result.error));
  return result.data;
}

function parsePayload<S extends z.ZodMiniType>(schema: S, payload: unknown): z.infer<S> {
  const result = schema.safeParse(payload);
  if (!result.success) throw new ProtocolError('INVALID_MESSAGE', describeIssues(result.error, 'payload'));
  return result.data;
}

function describeIssues(error: z.core.$ZodError, prefix?: string): string {
  return formatZodIssues(error, { ...(prefix ? { prefix } : {}), root: 'frame', limit: 5 }).join('; ');
}

/** Scans the text for bracket depth outside strings, without building any object. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c)
        index += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (char === 0x7d || char === 0x5d) depth -= 1;
  }
  return false;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
