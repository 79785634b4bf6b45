import type { ProtocolMapping } from 'devtools-protocol/types/protocol-mapping.js';
import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { CdpError } from './errors.js';

export { CdpError };

/** A CDP command's name, as the `devtools-protocol` package lists them. */
export type CdpCommand = keyof ProtocolMapping.Commands;

/** What command `M` answers (`void`: an empty result). */
export type CdpResult<M extends CdpCommand> = ProtocolMapping.Commands[M]['returnType'];

/** Options of {@link CdpConnection.send}. */
export interface SendOptions {
  /** Sends on this attached target's session (flat mode) instead of the browser's. */
  readonly sessionId?: string | undefined;
  /** Rejects after this long without an answer. @default 0 (no limit) */
  readonly timeoutMs?: number | undefined;
}

/**
 * The arguments of {@link CdpConnection.send} after the method: its parameters as the protocol
 * types them (required where the protocol requires them; `{}` for a command that takes none),
 * then the options.
 */
export type SendArgs<M extends CdpCommand> = ProtocolMapping.Commands[M]['paramsType'] extends []
  ? [params?: Record<string, never>, opts?: SendOptions]
  : ProtocolMapping.Commands[M]['paramsType'] extends [infer P]
    ? [params: P, opts?: SendOptions]
    : ProtocolMapping.Commands[M]['paramsType'] extends [(infer P)?]
      ? [params?: P, opts?: SendOptions]
      : never;

type EventParams<E extends keyof ProtocolMapping.Events> = ProtocolMapping.Events[E] extends [infer P] ? P : Record<string, never>;

/**
 * A CDP event as received, typed by its method from `devtools-protocol` (compare `method` to
 * narrow `params`): `sessionId` is set for events of an attached target (flat mode).
 */
export type CdpEvent = {
  [E in keyof ProtocolMapping.Events]: { readonly method: E; readonly params: EventParams<E>; readonly sessionId?: string };
}[keyof ProtocolMapping.Events];

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}


/**
 * The manager's own small CDP connection to a browser, straight to Chrome (not through the
 * session endpoint), so it never counts as a client. It creates no pages and no contexts.
 * Raw `ws` instead of `puppeteer.connect`: it opens in ~1.5 ms and holds no page state.
 */
export class CdpConnection extends EventEmitter<{ event: [CdpEvent]; close: [] }> {
  readonly #ws: WebSocket;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closed = false;

  private constructor(ws: WebSocket) {
    super();
    this.#ws = ws;
    ws.on('message', (data) => this.#onMessage(data.toString()));
    ws.on('close', () => this.#onClose());
    ws.on('error', () => this.#onClose());
  }

  /** Opens a connection to a browser's DevTools websocket URL. */
  static connect(url: string, timeoutMs: number): Promise<CdpConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, handshakeTimeout: timeoutMs });
      ws.once('open', () => {
        ws.removeAllListeners('error');
        resolve(new CdpConnection(ws));
      });
      ws.once('error', (err) => reject(new CdpError(`could not connect to ${url}: ${err.message}`)));
    });
  }

  /** True once the socket has closed (browser gone or {@link close} called). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a command; rejects with {@link CdpError} on a protocol error, on close, or after
   * `opts.timeoutMs` (0: none). Method, parameters and result are typed from `devtools-protocol`.
   */
  send<M extends CdpCommand>(method: M, ...[params = {}, opts = {}]: SendArgs<M>): Promise<CdpResult<M>> {
    if (this.#closed) return Promise.reject(new CdpError(`${method}: connection closed`));
    const id = this.#nextId++;
    return new Promise<CdpResult<M>>((resolve, reject) => {
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            this.#pending.delete(id);
            reject(new CdpError(`${method}: no answer within ${opts.timeoutMs} ms`));
          }, opts.timeoutMs)
        : undefined;
      this.#pending.set(id, { method, resolve: resolve as Pending['resolve'], reject, timer });
      const message: Record<string, unknown> = { id, method, params };
      if (opts.sessionId) message.sessionId = opts.sessionId;
      this.#ws.send(JSON.stringify(message));
    });
  }

  /** Closes the socket; pending commands reject. */
  close(): void {
    this.#ws.terminate();
    this.#onClose();
  }

  #onMessage(text: string): void {
    let msg: { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.id !== undefined) {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new CdpError(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
    } else if (msg.method) {
      // The wire is trusted to match the protocol's types (an event it does not list still arrives).
      this.emit('event', { method: msg.method, params: msg.params ?? {}, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) } as CdpEvent);
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CdpError(`${p.method}: connection closed`));
    }
    this.#pending.clear();
    this.emit('close');
  }
}
