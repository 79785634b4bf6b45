/**
 * Per-session userAgent, locale and timezoneId: what every page of the session reports, the first
 * one, pages opened later, popups and out-of-process iframes, and what the server receives; a session beside it on the
 * same Chrome keeps Chrome's own. Through Puppeteer and Playwright.
 */
import puppeteer, { type Page } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { closedAfterEach, startServer, type TestServer } from './helpers.js';

declare const navigator: { userAgent: string; language: string };
declare const window: { open(url: string): unknown };

let server: TestServer;
const headers: { ua: string | undefined; lang: string | undefined; ch?: string }[] = [];
beforeAll(async () => {
  server = await startServer({
    '/frame': (req, res) => {
      const src = new URL(req.url!, 'http://x').searchParams.get('src') ?? '';
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>frame</title><iframe src="${src}"></iframe>`);
    },
    '/worker.js': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end('postMessage({ ua: navigator.userAgent, lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone })');
    },
    '/worker': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>worker</title><script>window.got = new Promise((r) => { new Worker("/worker.js").onmessage = (e) => r(e.data); });</script>');
    },
    '/sw.js': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(`
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('message', async (e) => {
  await fetch('/headers?from=sw');
  e.source.postMessage({ lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone });
});`);
    },
    '/sw': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>sw</title><script>
window.got = navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready).then((reg) =>
  new Promise((r) => { navigator.serviceWorker.onmessage = (e) => r(e.data); reg.active.postMessage('go'); }));
</script>`);
    },
    '/headers': (req, res) => {
      const ch = req.headers['sec-ch-ua'];
      headers.push({ ua: req.headers['user-agent'], lang: req.headers['accept-language'], ...(ch !== undefined ? { ch: String(ch) } : {}) });
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>h</title>');
    },
  });
});
afterAll(async () => {
  await server.close();
});
const managers = closedAfterEach<SessionManager>();

const UA = 'chrome-sessions-test/1.0';
const seen = (page: Page) =>
  page.evaluate(() => ({ ua: navigator.userAgent, lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone }));

describe.each(['context', 'browser'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('every page of the session reports its userAgent, locale and timezoneId; the one beside it does not', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2, isolation });
    managers.push(m);
    const s = await m.create({ userAgent: UA, locale: 'fr-FR', timezoneId: 'Asia/Tokyo' });
    const plain = await m.create();
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    const pb = await puppeteer.connect({ browserWSEndpoint: plain.wsEndpoint, defaultViewport: null });
    try {
      const want = { ua: UA, lang: 'fr-FR', tz: 'Asia/Tokyo' };
      const [first] = await b.pages();
      headers.length = 0;
      await first!.goto(`${server.origin}/headers`);
      expect(await seen(first!)).toEqual(want);
      expect(headers.at(-1)).toMatchObject({ ua: UA, lang: expect.stringMatching(/^fr-FR/) });
      const later = await b.newPage();
      await later.goto(`${server.origin}/title/later`);
      expect(await seen(later)).toEqual(want);
      const popup = new Promise<Page>((resolve) => b.once('targetcreated', async (t) => resolve((await t.page())!)));
      await later.evaluate((url) => void window.open(url), `${server.origin}/title/popup`);
      const p = await popup;
      await p.waitForFunction(() => document.title === 'popup');
      expect(await seen(p)).toEqual(want);
      // No Client Hints beside a user agent of the session's own: none that would name HeadlessChrome.
      expect(headers.find((h) => h.ua === UA)?.ch).toBeUndefined();
      expect(await first!.evaluate('navigator.userAgentData.brands.length')).toBe(0);
      const [other] = await pb.pages();
      headers.length = 0;
      await other!.goto(`${server.origin}/headers`);
      const theirs = await seen(other!);
      expect(theirs.ua).not.toBe(UA);
      expect(theirs.tz).not.toBe('Asia/Tokyo');
      expect(headers.at(-1)?.ch).toMatch(/HeadlessChrome/);
      expect(await other!.evaluate('navigator.userAgentData.brands.length')).toBeGreaterThan(0);
    } finally {
      await b.disconnect();
      await pb.disconnect();
    }
  });
});

declare const document: { title: string };
declare const screen: { width: number; height: number };

describe.each([
  ['context', 'shell'],
  ['browser', 'shell'],
  ['context', 'new'],
] as const)("'%s' isolation, %s build", (isolation, headless) => {
  it('an out-of-process iframe (cross-site, under site isolation), a dedicated worker and a service worker report them too', async () => {
    // Full Chromium isolates sites by default; headless-shell only when told.
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, headless, args: headless === 'shell' ? ['--site-per-process'] : [] });
    managers.push(m);
    const s = await m.create({ userAgent: UA, locale: 'fr-FR', timezoneId: 'Asia/Tokyo', screen: { width: 900, height: 700 } });
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    try {
      const [page] = await b.pages();
      // 127.0.0.1 and localhost are two sites: the iframe gets a renderer, and a target, of its own.
      const frameUrl = `${server.origin.replace('127.0.0.1', 'localhost')}/headers`;
      headers.length = 0;
      await page!.goto(`${server.origin}/frame?src=${encodeURIComponent(frameUrl)}`);
      const frame = page!.frames().find((f) => f.url() === frameUrl);
      const cdp = await b.target().createCDPSession();
      const { targetInfos } = await cdp.send('Target.getTargets');
      expect(targetInfos.filter((t) => t.type === 'iframe').map((t) => t.url)).toEqual([frameUrl]);
      expect(await frame!.evaluate(() => ({ ua: navigator.userAgent, lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone }))).toEqual({
        ua: UA,
        lang: 'fr-FR',
        tz: 'Asia/Tokyo',
      });
      // The screen applies to the page; Chrome takes device metrics on top-level targets only, so
      // the out-of-process iframe's `screen` is Chrome's own (documented in the README).
      expect(await page!.evaluate(() => [screen.width, screen.height])).toEqual([900, 700]);
      expect(headers.at(-1)).toMatchObject({ ua: UA, lang: expect.stringMatching(/^fr-FR/) });
      // A worker's navigator has a user agent and language of its own.
      await page!.goto(`${server.origin}/worker`);
      expect(await page!.evaluate('window.got')).toEqual({ ua: UA, lang: 'fr-FR', tz: 'Asia/Tokyo' });
      // So does a service worker, whose requests carry its own headers. (Its navigator.userAgent
      // and the fetch of its script keep Chrome's own: see lib/page-emulation.ts.)
      headers.length = 0;
      await page!.goto(`${server.origin}/sw`);
      expect(await page!.evaluate('window.got')).toEqual({ lang: 'fr-FR', tz: 'Asia/Tokyo' });
      expect(headers).toEqual([{ ua: UA, lang: expect.stringMatching(/^fr-FR/) }]);
    } finally {
      await b.disconnect();
    }
  });
});

it("through Playwright's connectOverCDP, and refused in 'reset' isolation or malformed", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context' });
  managers.push(m);
  const s = await m.create({ timezoneId: 'America/New_York', locale: 'de-DE' });
  const browser = await chromium.connectOverCDP(s.wsEndpoint);
  try {
    const page = browser.contexts()[0]!.pages()[0]!;
    await page.goto(`${server.origin}/title/pw`);
    expect(await page.evaluate(() => [navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone])).toEqual(['de-DE', 'America/New_York']);
    const fresh = await browser.contexts()[0]!.newPage();
    expect(await fresh.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)).toBe('America/New_York');
  } finally {
    await browser.close();
  }
  // Playwright attaches to out-of-process iframes and workers itself too: both attachments resume them.
  const isolated = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', args: ['--site-per-process'] });
  managers.push(isolated);
  const t = await isolated.create({ userAgent: UA, timezoneId: 'America/New_York', locale: 'de-DE' });
  const pw = await chromium.connectOverCDP(t.wsEndpoint);
  try {
    const page = pw.contexts()[0]!.pages()[0]!;
    const frameUrl = `${server.origin.replace('127.0.0.1', 'localhost')}/headers`;
    await page.goto(`${server.origin}/frame?src=${encodeURIComponent(frameUrl)}`);
    const frame = page.frames().find((f) => f.url() === frameUrl)!;
    const want = { ua: UA, lang: 'de-DE', tz: 'America/New_York' };
    expect(await frame.evaluate(() => ({ ua: navigator.userAgent, lang: navigator.language, tz: Intl.DateTimeFormat().resolvedOptions().timeZone }))).toEqual(want);
    await page.goto(`${server.origin}/worker`);
    expect(await page.evaluate('window.got')).toEqual(want);
  } finally {
    await pw.close();
  }
  const r = new SessionManager({ minIdle: 0, handleSignals: false });
  managers.push(r);
  await expect(r.create({ userAgent: UA })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.userAgent' });
  for (const [params, option] of [
    [{ timezoneId: 'Mars/Olympus' }, 'create.timezoneId'],
    [{ locale: 'not a locale' }, 'create.locale'],
    [{ userAgent: '' }, 'create.userAgent'],
    [{ userAgent: 'a\nb' }, 'create.userAgent'],
  ] as const) {
    await expect(m.create({ ...params })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
  }
});
