import { EventEmitter } from 'eventemitter3';
import WebSocket from 'ws';
import { CdpError } from './errors.js';

export { CdpError };

/** A CDP event as received: `sessionId` is set for events of an attached target (flat mode). */
export interface CdpEvent {
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly sessionId?: string;
}

interface Pending {
  method: string;
  resolve(value: Record<string, unknown>): void;
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

  /** Sends a command; rejects with {@link CdpError} on a protocol error, on close, or after `timeoutMs` (0: none). */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, opts: { sessionId?: string; timeoutMs?: number } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new CdpError(`${method}: connection closed`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
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
      this.emit('event', { method: msg.method, params: msg.params ?? {}, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) });
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
