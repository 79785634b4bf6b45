import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'eventemitter3';

/** A local http server whose pages the tests load; counts hits per path. */
export interface TestServer {
  readonly origin: string;
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Serves `/title/<text>` (a page titled <text>), `/cookie` (sets an HttpOnly cookie), and any route in `routes`. */
export async function startServer(routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> = {}): Promise<TestServer> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const route = routes[url.pathname];
    if (route) return route(req, res);
    if (url.pathname.startsWith('/title/')) {
      const title = decodeURIComponent(url.pathname.slice('/title/'.length));
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>${title}</title><p>${title}</p>`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>ok</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 100;
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Pids of running Chrome processes (read from /proc, zombies excluded). */
export function chromePids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (/chrom/.test(name) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone while reading
    }
  }
  return pids;
}

/** True while /proc has a live (non-zombie) process with that pid. */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `predicate()` holds, polling every 20 ms, or throws after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the next `event` whose payload passes `filter`, or rejects after `timeoutMs`. */
export function nextEvent<A extends unknown[]>(
  emitter: EventEmitter<any>,
  event: string,
  filter: (...args: A) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: A) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}
