import type { Duplex } from 'node:stream';

/**
 * Coalesces the websocket frames written to one socket in the same tick into a single `writev`.
 *
 * CDP traffic comes in bursts: Chrome answers a page load with dozens of events read in one chunk,
 * and clients send their setup commands back to back. `ws` writes every frame with its own system
 * call, and on loopback each call also runs the receiver's side of TCP, so a relay that forwards
 * frame by frame spends much of its CPU in `writev`. Corking the socket at the first frame of a
 * tick and uncorking it on the next tick sends the burst at once, with no added wait.
 *
 * Returns the function to call before each `send` on the websocket that owns `socket`.
 */
export function frameBatcher(socket: Duplex | undefined): () => void {
  let corked = false;
  const flush = () => {
    corked = false;
    socket!.uncork();
  };
  return () => {
    if (corked || !socket || socket.destroyed) return;
    corked = true;
    socket.cork();
    process.nextTick(flush);
  };
}
