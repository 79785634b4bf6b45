/**
 * A session leaks no tabs, contexts, windows or browser settings to the next, in every isolation
 * mode: extra tabs, an extra browser context, a changed window size, history, `window.name` and
 * page zoom of the kept page, a granted permission, and download behaviour. The pattern (two
 * sessions on one browser, or a new one in 'browser' mode) is in isolation-helpers.ts; in 'reset'
 * mode each test fails when `resetBrowser` does nothing.
 *
 * Permissions and download behaviour are reverted by Chrome when the client detaches, so those
 * tests also reset over a connection that stays attached. On full Chromium, where new windows take
 * the last window's size, a last test shows the reset gives the launch window size back.
 */
import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { findChrome, SessionManager } from '../lib/index.js';
import type { BrowserResetEvent } from '../lib/index.js';
import { nextEvent, waitUntil, type TestServer } from './helpers.js';
import { at, filesIn, isolationSuite, MODES, size } from './isolation-helpers.js';

// Browser globals, used only inside page.evaluate (the project compiles without the DOM lib).
declare const window: any;
declare const document: any;
declare const navigator: any;
declare const history: any;

describe.each(MODES)("isolation '%s': a session leaks nothing to the next", (mode) => {
  const suite = isolationSuite(mode);
  const { twoSessions, resetWhileAttached } = suite;
  let server: TestServer;
  let A: string;
  let B: string;
  let downloadDir: string;
  beforeAll(() => {
    ({ server, A, B, downloadDir } = suite);
  });

  it('a granted permission (geolocation)', async () => {
    const state = (page: Page, origin: string) => at(page, origin, async () => (await navigator.permissions.query({ name: 'geolocation' })).state as string);
    let before = '';
    await twoSessions(
      async ({ browser, page }) => {
        before = await state(page, A);
        expect(before).not.toBe('granted');
        await browser.defaultBrowserContext().overridePermissions(A, ['geolocation']);
        await browser.defaultBrowserContext().overridePermissions(B, ['geolocation']);
        expect(await state(page, A)).toBe('granted');
        expect(await state(page, B)).toBe('granted');
      },
      async (c) => {
        const page = await c.browser.newPage();
        expect(await state(page, A)).toBe(before);
        expect(await state(page, B)).toBe(before);
        await resetWhileAttached(
          c,
          (cdp) => cdp.send('Browser.grantPermissions', { origin: A, permissions: ['geolocation'] }),
          async () => expect(await state(await c.browser.newPage(), A)).toBe(before),
        );
      },
    );
  });

  it('extra tabs: session N leaves 3 pages, N+1 sees exactly 1 blank one', async () => {
    await twoSessions(
      async ({ browser, page }) => {
        await page.goto(`${A}/title/one`);
        for (const title of ['two', 'three']) await (await browser.newPage()).goto(`${B}/title/${title}`);
        expect(await browser.pages()).toHaveLength(3);
      },
      async ({ browser }) => {
        const pages = await browser.pages();
        expect(pages.map((p) => p.url())).toEqual(['about:blank']);
        expect(browser.targets().filter((t) => t.type() === 'page')).toHaveLength(1);
      },
    );
  });

  it('an extra browser context', async () => {
    await twoSessions(
      async ({ browser }) => {
        const context = await browser.createBrowserContext();
        await (await context.newPage()).goto(`${A}/set-cookie`);
        expect(browser.browserContexts()).toHaveLength(2);
      },
      async ({ browser }) => {
        expect(browser.browserContexts()).toHaveLength(1);
        expect(await browser.pages()).toHaveLength(1);
      },
    );
  });

  // headless-shell: every new window has the default size. Full Chromium: see the describe below.
  it('changed window size', async () => {
    let before: Awaited<ReturnType<typeof size>> | undefined;
    await twoSessions(
      async ({ page }) => {
        before = await size(page);
        const cdp = await page.createCDPSession();
        const { windowId } = await cdp.send('Browser.getWindowForTarget');
        const width = before.outerWidth === 640 ? 700 : 640;
        await cdp.send('Browser.setWindowBounds', { windowId, bounds: { width, height: 480 } });
        let after = before;
        for (let i = 0; i < 100 && after.outerWidth !== width; i++) after = await size(page);
        expect(after.outerWidth).toBe(width);
        expect(after.innerWidth).not.toBe(before.innerWidth);
        await cdp.detach();
      },
      async ({ browser, page: first }) => {
        expect(await size(first)).toEqual(before);
        expect(await size(await browser.newPage())).toEqual(before);
      },
    );
  });

  it('download behaviour', async () => {
    const download = async (page: Page, requestExpected = true) => {
      const hits = server.hits.get('/download') ?? 0;
      await page.goto(`${A}/title/download`);
      await page.evaluate(() => {
        const a = document.createElement('a');
        a.href = '/download';
        a.download = 'leak.bin';
        document.body.append(a);
        a.click();
      });
      // A fresh context or Chrome in its default behaviour does not even request the file.
      if (requestExpected) await waitUntil(() => (server.hits.get('/download') ?? 0) > hits, 10_000, 'the download request');
    };
    const expectNoDownload = async (page: Page) => {
      await download(page, mode === 'reset');
      // Session N's download landed within a few ms of its request; give this one ample time.
      await new Promise((r) => setTimeout(r, 500));
      expect(filesIn(downloadDir)).toEqual([]);
    };
    await twoSessions(
      async ({ browser, page }) => {
        const cdp = await browser.target().createCDPSession();
        await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir });
        await download(page);
        await waitUntil(() => filesIn(downloadDir).includes('leak.bin'), 10_000, 'leak.bin in the download dir');
        fs.rmSync(path.join(downloadDir, 'leak.bin'));
        await cdp.detach();
      },
      async (c) => {
        await expectNoDownload(await c.browser.newPage());
        await resetWhileAttached(
          c,
          (cdp) => cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir }),
          async () => expectNoDownload(await c.browser.newPage()),
        );
      },
    );
  });

  it('history: the first page of session N+1 has history.length 1', async () => {
    await twoSessions(
      async ({ page }) => {
        for (const url of [`${A}/title/1`, `${A}/title/2`, `${B}/title/3`]) await page.goto(url);
        expect(await page.evaluate(() => history.length)).toBeGreaterThan(1);
      },
      async ({ browser, page: first }) => {
        expect(first.url()).toBe('about:blank');
        expect(await first.evaluate(() => history.length)).toBe(1);
        expect(await (await browser.newPage()).evaluate(() => history.length)).toBe(1);
      },
    );
  });

  it('window.name and page zoom of the kept page', async () => {
    await twoSessions(
      async ({ page }) => {
        await page.goto(`${A}/title/named`);
        await page.evaluate(() => (window.name = 'previous-session'));
        const cdp = await page.createCDPSession();
        // A page-scale change made through the page's own session.
        await cdp.send('Emulation.setPageScaleFactor', { pageScaleFactor: 2 });
        expect(await page.evaluate(() => window.name)).toBe('previous-session');
      },
      async ({ page: first }) => {
        expect(await first.evaluate(() => window.name)).toBe('');
        await first.goto(`${A}/title/named`);
        expect(await first.evaluate(() => window.name)).toBe('');
        expect(await first.evaluate(() => window.visualViewport?.scale)).toBe(1);
      },
    );
  });
});

/** Full Chromium, where it is installed (the default build above is headless-shell). */
function fullChromium(): boolean {
  try {
    return findChrome({ headless: 'new' }).headless === 'new';
  } catch {
    return false;
  }
}

describe.skipIf(!fullChromium())('full Chromium (headless: new): window bounds', () => {
  // New windows take the last window's size there, so the pool hands the reset the bounds the
  // browser had at launch (PooledBrowser.windowBounds).
  it('session N+1 on the same browser gets the launch window size back', async () => {
    const manager = new SessionManager({ maxConcurrent: 1, minIdle: 0, headless: 'new' });
    try {
      const first = await manager.create();
      const a = await puppeteer.connect({ browserWSEndpoint: first.wsEndpoint, defaultViewport: null });
      const page = (await a.pages())[0]!;
      const before = await size(page);
      const cdp = await page.createCDPSession();
      const { windowId } = await cdp.send('Browser.getWindowForTarget');
      await cdp.send('Browser.setWindowBounds', { windowId, bounds: { width: 640, height: 480 } });
      let after = before;
      for (let i = 0; i < 100 && after.outerWidth !== 640; i++) after = await size(page);
      expect(after.outerWidth).toBe(640);
      // Without the reset, a new page would inherit the size.
      expect((await size(await a.newPage())).outerWidth).toBe(640);
      const reset = nextEvent<[BrowserResetEvent]>(manager, 'browserReset', (e) => e.pid === first.browserPid);
      await manager.stop(first.id);
      await reset;

      const second = await manager.create();
      expect(second.browserPid).toBe(first.browserPid);
      const b = await puppeteer.connect({ browserWSEndpoint: second.wsEndpoint, defaultViewport: null });
      const restored = await size((await b.pages())[0]!);
      // Not innerHeight: the first tab of a launch shows a 56 px bar that later tabs do not.
      expect({ ...restored, innerHeight: 0 }).toEqual({ ...before, innerHeight: 0 });
      await b.disconnect();
    } finally {
      await manager.close();
    }
  });
});
