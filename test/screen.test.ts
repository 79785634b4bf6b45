/**
 * Per-session screen (`screen` / Steel's `dimensions`): every page of the session (the first, one
 * opened later, a popup) sees the size as innerWidth/innerHeight and screen.width/height, in each
 * isolation mode, on headless-shell and full Chromium; the next session on the same Chrome is
 * back to the launch size. Through Puppeteer and Playwright.
 */
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SessionManager, type HeadlessMode, type IsolationMode } from '../lib/index.js';
import { closedAfterEach, serverForFile } from './helpers.js';

declare const window: { innerWidth: number; innerHeight: number; open(url: string): unknown };
declare const screen: { width: number; height: number };
declare const document: { title: string };

const server = serverForFile();
const managers = closedAfterEach<SessionManager>();

type Size = [innerWidth: number, innerHeight: number, screenWidth: number, screenHeight: number];
const size = (page: Pick<Page, 'evaluate'>): Promise<Size> => page.evaluate(() => [window.innerWidth, window.innerHeight, screen.width, screen.height] as Size);

/** The first page's size in a fresh connection to `wsEndpoint`, after loading a page. */
async function firstPageSize(wsEndpoint: string, path: string): Promise<Size> {
  const b = await puppeteer.connect({ browserWSEndpoint: wsEndpoint, defaultViewport: null });
  try {
    const [page] = await b.pages();
    await page!.goto(`${server.origin}/title/${path}`);
    return await size(page!);
  } finally {
    await b.disconnect();
  }
}

/** Every kind of page of the session through Puppeteer: the first, a new one, a popup. */
async function everyPage(b: Browser): Promise<Size[]> {
  const [first] = await b.pages();
  await first!.goto(`${server.origin}/title/first`);
  const later = await b.newPage();
  await later.goto(`${server.origin}/title/later`);
  const popup = new Promise<Page>((resolve) => b.once('targetcreated', async (t) => resolve((await t.page())!)));
  await later.evaluate((url) => void window.open(url), `${server.origin}/title/popup`);
  const p = await popup;
  await p.waitForFunction(() => document.title === 'popup');
  return [await size(first!), await size(later), await size(p)];
}

/** A session (with `screen`) whose client opens every kind of page; stopped after. */
async function withPages(m: SessionManager, screen: { width: number; height: number } | undefined) {
  const session = await m.create(screen ? { screen } : {});
  const b = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
  try {
    return { session, sizes: await everyPage(b) };
  } finally {
    await b.disconnect();
    await session.stop();
  }
}

const W = 1234;
const H = 567;

describe.each([
  ['shell', 'reset'],
  ['shell', 'context'],
  ['shell', 'browser'],
  ['new', 'reset'],
  ['new', 'context'],
  ['new', 'browser'],
] as [HeadlessMode, IsolationMode][])("headless '%s', '%s' isolation", (headless, isolation) => {
  it('every page of the session has the size; the next session on that Chrome has the launch size', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 1, headless, isolation });
    managers.push(m);
    // The size to get back: a session's first page after a session that opened the same pages
    // (full Chromium's first tab shows an infobar that its later tabs do not, and a reset may keep either).
    await withPages(m, undefined);
    const before = await m.create();
    const launchSize = await firstPageSize(before.wsEndpoint, 'before');
    await before.stop();
    expect(launchSize.slice(0, 2)).not.toEqual([W, H]);

    const { session: s, sizes } = await withPages(m, { width: W, height: H });
    expect(sizes).toEqual([[W, H, W, H], [W, H, W, H], [W, H, W, H]]);

    const after = await m.create();
    if (isolation !== 'browser') expect(after.browserPid).toBe(s.browserPid);
    expect(await firstPageSize(after.wsEndpoint, 'after')).toEqual(launchSize);
  });
});

it("a session beside it on the same Chrome ('context') keeps the launch size; Steel's `dimensions` through Playwright", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2, isolation: 'context' });
  managers.push(m);
  const s = await m.create({ dimensions: { width: 1600, height: 900 } });
  const plain = await m.create();
  expect(plain.browserPid).toBe(s.browserPid);
  const browser = await chromium.connectOverCDP(s.wsEndpoint);
  try {
    const context = browser.contexts()[0]!;
    const page = context.pages()[0]!;
    await page.goto(`${server.origin}/title/pw`);
    expect(await size(page)).toEqual([1600, 900, 1600, 900]);
    const fresh = await context.newPage();
    await fresh.goto(`${server.origin}/title/pw2`);
    expect(await size(fresh)).toEqual([1600, 900, 1600, 900]);
    // The client's own resize wins over the session's size for that page.
    await fresh.setViewportSize({ width: 500, height: 400 });
    expect((await size(fresh)).slice(0, 2)).toEqual([500, 400]);
  } finally {
    await browser.close();
  }
  const theirs = await firstPageSize(plain.wsEndpoint, 'beside');
  expect(theirs.slice(0, 2)).not.toEqual([1600, 900]);
});

it("Puppeteer's default viewport (800x600) replaces the session's size unless connect() gets defaultViewport: null", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false });
  managers.push(m);
  const s = await m.create({ screen: { width: W, height: H } });
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
  try {
    const page = await b.newPage();
    await page.goto(`${server.origin}/title/default-viewport`);
    expect((await size(page)).slice(0, 2)).toEqual([800, 600]);
  } finally {
    await b.disconnect();
  }
});

it('malformed sizes are refused, naming the field', async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false });
  managers.push(m);
  for (const [params, option] of [
    [{ screen: { width: 0, height: 600 } }, 'create.screen.width'],
    [{ screen: { width: -5, height: 600 } }, 'create.screen.width'],
    [{ screen: { width: 800.5, height: 600 } }, 'create.screen.width'],
    [{ screen: { width: 800, height: 10_001 } }, 'create.screen.height'],
    [{ screen: { width: 800 } }, 'create.screen.height'],
    [{ screen: { width: '800', height: 600 } }, 'create.screen.width'],
    [{ screen: { width: 800, height: 600, depth: 24 } }, 'create.screen.depth'],
    [{ screen: 'big' }, 'create.screen'],
    [{ dimensions: { width: 800, height: 0 } }, 'create.dimensions.height'],
    [{ screen: { width: 800, height: 600 }, dimensions: { width: 800, height: 600 } }, 'create.dimensions'],
  ] as const) {
    await expect(m.create(params as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
  }
  expect(m.stats().launches).toBe(0);
});
