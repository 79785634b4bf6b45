import crypto from 'node:crypto';
import type { PooledBrowser } from './browser.js';
import type { Clock } from './clock.js';
import type { ResolvedCreateParams } from './options.js';
import type { SessionInfo, SessionStatus, StopReason } from './session.js';

/**
 * The manager's mutable record of one session, with its timers. Users only ever see
 * {@link SessionRecord.snapshot} copies.
 */
export class SessionRecord {
  readonly id = crypto.randomUUID();
  /** The endpoint secret: 24 random bytes, URL-safe. */
  readonly token = crypto.randomBytes(24).toString('base64url');
  readonly createdAt: number;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly priority: number;
  status: SessionStatus = 'pending';
  keepAlive: boolean;
  wsEndpoint = '';
  startedAt: number | undefined;
  expiresAt: number | undefined;
  closedAt: number | undefined;
  stopReason: StopReason | undefined;
  error: Error | undefined;
  browser: PooledBrowser | undefined;
  clients = 0;
  /** A client has connected at least once (the disconnect rule only applies after that). */
  hadClient = false;
  lastTraffic = 0;
  /** Removes the session's listeners from its browser. */
  detachBrowser: (() => void) | undefined;
  /** Stops the session's health-check interval. */
  stopHealthCheck: (() => void) | undefined;
  /** Cancels the create while it is pending. */
  readonly abort = new AbortController();
  /** Set once the session starts ending; later stops await it. */
  ending: Promise<void> | undefined;
  /** Resolves when the session has fully ended: this frees its slot in the queue. */
  readonly ended: Promise<void>;
  markEnded!: () => void;
  readonly #clock: Clock;
  readonly #timers = new Map<string, unknown>();

  constructor(params: ResolvedCreateParams, clock: Clock) {
    this.#clock = clock;
    this.createdAt = clock.now();
    this.timeoutMs = params.timeoutMs;
    this.idleTimeoutMs = params.idleTimeoutMs;
    this.keepAlive = params.keepAlive;
    this.priority = params.priority;
    this.ended = new Promise((resolve) => {
      this.markEnded = resolve;
    });
  }

  /** (Re)arms a named timer; the previous one of that name is cancelled. */
  setTimer(name: string, ms: number, fn: () => void): void {
    this.clearTimer(name);
    this.#timers.set(name, this.#clock.setTimeout(() => {
      this.#timers.delete(name);
      fn();
    }, Math.max(0, ms)));
  }

  clearTimer(name: string): void {
    const t = this.#timers.get(name);
    if (t !== undefined) {
      this.#clock.clearTimeout(t);
      this.#timers.delete(name);
    }
  }

  clearTimers(): void {
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
  }

  /** A frozen copy for users. */
  snapshot(): SessionInfo {
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const info: Record<string, unknown> = {
      id: this.id,
      status: this.status,
      createdAt: iso(this.createdAt),
      startedAt: iso(this.startedAt),
      wsEndpoint: this.wsEndpoint,
      timeoutMs: this.timeoutMs,
      expiresAt: iso(this.expiresAt),
      keepAlive: this.keepAlive,
      idleTimeoutMs: this.idleTimeoutMs,
      clients: this.clients,
      browserPid: this.status === 'active' ? this.browser?.pid : undefined,
      closedAt: iso(this.closedAt),
      stopReason: this.stopReason,
      error: this.error?.message,
    };
    for (const k of Object.keys(info)) if (info[k] === undefined) delete info[k];
    return Object.freeze(info) as unknown as SessionInfo;
  }
}
