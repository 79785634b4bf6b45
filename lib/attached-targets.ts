import type { RawData } from 'ws';

const ATTACHED = '{"method":"Target.attachedToTarget"';
const DETACHED = '{"method":"Target.detachedFromTarget"';
const DESTROYED = '{"method":"Target.targetDestroyed"';
/** Chrome writes an event's method first: its first bytes tell whether it is one of these. */
const HEAD_BYTES = 40;

function asBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

interface Attachment {
  readonly targetId: string;
  /** The session the attach was announced on (flat mode: a child of a tab), if any. */
  readonly parent: string | undefined;
}

interface TargetEvent {
  sessionId?: unknown;
  params?: { sessionId?: unknown; targetId?: unknown; targetInfo?: { targetId?: unknown } };
}

/**
 * The sessions and targets Chrome has told one client about, so that the endpoint can end the
 * client the way Chrome ends a browser that closes normally: `Target.detachedFromTarget` for
 * each attached session (children first), `Target.targetDestroyed` for each target, then the
 * close frame. Without these events a client cut off while it connects can wait until its own
 * timeout or forever: `puppeteer.connect()` awaits the page target of every tab it auto-attached
 * and Playwright's `connectOverCDP()` the initialisation of every page, and a closed socket ends
 * neither wait. Costs a 40-byte look at each Chrome-to-client message; only the rare attach,
 * detach and destroy events are parsed.
 */
export class AttachedTargets {
  /** Attached sessions by session id, in the order Chrome announced them. */
  readonly #sessions = new Map<string, Attachment>();
  readonly #targets = new Set<string>();

  /** Notes attach, detach and destroy events in a message from Chrome to the client (raw, or text already decoded). */
  observe(data: RawData | string): void {
    const head = typeof data === 'string' ? data.slice(0, HEAD_BYTES) : asBuffer(data).subarray(0, HEAD_BYTES).toString('latin1');
    const kind = head.startsWith(ATTACHED) ? 'attached' : head.startsWith(DETACHED) ? 'detached' : head.startsWith(DESTROYED) ? 'destroyed' : undefined;
    if (!kind) return;
    let msg: TargetEvent;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : asBuffer(data).toString()) as TargetEvent;
    } catch {
      return;
    }
    const p = msg.params ?? {};
    if (kind === 'attached') {
      const targetId = p.targetInfo?.targetId;
      if (typeof targetId !== 'string' || typeof p.sessionId !== 'string') return;
      this.#sessions.set(p.sessionId, { targetId, parent: typeof msg.sessionId === 'string' ? msg.sessionId : undefined });
      this.#targets.add(targetId);
    } else if (kind === 'detached') {
      if (typeof p.sessionId === 'string') this.#sessions.delete(p.sessionId);
    } else if (typeof p.targetId === 'string') {
      this.#targets.delete(p.targetId);
    }
  }

  /** The target a session the client attached is on. */
  targetOf(sessionId: string): string | undefined {
    return this.#sessions.get(sessionId)?.targetId;
  }

  /** The events to send before closing the client, in the order Chrome would send them. */
  farewell(): string[] {
    const out: string[] = [];
    for (const [sessionId, a] of [...this.#sessions].reverse()) {
      const event: Record<string, unknown> = { method: 'Target.detachedFromTarget', params: { sessionId, targetId: a.targetId } };
      if (a.parent !== undefined) event.sessionId = a.parent;
      out.push(JSON.stringify(event));
    }
    for (const targetId of this.#targets) out.push(JSON.stringify({ method: 'Target.targetDestroyed', params: { targetId } }));
    return out;
  }
}
