import type { FoundChrome } from './chrome/find.js';
import type { LaunchSpec } from './chrome/launch.js';
import { settleWithin } from './deadline.js';
import {
  ChromeSessionsError,
  CreateAbortedError,
  InvalidOptionError,
  LaunchError,
  ManagerClosedError,
  QueueFullError,
  SessionClosedError,
  SessionNotFoundError,
} from './errors.js';
import { GuardedEmitter, type SessionManagerEvents } from './events.js';
import { managerLog, since } from './log.js';
import { resolveManagerOptions, type ResolvedManagerOptions, type SessionManagerOptions } from './options.js';
import { checkExtendMs, resolveCreateParams, type CreateSessionParams } from './session/params.js';
import type { PoolStats } from './pool/types.js';
import { SessionRuntime, type RuntimeContext } from './session/runtime.js';
import type { ListSessionsParams, Session, SessionInfo, SessionList, SessionStatus } from './session/types.js';
import { handleSignalsFor, stopHandlingSignalsFor } from './signals.js';
import { openProxy } from './session/proxy.js';
import { CONTEXT_TIMEOUT_MS, lending, openContext, prepareSession, withProxyFlags } from './session/setup.js';
import { startServices, type Started } from './manager-start.js';
import { ProfileStore } from './profiles/store.js';
import { openProfile } from './session/profile.js';
import { withSession } from './with-session.js';
import { getContext } from './session/session-context.js';
import type { FullSessionContext } from './session/context-state.js';
import { getRecording } from './recording/recorder.js';
import type { RecordingEvent } from './recording/replay.js';
import { usageLedger, type UsageTotals } from './usage/usage.js';
import { closeDownloads, deleteDownloads, downloadSettings, listDownloads, type DownloadInfo } from './downloads/downloads.js';

/** What {@link SessionManager.stats} returns. */
export interface ManagerStats extends PoolStats {
  /** Sessions `active` now. */
  active: number;
  /** Creates waiting for a slot or a browser. */
  pending: number;
  /** What the sessions used, summed over every session this manager has run (ended and active). */
  usage: UsageTotals;
}

const STATUSES: readonly SessionStatus[] = ['pending', 'active', 'closed', 'error'];

/** Clients get this long to close when their session ends (the endpoint cuts them off at 500 ms). */
const DISCONNECT_BOUND_MS = 2_000;

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
 *
 * Where things live: one session's rules in `session/runtime.ts`, pending creates and browser
 * states in `pool/dispatcher.ts`, the websocket endpoint in `endpoint.ts`.
 */
export class SessionManager extends GuardedEmitter<SessionManagerEvents> {
  readonly #opts: ResolvedManagerOptions;
  readonly #chrome: FoundChrome;
  readonly #spec: LaunchSpec;
  readonly #sessions = new Map<string, SessionRuntime>();
  readonly #ctx: RuntimeContext;
  #started: Promise<Started> | undefined;
  #live: Started | undefined;
  #closing: Promise<void> | undefined;
  /** Profiles in `profilesDir` (Hyperbrowser's `client.profiles`): `create`, `get`, `list`, `delete`. */
  readonly profiles: ProfileStore;

  /**
   * Validates `options` (a {@link InvalidOptionError}, a `TypeError`, names any bad one) and finds
   * Chrome ({@link ChromeNotFoundError} when there is none). No browser starts before `create()`.
   */
  constructor(options?: SessionManagerOptions) {
    super();
    const o = (this.#opts = resolveManagerOptions(options));
    this.#chrome = o.provider.findChrome({ executablePath: o.executablePath, headless: o.headless });
    this.profiles = new ProfileStore(o.profilesDir);
    this.#spec = { executablePath: this.#chrome.executablePath, headless: this.#chrome.headless, args: o.args, env: o.env };
    this.#ctx = {
      clock: o.clock,
      expiryWarningMs: o.expiryWarningMs,
      healthCheckIntervalMs: o.healthCheckIntervalMs,
      disconnectGraceMs: o.disconnectGraceMs,
      contextTimeoutMs: CONTEXT_TIMEOUT_MS,
      emit: (event, ...args) => this.#emitSafe(event, ...args),
      disconnectClients: (id) => {
        const endpoint = this.#live?.endpoint;
        return endpoint ? settleWithin(endpoint.disconnectAll(id, 'session_ended'), DISCONNECT_BOUND_MS, () => new Error('disconnect')).promise.catch(() => {}) : Promise.resolve();
      },
      release: (lease, retire) => this.#live?.dispatcher.release(lease, retire),
      ended: (rt) => {
        const r = rt.record;
        managerLog('session %s ended: status %s, stopReason %s, lifetime %d ms', r.id, r.status, r.stopReason, (r.closedAt ?? 0) - (r.startedAt ?? r.createdAt));
        this.#trimHistory();
      },
    };
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
   * `LaunchError` or `ManagerClosedError`; always settles (every wait on the way is bounded).
   */
  async create(params?: CreateSessionParams): Promise<Session> {
    if (this.#closing) throw new ManagerClosedError();
    const p = resolveCreateParams(params, this.#opts);
    if (p.signal?.aborted) throw abortError(p.signal.reason);
    // An unknown profile is refused at the door, leaving no record.
    if (p.profile) this.profiles.folder(p.profile.id);
    const t0 = performance.now();
    const rt = new SessionRuntime(p, this.#ctx);
    this.#sessions.set(rt.id, rt);
    // Listening before the first await: an abort at any moment from here on cancels the create.
    const onUserAbort = () => rt.abort.abort(abortError(p.signal!.reason));
    p.signal?.addEventListener('abort', onUserAbort, { once: true });
    try {
      const { endpoint, dispatcher, run, live } = await this.#start();
      rt.record.wsEndpoint = endpoint.urlFor(rt.id, rt.record.token);
      rt.record.liveUrl = live.urlFor(rt.id, rt.record.liveToken);
      const proxy = p.proxy ? await openProxy(p.proxy) : undefined;
      if (proxy) rt.onEnd(() => proxy.close());
      // Told once, whether the create waits for its profile, for a slot, or both.
      let toldQueued = false;
      const queued = () => {
        if (!toldQueued) this.#emitSafe('sessionQueued', rt.record.snapshot());
        toldQueued = true;
      };
      const base = proxy && p.isolation === 'browser' ? withProxyFlags(this.#spec, proxy) : this.#spec;
      const spec = p.profile ? await openProfile(rt, { store: this.profiles, run, queueTimeoutMs: this.#opts.queueTimeoutMs, clock: this.#opts.clock }, base, p.profile, p.priority, queued) : base;
      const lease = await dispatcher.acquire(spec, { priority: p.priority, signal: rt.abort.signal, ...lending(p.isolation, this.#opts.sessionsPerBrowser) }, queued);
      const contextId = p.isolation === 'context' ? await openContext(dispatcher, lease, proxy) : undefined;
      try {
        await prepareSession(rt, lease, contextId, p);
        if (rt.abort.signal.aborted || this.#closing) throw rt.abort.signal.aborted ? abortError(rt.abort.signal.reason) : new ManagerClosedError();
      } catch (err) {
        // Never started, so clean: back to the pool (a context of its own goes first).
        if (contextId) void lease.browser.disposeContexts([contextId], CONTEXT_TIMEOUT_MS).catch(() => {});
        dispatcher.release(lease, p.isolation === 'browser' ? 'no_reuse' : undefined);
        throw err;
      }
      rt.start(lease, contextId);
      managerLog('session %s created: isolation %s, browser pid %d, %d ms', rt.id, p.isolation, lease.browser.pid, since(t0));
      return this.#handle(rt);
    } catch (err) {
      const error = this.#createError(rt, err);
      managerLog('session %s create failed: %s', rt.id, (error as { code?: string }).code ?? error.name);
      // Refused at the door: it never was a session, so it leaves no record (and loses nothing).
      if (error instanceof QueueFullError) this.#sessions.delete(rt.id);
      else rt.failPending(error);
      throw error;
    } finally {
      p.signal?.removeEventListener('abort', onUserAbort);
    }
  }

  /** A fresh snapshot of a session. Throws {@link SessionNotFoundError} for an unknown id. */
  get(id: string): SessionInfo {
    return this.#runtime(id).record.snapshot();
  }

  /**
   * The session's cookies, localStorage, sessionStorage and IndexedDB (Steel's session context):
   * read now from an active session; from an ended one, what it held at its end if it was created
   * with `saveContext: true`, else {@link SessionClosedError}. See `session/session-context.ts`.
   */
  async getContext(id: string): Promise<FullSessionContext> {
    return getContext(this.#runtime(id));
  }

  /** Sessions newest first, optionally filtered by status, one page at a time. */
  list(params: ListSessionsParams = {}): SessionList {
    const { status, page = 1, perPage = 20 } = params;
    if (status !== undefined && !STATUSES.includes(status)) throw new InvalidOptionError('list.status', STATUSES.join(' | '), status);
    if (!Number.isInteger(page) || page < 1) throw new InvalidOptionError('list.page', 'an integer >= 1', page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) throw new InvalidOptionError('list.perPage', 'an integer 1..1000', perPage);
    const matching = [...this.#sessions.values()].reverse().filter((r) => status === undefined || r.record.status === status);
    return {
      sessions: matching.slice((page - 1) * perPage, page * perPage).map((r) => r.record.snapshot()),
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
    const rt = this.#runtime(id);
    if (rt.record.status === 'pending') {
      rt.abort.abort(new CreateAbortedError(`session ${id} was stopped while pending`));
      await rt.ended;
      return;
    }
    await rt.end('stopped');
  }

  /**
   * Creates a session, runs `fn` with it and stops it whatever happens (`fn` resolving or
   * throwing); resolves with `fn`'s result. See {@link withSession}.
   */
  withSession<T>(params: CreateSessionParams | undefined, fn: (session: Session) => T | PromiseLike<T>): Promise<T> {
    return withSession(this, params, fn);
  }

  /** Steel's name for {@link stop}. */
  release(id: string): Promise<void> {
    return this.stop(id);
  }

  /** Stops every active and pending session; resolves with how many there were. */
  async releaseAll(): Promise<number> {
    const live = [...this.#sessions.values()].filter((r) => r.record.status === 'active' || r.record.status === 'pending');
    await Promise.all(live.map((r) => this.stop(r.id)));
    return live.length;
  }

  /**
   * Moves a live session's expiry `ms` later; its lifetime may not exceed `maxTimeoutMs`.
   * Throws {@link SessionClosedError} if it has ended.
   */
  extend(id: string, ms: number): SessionInfo {
    const rt = this.#runtime(id);
    const add = checkExtendMs(ms);
    const rec = rt.record;
    if (rec.status !== 'active') throw new SessionClosedError(id, rec.status);
    const expiresAt = rec.expiresAt! + add;
    const max = this.#opts.maxTimeoutMs;
    if (expiresAt - rec.startedAt! > max) {
      throw new InvalidOptionError('extend.ms', `at most ${max - (rec.expiresAt! - rec.startedAt!)} (maxTimeoutMs ${max})`, ms);
    }
    rt.extendTo(expiresAt);
    return rec.snapshot();
  }

  /** A recorded session's rrweb events so far, all of them once it has ended (`RecordingUnavailableError` if it was not recorded). */
  getRecording(id: string): Promise<RecordingEvent[]> {
    return getRecording(id, this.#runtime(id).record.recordingPath);
  }

  /** The files session `id` downloaded, finished and in progress, in its own folder (`session.downloadsPath`). */
  downloads(id: string): DownloadInfo[] {
    return listDownloads(downloadSettings(this.#opts), this.#runtime(id).id);
  }

  /** Removes the files session `id` downloaded (its folder too, once it has ended). */
  deleteDownloads(id: string): Promise<void> {
    return deleteDownloads(downloadSettings(this.#opts), this.#runtime(id).id);
  }

  /** Counters: sessions by state and the pool's browsers by state, launches, resets and recycles. */
  stats(): ManagerStats {
    let active = 0;
    let pending = 0;
    for (const r of this.#sessions.values()) {
      if (r.record.status === 'active') active++;
      else if (r.record.status === 'pending') pending++;
    }
    const pool = this.#live?.dispatcher.stats() ?? { idle: 0, busy: 0, resetting: 0, launching: 0, launches: 0, resets: 0, recycles: 0, resetMsP50: undefined };
    return { ...pool, active, pending, usage: usageLedger(this.#opts).totals() };
  }

  /** Launches `minIdle` browsers now instead of at the first `create()`. */
  async warmUp(): Promise<void> {
    if (this.#closing) throw new ManagerClosedError();
    const { dispatcher } = await this.#start();
    dispatcher.warm(this.#spec, lending(this.#opts.isolation, this.#opts.sessionsPerBrowser));
  }

  /**
   * Stops every session (`stopReason: 'shutdown'`), rejects pending creates with
   * `ManagerClosedError`, closes every browser and removes its temporary profiles (never those of
   * `profiles`). Safe to call twice.
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
      [...this.#sessions.values()].map((rt) => {
        if (rt.record.status !== 'pending') return rt.end('shutdown');
        rt.abort.abort(shutdown);
        return rt.ended;
      }),
    );
    await closeDownloads(downloadSettings(this.#opts)).catch(() => {});
    const started = await this.#started?.catch(() => undefined);
    if (started) {
      await started.dispatcher.close();
      await this.#opts.provider.settle();
      await started.endpoint.close();
      await started.run.destroy();
    }
  }

  /** Synchronous last-resort shutdown for signals: kill every browser, mark every session ended. */
  shutdownSync(): void {
    for (const rt of this.#sessions.values()) rt.endSync();
    this.#live?.run.destroySync();
    this.#opts.provider.shutdownSync();
    // The rest (endpoint, pool bookkeeping) closes asynchronously, in case the process lives on.
    void this.close().catch(() => {});
  }

  /** Starts the run folder, the endpoint and the pool once; a failed start is retried by the next create. */
  #start(): Promise<Started> {
    this.#started ??= this.#startOnce().catch((err: unknown) => {
      this.#started = undefined;
      throw err;
    });
    return this.#started;
  }

  async #startOnce(): Promise<Started> {
    this.#live = await startServices(this.#opts, {
      session: (id) => this.#sessions.get(id),
      emit: (event, ...args) => this.#emitSafe(event, ...args),
    });
    // A close() during this start has already unregistered us: do not register again.
    if (this.#opts.handleSignals && !this.#closing) handleSignalsFor(this);
    return this.#live;
  }

  #runtime(id: string): SessionRuntime {
    if (typeof id !== 'string') throw new InvalidOptionError('id', 'a session id string', id);
    const rt = this.#sessions.get(id);
    if (!rt) throw new SessionNotFoundError(id);
    return rt;
  }

  #handle(rt: SessionRuntime): Session {
    const stop = () => this.stop(rt.id);
    return Object.defineProperties({ ...rt.record.snapshot() }, {
      stop: { value: stop },
      [Symbol.asyncDispose]: { value: stop },
    }) as Session;
  }

  /** Maps whatever a failed create threw to one of our typed errors. */
  #createError(rt: SessionRuntime, err: unknown): Error {
    if (err instanceof ChromeSessionsError || err instanceof InvalidOptionError) return err;
    if (rt.abort.signal.aborted) return abortError(rt.abort.signal.reason);
    if (this.#closing) return new ManagerClosedError();
    const why = err instanceof Error ? err.message : String(err);
    return new LaunchError(`Could not start the session: ${why}`, this.#spec.executablePath, '', { cause: err });
  }

  /** Forgets the oldest ended sessions beyond `historyLimit`. */
  #trimHistory(): void {
    let ended = 0;
    for (const r of this.#sessions.values()) if (r.record.ended) ended++;
    for (const [id, r] of this.#sessions) {
      if (ended <= this.#opts.historyLimit) break;
      if (r.record.ended) {
        this.#sessions.delete(id);
        ended--;
      }
    }
  }

  #emitSafe<K extends keyof SessionManagerEvents>(event: K, ...args: SessionManagerEvents[K]): void {
    (this.emit as (e: K, ...a: SessionManagerEvents[K]) => boolean)(event, ...args);
  }
}

/** A create's abort reason as a typed error: ours as is, anything else as `CreateAbortedError`. */
function abortError(reason: unknown): ChromeSessionsError {
  if (reason instanceof ChromeSessionsError) return reason;
  return new CreateAbortedError('signal aborted', { cause: reason });
}
