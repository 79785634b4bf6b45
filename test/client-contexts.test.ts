/**
 * 'context' isolation: a browser context a client creates itself (Puppeteer's
 * `createBrowserContext()`, Playwright's `newContext()`) is the session's as much as the session's
 * own context: its pages go through the session's proxy with its credentials, report its
 * userAgent, locale, timezoneId and screen, download into its folder, are recorded, count in its
 * usage, are followed by its live view, and count for the all-pages-closed rule. A context the client disposed
 * itself does not cost the browser its place in the pool.
 */
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { SessionManager, type SessionManagerOptions } from '../lib/index.js';
import { authProxyForFile } from './auth-proxy.js';
import { closedAfterEach, serverForFile, waitUntil, withDeadline } from './helpers.js';

declare const navigator: { userAgent: string; language: string };
declare const screen: { width: number; height: number };
declare const document: { getElementById(id: string): { click(): void } };

const proxy = authProxyForFile();
const seen = proxy.seen;

const server = serverForFile({
  '/text': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>own</title><p>written in the client context</p>'),
  '/files': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>files</title><a id="attach" href="/attach">report</a>'),
  '/attach': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="own.csv"' }).end('a,b\n1,2\n'),
});
const managers = closedAfterEach<SessionManager>();
const clients = closedAfterEach<{ close(): Promise<void> }>();
function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, clientPingTimeoutMs: 0, healthCheckIntervalMs: 0, maxConcurrent: 2, isolation: 'context', ...opts });
  managers.push(m);
  return m;
}
async function connectPuppeteer(wsEndpoint: string): Promise<Browser> {
  const b = await puppeteer.connect({ browserWSEndpoint: wsEndpoint, defaultViewport: null });
  clients.push({ close: () => b.disconnect() });
  return b;
}

const SETTINGS = {
  proxy: { server: '', username: 'user', password: 'secret', bypass: '127.0.0.1' },
  userAgent: 'ClientContextProbe/1.0',
  locale: 'fr-FR',
  timezoneId: 'Asia/Tokyo',
  screen: { width: 900, height: 700 },
};
const EXPECTED = { userAgent: SETTINGS.userAgent, language: 'fr-FR', timeZone: 'Asia/Tokyo', width: 900, height: 700 };
type Probe = typeof EXPECTED;
const probe = (): Probe => ({ userAgent: navigator.userAgent, language: navigator.language, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone, width: screen.width, height: screen.height });

describe("a context a client creates in a 'context' session", () => {
  it("Puppeteer's createBrowserContext(): its page goes through the session's proxy and reports its userAgent, locale, timezoneId and screen", async () => {
    const m = manager();
    const s = await m.create({ ...SETTINGS, proxy: { ...SETTINGS.proxy, server: proxy.url } });
    const browser = await connectPuppeteer(s.wsEndpoint);
    const own = await browser.createBrowserContext();
    const page = await own.newPage();
    seen.length = 0;
    await page.goto('http://proxied.test/', { timeout: 10_000 });
    expect(await page.title()).toBe('proxied');
    expect(seen).toContainEqual({ username: 'user', password: 'secret', hostname: 'proxied.test' });
    expect(await page.evaluate(probe)).toEqual(EXPECTED);
    // The session's bypass list holds there too.
    seen.length = 0;
    await page.goto(`${server.origin}/text`);
    expect(await page.title()).toBe('own');
    expect(seen).toEqual([]);
    // A popup of that page too.
    const [popup] = await Promise.all([new Promise<Page | null>((resolve) => page.once('popup', resolve)), page.evaluate(`window.open('about:blank')`)]);
    expect(await popup!.evaluate(probe)).toEqual(EXPECTED);
  });

  it("Playwright's newContext(): the same, and a context given its own proxy keeps it", async () => {
    const m = manager();
    const s = await m.create({ ...SETTINGS, proxy: { ...SETTINGS.proxy, server: proxy.url } });
    const browser = await chromium.connectOverCDP(s.wsEndpoint);
    clients.push(browser);
    const context = await browser.newContext({ viewport: null });
    const page = await context.newPage();
    seen.length = 0;
    await page.goto('http://proxied.test/', { timeout: 10_000 });
    expect(await page.title()).toBe('proxied');
    expect(seen).toContainEqual({ username: 'user', password: 'secret', hostname: 'proxied.test' });
    expect(await page.evaluate(probe)).toEqual(EXPECTED);
    // The client's own proxy setting wins: this one is not a proxy, so the page cannot load.
    const direct = await browser.newContext({ proxy: { server: 'http://127.0.0.1:9' } });
    const other = await direct.newPage();
    seen.length = 0;
    await expect(other.goto('http://proxied.test/', { timeout: 10_000 })).rejects.toThrow(/ERR_PROXY_CONNECTION_FAILED/);
    expect(seen).toEqual([]);
  });

  it('its downloads land in the session folder, its pages are recorded and counted in usage', async () => {
    const m = manager({ pageUsage: true });
    const s = await m.create({ recording: true });
    const browser = await connectPuppeteer(s.wsEndpoint);
    const own = await browser.createBrowserContext();
    const page = await own.newPage();
    await page.goto(`${server.origin}/text`);
    await page.goto(`${server.origin}/files`);
    await page.evaluate(() => document.getElementById('attach').click());
    await waitUntil(() => m.downloads(s.id).some((d) => d.state === 'completed'), 15_000, 'a completed download');
    expect(m.downloads(s.id).map((d) => d.name)).toEqual(['own.csv']);
    expect(m.get(s.id).usage).toMatchObject({ pagesOpened: 1 });
    expect(m.get(s.id).usage!.networkBytesReceived).toBeGreaterThan(100);
    await m.stop(s.id);
    expect(JSON.stringify(await m.getRecording(s.id))).toContain('written in the client context');
  });

  it('the live view follows a page opened in it', async () => {
    const m = manager();
    const s = await m.create();
    const url = new URL(s.liveUrl!);
    const ws = new WebSocket(`ws://${url.host}${url.pathname}/ws${url.search}`);
    clients.push({ close: async () => ws.close() });
    const tabs: string[] = [];
    ws.on('message', (d) => {
      const msg = JSON.parse(d.toString()) as { type: string; url?: string };
      if (msg.type === 'tab') tabs.push(msg.url ?? '');
    });
    await withDeadline(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), 10_000, 'live view socket');
    const browser = await connectPuppeteer(s.wsEndpoint);
    const page = await (await browser.createBrowserContext()).newPage();
    await page.goto(`${server.origin}/text`);
    await waitUntil(() => tabs.some((t) => t.endsWith('/text')), 10_000, 'the live view following the new page');
  });

  it("the session's other clients see it and its pages, as clients of one browser would", async () => {
    const m = manager();
    const s = await m.create();
    const first = await connectPuppeteer(s.wsEndpoint);
    const own = await first.createBrowserContext();
    const page = await own.newPage();
    await page.goto(`${server.origin}/text`);
    const second = await connectPuppeteer(s.wsEndpoint);
    expect(second.browserContexts()).toHaveLength(2);
    const theirs = (await second.pages()).find((p) => p.url().endsWith('/text'));
    expect(await theirs!.title()).toBe('own');
    // A third session's client sees nothing of it.
    const other = await connectPuppeteer((await m.create()).wsEndpoint);
    expect(other.browserContexts()).toHaveLength(1);
    expect((await other.pages()).map((p) => p.url())).toEqual(['about:blank']);
  });

  it('its pages count for the all-pages-closed rule; disposing it leaves the browser in the pool', async () => {
    const m = manager({ sessionsPerBrowser: 1, maxConcurrent: 1 });
    const recycled: string[] = [];
    m.on('browserRecycled', (e) => recycled.push(e.reason));
    const s = await m.create();
    const browser = await connectPuppeteer(s.wsEndpoint);
    const own = await browser.createBrowserContext();
    await own.newPage();
    const [first] = await browser.pages();
    await first!.close();
    // The session's own context has no page left, but the client's context has one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(m.get(s.id).status).toBe('active');
    await own.close();
    await waitUntil(() => m.get(s.id).status !== 'active', 10_000, 'the session to end');
    expect(m.get(s.id).stopReason).toBe('all_pages_closed');
    const next = await m.create();
    expect(next.browserPid).toBe(s.browserPid);
    expect(recycled).toEqual([]);
  });
});
