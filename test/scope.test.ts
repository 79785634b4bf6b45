/**
 * ContextScope (lib/scope.ts) on real Chrome with real clients: one headless-shell with browser
 * contexts A and B (one about:blank page each) and the launch's own page in the default context
 * as a decoy; an in-test websocket proxy (one upstream socket per client) applies
 * ContextScope(A) or ContextScope(B) by path. Puppeteer and Playwright, connected through it,
 * must see only their session's context, and a session's new tabs must not wait for the other
 * sessions' clients.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser as PwBrowser } from 'playwright-core';
import puppeteer, { type Browser as PpBrowser } from 'puppeteer-core';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChrome, type ChromeProcess } from '../lib/chrome/launch.js';
import { RunDir } from '../lib/chrome/runtime.js';
import { findChrome } from '../lib/index.js';
import { ContextScope } from '../lib/scope.js';
import { startServer, waitUntil, withDeadline, type TestServer } from './helpers.js';

interface Reply {
  id: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}
interface TargetInfo {
  targetId: string;
  type: string;
  url: string;
  browserContextId?: string;
}

/** A bare CDP connection: requests by id, nothing else. */
class RawCdp {
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

let tmp: string;
let run: RunDir;
let chrome: ChromeProcess;
let raw: RawCdp;
let server: TestServer;
let proxy: Awaited<ReturnType<typeof startProxy>>;
let ctxA: string;
let ctxB: string;
let pageA: string;
let pageB: string;
let decoy: string;
const closers: (() => Promise<unknown>)[] = [];

/** Every target of the browser, from the unfiltered connection. */
async function allTargets(): Promise<TargetInfo[]> {
  return (await raw.send<{ targetInfos: TargetInfo[] }>('Target.getTargets')).targetInfos;
}
async function cookieNames(browserContextId?: string): Promise<string[]> {
  const { cookies } = await raw.send<{ cookies: { name: string }[] }>('Storage.getCookies', browserContextId ? { browserContextId } : {});
  return cookies.map((c) => c.name).sort();
}
function contextOf(targets: TargetInfo[], targetId: string): string | undefined {
  return targets.find((t) => t.targetId === targetId)?.browserContextId;
}
async function pp(name: 'A' | 'B'): Promise<PpBrowser> {
  const b = await puppeteer.connect({ browserWSEndpoint: proxy.url(name), defaultViewport: null, protocolTimeout: 10_000 });
  closers.push(() => b.disconnect());
  return b;
}
async function pw(name: 'A' | 'B'): Promise<PwBrowser> {
  const b = await chromium.connectOverCDP(proxy.url(name), { timeout: 10_000 });
  closers.push(() => b.close());
  return b;
}

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

describe('Puppeteer through ContextScope(A)', () => {
  it('sees only the session page, opens pages and sets cookies in A, cannot reach B', async () => {
    const browser = await pp('A');
    const scope = proxy.live.at(-1)!;
    const pages = await browser.pages();
    expect(pages).toHaveLength(1);
    const s = await pages[0]!.createCDPSession();
    const { targetInfo } = await s.send('Target.getTargetInfo');
    expect(targetInfo).toMatchObject({ targetId: pageA, browserContextId: ctxA });
    expect(browser.browserContexts()).toHaveLength(1);

    const page = await browser.newPage();
    const newId = (await (await page.createCDPSession()).send('Target.getTargetInfo')).targetInfo.targetId;
    expect(contextOf(await allTargets(), newId)).toBe(ctxA);
    expect(await browser.pages()).toHaveLength(2);
    await page.goto(`${server.origin}/title/pp-a`);

    // Cookies: page.setCookie (Network.setCookies on the page), browser.setCookie
    // (Storage.setCookies at browser level) and Storage.setCookies on a raw page session.
    await page.setCookie({ name: 'pp_page', value: '1', url: server.origin });
    await browser.setCookie({ name: 'pp_browser', value: '1', domain: '127.0.0.1', path: '/' });
    await s.send('Storage.setCookies', { cookies: [{ name: 'pp_raw', value: '1', domain: '127.0.0.1', path: '/' }] });
    expect((await s.send('Storage.getCookies', {})).cookies.map((c) => c.name).sort()).toEqual(['pp_browser', 'pp_page', 'pp_raw']);
    expect(await cookieNames(ctxA)).toEqual(['pp_browser', 'pp_page', 'pp_raw']);
    expect(await cookieNames(ctxB)).toEqual([]);
    expect(await cookieNames()).toEqual([]);

    // B's page by its id: refused without reaching Chrome; the page session cannot list B either.
    await expect(s.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);
    await expect(s.send('Target.activateTarget', { targetId: pageB })).rejects.toThrow(/No target with given id found/);
    await expect(s.send('Target.closeTarget', { targetId: decoy })).rejects.toThrow(/No target with given id found/);
    const listed = (await s.send('Target.getTargets')).targetInfos;
    expect(listed.map((t) => t.browserContextId)).not.toContain(ctxB);
    expect(listed.map((t) => t.targetId)).toEqual(expect.arrayContaining([pageA, newId]));
    expect(listed.map((t) => t.targetId)).not.toContain(decoy);
    expect((await allTargets()).map((t) => t.targetId)).toEqual(expect.arrayContaining([pageB, decoy]));

    // Permissions granted on the default context land in A: a page of B on the same origin still asks.
    await browser.defaultBrowserContext().overridePermissions(server.origin, ['geolocation']);
    const geo = () => navigator.permissions.query({ name: 'geolocation' }).then((p) => p.state);
    expect(await page.evaluate(geo)).toBe('granted');
    const b = await RawCdp.open(proxy.url('B'));
    closers.push(async () => b.close());
    const { sessionId: sb } = await b.send<{ sessionId: string }>('Target.attachToTarget', { targetId: pageB, flatten: true });
    await b.send('Page.navigate', { url: `${server.origin}/title/b-geo` }, sb);
    const inB = await b.send<{ result: { value?: string } }>('Runtime.evaluate', { expression: `(async () => location.href + ' ' + (await (${geo.toString()})()))()`, awaitPromise: true, returnByValue: true }, sb);
    expect(inB.result.value).toBe(`${server.origin}/title/b-geo prompt`);

    // A session to the browser target is filtered like the connection itself.
    const bs = await browser.target().createCDPSession();
    expect((await bs.send('Target.getBrowserContexts')).browserContextIds).toEqual([]);
    expect((await bs.send('Target.getTargets')).targetInfos.map((t) => t.browserContextId)).toEqual([ctxA, ctxA]);
    await expect(bs.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);
    await bs.detach();

    // A popup opened by the session's page is the session's too.
    const popupTarget = browser.waitForTarget((t) => t.opener() === page.target(), { timeout: 5_000 });
    await page.evaluate(() => void window.open('/title/popup'));
    const popup = (await (await popupTarget).page())!;
    expect(contextOf(await allTargets(), (await (await popup.createCDPSession()).send('Target.getTargetInfo')).targetInfo.targetId)).toBe(ctxA);
    await popup.close();

    // A context of its own: created, used, listed, disposed.
    const own = await browser.createBrowserContext();
    expect(own.id).toBeDefined();
    expect([...scope.clientContexts]).toEqual([own.id]);
    const ownPage = await own.newPage();
    await ownPage.goto(`${server.origin}/title/pp-own`);
    expect(await ownPage.title()).toBe('pp-own');
    expect(browser.browserContexts()).toHaveLength(2);
    await own.close();
    expect(scope.clientContexts.size).toBe(0);
    await page.close();
  });
});

describe('Playwright through ContextScope(A)', () => {
  it('sees one context with the session page, opens pages and sets cookies in A', async () => {
    await raw.send('Storage.clearCookies', { browserContextId: ctxA });
    const browser = await pw('A');
    const scope = proxy.live.at(-1)!;
    expect(browser.contexts()).toHaveLength(1);
    const context = browser.contexts()[0]!;
    expect(context.pages()).toHaveLength(1);
    const cdp = await context.newCDPSession(context.pages()[0]!);
    expect((await cdp.send('Target.getTargetInfo')).targetInfo).toMatchObject({ targetId: pageA, browserContextId: ctxA });

    const page = await context.newPage();
    const newId = (await (await context.newCDPSession(page)).send('Target.getTargetInfo')).targetInfo.targetId;
    expect(contextOf(await allTargets(), newId)).toBe(ctxA);
    await page.goto(`${server.origin}/title/pw-a`);
    expect(await page.title()).toBe('pw-a');

    await context.addCookies([{ name: 'pw_ctx', value: '1', url: server.origin }]);
    await cdp.send('Storage.setCookies', { cookies: [{ name: 'pw_raw', value: '1', domain: '127.0.0.1', path: '/' }] });
    expect((await context.cookies()).map((c) => c.name).sort()).toEqual(['pw_ctx', 'pw_raw']);
    expect(await cookieNames(ctxA)).toEqual(['pw_ctx', 'pw_raw']);
    expect(await cookieNames(ctxB)).toEqual([]);
    expect(await cookieNames()).toEqual([]);
    await context.clearCookies();
    expect(await cookieNames(ctxA)).toEqual([]);
    await expect(cdp.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);

    // Playwright's browser CDP session (Target.attachToBrowserTarget) is filtered too.
    const bs = await browser.newBrowserCDPSession();
    expect((await bs.send('Target.getBrowserContexts')).browserContextIds).toEqual([]);
    expect((await bs.send('Target.getTargets')).targetInfos.map((t) => t.browserContextId)).toEqual([ctxA, ctxA]);
    await bs.detach();

    const own = await browser.newContext();
    expect(scope.clientContexts.size).toBe(1);
    const ownPage = await own.newPage();
    await ownPage.goto(`${server.origin}/title/pw-own`);
    expect(await ownPage.title()).toBe('pw-own');
    expect(browser.contexts()).toHaveLength(2);
    await own.close();
    expect(scope.clientContexts.size).toBe(0);
    await page.close();
  });
});

describe('a raw client through ContextScope(A)', () => {
  it('lists no context or target of B or the default context, and cannot attach to them', async () => {
    const c = await RawCdp.open(proxy.url('A'));
    closers.push(async () => c.close());
    // Chrome 156 also names its default context: the session's context stands in for it.
    expect(await c.send('Target.getBrowserContexts')).toEqual({ browserContextIds: [], defaultBrowserContextId: ctxA });
    const { targetInfos } = await c.send<{ targetInfos: TargetInfo[] }>('Target.getTargets');
    expect(targetInfos.length).toBeGreaterThan(0);
    for (const t of targetInfos) expect(t.browserContextId).toBe(ctxA);
    for (const targetId of [pageB, decoy]) {
      expect((await c.call('Target.attachToTarget', { targetId, flatten: true })).error).toEqual({ code: -32602, message: 'No target with given id found' });
    }
    expect((await c.call('Target.disposeBrowserContext', { browserContextId: ctxB })).error?.code).toBe(-32602);
    const { sessionId } = await c.send<{ sessionId: string }>('Target.attachToTarget', { targetId: pageA, flatten: true });
    expect(await c.send('Runtime.evaluate', { expression: '6*7', returnByValue: true }, sessionId)).toMatchObject({ result: { value: 42 } });
    const { targetId } = await c.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    expect(contextOf(await allTargets(), targetId)).toBe(ctxA);
    await c.send('Target.closeTarget', { targetId });
  });
});

describe('the catch: auto-attach with waitForDebuggerOnStart', () => {
  it('new tabs of B and of the default context run while A clients are connected', async () => {
    const ppA = await pp('A');
    const pwA = await pw('A');
    const scopesA = proxy.live.slice(-2);
    // Session B's client opens and loads pages: neither A client may hold them paused.
    const ppB = await pp('B');
    const pageB1 = await withDeadline(ppB.newPage(), 5_000, 'Puppeteer newPage in B');
    await withDeadline(pageB1.goto(`${server.origin}/title/b-pp`), 5_000, 'B page.goto (Puppeteer)');
    expect(await pageB1.title()).toBe('b-pp');
    const pwB = await pw('B');
    const pageB2 = await withDeadline(pwB.contexts()[0]!.newPage(), 5_000, 'Playwright newPage in B');
    await withDeadline(pageB2.goto(`${server.origin}/title/b-pw`), 5_000, 'B page.goto (Playwright)');
    // A tab in the default context, opened outside any session, loads too.
    await raw.send('Target.createTarget', { url: `${server.origin}/title/decoy-new` });
    await waitUntil(() => server.hits.has('/title/decoy-new'), 5_000, 'the default-context tab to load');

    // The A clients saw none of it.
    expect(await ppA.pages()).toHaveLength(1);
    expect(pwA.contexts()).toHaveLength(1);
    expect(pwA.contexts()[0]!.pages()).toHaveLength(1);
    // And B's clients see only B.
    expect(await ppB.pages()).toHaveLength(3);
    expect(pwB.contexts()[0]!.pages()).toHaveLength(3);
    for (const scope of scopesA) await waitUntil(() => scope.foreignSessionCount === 0 && scope.pendingCount === 0, 2_000, 'foreign sessions detached');
    const b = (await allTargets()).filter((t) => t.browserContextId === ctxB);
    expect(b).toHaveLength(3);
  });
});

describe('downloads', () => {
  it('reach the session that started them and no other', async () => {
    const browser = await pw('A');
    const page = await browser.contexts()[0]!.newPage();
    const b = await RawCdp.open(proxy.url('B'));
    closers.push(async () => b.close());
    await b.send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: path.join(tmp, 'dl-b'), eventsEnabled: true });
    await page.goto(`${server.origin}/title/dl`);
    // From the main frame and from a same-process iframe.
    for (const where of ['main', 'iframe']) {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 5_000 }),
        page.evaluate(async (where) => {
          let doc = document;
          if (where === 'iframe') {
            const f = document.createElement('iframe');
            f.src = '/title/frame';
            await new Promise((r) => {
              f.onload = r;
              document.body.append(f);
            });
            doc = f.contentDocument!;
          }
          const a = doc.createElement('a');
          a.href = '/dl';
          doc.body.append(a);
          a.click();
        }, where),
      ]);
      expect(fs.readFileSync((await download.path())!, 'utf8')).toBe('session A');
    }
    expect(b.received.filter((m) => m.includes('"Browser.download'))).toEqual([]);
  });
});
