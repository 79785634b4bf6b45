import crypto from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { settleWithin } from '../deadline.js';
import { endpointLog } from '../log.js';
import type { SessionInfo } from '../session/types.js';
import { LiveBridge, type LiveTarget, type ViewerInput } from './bridge.js';
import type { LiveViewMode } from './mode.js';
import { VIEWER_HTML } from './viewer.js';

/** What the live view needs to know of one session. */
export interface LiveRoute {
  /** The live view's secret (`?token=`), not the CDP one. */
  readonly token: string;
  readonly mode: LiveViewMode;
  /** The session's record now. */
  info(): SessionInfo;
  /** Its browser, while the session is active. */
  target(): LiveTarget | undefined;
}

/** How the live view finds sessions. */
export interface LiveHooks {
  /** A session the manager knows (any status), or undefined: 404. */
  route(sessionId: string): LiveRoute | undefined;
}

/** How often a room re-reads its session's status (and starts the screencast once it is active). */
const TICK_MS = 1_000;
/** A viewer that has not answered a ping within this is cut off (its screencast stops with it). */
const PING_MS = 10_000;
/** Bound on connecting to Chrome and listing its targets. */
const OPEN_TIMEOUT_MS = 10_000;
/** A viewer that does not complete the close handshake is cut off after this. */
const CLOSE_GRACE_MS = 500;
/** A frame is acked (and the next one painted) at the latest this long after it was sent to viewers. */
const FRAME_WAIT_MS = 1_000;
/** Frames are skipped for a viewer with this much still unsent. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const PAGE_RE = /^\/live\/([A-Za-z0-9_-]+)\/?$/;
const WS_RE = /^\/live\/([A-Za-z0-9_-]+)\/ws$/;

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  // The URL carries the token: never send it on as a referrer.
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
};

/** One session's viewers and, while it has some and is active, its screencast. */
interface Room {
  readonly id: string;
  readonly viewers: Map<WebSocket, { alive: boolean }>;
  bridge: LiveBridge | undefined;
  opening: boolean;
  lastStatus: string;
  lastPing: number;
  readonly timer: NodeJS.Timeout;
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function plain(status: number, text: string): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

/**
 * The live view, served on the endpoint's port: `GET /live/<id>?token=…` is the viewer page,
 * `/live/<id>/ws?token=…` its websocket. Viewers of one session share a room; the room's
 * {@link LiveBridge} runs the screencast only while it has viewers and the session is active,
 * and every viewer is told and closed when the session ends or the manager closes.
 */
export class LiveViews {
  readonly #hooks: LiveHooks;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  readonly #rooms = new Map<string, Room>();
  /** Per session, the page a client brought to the front last and the pages open then. */
  readonly #activated = new Map<string, { targetId: string; before: ReadonlySet<string> }>();
  #origin = '';
  #closed = false;

  constructor(hooks: LiveHooks) {
    this.#hooks = hooks;
  }

  /** The endpoint's `http://127.0.0.1:PORT`, once it listens. */
  set origin(origin: string) {
    this.#origin = origin;
  }

  /** A session's live view URL. */
  urlFor(sessionId: string, token: string): string {
    return `${this.#origin}/live/${sessionId}?token=${token}`;
  }

  /** Serves the viewer page; false when the path is not the live view's. */
  request(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = PAGE_RE.exec(url.pathname);
    if (!m) return false;
    const route = this.#hooks.route(m[1]!);
    const [status, body] =
      req.method !== 'GET' && req.method !== 'HEAD' ? [405, 'Method not allowed\n']
      : !route ? [404, `No session ${m[1]}\n`]
      : !tokenMatches(url.searchParams.get('token') ?? '', route.token) ? [401, 'Wrong or missing token\n']
      : [200, VIEWER_HTML];
    const headers = status === 200 ? PAGE_HEADERS : { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' };
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  /** Takes a viewer's websocket upgrade; false when the path is not the live view's. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = WS_RE.exec(url.pathname);
    if (!m) return false;
    const id = m[1]!;
    const route = this.#hooks.route(id);
    const refused: [number, string] | undefined =
      this.#closed || !route ? [404, `No session ${id}\n`]
      : !tokenMatches(url.searchParams.get('token') ?? '', route.token) ? [401, 'Wrong or missing token\n']
      : undefined;
    if (refused) {
      endpointLog('refused live view upgrade: %d, session %s', refused[0], id);
      socket.end(plain(...refused));
    } else {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#join(id, route!, ws));
    }
    return true;
  }

  /** The session ended: its viewers are told so and closed, its screencast stops. */
  sessionEnded(sessionId: string): void {
    this.#activated.delete(sessionId);
    const room = this.#rooms.get(sessionId);
    if (room) this.#end(room, this.#hooks.route(sessionId)?.info());
  }

  /** A client brought a page of the session to the front: its viewers follow it. */
  pageActivated(sessionId: string, targetId: string): void {
    const pages = this.#hooks.route(sessionId)?.target()?.pages;
    if (pages) this.#activated.set(sessionId, { targetId, before: new Set(pages) });
    this.#rooms.get(sessionId)?.bridge?.activate(targetId);
  }

  /** The page to show first: the one brought to the front last, unless a page was created since. */
  #activeAtOpen(sessionId: string, pages: readonly string[]): string | undefined {
    const a = this.#activated.get(sessionId);
    return a && pages.includes(a.targetId) && pages.every((p) => a.before.has(p)) ? a.targetId : undefined;
  }

  /** Closes every viewer and screencast; resolves once their sockets are closed (bounded). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#activated.clear();
    const closed: Promise<void>[] = [];
    for (const room of [...this.#rooms.values()]) {
      for (const ws of room.viewers.keys()) closed.push(new Promise((resolve) => ws.once('close', () => resolve())));
      this.#end(room, this.#hooks.route(room.id)?.info());
    }
    await Promise.all(closed);
    this.#wss.close();
  }

  #join(id: string, route: LiveRoute, ws: WebSocket): void {
    if (this.#closed) return ws.terminate();
    let room = this.#rooms.get(id);
    if (!room) {
      const timer = setInterval(() => this.#tick(room!), TICK_MS);
      timer.unref();
      room = { id, viewers: new Map(), bridge: undefined, opening: false, lastStatus: '', lastPing: Date.now(), timer };
      this.#rooms.set(id, room);
    }
    const r = room;
    const viewer = { alive: true };
    r.viewers.set(ws, viewer);
    endpointLog('live viewer joined session %s: %d watching', id, r.viewers.size);
    ws.on('error', () => {});
    ws.on('pong', () => {
      viewer.alive = true;
    });
    ws.on('close', () => {
      r.viewers.delete(ws);
      endpointLog('live viewer left session %s: %d watching', id, r.viewers.size);
      if (r.viewers.size === 0) this.#dispose(r);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary || route.mode !== 'interactive') return;
      const input = parseInput(data.toString());
      if (input) r.bridge?.input(input);
    });
    ws.send(JSON.stringify({ type: 'hello', id, mode: route.mode }));
    if (r.bridge) {
      ws.send(r.bridge.tab);
      if (r.bridge.lastFrame) ws.send(r.bridge.lastFrame);
    }
    r.lastStatus = '';
    this.#tick(r);
  }

  /** Sends the session's status when it changed, starts the screencast once it is active, ends the room once it ended. */
  #tick(room: Room): void {
    if (this.#rooms.get(room.id) !== room) return;
    const route = this.#hooks.route(room.id);
    const info = route?.info();
    if (!route || !info || info.status === 'closed' || info.status === 'error') return this.#end(room, info);
    const status = JSON.stringify({ type: 'status', status: info.status, clients: info.clients, expiresAt: info.expiresAt, isolation: info.isolation });
    if (status !== room.lastStatus) {
      room.lastStatus = status;
      this.#broadcast(room, status);
    }
    if (Date.now() - room.lastPing >= PING_MS) this.#ping(room);
    const target = route.target();
    if (info.status === 'active' && target && !room.bridge && !room.opening) this.#open(room, target);
  }

  #open(room: Room, target: LiveTarget): void {
    room.opening = true;
    const sink = {
      frame: (m: string) => this.#broadcast(room, m, true),
      tab: (m: string) => this.#broadcast(room, m),
      closed: () => {
        if (room.bridge === bridge) room.bridge = undefined;
      },
    };
    let bridge: LiveBridge | undefined;
    LiveBridge.open(target, sink, OPEN_TIMEOUT_MS, this.#activeAtOpen(room.id, target.pages)).then(
      (b) => {
        room.opening = false;
        bridge = b;
        // The last viewer left, or the session ended, while it opened.
        if (this.#rooms.get(room.id) !== room) return b.close();
        room.bridge = b;
      },
      (err: unknown) => {
        room.opening = false;
        endpointLog('live view of session %s could not reach its browser: %s', room.id, (err as Error).message);
      },
    );
  }

  /**
   * Sends to every viewer; resolves once each socket has taken it (the screencast acks a frame
   * only then, so Chrome paints no faster than viewers take), or after {@link FRAME_WAIT_MS}. A
   * viewer already that far behind misses frames rather than slowing the others down.
   */
  #broadcast(room: Room, message: string, droppable = false): Promise<void> {
    const sent: Promise<void>[] = [];
    for (const ws of room.viewers.keys()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (droppable && ws.bufferedAmount > MAX_BUFFERED_BYTES) continue;
      sent.push(new Promise((resolve) => ws.send(message, () => resolve())));
    }
    return settleWithin(Promise.all(sent), FRAME_WAIT_MS, () => new Error('slow viewer')).promise.then(() => {}, () => {});
  }

  #ping(room: Room): void {
    room.lastPing = Date.now();
    for (const [ws, v] of room.viewers) {
      if (!v.alive) {
        ws.terminate();
        continue;
      }
      v.alive = false;
      ws.ping();
    }
  }

  /** Tells every viewer the session is over and closes them. */
  #end(room: Room, info: SessionInfo | undefined): void {
    const over = info?.status === 'closed' || info?.status === 'error';
    const ended = JSON.stringify({ type: 'ended', status: over ? info!.status : 'closed', stopReason: over ? info!.stopReason : this.#closed ? 'shutdown' : undefined });
    this.#dispose(room);
    for (const ws of room.viewers.keys()) {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(ended);
        ws.close(1000, 'session ended');
      }
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    }
  }

  /** Stops the room's timer and screencast and forgets it. */
  #dispose(room: Room): void {
    clearInterval(room.timer);
    room.bridge?.close();
    room.bridge = undefined;
    if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
  }
}

const finite = (v: unknown, min: number, max: number): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : undefined);
const short = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v.length <= max ? v : undefined);

/** A viewer's message as checked input, or undefined for anything malformed. */
export function parseInput(text: string): ViewerInput | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (m === null || typeof m !== 'object') return undefined;
  const modifiers = finite(m.modifiers, 0, 15) ?? 0;
  const x = finite(m.x, 0, 1);
  const y = finite(m.y, 0, 1);
  if (m.type === 'mouse' || m.type === 'wheel') {
    if (x === undefined || y === undefined) return undefined;
    if (m.type === 'wheel') return { type: 'wheel', x, y, deltaX: finite(m.deltaX, -1e5, 1e5) ?? 0, deltaY: finite(m.deltaY, -1e5, 1e5) ?? 0, modifiers };
    const kind = m.kind;
    if (kind !== 'move' && kind !== 'down' && kind !== 'up' && kind !== 'click') return undefined;
    const button = m.button === 'left' || m.button === 'middle' || m.button === 'right' ? m.button : 'none';
    return { type: 'mouse', kind, x, y, button, buttons: finite(m.buttons, 0, 31) ?? 0, clickCount: Math.round(finite(m.clickCount, 0, 3) ?? 1), modifiers };
  }
  if (m.type === 'key') {
    const kind = m.kind;
    if (kind !== 'down' && kind !== 'up' && kind !== 'char') return undefined;
    const key = short(m.key, 32);
    if (key === undefined) return undefined;
    return { type: 'key', kind, key, code: short(m.code, 32) ?? '', keyCode: Math.round(finite(m.keyCode, 0, 255) ?? 0), text: short(m.text, 4) ?? '', location: Math.round(finite(m.location, 0, 3) ?? 0), modifiers };
  }
  if (m.type === 'text') {
    const t = short(m.text, 10_000);
    return t ? { type: 'text', text: t } : undefined;
  }
  return undefined;
}
