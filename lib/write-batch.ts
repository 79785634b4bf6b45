import type { Duplex } from 'node:stream';

/**
 * Coalesces the frames the relay writes to one socket within a tick into one system call.
 *
 * The endpoint forwards every CDP message as it arrives, and each `ws.send` is a write of its own.
 * Chrome and the clients send in bursts (one read often holds a dozen events of a navigation), so
 * the relay corks the socket at the first message of a tick and uncorks it once the tick's
 * synchronous work is done: the burst leaves in one `writev`. Order is kept (one socket's writes
 * stay in order) and no message waits past the current tick. On this 2-core VM a loopback write
 * costs tens of microseconds, and a session's relay writes ~100 messages.
 */
export class WriteBatch {
  #socket: Duplex | undefined;
  #held = false;

  constructor(socket?: Duplex) {
    this.#socket = socket;
  }

  /** The socket to batch, once known (a client websocket's socket comes with its upgrade). */
  attach(socket: Duplex): void {
    this.#socket = socket;
  }

  /** Holds the socket's writes until the end of the current tick. */
  hold(): void {
    if (this.#held || !this.#socket || this.#socket.destroyed) return;
    this.#held = true;
    this.#socket.cork();
    process.nextTick(this.#release);
  }

  #release = (): void => {
    this.#held = false;
    this.#socket?.uncork();
  };
}
