import puppeteer from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type BrowserRecycledEvent, type BrowserResetEvent, type SessionManagerOptions } from '../lib/index.js';
import { isAlive, nextEvent, startServer, waitUntil, type TestServer } from './helpers.js';

let managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
});

function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ maxConcurrent: 1, minIdle: 0, ...opts });
  managers.push(m);
  return m;
}

/** Runs one session that touches a page, stops it, and waits for the pool to settle its browser. */
async function oneSession(m: SessionManager): Promise<number> {
  const s = await m.create();
  const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
  await (await browser.pages())[0]!.goto('data:text/html,<title>x</title>');
  const settled = Promise.race([
    nextEvent<[BrowserResetEvent]>(m, 'browserReset', (e) => e.pid === s.browserPid),
    nextEvent<[BrowserRecycledEvent]>(m, 'browserRecycled', (e) => e.pid === s.browserPid),
  ]);
  await m.stop(s.id);
  await settled;
  return s.browserPid!;
}

describe('reuse', () => {
  it('hands the same browser to the next session after a reset', async () => {
    const m = manager();
    const first = await oneSession(m);
    const second = await oneSession(m);
    expect(second).toBe(first);
    expect(m.stats()).toMatchObject({ launches: 1, resets: 2, recycles: 0, idle: 1, active: 0 });
    expect(m.stats().resetMsP50).toBeGreaterThan(0);
  });

  it('reuse: false gives every session a fresh browser and closes the used one', async () => {
    const m = manager({ reuse: false });
    const reasons: string[] = [];
    m.on('browserRecycled', (e) => reasons.push(e.reason));
    const first = await oneSession(m);
    const second = await oneSession(m);
    expect(second).not.toBe(first);
    expect(reasons).toEqual(['no_reuse', 'no_reuse']);
    await waitUntil(() => !isAlive(first), 5000, 'the used browser to exit');
  });

  it('minIdle keeps a warm spare, so a create launches nothing', async () => {
    const m = manager({ minIdle: 1 });
    await m.warmUp();
    await waitUntil(() => m.stats().idle === 1, 10_000, 'the warm browser');
    const s = await m.create();
    expect(m.stats().launches).toBe(1);
    expect(s.browserPid).toBeDefined();
    // Taking the spare starts a replacement in the background.
    await waitUntil(() => m.stats().idle === 1 && m.stats().launches === 2, 10_000, 'the replacement spare');
  });
});

describe('recycling', () => {
  it.each([
    ['maxSessionsPerBrowser', { maxSessionsPerBrowser: 2 }, 'max_sessions', 1],
    ['maxBrowserAgeMs', { maxBrowserAgeMs: 1 }, 'max_age', 0],
    ['maxBrowserRssBytes', { maxBrowserRssBytes: 1024 * 1024 }, 'max_rss', 0],
  ] as const)('%s retires the browser (%s) and the next session gets a new one', async (_name, opts, reason, reusedBefore) => {
    const m = manager(opts);
    const recycled: BrowserRecycledEvent[] = [];
    m.on('browserRecycled', (e) => recycled.push(e));
    const pids: number[] = [];
    for (let i = 0; i < reusedBefore + 2; i++) pids.push(await oneSession(m));
    // The browser served `reusedBefore + 1` sessions, then was retired; the last session got a new one.
    for (let i = 1; i <= reusedBefore; i++) expect(pids[i]).toBe(pids[0]);
    expect(pids.at(-1)).not.toBe(pids[0]);
    expect(recycled[0]).toEqual({ pid: pids[0], reason });
    await waitUntil(() => !isAlive(pids[0]!), 5000, 'the retired browser to exit');
  });

  it('a reset past resetTimeoutMs retires the browser instead of reusing it', async () => {
    const m = manager({ resetTimeoutMs: 1 });
    const recycled = nextEvent<[BrowserRecycledEvent]>(m, 'browserRecycled');
    const first = await oneSession(m);
    expect((await recycled)[0]).toEqual({ pid: first, reason: 'reset_failed' });
    const second = await oneSession(m);
    expect(second).not.toBe(first);
    expect(m.stats().resets).toBe(0);
  });
});

/*
 * The reset keeps the session's page (and its renderer) and navigates it to about:blank; when that
 * navigation does not complete in time it falls back to a new page, which still isolates but costs
 * a renderer spawn and up to a second. These tests pin the fast path: the next session's page is
 * the very target the last session used, also when the navigation moves to a new frame host.
 */
describe('the reset keeps the page', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      // COOP makes Chrome put the page in a new browsing instance, and leaving it swaps again.
      '/coop': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html', 'Cross-Origin-Opener-Policy': 'same-origin' }).end('<title>coop</title>');
      },
    });
  });
  afterAll(() => server.close());

  /** One session that loads `path`; resolves with its browser pid and the id of its page target. */
  async function sessionOn(m: SessionManager, path: string): Promise<{ pid: number; page: string }> {
    const s = await m.create();
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const cdp = await browser.target().createCDPSession();
    const { targetInfos } = await cdp.send('Target.getTargets');
    const pages = targetInfos.filter((t) => t.type === 'page');
    expect(pages).toHaveLength(1);
    await (await browser.pages())[0]!.goto(`${server.origin}${path}`);
    const reset = nextEvent<[BrowserResetEvent]>(m, 'browserReset', (e) => e.pid === s.browserPid);
    await browser.disconnect();
    await reset;
    return { pid: s.browserPid!, page: pages[0]!.targetId };
  }

  it.each([
    ['a plain page', '/title/plain', {}],
    ['a COOP page (new browsing instance both ways)', '/coop', {}],
    ['a plain page with RenderDocument enabled again', '/title/plain', { args: ['--enable-features=RenderDocument'] }],
  ] as const)('after %s, the next session gets the same page target', async (_what, path, opts) => {
    const m = manager(opts);
    const first = await sessionOn(m, path);
    const second = await sessionOn(m, path);
    expect(second.pid).toBe(first.pid);
    expect(second.page, 'the kept page, not a replacement').toBe(first.page);
  });
});
