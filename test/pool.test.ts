import puppeteer from 'puppeteer-core';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionManager, type BrowserRecycledEvent, type BrowserResetEvent, type SessionManagerOptions } from '../lib/index.js';
import { isAlive, nextEvent, waitUntil } from './helpers.js';

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
