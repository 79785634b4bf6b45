/**
 * Wire-level helpers of {@link ContextScope} (lib/scope.ts): cheap looks at raw CDP text that
 * avoid `JSON.parse` on the hot path, and the few messages the scope writes itself.
 *
 * They rely on how Chrome serialises its messages (compact JSON, keys in protocol order):
 * replies start `{"id":N,`, events start `{"method":"...`, and a top-level `sessionId` is the
 * last key, so a message on a session ends with `"sessionId":"<id>"}`.
 */

/** One CDP message as the scope reads it (only the fields it looks at are typed). */
export interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: unknown;
  sessionId?: string;
}

/** A target as `Target.TargetInfo` describes it (the fields the scope uses). */
export interface TargetInfoLike {
  readonly targetId: string;
  readonly type: string;
  readonly browserContextId?: string;
}

/** Parses one message, or undefined when it is not a JSON object. */
export function parseMessage(text: string): CdpMessage | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as CdpMessage) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `v` looks like a `Target.TargetInfo`. */
export function isTargetInfo(v: unknown): v is TargetInfoLike {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.targetId === 'string' && typeof o.type === 'string' && (o.browserContextId === undefined || typeof o.browserContextId === 'string');
}

/** `params[key]` when it is a string. */
export function stringParam(params: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = params?.[key];
  return typeof v === 'string' ? v : undefined;
}

const REPLY_HEAD = '{"id":';
const SESSION_KEY = '"sessionId":"';

/**
 * The id of a reply whose id is negative (`{"id":-N,...`), i.e. one of the scope's own ids, or
 * undefined for every other message. Reads only the first few characters.
 */
export function negativeReplyId(text: string): number | undefined {
  if (!text.startsWith(REPLY_HEAD) || text.charCodeAt(REPLY_HEAD.length) !== 45 /* - */) return undefined;
  const id = Number.parseInt(text.slice(REPLY_HEAD.length, REPLY_HEAD.length + 20), 10);
  return Number.isSafeInteger(id) ? id : undefined;
}

/**
 * The top-level `sessionId` of a message from Chrome, read from its tail: Chrome writes it as the
 * last key, so the text then ends with `"}`; a message without one ends with `}}` (its params or
 * result object). Inside JSON strings a quote is escaped, so `"sessionId":"` is always a key.
 */
export function trailingSessionId(text: string): string | undefined {
  const n = text.length;
  if (n < SESSION_KEY.length + 3 || text.charCodeAt(n - 1) !== 125 /* } */ || text.charCodeAt(n - 2) !== 34 /* " */) return undefined;
  const i = text.lastIndexOf(SESSION_KEY);
  return i < 0 ? undefined : text.slice(i + SESSION_KEY.length, n - 2);
}

/** A CDP error reply, addressed to the session the request came on. */
export function errorReply(id: number, sessionId: string | undefined, code: number, message: string): string {
  const reply: CdpMessage = { id, error: { code, message } };
  if (sessionId !== undefined) reply.sessionId = sessionId;
  return JSON.stringify(reply);
}

/** A request in the scope's own name (`id` negative, so no client id can equal it). */
export function request(id: number, method: string, params: Record<string, unknown>, sessionId?: string): string {
  const msg: CdpMessage = { id, method, params };
  if (sessionId !== undefined) msg.sessionId = sessionId;
  return JSON.stringify(msg);
}

/** What to do with one message. Every array may be empty. */
export interface ScopeVerdict {
  readonly toChrome: readonly string[];
  readonly toClient: readonly string[];
}

const EMPTY: readonly string[] = Object.freeze([]);
/** Neither way: the message is dropped. */
export const DROP: ScopeVerdict = Object.freeze({ toChrome: EMPTY, toClient: EMPTY });

/** The message goes to Chrome only. */
export function toChrome(text: string): ScopeVerdict {
  return { toChrome: [text], toClient: EMPTY };
}

/** The message goes to the client only. */
export function toClient(text: string): ScopeVerdict {
  return { toChrome: EMPTY, toClient: [text] };
}

/** A client message can only be one the scope rewrites or filters if its text matches this. */
export const CLIENT_NEEDLE = /"(?:Target|Storage|Browser|Extensions)\./;
const CLIENT_NEEDLES = ['"Target.', '"Storage.', '"Browser.', '"Extensions.'];
/** The start of a reply to one of the scope's own (negative) ids. */
export const REPLY_HEAD_NEGATIVE = '{"id":-';
/** How much of a message's start `ContextScope.passesUnread` needs (the longest prefix it looks for). */
export const HEAD_CHARS = 40;
/** How much of its end: a top-level `"sessionId":"<32 hex>"}` and some room. */
export const TAIL_CHARS = 96;
export const TARGET_EVENT = '{"method":"Target.';
export const NO_TARGET = 'No target with given id found';
export const INVALID_PARAMS = -32602;

/** True when a raw message from the client may need the scope (else it goes to Chrome as it is). */
export function clientMayNeedScope(data: Buffer): boolean {
  return CLIENT_NEEDLES.some((n) => data.includes(n));
}
