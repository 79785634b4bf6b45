/**
 * Per-session HTTP discovery (`browserURL`).
 *
 * Clients that find a browser over HTTP — `puppeteer.connect({ browserURL })`,
 * chrome-remote-interface, Playwright's `chromium.connectOverCDP('http://…')` — read
 * `GET /json/version` and connect to its `webSocketDebuggerUrl`. They drop the path and query
 * string of the URL they are given (Puppeteer resolves `/json/version` against it), so one shared
 * server could not tell sessions apart: a session that opts in gets a {@link DiscoveryServer} of
 * its own, on 127.0.0.1 and a port of its own.
 *
 * Security: `/json/version` hands out the session's websocket endpoint *with its token*. Any local
 * process that can reach the port can read it, exactly as any local process can use Chrome's own
 * `--remote-debugging-port`. That is why discovery is opt-in per session. The server listens on
 * loopback only, sends no CORS headers (a web page cannot read the answers), and refuses requests
 * whose `Host` header is not an IP address or `localhost` (DNS rebinding), as Chrome does.
 *
 * Routes (any query string is ignored):
 * - `GET /json/version`, `/json/version/`: the source's Chrome version fields plus `webSocketDebuggerUrl`.
 * - `GET /json`, `/json/list` (with or without a trailing `/`): the session's page targets.
 * - `GET /json/protocol`: the protocol description.
 * - `/json/new` (any method): 405 — new targets are opened over CDP (`Target.createTarget`).
 * - anything else: 404. Every answer is JSON (`application/json; charset=UTF-8`).
 *
 * Every source call is bounded: one that has not answered within `sourceTimeoutMs` (5 s) is
 * answered 504; one that fails is answered 502.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A page target as {@link DiscoverySource.targets} reports it. */
export interface DiscoveryTarget {
  readonly id: string;
  readonly type: string;
  readonly title: string;
  readonly url: string;
}

/**
 * What a {@link DiscoveryServer} serves for one session. Every method may be given an
 * `AbortSignal` that fires when the server stops waiting for it (the bound ran out or the server
 * closed); implementations may ignore it.
 */
export interface DiscoverySource {
  /** The session's websocket endpoint (with its token), returned as `webSocketDebuggerUrl`. */
  readonly wsEndpoint: string;
  /**
   * Chrome's `/json/version` fields to echo (`Browser`, `Protocol-Version`, `User-Agent`,
   * `V8-Version`, `WebKit-Version`). The server asks once and keeps the first answer; other keys
   * are dropped (Chrome's own `webSocketDebuggerUrl` in particular is never passed on).
   */
  version(signal?: AbortSignal): Promise<Record<string, string>>;
  /**
   * The session's page targets only. Entries are served as `{ description, id, title, type, url }`
   * with no `devtoolsFrontendUrl` and no `webSocketDebuggerUrl`: the session endpoint routes
   * browser connections only, so a client reaches a page by attaching to it over the browser
   * connection (`Target.attachToTarget`), which is what Puppeteer and Playwright do.
   */
  targets(signal?: AbortSignal): Promise<readonly DiscoveryTarget[]>;
  /** The protocol description (Chrome's `/json/protocol`); asked for when first requested, then kept. */
  protocol(signal?: AbortSignal): Promise<unknown>;
}

/** Options of {@link DiscoveryServer.start}. */
export interface DiscoveryServerOptions {
  /** How long a source call may take before the request is answered 504. @default 5000 */
  readonly sourceTimeoutMs?: number;
}

/** The `/json/version` keys passed on from {@link DiscoverySource.version}. */
export const VERSION_FIELDS = ['Browser', 'Protocol-Version', 'User-Agent', 'V8-Version', 'WebKit-Version'] as const;

const DEFAULT_SOURCE_TIMEOUT_MS = 5_000;
/** close() waits at most this long for the listening socket to close after dropping connections. */
const CLOSE_BOUND_MS = 1_000;
const JSON_TYPE = 'application/json; charset=UTF-8';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A failed request, answered with `status` and `{ error: message }`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** True for `localhost`, `*.localhost` and IP literals (with or without a port): what Chrome accepts. */
function hostAllowed(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  const lower = name.toLowerCase();
  return LOOPBACK_HOSTS.has(lower) || lower.endsWith('.localhost') || /^\d{1,3}(\.\d{1,3}){3}$/.test(lower) || /^\[[0-9a-f:.]+\]$/.test(lower);
}

/** Keeps the four documented fields of a target, all strings. */
function targetEntry(t: DiscoveryTarget): Record<string, string> {
  return { description: '', id: String(t.id), title: String(t.title), type: String(t.type), url: String(t.url) };
}

/**
 * An HTTP discovery server for one session, on `127.0.0.1` and an ephemeral port. See the module
 * documentation for the routes and why the port is per session.
 *
 * ```ts
 * const server = await DiscoveryServer.start(source);
 * const browser = await puppeteer.connect({ browserURL: server.url });
 * await server.close();
 * ```
 */
export class DiscoveryServer {
  /** `http://127.0.0.1:<port>`: what `browserURL` / `connectOverCDP` take. */
  readonly url: string;
  readonly #server: http.Server;
  readonly #source: DiscoverySource;
  readonly #timeoutMs: number;
  readonly #sockets = new Set<Socket>();
  /** Aborts every source call in flight when the server closes. */
  readonly #closing = new AbortController();
  #version: Promise<Buffer> | undefined;
  #protocol: Promise<Buffer> | undefined;
  #closed: Promise<void> | undefined;

  private constructor(server: http.Server, source: DiscoverySource, timeoutMs: number) {
    this.#server = server;
    this.#source = source;
    this.#timeoutMs = timeoutMs;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req, res) => void this.#handle(req, res).catch(() => res.destroy()));
  }

  /**
   * Starts a server for `source` on `127.0.0.1:0` (an ephemeral port); resolves once it listens.
   * The server does not keep Node alive.
   */
  static async start(source: DiscoverySource, options: DiscoveryServerOptions = {}): Promise<DiscoveryServer> {
    const timeoutMs = options.sourceTimeoutMs ?? DEFAULT_SOURCE_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`sourceTimeoutMs must be a positive number, got ${timeoutMs}`);
    const server = http.createServer({ requestTimeout: timeoutMs + 10_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
    return new DiscoveryServer(server, source, timeoutMs);
  }

  /**
   * Stops listening, drops every connection (keep-alive ones included) and gives up on source
   * calls in flight. Bounded; idempotent. Afterwards the port refuses connections.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(new Error('discovery server closed'));
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      for (const socket of this.#sockets) socket.destroy();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS).unref()))]);
      clearTimeout(timer);
    })();
    return this.#closed;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let status = 200;
    let body: Buffer;
    let headers: Readonly<Record<string, string>> = {};
    try {
      body = await this.#route(req);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, (err as Error).message ?? String(err));
      status = e.status;
      headers = e.headers;
      body = json({ error: e.message });
    }
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async #route(req: http.IncomingMessage): Promise<Buffer> {
    if (!hostAllowed(req.headers.host)) throw new HttpError(403, 'Host header is not an IP address or localhost');
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname.replace(/(.)\/$/, '$1');
    if (path === '/json/new') {
      throw new HttpError(405, 'This endpoint does not open targets: open them over CDP (Target.createTarget, or page creation in Puppeteer/Playwright) through webSocketDebuggerUrl', { Allow: '' });
    }
    const known = path === '/json/version' || path === '/json' || path === '/json/list' || path === '/json/protocol';
    if (!known) throw new HttpError(404, `Unknown path ${path}: this server serves /json/version, /json/list and /json/protocol`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed on ${path}`, { Allow: 'GET, HEAD' });
    if (path === '/json/version') return this.#cached('version', () => this.#versionBody());
    if (path === '/json/protocol') return this.#cached('protocol', async () => json(await this.#call('protocol', (s) => this.#source.protocol(s))));
    const targets = await this.#call('targets', (s) => this.#source.targets(s));
    return json(Array.isArray(targets) ? targets.map(targetEntry) : []);
  }

  async #versionBody(): Promise<Buffer> {
    const version = await this.#call('version', (s) => this.#source.version(s));
    const out: Record<string, string> = {};
    for (const key of VERSION_FIELDS) {
      const value = version?.[key];
      if (typeof value === 'string') out[key] = value;
    }
    out.webSocketDebuggerUrl = this.#source.wsEndpoint;
    return json(out);
  }

  /** The first successful answer is kept; a failed one is forgotten so the next request asks again. */
  #cached(which: 'version' | 'protocol', make: () => Promise<Buffer>): Promise<Buffer> {
    const slot = which === 'version' ? this.#version : this.#protocol;
    if (slot) return slot;
    const p = make();
    const forget = () => {
      if (which === 'version' && this.#version === p) this.#version = undefined;
      if (which === 'protocol' && this.#protocol === p) this.#protocol = undefined;
    };
    p.catch(forget);
    if (which === 'version') this.#version = p;
    else this.#protocol = p;
    return p;
  }

  /** Calls the source, bounded by the timeout and by close(): 504 when late, 502 when it fails. */
  #call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#closing.signal.aborted) return Promise.reject(new HttpError(503, 'discovery server closed'));
    const ac = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const finish = (err: HttpError | undefined, value?: T) => {
        clearTimeout(timer);
        this.#closing.signal.removeEventListener('abort', onClose);
        if (err) {
          ac.abort(err);
          reject(err);
        } else resolve(value as T);
      };
      const onClose = () => finish(new HttpError(503, 'discovery server closed'));
      const timer = setTimeout(() => finish(new HttpError(504, `The session's ${what} did not answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      timer.unref();
      this.#closing.signal.addEventListener('abort', onClose, { once: true });
      let pending: Promise<T>;
      try {
        pending = Promise.resolve(fn(ac.signal));
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (value) => !ac.signal.aborted && finish(undefined, value),
        (err: unknown) => !ac.signal.aborted && finish(new HttpError(502, `The session's ${what} failed: ${err instanceof Error ? err.message : String(err)}`)),
      );
    });
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 3) + '\n');
}

/** How long {@link chromeDiscoverySource} waits for Chrome's own HTTP answers. */
const CHROME_FETCH_MS = 5_000;

/**
 * The HTTP base of Chrome's own debugging port, from its browser endpoint
 * (`ws://127.0.0.1:PORT/devtools/browser/GUID`, `ChromeProcess.wsEndpoint`): `http://127.0.0.1:PORT`.
 */
export function chromeHttpBase(chromeWsEndpoint: string): string {
  const u = new URL(chromeWsEndpoint);
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`Not a websocket URL: ${chromeWsEndpoint}`);
  return `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}`;
}

async function fetchJson(url: string, signal: AbortSignal | undefined): Promise<unknown> {
  const bound = AbortSignal.timeout(CHROME_FETCH_MS);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, bound]) : bound, headers: { Accept: 'application/json' } });
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`${url} answered HTTP ${res.status}`);
  }
  return res.json();
}

/**
 * A {@link DiscoverySource} backed by Chrome's own debugging port: `version()` and `protocol()`
 * are fetched from `chromeHttpBase` (see {@link chromeHttpBase}) — each once, bounded by 5 s, and
 * asked again after a failure — while the targets come from `listPages`, which must list the
 * session's pages only. `wsEndpoint` is the session's endpoint (with its token), never Chrome's.
 */
export function chromeDiscoverySource(
  chromeHttpBaseUrl: string,
  wsEndpoint: string,
  listPages: (signal?: AbortSignal) => Promise<readonly DiscoveryTarget[]>,
): DiscoverySource {
  const base = chromeHttpBaseUrl.replace(/\/+$/, '');
  let version: Promise<Record<string, string>> | undefined;
  let protocol: Promise<unknown> | undefined;
  const once = <T>(get: () => Promise<T> | undefined, set: (p: Promise<T> | undefined) => void, make: () => Promise<T>): Promise<T> => {
    const have = get();
    if (have) return have;
    const p = make();
    set(p);
    p.catch(() => get() === p && set(undefined));
    return p;
  };
  return {
    wsEndpoint,
    version: (signal) =>
      once(
        () => version,
        (p) => (version = p),
        async () => {
          const body = await fetchJson(`${base}/json/version`, signal);
          const out: Record<string, string> = {};
          if (body && typeof body === 'object') {
            for (const key of VERSION_FIELDS) {
              const value = (body as Record<string, unknown>)[key];
              if (typeof value === 'string') out[key] = value;
            }
          }
          return out;
        },
      ),
    protocol: (signal) =>
      once(
        () => protocol,
        (p) => (protocol = p),
        () => fetchJson(`${base}/json/protocol`, signal),
      ),
    targets: (signal) => listPages(signal),
  };
}
