/**
 * The session record: its states, why it stopped, and the snapshot users see.
 */
import type { IsolationMode } from '../options.js';
import type { SessionUsage } from '../usage/usage.js';

/**
 * A session's state. `active`, `closed` and `error` are Hyperbrowser's; `pending` is a create
 * still waiting in the queue for a slot (it becomes `active`, or `closed` with `cancelled`).
 */
export type SessionStatus = 'pending' | 'active' | 'closed' | 'error';

/** Steel's names for the same states. */
export type SteelSessionStatus = 'queued' | 'live' | 'released' | 'failed';

/** The documented mapping from our (Hyperbrowser's) states to Steel's. */
export const STEEL_STATUS: Readonly<Record<SessionStatus, SteelSessionStatus>> = Object.freeze({
  pending: 'queued',
  active: 'live',
  closed: 'released',
  error: 'failed',
});

/**
 * Why a session ended.
 * - `stopped`: `stop()`, `release()` or `releaseAll()` was called.
 * - `timeout`: its `timeoutMs` ran out. `idle`: no client traffic for `idleTimeoutMs`.
 * - `client_disconnected`: its last client disconnected and it was not keepAlive.
 * - `all_pages_closed`: its last page closed (with or without keepAlive).
 * - `browser_closed`: a client sent `Browser.close` (Puppeteer's `browser.close()`).
 * - `crashed` / `unresponsive`: the browser died, or stopped answering the health check (status `error`).
 * - `shutdown`: the manager was closed or the process got a signal.
 * - `cancelled`: a pending create was stopped or aborted before it got a browser.
 * - `launch_failed`: the browser for it could not be started (status `error`).
 */
export type StopReason =
  | 'stopped'
  | 'timeout'
  | 'idle'
  | 'client_disconnected'
  | 'all_pages_closed'
  | 'browser_closed'
  | 'crashed'
  | 'unresponsive'
  | 'shutdown'
  | 'cancelled'
  | 'launch_failed';

/** A snapshot of one session, as `create`, `get` and `list` return it. Times are ISO 8601 strings. */
export interface SessionInfo {
  /** Unique id, usable in URLs. */
  readonly id: string;
  readonly status: SessionStatus;
  /** When `create()` was called. */
  readonly createdAt: string;
  /** When the session became active (after any queueing). */
  readonly startedAt?: string;
  /** The CDP websocket URL for `puppeteer.connect({ browserWSEndpoint })` or `chromium.connectOverCDP()`; carries the session's token. */
  readonly wsEndpoint: string;
  /**
   * `http://127.0.0.1:PORT/live/<id>?token=<secret>`: a page that shows the session's current tab
   * live and, unless `liveView: 'readonly'`, passes mouse and keyboard input to it. Its token is
   * not the CDP one. Viewers are not clients: they never keep a session alive nor end it.
   */
  readonly liveUrl: string;
  /** `http://127.0.0.1:PORT` serving `/json/version` for this session, while active (`create({ browserURL: true })`). */
  readonly browserURL?: string;
  /** The session's lifetime, from `startedAt`. */
  readonly timeoutMs: number;
  /** When the timeout stops the session (moves with `extend()`). */
  readonly expiresAt?: string;
  /** Survives client disconnects (set by `create({ keepAlive })` or a client's `keepAlive=true`). */
  readonly keepAlive: boolean;
  /** Idle timeout in ms; 0 when off. */
  readonly idleTimeoutMs: number;
  /** How the session is kept apart from others: `'reset'`, `'context'` or `'browser'`. */
  readonly isolation: IsolationMode;
  /** CDP clients connected now. */
  readonly clients: number;
  /** Pid of the browser serving the session, while active (with a Grid: on its node, when chromedriver reports it). */
  readonly browserPid?: number;
  /** The Selenium Grid session serving it, while active (`seleniumGrid` provider). */
  readonly gridSessionId?: string;
  /** When it ended. */
  readonly closedAt?: string;
  /** Why it ended. */
  readonly stopReason?: StopReason;
  /** What went wrong, for status `error`. */
  readonly error?: string;
  /** The rrweb events file of a recorded session (`create({ recording })`); `.html` (replay page) and `.mp4` (video) sit next to it once it has ended. */
  readonly recordingPath?: string;
  /** The folder the session's downloads go to (`manager.downloads(id)` lists them). */
  readonly downloadsPath?: string;
  /** What the session used (live while active, final once ended; see the README's Usage section). */
  readonly usage?: SessionUsage;
}

/** What `create()` returns: the snapshot at creation, plus a way to stop that session. */
export interface Session extends SessionInfo {
  /** Stops this session (same as `manager.stop(id)`); idempotent. */
  stop(): Promise<void>;
  /** `await using session = await manager.create()` stops it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Parameters of `list()`. */
export interface ListSessionsParams {
  /** Only sessions in this state. @default all */
  readonly status?: SessionStatus;
  /** 1-based page number. @default 1 */
  readonly page?: number;
  /** Sessions per page. @default 20 */
  readonly perPage?: number;
}

/** What `list()` returns, newest first (Hyperbrowser's shape). */
export interface SessionList {
  readonly sessions: readonly SessionInfo[];
  /** Sessions matching the filter, across all pages. */
  readonly totalCount: number;
  readonly page: number;
  readonly perPage: number;
}
