import type { RawData } from 'ws';

const ATTACHED = '{"method":"Target.attachedToTarget"';
const DETACHED = '{"method":"Target.detachedFromTarget"';
const DESTROYED = '{"method":"Target.targetDestroyed"';
/** Chrome writes an event's method first: its first bytes tell whether it is one of these. */
const HEAD_BYTES = 40;

function asBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/**
 * The targets Chrome has told one client it is attached to, so that the endpoint can end the
 * client the way Chrome ends a browser that closes normally: `Target.targetDestroyed` for each,
 * then the close frame. Without those events a client cut off while it connects can wait
 * forever: `puppeteer.connect()` awaits the page target of every tab it auto-attached, and a
 * closed socket does not end that wait. Costs a 40-byte look at each Chrome-to-client message;
 * only the rare attach and detach events are parsed.
 */
export class AttachedTargets {
  readonly #ids = new Set<string>();

  /** Notes attach and detach events in a message from Chrome to the client. */
  observe(data: RawData): void {
    const buf = asBuffer(data);
    const head = buf.subarray(0, HEAD_BYTES).toString('latin1');
    const attached = head.startsWith(ATTACHED);
    if (!attached && !head.startsWith(DETACHED) && !head.startsWith(DESTROYED)) return;
    let msg: { params?: { targetId?: unknown; targetInfo?: { targetId?: unknown } } };
    try {
      msg = JSON.parse(buf.toString());
    } catch {
      return;
    }
    const id = attached ? msg.params?.targetInfo?.targetId : msg.params?.targetId;
    if (typeof id !== 'string') return;
    if (attached) this.#ids.add(id);
    else this.#ids.delete(id);
  }

  /** The `Target.targetDestroyed` events to send before closing the client. */
  farewell(): string[] {
    return [...this.#ids].map((targetId) => JSON.stringify({ method: 'Target.targetDestroyed', params: { targetId } }));
  }
}
