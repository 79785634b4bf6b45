import crypto from 'node:crypto';
import type { ExitInfo } from '../chrome/launch.js';
import { ChromeSessionsError, CreateAbortedError, LaunchError } from '../errors.js';
import { poolLog } from '../log.js';
import { gridSessions, wdError, wdMessage, webdriver } from './grid-http.js';
import type { BrowserProcess } from './process.js';

/** The capability that tags a new-session request, so a request cancelled mid-flight can be found and deleted. */
export const REQUEST_TAG = 'chrome-sessions:request';

/** After a cancelled request, how long the hub is watched for the session it may still create. */
const CANCEL_WATCH_MS = 10_000;
const CANCEL_POLL_MS = 500;
/** Heartbeats in a row that fail without saying the session is gone (hub or node unreachable) before it counts as gone. */
const HEARTBEAT_MISSES = 3;

/** Where and how a Grid session is requested (resolved provider options). */
export interface GridTarget {
  /** The hub's (or router's) base URL, without credentials or trailing slash. */
  readonly base: string;
  /** Headers of every HTTP call (Basic auth when the URL carried credentials). */
  readonly headers: Readonly<Record<string, string>>;
  /** `user:pass@` for the `se:cdp` websocket when the URL carried credentials, else ''. */
  readonly wsAuth: string;
  readonly heartbeatIntervalMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * One Selenium Grid session, as a {@link BrowserProcess}: created by `POST /session`, reached over
 * its `se:cdp` websocket, kept from Grid's `--session-timeout` by a WebDriver heartbeat (Grid
 * counts WebDriver commands only, not CDP traffic), ended by `DELETE /session/<id>`. It is gone
 * (`exited`) once it is deleted, or once the Grid says it no longer has it (a node or Chrome that
 * died, a session Grid reaped); the websocket alone does not tell: Grid keeps it open after
 * Chrome is SIGKILLed.
 */
export class GridSession implements BrowserProcess {
  readonly gridSessionId: string;
  readonly remote = true;
  readonly wsEndpoint: string;
  readonly pid: number;
  readonly executablePath: string;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitInfo>;
  readonly #t: GridTarget;
  #exit: ExitInfo | undefined;
  #markExited!: (info: ExitInfo) => void;
  #why = '';
  #heartbeat: NodeJS.Timeout | undefined;
  #misses = 0;
  #deleting: Promise<void> | undefined;
  #probing: Promise<void> | undefined;

  private constructor(t: GridTarget, id: string, caps: Record<string, unknown>) {
    this.#t = t;
    this.gridSessionId = id;
    const cdp = typeof caps['se:cdp'] === 'string' ? caps['se:cdp'] : `${t.base.replace(/^http/, 'ws')}/session/${id}/se/cdp`;
    this.wsEndpoint = t.wsAuth ? cdp.replace(/^(wss?:\/\/)/, `$1${t.wsAuth}`) : cdp;
    this.pid = typeof caps['goog:processID'] === 'number' ? caps['goog:processID'] : 0;
    this.executablePath = `Selenium Grid ${t.base}, session ${id}`;
    this.exited = new Promise((resolve) => {
      this.#markExited = resolve;
    });
    if (t.heartbeatIntervalMs > 0) {
      this.#heartbeat = setInterval(() => void this.probe(), t.heartbeatIntervalMs);
      this.#heartbeat.unref();
    }
  }

  /**
   * Asks the Grid for a session with `capabilities` and waits, while Grid queues the request, until
   * it has one. `signal` cancels: the request is dropped (Grid removes a queued request whose
   * client went away), and a session created in the same instant is found by its tag and deleted
   * before this rejects, or by a watch of the hub afterwards (`track` gets it). Rejects with
   * `LaunchError` or `CreateAbortedError`; leaves nothing behind.
   */
  static async create(t: GridTarget, capabilities: Record<string, unknown>, signal: AbortSignal, timeoutMs: number, track: (watch: Promise<void>) => void = () => {}): Promise<GridSession> {
    const tag = crypto.randomUUID();
    const body = { capabilities: { alwaysMatch: { ...capabilities, [REQUEST_TAG]: tag } } };
    let r;
    try {
      r = await webdriver(t.base, 'POST', '/session', { body, timeoutMs, signal, headers: t.headers });
    } catch (err) {
      // In the background: the create has its answer now. The watch is bounded, keeps no timer
      // alive, and is handed to `track` (the provider's close waits for it).
      track(deleteTagged(t, tag));
      if (signal.aborted) throw signal.reason instanceof ChromeSessionsError ? signal.reason : new CreateAbortedError('cancelled while Grid queued the request', { cause: signal.reason });
      throw new LaunchError(`Selenium Grid did not create a session: ${describe(err)}`, t.base, '', { cause: err });
    }
    const id = typeof r.value.sessionId === 'string' ? r.value.sessionId : undefined;
    if (!id || wdError(r)) throw new LaunchError(`Selenium Grid did not create a session: ${wdMessage(r) || 'no session id'}`, t.base, '');
    const s = new GridSession(t, id, (r.value.capabilities as Record<string, unknown> | undefined) ?? {});
    poolLog('grid session %s created', id);
    try {
      if (signal.aborted) throw new CreateAbortedError('cancelled while Grid created the session', { cause: signal.reason });
      // chromedriver opens its first tab on `data:,`; sessions start on about:blank, as local ones.
      const nav = await webdriver(t.base, 'POST', `/session/${id}/url`, { body: { url: 'about:blank' }, timeoutMs: t.requestTimeoutMs, signal, headers: t.headers });
      if (wdError(nav)) throw new LaunchError(`Selenium Grid session ${id} did not open about:blank: ${wdMessage(nav)}`, t.base, '');
      return s;
    } catch (err) {
      await s.close();
      if (err instanceof LaunchError || err instanceof CreateAbortedError) throw err;
      if (signal.aborted) throw new CreateAbortedError('cancelled while Grid created the session', { cause: signal.reason });
      throw new LaunchError(`Selenium Grid session ${id} failed: ${(err as Error).message}`, t.base, '', { cause: err });
    }
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  get stderrTail(): string {
    return this.#why;
  }

  /** A remote browser's memory is the node's business. */
  rssBytes(): number {
    return 0;
  }

  /**
   * One heartbeat: a WebDriver command that asks Chrome but needs no current window
   * (`GET /session/<id>/window/handles`). It resets Grid's idle clock; `invalid session id` means
   * the session is gone: chromedriver answers so at once when its Chrome died, whereas a command
   * it answers alone (`/timeouts`) succeeds for a dead Chrome.
   */
  probe(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    this.#probing ??= (async () => {
      try {
        const r = await webdriver(this.#t.base, 'GET', `/session/${this.gridSessionId}/window/handles`, { timeoutMs: this.#t.requestTimeoutMs, headers: this.#t.headers });
        if (r.status === 404 || wdError(r) === 'invalid session id') return this.#gone(`the Grid no longer has the session (${wdMessage(r)})`);
        // Another error (the hub cannot reach the node, chromedriver trouble): gone if it lasts.
        if (wdError(r)) this.#miss(wdMessage(r));
        else this.#misses = 0;
      } catch (err) {
        this.#miss(describe(err));
      } finally {
        this.#probing = undefined;
      }
    })();
    return this.#probing;
  }

  /** Deletes the session (chromedriver quits Chrome); `polite` does not apply. Never rejects. */
  async close(): Promise<void> {
    await this.#delete();
    this.#gone('deleted');
  }

  kill(): void {
    void this.#delete();
    this.#gone('deleted (killed)');
  }

  #delete(): Promise<void> {
    this.#deleting ??= webdriver(this.#t.base, 'DELETE', `/session/${this.gridSessionId}`, { timeoutMs: this.#t.requestTimeoutMs, headers: this.#t.headers }).then(
      (r) => poolLog('grid session %s deleted: %s', this.gridSessionId, wdError(r) || 'ok'),
      (err: unknown) => poolLog('grid session %s: DELETE failed: %s', this.gridSessionId, (err as Error).message),
    );
    return this.#deleting;
  }

  #miss(why: string): void {
    if (++this.#misses >= HEARTBEAT_MISSES) this.#gone(`${HEARTBEAT_MISSES} heartbeats in a row failed (${why})`);
  }

  #gone(why: string): void {
    if (this.#exit) return;
    clearInterval(this.#heartbeat);
    this.#why ||= why;
    this.#exit = { code: null, signal: null };
    poolLog('grid session %s gone: %s', this.gridSessionId, why);
    this.#markExited(this.#exit);
  }
}

/**
 * Deletes the session a cancelled request may have produced: the hub drops a queued request when
 * its client goes away, but one already handed to a node still becomes a session. Watches `/status`
 * for the tag for a bounded while (session creation takes a second or two on a node).
 */
export async function deleteTagged(t: GridTarget, tag: string): Promise<void> {
  const deadline = Date.now() + CANCEL_WATCH_MS;
  while (Date.now() < deadline) {
    const found = await gridSessions(t.base, t.requestTimeoutMs, t.headers).then(
      (all) => all.find((s) => s.capabilities[REQUEST_TAG] === tag),
      () => undefined,
    );
    if (found) {
      poolLog('grid session %s of a cancelled request: deleting it', found.sessionId);
      await webdriver(t.base, 'DELETE', `/session/${found.sessionId}`, { timeoutMs: t.requestTimeoutMs, headers: t.headers }).catch(() => {});
      return;
    }
    await new Promise((r) => setTimeout(r, CANCEL_POLL_MS).unref());
  }
}

/** A fetch error with its cause (`fetch failed` alone hides ECONNREFUSED and the like). */
function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `${e.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}
