import PQueue from 'p-queue';
import type { PooledBrowser } from './browser.js';
import { findChrome, type FoundChrome } from './chrome/find.js';
import type { LaunchSpec } from './chrome/launch.js';
import { RunDir } from './chrome/runtime.js';
import { SessionEndpoint, type ClientCloseReason, type ClientInfo } from './endpoint.js';
import {
  ChromeSessionsError,
  CreateAbortedError,
  InvalidOptionError,
  ManagerClosedError,
  QueueFullError,
  QueueTimeoutError,
  SessionClosedError,
  SessionNotFoundError,
} from './errors.js';
import { GuardedEmitter, type SessionManagerEvents } from './events.js';
import { checkExtendMs, resolveCreateParams, resolveManagerOptions, type CreateSessionParams, type ResolvedManagerOptions, type SessionManagerOptions } from './options.js';
import { BrowserPool, type PoolStats } from './pool.js';
import { SessionRecord } from './record.js';
import type { ListSessionsParams, Session, SessionInfo, SessionList, SessionStatus, StopReason } from './session.js';
import { handleSignalsFor, stopHandlingSignalsFor } from './signals.js';

/** What {@link SessionManager.stats} returns. */
export interface ManagerStats extends PoolStats {
  /** Sessions `active` now. */
  active: number;
  /** Creates waiting for a slot or a browser. */
  pending: number;
}

const STATUSES: readonly SessionStatus[] = ['pending', 'active', 'closed', 'error'];

/** Delay between a session's last page closing and the stop, so in-flight CDP replies reach its clients. */
const PAGES_SETTLE_MS = 50;

/**
 * Cloud-browser sessions (Hyperbrowser/Steel lifecycle) on local Chrome. Each session borrows a
 * warm browser from a pool and exposes a CDP websocket endpoint (`wsEndpoint`) that
 * `puppeteer.connect` and Playwright's `connectOverCDP` accept unchanged.
 *
 * ```ts
 * await using manager = new SessionManager({ maxConcurrent: 2 });
 * const session = await manager.create({ timeoutMs: 60_000 });
 * const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint });
 * ```
 */
export class SessionManager extends GuardedEmitter<SessionManagerEvents> {
  readonly #opts: ResolvedManagerOptions;
  readonly #chrome: FoundChrome;
  readonly #spec: LaunchSpec;
  readonly #queue: PQueue;
  readonly #sessions = new Map<string, SessionRecord>();
  #started: Promise<{ run: RunDir; endpoint: SessionEndpoint; pool: BrowserPool }> | undefined;
  #run: RunDir | undefined;
  #endpoint: SessionEndpoint | undefined;
  #pool: BrowserPool | undefined;
  #closing: Promise<void> | undefined;
  #waiting = 0;

  /**
   * Validates `options` (a {@link InvalidOptionError}, a `TypeError`, names any bad one) and finds
   * Chrome ({@link ChromeNotFoundError} when there is none). No browser starts before `create()`.
   */
  constructor(options?: SessionManagerOptions) {
    super();
    this.#opts = resolveManagerOptions(options);
    this.#chrome = findChrome({ executablePath: this.#opts.executablePath, headless: this.#opts.headless });
    this.#spec = { executablePath: this.#chrome.executablePath, headless: this.#chrome.headless, args: this.#opts.args, env: this.#opts.env };
    this.#queue = new PQueue({ concurrency: this.#opts.maxConcurrent });
  }

  /** The Chrome binary and build this manager runs. */
  get chrome(): FoundChrome {
    return this.#chrome;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Creates a session: waits for a slot (at most `maxConcurrent` are active), borrows a warm
   * browser or launches one, and resolves with the session's record once it is `active`.
   * Rejects with `InvalidOptionError`, `QueueFullError`, `QueueTimeoutError`, `CreateAbortedError`,
   * `LaunchError` or `ManagerClosedError`.
   */
  async create(params?: CreateSessionParams): Promise<Session> {
    if (this.#closing) throw new ManagerClosedError();
    const p = resolveCreateParams(params, this.#opts);
    p.signal?.throwIfAborted();
    const { endpoint } = await this.#start();
    if (this.#closing) throw new ManagerClosedError();
    // Checked and counted with no await in between, so concurrent creates cannot overshoot.
    if (this.#waiting >= this.#opts.maxQueue) throw new QueueFullError(this.#opts.maxQueue);

    const rec = new SessionRecord(p, this.#opts.clock);
    rec.wsEndpoint = endpoint.urlFor(rec.id, rec.token);
    this.#sessions.set(rec.id, rec);
    const mustWait = this.#queue.pending >= this.#queue.concurrency;
    if (mustWait) this.#emitSafe('sessionQueued', rec.snapshot());

    const onUserAbort = () => rec.abort.abort(new CreateAbortedError('signal aborted', { cause: p.signal?.reason }));
    p.signal?.addEventListener('abort', onUserAbort, { once: true });
    if (this.#opts.queueTimeoutMs > 0) {
      rec.setTimer('queue', this.#opts.queueTimeoutMs, () => rec.abort.abort(new QueueTimeoutError(this.#opts.queueTimeoutMs)));
    }

    this.#waiting++;
    let waiting = true;
    const stopWaiting = () => {
      if (waiting) this.#waiting--;
      waiting = false;
      rec.clearTimer('queue');
    };
    let activated!: (s: Session) => void;
    const ready = new Promise<Session>((resolve) => {
      activated = resolve;
    });
    const task = this.#queue.add(
      async () => {
        stopWaiting();
        rec.abort.signal.throwIfAborted();
        const browser = await this.#pool!.acquire(this.#spec, rec.abort.signal);
        if (rec.abort.signal.aborted || this.#closing) {
          this.#pool!.release(browser, true);
          rec.abort.signal.throwIfAborted();
          throw new ManagerClosedError();
        }
        this.#activate(rec, browser);
        activated(this.#handle(rec));
        await rec.ended;
      },
      { priority: p.priority, signal: rec.abort.signal },
    );
    try {
      return await Promise.race([ready, task.then(() => ready)]);
    } catch (err) {
      stopWaiting();
      const error = this.#createError(rec, err);
      if (rec.status === 'pending') this.#finishPending(rec, error);
      throw error;
    } finally {
      p.signal?.removeEventListener('abort', onUserAbort);
    }
  }

  /** A fresh snapshot of a session. Throws {@link SessionNotFoundError} for an unknown id. */
  get(id: string): SessionInfo {
    return this.#record(id).snapshot();
  }

  /** Sessions newest first, optionally filtered by status, one page at a time. */
  list(params: ListSessionsParams = {}): SessionList {
    const { status, page = 1, perPage = 20 } = params;
    if (status !== undefined && !STATUSES.includes(status)) throw new InvalidOptionError('list.status', STATUSES.join(' | '), status);
    if (!Number.isInteger(page) || page < 1) throw new InvalidOptionError('list.page', 'an integer >= 1', page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) throw new InvalidOptionError('list.perPage', 'an integer 1..1000', perPage);
    const matching = [...this.#sessions.values()].reverse().filter((r) => status === undefined || r.status === status);
    return {
      sessions: matching.slice((page - 1) * perPage, page * perPage).map((r) => r.snapshot()),
      totalCount: matching.length,
      page,
      perPage,
    };
  }

  /**
   * Stops a session: its clients are disconnected, its endpoint refuses new ones, and its browser
   * goes back to the pool to be reset. Idempotent: stopping an ended session is a no-op. A
   * pending create is cancelled (it rejects with `CreateAbortedError`).
   */
  async stop(id: string): Promise<void> {
    const rec = this.#record(id);
    if (rec.status === 'pending') {
      rec.abort.abort(new CreateAbortedError(`session ${id} was stopped while pending`));
      await rec.ended;
      return;
    }
    await this.#end(rec, 'stopped', 'closed');
  }

  /** Steel's name for {@link stop}. */
  release(id: string): Promise<void> {
    return this.stop(id);
  }

  /** Stops every active and pending session; resolves with how many there were. */
  async releaseAll(): Promise<number> {
    const live = [...this.#sessions.values()].filter((r) => r.status === 'active' || r.status === 'pending');
    await Promise.all(live.map((r) => this.stop(r.id)));
    return live.length;
  }

  /**
   * Moves a live session's expiry `ms` later; its lifetime may not exceed `maxTimeoutMs`.
   * Throws {@link SessionClosedError} if it has ended.
   */
  extend(id: string, ms: number): SessionInfo {
    const rec = this.#record(id);
    const add = checkExtendMs(ms);
    if (rec.status !== 'active') throw new SessionClosedError(id, rec.status);
    const expiresAt = rec.expiresAt! + add;
    if (expiresAt - rec.startedAt! > this.#opts.maxTimeoutMs) {
      throw new InvalidOptionError('extend.ms', `at most ${this.#opts.maxTimeoutMs - (rec.expiresAt! - rec.startedAt!)} (maxTimeoutMs ${this.#opts.maxTimeoutMs})`, ms);
    }
    rec.expiresAt = expiresAt;
    this.#armExpiry(rec);
    return rec.snapshot();
  }

  /** Counters: sessions by state and the pool's browsers, launches, resets and recycles. */
  stats(): ManagerStats {
    let active = 0;
    let pending = 0;
    for (const r of this.#sessions.values()) {
      if (r.status === 'active') active++;
      else if (r.status === 'pending') pending++;
    }
    const pool = this.#pool?.stats(active) ?? { idle: 0, busy: 0, resetting: 0, launching: 0, launches: 0, resets: 0, recycles: 0, resetMsP50: undefined };
    return { ...pool, active, pending };
  }

  /**
   * Launches `minIdle` browsers now instead of at the first `create()`, so that the first
   * sessions find warm browsers.
   */
  async warmUp(): Promise<void> {
    if (this.#closing) throw new ManagerClosedError();
    const { pool } = await this.#start();
    pool.warm(this.#spec);
  }

  /**
   * Stops every session (`stopReason: 'shutdown'`), rejects pending creates with
   * `ManagerClosedError`, closes every browser and removes every profile. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `await using manager = new SessionManager()` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    stopHandlingSignalsFor(this);
    const shutdown = new ManagerClosedError();
    await Promise.all(
      [...this.#sessions.values()].map((r) => {
        if (r.status === 'pending') {
          r.abort.abort(shutdown);
          return r.ended;
        }
        return r.status === 'active' ? this.#end(r, 'shutdown', 'closed') : r.ending;
      }),
    );
    if (this.#started) {
      await this.#started.catch(() => {});
      await this.#pool?.close();
      await this.#endpoint?.close();
      await this.#run?.destroy();
    }
  }

  /** Synchronous last-resort shutdown for signals: kill every browser, mark every session ended. */
  shutdownSync(): void {
    for (const r of this.#sessions.values()) {
      if (r.status !== 'active' && r.status !== 'pending') continue;
      r.clearTimers();
      r.stopHealthCheck?.();
      if (r.status === 'pending') r.abort.abort(new ManagerClosedError());
      this.#setEnded(r, 'shutdown', 'closed');
      this.#emitSafe('sessionClosed', r.snapshot());
      r.markEnded();
    }
    this.#run?.destroySync();
    // The rest (endpoint, pool bookkeeping) closes asynchronously, in case the process lives on.
    void this.close().catch(() => {});
  }

  #start(): Promise<{ run: RunDir; endpoint: SessionEndpoint; pool: BrowserPool }> {
    this.#started ??= (async () => {
      const run = (this.#run = new RunDir(this.#opts.runtimeDir, { replaceIfUnsafe: this.#opts.runtimeDirIsDefault }));
      run.reapOrphans();
      const endpoint = (this.#endpoint = new SessionEndpoint(
        {
          route: (id) => {
            const r = this.#sessions.get(id);
            return r?.status === 'active' && r.browser ? { token: r.token, upstream: r.browser.process.wsEndpoint } : undefined;
          },
          clientConnected: (id, c) => this.#onClientConnected(id, c),
          clientDisconnected: (id, c, reason, remaining) => this.#onClientDisconnected(id, c, reason, remaining),
          clientTraffic: (id) => {
            const r = this.#sessions.get(id);
            if (r) r.lastTraffic = this.#opts.clock.now();
          },
          browserCloseRequested: (id) => {
            const r = this.#sessions.get(id);
            if (r) void this.#end(r, 'browser_closed', 'closed');
          },
        },
        { pingTimeoutMs: this.#opts.clientPingTimeoutMs },
      ));
      await endpoint.listen();
      const o = this.#opts;
      const pool = (this.#pool = new BrowserPool(
        {
          launchTimeoutMs: o.launchTimeoutMs,
          minIdle: o.minIdle,
          reuse: o.reuse,
          maxSessionsPerBrowser: o.maxSessionsPerBrowser,
          maxBrowserAgeMs: o.maxBrowserAgeMs,
          maxBrowserRssBytes: o.maxBrowserRssBytes,
          resetTimeoutMs: o.resetTimeoutMs,
          maxBrowsers: o.maxConcurrent + o.minIdle,
        },
        run,
        {
          browserLaunched: (e) => this.#emitSafe('browserLaunched', e),
          browserExited: (e) => this.#emitSafe('browserExited', e),
          browserReset: (e) => this.#emitSafe('browserReset', e),
          browserRecycled: (e) => this.#emitSafe('browserRecycled', e),
        },
      ));
      if (o.handleSignals) handleSignalsFor(this);
      return { run, endpoint, pool };
    })();
    return this.#started;
  }

  #record(id: string): SessionRecord {
    if (typeof id !== 'string') throw new InvalidOptionError('id', 'a session id string', id);
    const rec = this.#sessions.get(id);
    if (!rec) throw new SessionNotFoundError(id);
    return rec;
  }

  #handle(rec: SessionRecord): Session {
    const stop = () => this.stop(rec.id);
    return Object.defineProperties({ ...rec.snapshot() }, {
      stop: { value: stop },
      [Symbol.asyncDispose]: { value: stop },
    }) as Session;
  }

  #activate(rec: SessionRecord, browser: PooledBrowser): void {
    const now = this.#opts.clock.now();
    rec.browser = browser;
    rec.status = 'active';
    rec.startedAt = now;
    rec.lastTraffic = now;
    rec.expiresAt = now + rec.timeoutMs;
    this.#armExpiry(rec);
    if (rec.idleTimeoutMs > 0) this.#armIdle(rec, rec.idleTimeoutMs);
    this.#armHealthCheck(rec);
    const onPages = (count: number) => {
      if (count !== 0) return;
      // Let the client receive the replies and events of its own close before we cut it off
      // (Puppeteer's page.close() waits for them and would hang otherwise).
      rec.setTimer('pages', PAGES_SETTLE_MS, () => {
        if (browser.pageCount === 0) void this.#end(rec, 'all_pages_closed', 'closed');
      });
    };
    const onExit = () => void this.#end(rec, 'crashed', 'error', new Error(`Browser ${browser.pid} exited unexpectedly\n${browser.process.stderrTail.slice(-1000)}`));
    browser.on('pagesChanged', onPages);
    browser.once('exit', onExit);
    rec.detachBrowser = () => {
      browser.off('pagesChanged', onPages);
      browser.off('exit', onExit);
    };
    this.#emitSafe('sessionCreated', rec.snapshot());
  }

  #armExpiry(rec: SessionRecord): void {
    const now = this.#opts.clock.now();
    rec.setTimer('expiry', rec.expiresAt! - now, () => void this.#end(rec, 'timeout', 'closed'));
    const warn = this.#opts.expiryWarningMs;
    if (warn > 0 && rec.expiresAt! - now > warn) {
      rec.setTimer('warning', rec.expiresAt! - warn - now, () => {
        this.#emitSafe('sessionExpiring', { sessionId: rec.id, expiresAt: new Date(rec.expiresAt!).toISOString(), inMs: rec.expiresAt! - this.#opts.clock.now() });
      });
    } else {
      rec.clearTimer('warning');
    }
  }

  /** One timer per session, re-armed lazily: traffic only stamps `lastTraffic`. */
  #armIdle(rec: SessionRecord, ms: number): void {
    rec.setTimer('idle', ms, () => {
      const quiet = this.#opts.clock.now() - rec.lastTraffic;
      if (quiet >= rec.idleTimeoutMs) void this.#end(rec, 'idle', 'closed');
      else this.#armIdle(rec, rec.idleTimeoutMs - quiet);
    });
  }

  #armHealthCheck(rec: SessionRecord): void {
    const every = this.#opts.healthCheckIntervalMs;
    if (every <= 0) return;
    // Real time on purpose: a hung browser is a wall-clock fact, whatever the injected clock says.
    const timer = setInterval(async () => {
      const b = rec.browser;
      if (rec.status !== 'active' || !b || !b.usable) return;
      if (await b.responsive(every)) return;
      if (rec.status !== 'active') return;
      b.process.kill();
      void this.#end(rec, 'unresponsive', 'error', new Error(`Browser ${b.pid} did not answer Browser.getVersion within ${every} ms`));
    }, every);
    timer.unref();
    rec.stopHealthCheck = () => clearInterval(timer);
  }

  #onClientConnected(id: string, c: ClientInfo): void {
    const rec = this.#sessions.get(id);
    if (!rec) return;
    rec.clients++;
    rec.hadClient = true;
    if (c.keepAlive) rec.keepAlive = true;
    rec.clearTimer('grace');
    this.#emitSafe('clientConnected', { sessionId: id, clientId: c.clientId, keepAlive: c.keepAlive, clients: rec.clients });
  }

  #onClientDisconnected(id: string, c: ClientInfo, reason: ClientCloseReason, remaining: number): void {
    const rec = this.#sessions.get(id);
    if (!rec) return;
    rec.clients = remaining;
    const byClient = reason === 'client_closed' || reason === 'ping_timeout';
    const willStop = rec.status === 'active' && byClient && remaining === 0 && !rec.keepAlive;
    this.#emitSafe('clientDisconnected', { sessionId: id, clientId: c.clientId, reason, clients: remaining, willStop });
    if (!willStop) return;
    const grace = this.#opts.disconnectGraceMs;
    if (grace > 0) rec.setTimer('grace', grace, () => {
      if (rec.clients === 0) void this.#end(rec, 'client_disconnected', 'closed');
    });
    else void this.#end(rec, 'client_disconnected', 'closed');
  }

  #setEnded(rec: SessionRecord, reason: StopReason, status: 'closed' | 'error', error?: Error): void {
    rec.status = status;
    rec.stopReason = reason;
    rec.error = error;
    rec.closedAt = this.#opts.clock.now();
  }

  /** Ends an active session once; every later call awaits the same promise. */
  #end(rec: SessionRecord, reason: StopReason, status: 'closed' | 'error', error?: Error): Promise<void> {
    if (rec.ending) return rec.ending;
    if (rec.status !== 'active') return Promise.resolve();
    this.#setEnded(rec, reason, status, error);
    rec.ending = (async () => {
      rec.clearTimers();
      rec.stopHealthCheck?.();
      rec.detachBrowser?.();
      await this.#endpoint?.disconnectAll(rec.id, 'session_ended');
      rec.clients = 0;
      const browser = rec.browser!;
      rec.browser = undefined;
      this.#pool?.release(browser, status !== 'error');
      if (error) this.#emitSafe('sessionError', rec.snapshot(), error);
      this.#emitSafe('sessionClosed', rec.snapshot());
      this.#trimHistory();
      rec.markEnded();
    })();
    return rec.ending;
  }

  /** A create that never became active: record it as cancelled or failed, and free its place. */
  #finishPending(rec: SessionRecord, error: Error): void {
    rec.clearTimers();
    const cancelled = error instanceof CreateAbortedError || error instanceof QueueTimeoutError || error instanceof ManagerClosedError;
    const reason: StopReason = error instanceof ManagerClosedError ? 'shutdown' : cancelled ? 'cancelled' : 'launch_failed';
    this.#setEnded(rec, reason, cancelled ? 'closed' : 'error', cancelled ? undefined : error);
    if (!cancelled) this.#emitSafe('sessionError', rec.snapshot(), error);
    this.#emitSafe('sessionClosed', rec.snapshot());
    this.#trimHistory();
    rec.markEnded();
  }

  /** Maps whatever a failed create threw to one of our typed errors. */
  #createError(rec: SessionRecord, err: unknown): Error {
    if (err instanceof ChromeSessionsError) return err;
    const reason: unknown = rec.abort.signal.reason;
    if (rec.abort.signal.aborted && reason instanceof Error) return reason;
    if (this.#closing) return new ManagerClosedError();
    return err instanceof Error ? err : new Error(String(err));
  }

  #trimHistory(): void {
    let ended = 0;
    for (const r of this.#sessions.values()) if (r.status === 'closed' || r.status === 'error') ended++;
    for (const [id, r] of this.#sessions) {
      if (ended <= this.#opts.historyLimit) break;
      if (r.status === 'closed' || r.status === 'error') {
        this.#sessions.delete(id);
        ended--;
      }
    }
  }

  #emitSafe<K extends keyof SessionManagerEvents>(event: K, ...args: SessionManagerEvents[K]): void {
    (this.emit as (e: K, ...a: SessionManagerEvents[K]) => boolean)(event, ...args);
  }
}
