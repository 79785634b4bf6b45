import { EventEmitter } from 'eventemitter3';
import type { ClientCloseReason } from './endpoint.js';
import type { WatchdogRestartEvent } from './chrome/watchdog.js';
import type { SessionInfo } from './session/types.js';

export type { WatchdogRestartEvent };

/** Payload of `clientConnected`. */
export interface ClientConnectedEvent {
  readonly sessionId: string;
  readonly clientId: string;
  /** This client asked for `keepAlive=true` on the endpoint. */
  readonly keepAlive: boolean;
  /** Clients connected to the session now, this one included. */
  readonly clients: number;
}

/** Payload of `clientDisconnected`. */
export interface ClientDisconnectedEvent {
  readonly sessionId: string;
  readonly clientId: string;
  /** `client_closed` (socket closed or killed), `ping_timeout` (frozen client), `browser_gone`, `session_ended`. */
  readonly reason: ClientCloseReason;
  /** Clients still connected to the session. */
  readonly clients: number;
  /** The session stops because of this disconnect (after `disconnectGraceMs`, unless a client reconnects). */
  readonly willStop: boolean;
}

/** Payload of `browserLaunched`. */
export interface BrowserLaunchedEvent {
  readonly pid: number;
  readonly executablePath: string;
  readonly headless: 'shell' | 'new';
  /** Spawn to DevTools endpoint, ms. */
  readonly launchMs: number;
}

/** Payload of `browserExited`. */
export interface BrowserExitedEvent {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** False when the browser died on its own (crash, killed from outside). */
  readonly expected: boolean;
}

/** Payload of `browserReset`. */
export interface BrowserResetEvent {
  readonly pid: number;
  readonly ms: number;
}

/** Payload of `browserRecycled`. */
export interface BrowserRecycledEvent {
  readonly pid: number;
  /**
   * `max_sessions`, `max_age`, `max_rss`: a recycle rule; `reset_failed`: its reset failed or ran
   * past `resetTimeoutMs`; `crashed`: it exited on its own; `unresponsive`: the health check
   * killed it; `no_reuse`: `reuse: false`; `surplus`: not needed any more.
   */
  readonly reason: 'max_sessions' | 'max_age' | 'max_rss' | 'reset_failed' | 'crashed' | 'unresponsive' | 'no_reuse' | 'surplus';
}

/** Event name → listener arguments, for the typed `on()` of {@link SessionManager}. */
export interface SessionManagerEvents {
  /** A create is waiting for a slot; `list({ status: 'pending' })` shows it. */
  sessionQueued: [session: SessionInfo];
  /** A session became `active`. */
  sessionCreated: [session: SessionInfo];
  /** A session will time out in `inMs` (see `expiryWarningMs`). */
  sessionExpiring: [event: { readonly sessionId: string; readonly expiresAt: string; readonly inMs: number }];
  /** A session ended in `error` (crash, unresponsive browser); `sessionClosed` follows. */
  sessionError: [session: SessionInfo, error: Error];
  /** A session ended, whatever the reason (`session.stopReason`), in `closed` or `error`; `session.usage` holds its final usage. */
  sessionClosed: [session: SessionInfo];
  clientConnected: [event: ClientConnectedEvent];
  clientDisconnected: [event: ClientDisconnectedEvent];
  browserLaunched: [event: BrowserLaunchedEvent];
  browserExited: [event: BrowserExitedEvent];
  /** A browser was reset after a session and went back to the pool. */
  browserReset: [event: BrowserResetEvent];
  /** A browser was retired instead of reused. */
  browserRecycled: [event: BrowserRecycledEvent];
  /**
   * The watchdog shell (which kills this manager's browsers if the process dies) died and another
   * was started, told every running browser; `gaveUp` when it died too often to restart.
   */
  watchdogRestarted: [event: WatchdogRestartEvent];
  /** A listener threw; the manager caught it and went on. With no listener here, a process warning is emitted. */
  listenerError: [event: { readonly event: string; readonly error: unknown }];
}

/** Any listener of any event, for the wrapping below. */
type AnyListener = (...args: never[]) => void;

/**
 * An eventemitter3 emitter whose listeners cannot break the emitter: a listener that throws is
 * caught and reported through `listenerError` (tarn does the same), and the other listeners still run.
 */
export class GuardedEmitter<E extends EventEmitter.ValidEventTypes> extends EventEmitter<E> {
  readonly #guards = new WeakMap<AnyListener, AnyListener>();

  #guard(event: string, fn: AnyListener): AnyListener {
    let guarded = this.#guards.get(fn);
    if (!guarded) {
      guarded = (...args: never[]) => {
        try {
          fn(...args);
        } catch (error) {
          this.#report(event, error);
        }
      };
      this.#guards.set(fn, guarded);
    }
    return guarded;
  }

  #report(event: string, error: unknown): void {
    if (event !== 'listenerError' && this.listenerCount('listenerError' as EventEmitter.EventNames<E>) > 0) {
      (this.emit as unknown as (e: string, arg: unknown) => boolean)('listenerError', { event, error });
    } else {
      process.emitWarning(`chrome-sessions: a '${event}' listener threw: ${(error as Error)?.stack ?? String(error)}`);
    }
  }

  override on<T extends EventEmitter.EventNames<E>>(event: T, fn: EventEmitter.EventListener<E, T>, context?: unknown): this {
    return super.on(event, this.#guard(String(event), fn as AnyListener) as EventEmitter.EventListener<E, T>, context);
  }

  override addListener<T extends EventEmitter.EventNames<E>>(event: T, fn: EventEmitter.EventListener<E, T>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventEmitter.EventNames<E>>(event: T, fn: EventEmitter.EventListener<E, T>, context?: unknown): this {
    return super.once(event, this.#guard(String(event), fn as AnyListener) as EventEmitter.EventListener<E, T>, context);
  }

  override off<T extends EventEmitter.EventNames<E>>(event: T, fn?: EventEmitter.EventListener<E, T>, context?: unknown, once?: boolean): this {
    const guarded = fn ? (this.#guards.get(fn as AnyListener) as EventEmitter.EventListener<E, T> | undefined) : undefined;
    return super.off(event, guarded ?? fn, context, once);
  }

  override removeListener<T extends EventEmitter.EventNames<E>>(event: T, fn?: EventEmitter.EventListener<E, T>, context?: unknown, once?: boolean): this {
    return this.off(event, fn, context, once);
  }
}
