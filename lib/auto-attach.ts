/**
 * A CDP connection of the manager's own to one browser that auto-attaches to every new target,
 * paused until it is resumed (`waitForDebuggerOnStart`), on flat sessions: what the page hooks
 * (lib/page-hooks.ts) and the page emulation (lib/page-emulation.ts) each keep, apart from the
 * manager's main connection so that neither sees the other's (or the reset's) attachments.
 */
import { CdpConnection, type CdpEvent } from './cdp.js';

/** Auto-attach, paused, flat: for a browser connection or a page's session (its iframes and workers). */
export function autoAttach(c: CdpConnection, sessionId: string | undefined, timeoutMs: number): Promise<unknown> {
  return c.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, { ...(sessionId !== undefined ? { sessionId } : {}), timeoutMs });
}

/** Opened by the first `get()`, closed with the browser; an open that failed is tried again by the next `get()`. */
export class AutoAttachConnection {
  readonly #wsEndpoint: string;
  readonly #exited: Promise<unknown>;
  readonly #onEvent: (c: CdpConnection, e: CdpEvent) => void;
  #conn: Promise<CdpConnection> | undefined;
  /** Running targets `attach()` is attaching to now. */
  readonly #attaching = new Set<string>();

  /** `onEvent` gets every event, the first targets' `Target.attachedToTarget` included. */
  constructor(wsEndpoint: string, exited: Promise<unknown>, onEvent: (c: CdpConnection, e: CdpEvent) => void) {
    this.#wsEndpoint = wsEndpoint;
    this.#exited = exited;
    this.#onEvent = onEvent;
  }

  /** The connection, opened (bounded by `timeoutMs`) if it is not yet. */
  get(timeoutMs: number): Promise<CdpConnection> {
    this.#conn ??= (async () => {
      const c = await CdpConnection.connect(this.#wsEndpoint, timeoutMs);
      void this.#exited.then(() => c.close());
      c.on('event', (e) => {
        // Chrome reports an explicit attach as an event too, before its reply: `attach()`'s caller has it.
        if (e.method === 'Target.attachedToTarget' && e.sessionId === undefined && this.#attaching.has(e.params.targetInfo.targetId)) return;
        this.#onEvent(c, e);
      });
      await autoAttach(c, undefined, timeoutMs);
      return c;
    })().catch((err: unknown) => {
      this.#conn = undefined;
      throw err;
    });
    return this.#conn;
  }

  /**
   * Attaches (flat) to `targetId`, already running, on connection `c` (this one's); resolves with
   * the session. Its `Target.attachedToTarget` does not reach `onEvent`.
   */
  async attach(c: CdpConnection, targetId: string, timeoutMs: number): Promise<string> {
    this.#attaching.add(targetId);
    try {
      return (await c.send('Target.attachToTarget', { targetId, flatten: true }, { timeoutMs })).sessionId;
    } finally {
      this.#attaching.delete(targetId);
    }
  }

  /** The connection if one is open (or opening), without opening one. */
  async current(): Promise<CdpConnection | undefined> {
    return this.#conn?.catch(() => undefined);
  }

  /**
   * Closes it, which detaches from everything it attached to. A `get()` from the moment of the
   * call on opens a new one.
   */
  async close(): Promise<void> {
    const conn = this.#conn;
    this.#conn = undefined;
    (await conn?.catch(() => undefined))?.close();
  }
}
