import type { PooledBrowser } from '../browser.js';
import type { Clock } from '../clock.js';
import type { ClientCloseReason, ClientInfo } from '../endpoint.js';
import { BrowserCrashedError, BrowserUnresponsiveError, CreateAbortedError, ManagerClosedError, QueueTimeoutError } from '../errors.js';
import type { SessionManagerEvents } from '../events.js';
import type { ResolvedCreateParams } from './params.js';
import { settleWithin } from '../deadline.js';
import type { Lease } from '../pool/dispatcher.js';
import type { RetireReason } from '../pool/types.js';
import { SessionRecord } from './record.js';
import type { StopReason } from './types.js';

/** Delay between a session's last page closing and the stop, so in-flight CDP replies reach its clients. */
const PAGES_SETTLE_MS = 50;

/** Bound on the work a session's features do at its end before its browser is given back. */
const FINISH_WORK_MS = 2_000;

/** What a session's runtime needs from the manager around it. */
export interface RuntimeContext {
  readonly clock: Clock;
  readonly expiryWarningMs: number;
  readonly healthCheckIntervalMs: number;
  readonly disconnectGraceMs: number;
  /** Bound on opening and disposing a session's browser context. */
  readonly contextTimeoutMs: number;
  emit<K extends keyof SessionManagerEvents>(event: K, ...args: SessionManagerEvents[K]): void;
  /** Closes every client socket of the session; resolves once they are closed (bounded). */
  disconnectClients(sessionId: string): Promise<void>;
  /** Gives the browser back to the pool, or retires it for `retire`. */
  release(lease: Lease<PooledBrowser>, retire?: RetireReason): void;
  /** The session has ended for good (the manager trims its history). */
  ended(runtime: SessionRuntime): void;
}

/**
 * One session's life in one place: from `pending` to `active` (its timers, health check and
 * browser listeners) to its end, which happens once, for one recorded reason, and gives the
 * browser back. Every rule of the lifecycle that concerns a single session lives here.
 */
export class SessionRuntime {
  readonly record: SessionRecord;
  /** Cancels the create while it is pending (user signal, `stop(id)`, `close()`). */
  readonly abort = new AbortController();
  /** Resolves once the session has fully ended (clients gone, browser given back). */
  readonly ended: Promise<void>;
  readonly #ctx: RuntimeContext;
  readonly #timers = new Map<string, unknown>();
  #markEnded!: () => void;
  #lease: Lease<PooledBrowser> | undefined;
  #ending: Promise<void> | undefined;
  #health: NodeJS.Timeout | undefined;
  #detach: (() => void) | undefined;
  /** 'context' isolation: the session's own browser context, and those its clients created. */
  #contextId: string | undefined;
  readonly #clientContexts = new Set<string>();
  /** Run the moment the session ends, before its browser is given back (last measurements, flushes). */
  readonly #onFinish: (() => void | Promise<unknown>)[] = [];
  /** What those started; the browser is given back once it has settled (at most FINISH_WORK_MS). */
  #finishWork: Promise<unknown> = Promise.resolve();
  /** Work to do once the session has ended, whatever the way (a local proxy to close). */
  readonly #onEnd: (() => Promise<void>)[] = [];
  /** Work to do once it has ended, before its browser goes back (a final read of its state). */
  readonly #beforeRelease: (() => Promise<void>)[] = [];
  /** Synchronous work for a signal exit, where the onEnd work cannot run (a recording's replay page). */
  readonly #onEndSync: (() => void)[] = [];
  /** Work to redo for a client that connects after another left (Chrome undid what that one set). */
  readonly #onNextClient: (() => void)[] = [];
  /** Work to redo for the clients still connected when one leaves (Chrome undid what that one set). */
  readonly #onClientLeftOthersStay: (() => void)[] = [];
  /** Work for each context a client creates, which is the session's too (its download folder). */
  readonly #onClientContext: ((contextId: string) => void)[] = [];
  #clientLeft = false;

  constructor(params: ResolvedCreateParams, ctx: RuntimeContext) {
    this.#ctx = ctx;
    this.record = new SessionRecord(params, ctx.clock.now());
    this.ended = new Promise((resolve) => {
      this.#markEnded = resolve;
    });
  }

  get id(): string {
    return this.record.id;
  }

  /** The browser serving the session, while active. */
  get browser(): PooledBrowser | undefined {
    return this.record.status === 'active' ? this.#lease?.browser : undefined;
  }

  /** The browser context of a 'context' session, while active. */
  get contextId(): string | undefined {
    return this.browser ? this.#contextId : undefined;
  }

  /**
   * The create got its browser (and, in 'context' isolation, its context): the session becomes
   * `active` and its rules start.
   */
  start(lease: Lease<PooledBrowser>, contextId?: string): void {
    const rec = this.record;
    this.#contextId = contextId;
    const b = lease.browser;
    const now = this.#ctx.clock.now();
    this.#lease = lease;
    rec.status = 'active';
    rec.browserPid = b.pid;
    rec.startedAt = now;
    rec.lastTraffic = now;
    rec.expiresAt = now + rec.timeoutMs;
    this.#armExpiry();
    if (rec.idleTimeoutMs > 0) this.#armIdle(rec.idleTimeoutMs);
    this.#armHealthCheck(b);
    const onPages = (count: number) => {
      if ((contextId === undefined ? count : b.sessionPageCount(contextId)) !== 0) return;
      // Let the client receive the replies and events of its own close before we cut it off
      // (Puppeteer's page.close() waits for them and would hang otherwise).
      this.#setTimer('pages', PAGES_SETTLE_MS, () => {
        if ((contextId === undefined ? b.pageCount : b.sessionPageCount(contextId)) === 0) void this.end('all_pages_closed');
      });
    };
    b.on('pagesChanged', onPages);
    let detached = false;
    this.#detach = () => {
      detached = true;
      b.off('pagesChanged', onPages);
    };
    void b.exited.then((info) => {
      if (detached) return;
      const detail = info.signal ? `signal ${info.signal}` : `code ${info.code}`;
      void this.end('crashed', new BrowserCrashedError(b.pid, detail, b.process.stderrTail.slice(-1000)));
    });
    this.#ctx.emit('sessionCreated', rec.snapshot());
    // It may have died between the grant and now: its exit promise has fired, so the above ends it.
  }

  /** Moves the expiry to `expiresAt` (ms since the epoch) and re-arms the timers. */
  extendTo(expiresAt: number): void {
    this.record.expiresAt = expiresAt;
    this.#armExpiry();
  }

  /** A client passed the endpoint's checks; `clients` are connected now. */
  clientConnected(c: ClientInfo, clients: number): void {
    const rec = this.record;
    rec.clients = clients;
    if (this.#clientLeft) {
      this.#clientLeft = false;
      for (const fn of this.#onNextClient) fn();
    }
    if (c.keepAlive) rec.keepAlive = true;
    this.#clearTimer('grace');
    this.#ctx.emit('clientConnected', { sessionId: rec.id, clientId: c.clientId, keepAlive: c.keepAlive, clients });
  }

  /** A client left; the disconnect rule may stop the session (after `disconnectGraceMs`). */
  clientDisconnected(c: ClientInfo, reason: ClientCloseReason, remaining: number): void {
    const rec = this.record;
    rec.clients = remaining;
    this.#clientLeft = true;
    const byClient = reason === 'client_closed' || reason === 'ping_timeout';
    const willStop = rec.status === 'active' && byClient && remaining === 0 && !rec.keepAlive;
    this.#ctx.emit('clientDisconnected', { sessionId: rec.id, clientId: c.clientId, reason, clients: remaining, willStop });
    if (remaining > 0 && rec.status === 'active') for (const fn of this.#onClientLeftOthersStay) fn();
    if (!willStop) return;
    const grace = this.#ctx.disconnectGraceMs;
    if (grace > 0) this.#setTimer('grace', grace, () => void (this.record.clients === 0 && this.end('client_disconnected')));
    else void this.end('client_disconnected');
  }

  /** Runs `fn` once the session has ended (or its create failed), bounded. */
  onEnd(fn: () => Promise<void>): void {
    this.#onEnd.push(fn);
  }

  /**
   * Runs `fn` the moment the session ends (or its create fails); an active session's browser is
   * given back once the promise it may return has settled (bounded).
   */
  onFinish(fn: () => void | Promise<unknown>): void {
    this.#onFinish.push(fn);
  }

  /**
   * Runs `fn` each time a client connects after another has left: Chrome undoes browser-level
   * settings a client made (its download folder) when that client disconnects, so what the
   * session itself set there is set again for the newcomer.
   */
  onNextClient(fn: () => void): void {
    this.#onNextClient.push(fn);
  }

  /**
   * Runs `fn` each time a client leaves while others stay connected: Chrome undoes the browser-level
   * settings the leaving client made (its download folder), for the clients that stay too.
   */
  onClientLeftOthersStay(fn: () => void): void {
    this.#onClientLeftOthersStay.push(fn);
  }

  /** Runs `fn` (synchronous) when a signal ends the session and the process exits at once. */
  onEndSync(fn: () => void): void {
    this.#onEndSync.push(fn);
  }

  /**
   * Runs `fn` once the session has ended and its clients are gone, before its browser goes back
   * to the pool (bounded; skipped when the browser crashed or hung, and for a failed create).
   */
  beforeRelease(fn: () => Promise<void>): void {
    this.#beforeRelease.push(fn);
  }

  #runOnEnd(list = this.#onEnd): Promise<void> {
    const all = Promise.all(list.splice(0).map((fn) => fn().catch(() => {})));
    return settleWithin(all, this.#ctx.contextTimeoutMs, () => new Error('cleanup timed out')).promise.then(() => {}, () => {});
  }

  /**
   * A client of this session created browser context `id`: it is the session's, disposed with it,
   * and its pages get the session's overrides, page hooks and live view; then `onClientContext`
   * work runs. Called as Chrome's reply passes, before the client can use the context.
   */
  clientContextCreated(id: string): void {
    this.#clientContexts.add(id);
    if (this.record.status !== 'active') return;
    if (this.#contextId !== undefined) this.#lease?.browser.adoptContext(id, this.#contextId);
    for (const fn of this.#onClientContext) fn(id);
  }

  /** Runs `fn` for each browser context a client of this session creates ('context' isolation). */
  onClientContext(fn: (contextId: string) => void): void {
    this.#onClientContext.push(fn);
  }

  /** A client sent a CDP message. The idle timer re-arms lazily from this stamp. */
  traffic(): void {
    this.record.lastTraffic = this.#ctx.clock.now();
  }

  /**
   * Ends an active session once: `closed`, or `error` when `error` is given. Every later call
   * returns the same promise; on a session that is not active it is a no-op.
   */
  end(reason: StopReason, error?: Error): Promise<void> {
    if (this.#ending) return this.#ending;
    if (this.record.status !== 'active') return this.ended;
    this.#finish(reason, error);
    const lease = this.#lease!;
    const retire: RetireReason | undefined = reason === 'crashed' ? 'crashed' : reason === 'unresponsive' ? 'unresponsive' : undefined;
    // A dead or hung browser leaves the pool at once; a healthy one only once its clients are gone.
    if (retire) this.#ctx.release(lease, retire);
    this.#ending = (async () => {
      await this.#ctx.disconnectClients(this.record.id);
      this.record.clients = 0;
      await this.#finishWork;
      if (!retire) {
        await this.#runOnEnd(this.#beforeRelease);
        this.#ctx.release(lease, await this.#giveBack(lease.browser));
      }
      await this.#runOnEnd();
      if (error) this.#ctx.emit('sessionError', this.record.snapshot(), error);
      this.#ctx.emit('sessionClosed', this.record.snapshot());
      this.#ctx.ended(this);
      this.#markEnded();
    })();
    return this.#ending;
  }

  /**
   * Readies the browser for the pool: a 'context' session's contexts are disposed (a browser
   * that cannot dispose them takes no more sessions); a 'browser' session's Chrome is not reused.
   */
  async #giveBack(b: PooledBrowser): Promise<RetireReason | undefined> {
    if (this.record.isolation === 'browser') return 'no_reuse';
    if (this.#contextId === undefined) return undefined;
    const ms = this.#ctx.contextTimeoutMs;
    const disposed = settleWithin(b.disposeContexts([this.#contextId, ...this.#clientContexts], ms), ms, () => new Error('dispose timed out'));
    return disposed.promise.then(() => undefined, () => 'reset_failed' as const);
  }

  /** The create never became active: record it as cancelled or failed. Idempotent. */
  failPending(error: Error): void {
    if (this.record.status !== 'pending') return;
    const cancelled = error instanceof CreateAbortedError || error instanceof QueueTimeoutError || error instanceof ManagerClosedError;
    const reason: StopReason = error instanceof ManagerClosedError ? 'shutdown' : cancelled ? 'cancelled' : 'launch_failed';
    this.#finish(reason, cancelled ? undefined : error);
    void this.#runOnEnd();
    if (!cancelled) this.#ctx.emit('sessionError', this.record.snapshot(), error);
    this.#ctx.emit('sessionClosed', this.record.snapshot());
    this.#ctx.ended(this);
    this.#markEnded();
  }

  /** Synchronous last resort (signals): the session is over now; its browser is being killed. */
  endSync(): void {
    if (this.record.status === 'pending') this.abort.abort(new ManagerClosedError());
    if (this.record.ended || this.#ending) return;
    this.#finish('shutdown');
    for (const fn of this.#onEndSync.splice(0)) {
      try {
        fn();
      } catch {
        // the process is going down; nothing to tell
      }
    }
    this.#ctx.emit('sessionClosed', this.record.snapshot());
    this.#markEnded();
  }

  /** Sets the final state and stops every timer and listener. */
  #finish(reason: StopReason, error?: Error): void {
    const rec = this.record;
    rec.status = error ? 'error' : 'closed';
    rec.stopReason = reason;
    rec.error = error;
    rec.closedAt = this.#ctx.clock.now();
    for (const name of [...this.#timers.keys()]) this.#clearTimer(name);
    clearInterval(this.#health);
    this.#detach?.();
    const work: Promise<unknown>[] = [];
    for (const fn of this.#onFinish.splice(0)) {
      try {
        const r = fn();
        if (r) work.push(r.catch(() => {}));
      } catch {
        // a measurement lost, nothing more
      }
    }
    if (work.length > 0) this.#finishWork = settleWithin(Promise.all(work), FINISH_WORK_MS, () => new Error('finish work timed out')).promise.catch(() => {});
  }

  #armExpiry(): void {
    const rec = this.record;
    const now = this.#ctx.clock.now();
    this.#setTimer('expiry', rec.expiresAt! - now, () => void this.end('timeout'));
    const warn = this.#ctx.expiryWarningMs;
    if (warn > 0 && rec.expiresAt! - now > warn) {
      this.#setTimer('warning', rec.expiresAt! - warn - now, () => {
        this.#ctx.emit('sessionExpiring', { sessionId: rec.id, expiresAt: new Date(rec.expiresAt!).toISOString(), inMs: rec.expiresAt! - this.#ctx.clock.now() });
      });
    } else {
      this.#clearTimer('warning');
    }
  }

  /** One timer per session, re-armed lazily: traffic only stamps `lastTraffic`. */
  #armIdle(ms: number): void {
    this.#setTimer('idle', ms, () => {
      const quiet = this.#ctx.clock.now() - this.record.lastTraffic;
      if (quiet >= this.record.idleTimeoutMs) void this.end('idle');
      else this.#armIdle(this.record.idleTimeoutMs - quiet);
    });
  }

  #armHealthCheck(b: PooledBrowser): void {
    const every = this.#ctx.healthCheckIntervalMs;
    if (every <= 0) return;
    // Real time on purpose: a hung browser is a wall-clock fact, whatever the injected clock says.
    // A browser whose manager connection dropped is killed by PooledBrowser, so its exit ends us.
    this.#health = setInterval(async () => {
      if (this.record.status !== 'active' || !b.usable) return;
      if (await b.responsive(every)) return;
      if (this.record.status !== 'active') return;
      b.kill();
      void this.end('unresponsive', new BrowserUnresponsiveError(b.pid, every));
    }, every);
    this.#health.unref();
  }

  #setTimer(name: string, ms: number, fn: () => void): void {
    this.#clearTimer(name);
    this.#timers.set(
      name,
      this.#ctx.clock.setTimeout(() => {
        this.#timers.delete(name);
        fn();
      }, Math.max(0, ms)),
    );
  }

  #clearTimer(name: string): void {
    const t = this.#timers.get(name);
    if (t === undefined) return;
    this.#ctx.clock.clearTimeout(t);
    this.#timers.delete(name);
  }
}
