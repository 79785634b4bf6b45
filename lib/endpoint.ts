import crypto from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { AttachedTargets } from './attached-targets.js';
import type { ContextProxy } from './browser.js';
import { endpointLog, since } from './log.js';
import { ContextScope } from './scope.js';
import { HEAD_CHARS, TAIL_CHARS, clientMayNeedScope } from './scope-wire.js';
import { WriteBatch } from './write-batch.js';

/** What the endpoint needs to route a client to a session's browser. */
export interface EndpointRoute {
  /** The session's secret; a client must present it as `?token=`. */
  readonly token: string;
  /** Chrome's own DevTools URL the client is piped to. */
  readonly upstream: string;
  /**
   * 'context' isolation: the session's browser context. Its clients then see it as a whole
   * browser and nothing of the sessions beside it ({@link ContextScope}).
   */
  readonly contextId?: string | undefined;
  /** The pages already in that context, which a new client may act on before it has listed them. */
  readonly contextPages?: readonly string[];
  /** The session's proxy, which the contexts its clients create get unless they name their own. */
  readonly contextProxy?: ContextProxy | undefined;
  /** Whether a browser context is one that a client of the session created (all its clients use it). */
  readonly createdByClients?: (contextId: string) => boolean;
}

/**
 * Why a client's connection ended: it closed or died (`client_closed`), it answered no ping
 * (`ping_timeout`), the browser connection closed or could not be opened (`browser_gone`), or
 * the session ended (`session_ended`).
 */
export type ClientCloseReason = 'client_closed' | 'ping_timeout' | 'browser_gone' | 'session_ended';

/** One connected CDP client. */
export interface ClientInfo {
  /** Unique per connection, e.g. `c-3`. */
  readonly clientId: string;
  /** The client connected with `keepAlive=true` in the query string. */
  readonly keepAlive: boolean;
  /** Remote address of the client's socket. */
  readonly remoteAddress: string;
}

/** The session manager's side of the endpoint. All calls are synchronous notifications. */
export interface EndpointHooks {
  /** The route for a live session, or undefined (unknown or ended: refused with 404). */
  route(sessionId: string): EndpointRoute | undefined;
  /** A client passed the checks and is now piped to the browser; `clients` are connected now. */
  clientConnected(sessionId: string, client: ClientInfo, clients: number): void;
  /** A client's socket closed; `remaining` clients are still connected to that session. */
  clientDisconnected(sessionId: string, client: ClientInfo, reason: ClientCloseReason, remaining: number): void;
  /** A client sent a CDP message (drives idle timeouts). */
  clientTraffic(sessionId: string): void;
  /** A client of a 'context' session created a browser context of its own (disposed with the session). */
  clientContextCreated(sessionId: string, contextId: string): void;
  /** A client sent `Browser.close`: it is answered here and turned into a stop of the session. */
  browserCloseRequested(sessionId: string, client: ClientInfo): void;
}

/**
 * Routes of their own served on the endpoint's port (the live view, `lib/live/server.ts`): plain
 * HTTP requests and websocket paths other than the CDP one, told when a session ends.
 */
export interface ExtraRoutes {
  /** Answers `req` and returns true when its path is one of these routes. */
  request(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Takes the upgrade and returns true when its path is one of these routes. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** The session ended: its CDP clients are being disconnected. */
  sessionEnded(sessionId: string): void;
  /** A client brought a page to the front (`Page.bringToFront`, `Target.activateTarget`). */
  pageActivated(sessionId: string, targetId: string): void;
  /** The endpoint closes. */
  close(): Promise<void>;
}

interface Client {
  readonly info: ClientInfo;
  readonly socket: WebSocket;
  readonly upstream: WebSocket;
  alive: boolean;
  closeReason: ClientCloseReason | undefined;
  readonly targets: AttachedTargets;
}

const MAX_PAYLOAD = 256 * 1024 * 1024;
/** Chrome answers its websocket handshake in ~1 ms; one that has not within this is frozen or gone. */
const UPSTREAM_HANDSHAKE_MS = 10_000;
/** A client that does not complete the close handshake is cut off after this. */
const CLOSE_GRACE_MS = 500;
/** How far into a client's message `#noteActivation` looks for its method. */
const ACTIVATION_HEAD_BYTES = 96;
const PATH_RE = /^\/devtools\/browser\/([A-Za-z0-9_-]+)$/;

function asBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** Compares tokens without leaking their prefix through timing. */
function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Answers an upgrade with a plain HTTP error; `why` is logged (never the URL: it holds the token). */
function refuse(socket: Duplex, status: number, text: string, why: string, sessionId = '-'): void {
  endpointLog('refused upgrade: %d %s, session %s', status, why, sessionId);
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/**
 * The manager's one in-process websocket server on 127.0.0.1. Each session is reachable at
 * `ws://127.0.0.1:PORT/devtools/browser/<id>?token=<secret>`; the path has the shape Chrome's own
 * endpoint has, so Puppeteer and Playwright accept it unchanged. Messages are piped verbatim both
 * ways, except a client's `Browser.close`, which ends the session instead of killing a browser
 * that the pool will reuse.
 */
export class SessionEndpoint {
  readonly #server: http.Server;
  readonly #wss: WebSocketServer;
  readonly #hooks: EndpointHooks;
  readonly #clients = new Map<string, Set<Client>>();
  readonly #pingTimeoutMs: number;
  readonly #routes: ExtraRoutes | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #nextClient = 0;
  #port = 0;

  constructor(hooks: EndpointHooks, opts: { pingTimeoutMs: number; routes?: ExtraRoutes }) {
    this.#hooks = hooks;
    this.#pingTimeoutMs = opts.pingTimeoutMs;
    this.#routes = opts.routes;
    this.#server = http.createServer((req, res) => {
      if (this.#routes?.request(req, res)) return;
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('This endpoint speaks the Chrome DevTools Protocol over websocket only.\n');
    });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
  }

  /** Starts listening on an ephemeral loopback port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#server.unref();
    this.#port = (this.#server.address() as { port: number }).port;
    if (this.#pingTimeoutMs > 0) {
      this.#pingTimer = setInterval(() => this.#heartbeat(), this.#pingTimeoutMs);
      this.#pingTimer.unref();
    }
  }

  /** `http://127.0.0.1:PORT`, once listening. */
  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The public URL of a session. */
  urlFor(sessionId: string, token: string): string {
    return `ws://127.0.0.1:${this.#port}/devtools/browser/${sessionId}?token=${token}`;
  }

  /** Closes every client socket of a session (the session ended). Resolves once they are closed. */
  async disconnectAll(sessionId: string, reason: ClientCloseReason = 'session_ended'): Promise<void> {
    this.#routes?.sessionEnded(sessionId);
    const clients = this.#clients.get(sessionId);
    if (!clients) return;
    const closed: Promise<void>[] = [];
    for (const c of clients) {
      c.closeReason ??= reason;
      closed.push(new Promise((resolve) => c.socket.once('close', () => resolve())));
      c.upstream.terminate();
      this.#end(c, 1001, 'session ended');
    }
    await Promise.all(closed);
  }

  /** Stops listening and drops every client. */
  async close(): Promise<void> {
    clearInterval(this.#pingTimer);
    await this.#routes?.close();
    await Promise.all([...this.#clients.keys()].map((id) => this.disconnectAll(id)));
    this.#wss.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#routes?.upgrade(req, socket, head)) return;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = PATH_RE.exec(url.pathname);
    if (!m) return refuse(socket, 404, 'Unknown path: expected /devtools/browser/<sessionId>?token=<token>\n', 'unknown path');
    const sessionId = m[1]!;
    const route = this.#hooks.route(sessionId);
    if (!route) return refuse(socket, 404, `No active session ${sessionId}\n`, 'no active session', sessionId);
    if (!tokenMatches(url.searchParams.get('token') ?? '', route.token)) return refuse(socket, 401, 'Wrong or missing token\n', 'wrong or missing token', sessionId);
    const keepAlive = url.searchParams.get('keepAlive') === 'true';
    // The client's upgrade completes only once Chrome's own socket is open: a browser that died
    // or froze is refused with a plain HTTP error, which every client turns into a failed
    // connect, instead of a socket that opens and closes at once (which some clients miss).
    const upstream = new WebSocket(route.upstream, { perMessageDeflate: false, maxPayload: MAX_PAYLOAD, handshakeTimeout: UPSTREAM_HANDSHAKE_MS });
    const toChrome = new WriteBatch();
    upstream.once('upgrade', (res) => toChrome.attach(res.socket));
    let decided = false;
    const decide = (): boolean => {
      const first = !decided;
      decided = true;
      socket.off('close', onClientGone);
      return first;
    };
    const onClientGone = () => decide() && upstream.terminate();
    socket.once('close', onClientGone);
    let upstreamError = '';
    upstream.on('error', (err) => {
      upstreamError = err.message;
    });
    upstream.once('close', () => {
      if (!decide()) return;
      endpointLog('upstream unreachable: session %s (%s)', sessionId, upstreamError || 'closed');
      refuse(socket, 502, `The browser of session ${sessionId} is not reachable\n`, 'browser unreachable', sessionId);
    });
    upstream.once('open', () => {
      if (!decide()) return;
      // The session may have ended while Chrome's socket opened: its clients were closed without this one.
      if (this.#hooks.route(sessionId)?.token !== route.token) {
        upstream.terminate();
        return refuse(socket, 404, `No active session ${sessionId}\n`, 'session ended during upgrade', sessionId);
      }
      const scope = route.contextId === undefined ? undefined : new ContextScope(route.contextId, route.contextPages ?? [], { proxy: route.contextProxy, othersCreated: route.createdByClients });
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#pipe(sessionId, upstream, ws, keepAlive, req.socket.remoteAddress ?? '', scope, { toChrome, toClient: new WriteBatch(socket) }));
    });
  }

  #pipe(sessionId: string, upstream: WebSocket, socket: WebSocket, keepAlive: boolean, remoteAddress: string, scope: ContextScope | undefined, batches: { toChrome: WriteBatch; toClient: WriteBatch }): void {
    const client: Client = {
      info: { clientId: `c-${++this.#nextClient}`, keepAlive, remoteAddress },
      socket,
      upstream,
      alive: true,
      closeReason: undefined,
      targets: new AttachedTargets(),
    };
    let set = this.#clients.get(sessionId);
    if (!set) this.#clients.set(sessionId, (set = new Set()));
    set.add(client);
    const t0 = performance.now();

    socket.on('message', (data, isBinary) => {
      this.#hooks.clientTraffic(sessionId);
      if (!isBinary && this.#isBrowserClose(data, socket)) {
        this.#hooks.browserCloseRequested(sessionId, client.info);
        return;
      }
      if (this.#routes && !isBinary) this.#noteActivation(sessionId, client, data);
      if (upstream.readyState !== WebSocket.OPEN) return;
      batches.toChrome.hold();
      batches.toClient.hold();
      if (!scope || isBinary) return upstream.send(data, { binary: isBinary });
      const buf = asBuffer(data);
      if (!clientMayNeedScope(buf)) return upstream.send(buf, { binary: false });
      const verdict = scope.fromClient(buf.toString());
      for (const m of verdict.toChrome) upstream.send(m);
      for (const m of verdict.toClient) if (socket.readyState === WebSocket.OPEN) socket.send(m);
    });
    socket.on('pong', () => {
      client.alive = true;
    });
    // Chrome went away between its socket opening and the client's upgrade completing.
    if (upstream.readyState >= WebSocket.CLOSING) {
      client.closeReason ??= 'browser_gone';
      queueMicrotask(() => this.#end(client, 1011, 'browser connection closed'));
    }
    const reported = new Set<string>();
    upstream.on('message', (data, isBinary) => {
      batches.toClient.hold();
      batches.toChrome.hold();
      if (!scope || isBinary) {
        if (!isBinary) client.targets.observe(data);
        if (socket.readyState === WebSocket.OPEN) socket.send(data, { binary: isBinary });
        return;
      }
      // Most messages pass as they are: their bytes are forwarded without decoding them.
      const buf = asBuffer(data);
      if (scope.passesUnread(buf.subarray(0, HEAD_CHARS).toString('latin1'), () => buf.subarray(Math.max(0, buf.length - TAIL_CHARS)).toString('latin1'))) {
        client.targets.observe(buf);
        if (socket.readyState === WebSocket.OPEN) socket.send(buf, { binary: false });
        return;
      }
      const verdict = scope.fromChrome(buf.toString());
      for (const m of verdict.toChrome) if (upstream.readyState === WebSocket.OPEN) upstream.send(m);
      for (const m of verdict.toClient) {
        client.targets.observe(m);
        if (socket.readyState === WebSocket.OPEN) socket.send(m);
      }
      for (const id of scope.clientContexts) {
        if (reported.has(id)) continue;
        reported.add(id);
        this.#hooks.clientContextCreated(sessionId, id);
      }
    });
    upstream.on('close', () => {
      client.closeReason ??= 'browser_gone';
      this.#end(client, 1011, 'browser connection closed');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      client.closeReason ??= 'client_closed';
      upstream.terminate();
      set.delete(client);
      if (set.size === 0) this.#clients.delete(sessionId);
      endpointLog('client %s disconnected from session %s: %s after %d ms, %d remaining', client.info.clientId, sessionId, client.closeReason, since(t0), set.size);
      this.#hooks.clientDisconnected(sessionId, client.info, client.closeReason, set.size);
    });
    endpointLog('client %s connected to session %s: keepAlive %s, %d connected', client.info.clientId, sessionId, keepAlive, set.size);
    this.#hooks.clientConnected(sessionId, client.info, set.size);
  }

  /**
   * Closes a client as Chrome would close it: its targets destroyed first (see
   * {@link AttachedTargets}), then the close frame; cut off if it does not complete the close.
   */
  #end(c: Client, code: number, reason: string): void {
    if (c.socket.readyState === WebSocket.OPEN) {
      for (const event of c.targets.farewell()) c.socket.send(event);
      c.socket.close(code, reason);
    }
    setTimeout(() => c.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Tells the routes (the live view) which page a client brought to the front. */
  #noteActivation(sessionId: string, c: Client, data: RawData): void {
    const buf = asBuffer(data);
    // Puppeteer and Playwright write the method within the first bytes: look no further.
    const head = buf.subarray(0, ACTIVATION_HEAD_BYTES).toString('latin1');
    if (!head.includes('.bringToFront"') && !head.includes('.activateTarget"')) return;
    let msg: { method?: unknown; sessionId?: unknown; params?: { targetId?: unknown } };
    try {
      msg = JSON.parse(buf.toString());
    } catch {
      return;
    }
    const targetId =
      msg.method === 'Page.bringToFront' && typeof msg.sessionId === 'string' ? c.targets.targetOf(msg.sessionId)
      : msg.method === 'Target.activateTarget' ? msg.params?.targetId : undefined;
    if (typeof targetId === 'string') this.#routes?.pageActivated(sessionId, targetId);
  }

  /** Answers a client's `Browser.close` itself; true when the message was one. */
  #isBrowserClose(data: RawData, socket: WebSocket): boolean {
    const buf = asBuffer(data);
    // Cheap pre-check on the bytes: parse only the rare message that can be it.
    if (!buf.includes('"Browser.close"')) return false;
    let msg: { id?: unknown; method?: unknown; sessionId?: unknown };
    try {
      msg = JSON.parse(buf.toString());
    } catch {
      return false;
    }
    if (msg.method !== 'Browser.close' || msg.sessionId !== undefined) return false;
    socket.send(JSON.stringify({ id: msg.id, result: {} }));
    return true;
  }

  #heartbeat(): void {
    for (const set of this.#clients.values()) {
      for (const c of set) {
        if (!c.alive) {
          c.closeReason ??= 'ping_timeout';
          c.socket.terminate();
          continue;
        }
        c.alive = false;
        c.socket.ping();
      }
    }
  }
}
