/**
 * Per-session proxies on real Chrome, through a real local proxy (proxy-chain's server) that
 * asks for Basic credentials and answers requests for `proxied.test` itself, so that a page
 * titled "proxied" proves the request went through it, with the credentials it saw.
 */
import puppeteer, { type Browser } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SessionManager, type SessionManagerOptions } from '../lib/index.js';
import { authProxyForFile } from './auth-proxy.js';
import { closedAfterEach, withDeadline } from './helpers.js';

const proxy = authProxyForFile();
const seen = proxy.seen;

const managers = closedAfterEach<SessionManager>();
function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, clientPingTimeoutMs: 0, healthCheckIntervalMs: 0, maxConcurrent: 2, ...opts });
  managers.push(m);
  return m;
}

/** Loads `url` in the session's page; resolves with its title, or the navigation error. */
async function visit(browser: Browser, url: string): Promise<string> {
  const [page] = await browser.pages();
  try {
    await page!.goto(url, { timeout: 10_000 });
    return await page!.title();
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

describe("a session's proxy", () => {
  it("'context': the session's requests go through its proxy with its credentials; the session beside it goes direct", async () => {
    const m = manager({ isolation: 'context', sessionsPerBrowser: 2 });
    const viaProxy = await m.create({ proxy: { server: proxy.url, username: 'user', password: 'secret' } });
    const direct = await m.create();
    expect(direct.browserPid).toBe(viaProxy.browserPid);
    const a = await puppeteer.connect({ browserWSEndpoint: viaProxy.wsEndpoint, defaultViewport: null });
    const b = await puppeteer.connect({ browserWSEndpoint: direct.wsEndpoint, defaultViewport: null });
    try {
      seen.length = 0;
      expect(await visit(a, 'http://proxied.test/')).toBe('proxied');
      expect(seen).toContainEqual({ username: 'user', password: 'secret', hostname: 'proxied.test' });
      seen.length = 0;
      expect(await visit(b, 'http://proxied.test/')).toMatch(/^error: .*ERR_NAME_NOT_RESOLVED/);
      expect(seen).toEqual([]);
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
  });

  it("'browser' with Steel's proxyUrl, through Playwright", async () => {
    const m = manager({ isolation: 'browser' });
    const s = await m.create({ proxyUrl: `http://user:secret@127.0.0.1:${proxy.port}` });
    const browser = await chromium.connectOverCDP(s.wsEndpoint);
    try {
      seen.length = 0;
      const page = browser.contexts()[0]!.pages()[0]!;
      await page.goto('http://proxied.test/', { timeout: 10_000 });
      expect(await page.title()).toBe('proxied');
      expect(seen).toContainEqual({ username: 'user', password: 'secret', hostname: 'proxied.test' });
    } finally {
      await browser.close();
    }
  });

  it('wrong credentials give a clear failure in the page, not a hang', async () => {
    const m = manager({ isolation: 'context' });
    const s = await m.create({ proxy: { server: proxy.url, username: 'user', password: 'wrong' } });
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    try {
      const outcome = await withDeadline(visit(browser, 'http://proxied.test/'), 15_000, 'the navigation');
      expect(outcome).not.toBe('proxied');
      expect(seen.at(-1)).toMatchObject({ password: 'wrong' });
    } finally {
      await browser.disconnect();
    }
  });

  it("is refused in 'reset' isolation, and bad proxies are refused by name", async () => {
    const m = manager();
    await expect(m.create({ proxy: { server: proxy.url } })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.proxy' });
    const c = manager({ isolation: 'context' });
    for (const [params, option] of [
      [{ proxy: { server: 'ftp://x:1' } }, 'create.proxy.server'],
      [{ proxy: { server: 'http://u:p@x:1' } }, 'create.proxy.server'],
      [{ proxy: { server: 'http://x:1', username: 'u' } }, 'create.proxy.password'],
      [{ proxy: { server: 'http://x:1', port: 1 } }, 'create.proxy.port'],
      [{ proxyUrl: 'not a url' }, 'create.proxyUrl'],
      [{ proxy: { server: 'http://x:1' }, proxyUrl: 'http://x:1' }, 'create.proxyUrl'],
    ] as const) {
      await expect(c.create(params as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    }
    expect(c.list().totalCount).toBe(0);
  });
});
