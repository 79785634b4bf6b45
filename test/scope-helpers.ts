/**
 * Shared set-up of the ContextScope tests (scope-clients, scope-cross-session): one headless-shell
 * with browser contexts A and B (one about:blank page each) and the launch's own page in the
 * default context as a decoy; an in-test websocket proxy (one upstream socket per client) applies
 * ContextScope(A) or ContextScope(B) (lib/scope.ts) by path. `useScopeChrome()` starts them for
 * the file; its state is exported as live bindings, set once its beforeAll ran.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser as PwBrowser } from 'playwright-core';
import puppeteer, { type Browser as PpBrowser } from 'puppeteer-core';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { launchChrome, type ChromeProcess } from '../lib/chrome/launch.js';
import { RunDir } from '../lib/chrome/runtime.js';
import { findChrome } from '../lib/index.js';
import { ContextScope } from '../lib/scope.js';
import { startServer, withDeadline, type TestServer } from './helpers.js';

export interface Reply {
  id: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}
export interface TargetInfo {
  targetId: string;
  type: string;
  url: string;
  browserContextId?: string;
}

/** A bare CDP connection: requests by id, nothing else. */
export class RawCdp {
  #next = 0;
  readonly #waiting = new Map<number, (r: Reply) => void>();
  /** Every message received. */
  readonly received: string[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(data.toString());
      const msg = JSON.parse(data.toString()) as Reply;
      if (typeof msg.id === 'number') this.#waiting.get(msg.id)?.(msg);
    });
  }
  static async open(url: string): Promise<RawCdp> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawCdp(ws);
  }
  /** The whole reply (result or error). */
  call(method: string, params: object = {}, sessionId?: string): Promise<Reply> {
    const id = ++this.#next;
    return withDeadline(
      new Promise<Reply>((resolve) => {
        this.#waiting.set(id, resolve);
        this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      }),
      10_000,
      method,
    );
  }
  async send<T = Record<string, unknown>>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const r = await this.call(method, params, sessionId);
    if (r.error) throw new Error(`${method}: ${r.error.message}`);
    return r.result as T;
  }
  close(): void {
    this.ws.close();
  }
}

/** Relays each client to Chrome through a ContextScope chosen by the URL path's last part. */
async function startProxy(chromeUrl: string, scopes: Map<string, { contextId: string; pageId: string }>) {
  const live: ContextScope[] = [];
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (client, req) => {
    const name = (req.url ?? '').split('/').pop() ?? '';
    const cfg = scopes.get(name);
    if (!cfg) return client.close(1008, 'unknown session');
    const scope = new ContextScope(cfg.contextId, [cfg.pageId]);
    live.push(scope);
    const upstream = new WebSocket(chromeUrl, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    sockets.add(client).add(upstream);
    const early: string[] = [];
    const toChrome = (texts: readonly string[]) => {
      for (const t of texts) upstream.readyState === WebSocket.OPEN ? upstream.send(t) : early.push(t);
    };
    const toClient = (texts: readonly string[]) => {
      for (const t of texts) if (client.readyState === WebSocket.OPEN) client.send(t);
    };
    upstream.on('open', () => {
      for (const t of early.splice(0)) upstream.send(t);
    });
    client.on('message', (data) => {
      const v = scope.fromClient(data.toString());
      toChrome(v.toChrome);
      toClient(v.toClient);
    });
    upstream.on('message', (data) => {
      const v = scope.fromChrome(data.toString());
      toChrome(v.toChrome);
      toClient(v.toClient);
    });
    client.on('close', () => upstream.close());
    upstream.on('close', () => client.close());
    client.on('error', () => {});
    upstream.on('error', () => client.terminate());
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: (name: string) => `ws://127.0.0.1:${port}/devtools/browser/${name}`,
    /** Scopes of the clients connected so far, in order. */
    live,
    close: async () => {
      for (const s of sockets) s.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export let tmp: string;
let run: RunDir;
let chrome: ChromeProcess;
export let raw: RawCdp;
export let server: TestServer;
export let proxy: Awaited<ReturnType<typeof startProxy>>;
export let ctxA: string;
export let ctxB: string;
export let pageA: string;
export let pageB: string;
export let decoy: string;
export const closers: (() => Promise<unknown>)[] = [];

/** Every target of the browser, from the unfiltered connection. */
export async function allTargets(): Promise<TargetInfo[]> {
  return (await raw.send<{ targetInfos: TargetInfo[] }>('Target.getTargets')).targetInfos;
}
export async function cookieNames(browserContextId?: string): Promise<string[]> {
  const { cookies } = await raw.send<{ cookies: { name: string }[] }>('Storage.getCookies', browserContextId ? { browserContextId } : {});
  return cookies.map((c) => c.name).sort();
}
export function contextOf(targets: TargetInfo[], targetId: string): string | undefined {
  return targets.find((t) => t.targetId === targetId)?.browserContextId;
}
export async function pp(name: 'A' | 'B'): Promise<PpBrowser> {
  const b = await puppeteer.connect({ browserWSEndpoint: proxy.url(name), defaultViewport: null, protocolTimeout: 10_000 });
  closers.push(() => b.disconnect());
  return b;
}
export async function pw(name: 'A' | 'B'): Promise<PwBrowser> {
  const b = await chromium.connectOverCDP(proxy.url(name), { timeout: 10_000 });
  closers.push(() => b.close());
  return b;
}

/** Launches the Chrome, contexts, server and proxy for the file (beforeAll) and cleans up after each test and the file. */
export function useScopeChrome(): void {
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-scope-'));
    server = await startServer({
      '/dl': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment; filename="a.bin"' }).end('session A');
      },
    });
    run = new RunDir(path.join(tmp, 'run'));
    chrome = await launchChrome({ ...findChrome({ headless: 'shell' }), args: [], env: {} }, run, { timeoutMs: 20_000 });
    raw = await RawCdp.open(chrome.wsEndpoint);
    decoy = (await allTargets()).find((t) => t.type === 'page')!.targetId;
    ctxA = (await raw.send<{ browserContextId: string }>('Target.createBrowserContext')).browserContextId;
    ctxB = (await raw.send<{ browserContextId: string }>('Target.createBrowserContext')).browserContextId;
    pageA = (await raw.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank', browserContextId: ctxA })).targetId;
    pageB = (await raw.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank', browserContextId: ctxB })).targetId;
    proxy = await startProxy(chrome.wsEndpoint, new Map([['A', { contextId: ctxA, pageId: pageA }], ['B', { contextId: ctxB, pageId: pageB }]]));
  });

  afterEach(async () => {
    // Each test starts from one page per session, whatever the previous one left.
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    for (const t of await allTargets()) {
      if (t.type === 'page' && (t.browserContextId === ctxA || t.browserContextId === ctxB) && t.targetId !== pageA && t.targetId !== pageB) {
        await raw.send('Target.closeTarget', { targetId: t.targetId });
      }
    }
  });

  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    await proxy?.close();
    raw?.close();
    await chrome?.close({ graceMs: 500 });
    await run?.destroy();
    await server?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
}
