/**
 * Usage: the figures move the right way (bytes downloaded, pages opened, CPU of a busy page
 * against an idle one in the same run), live while active and final once ended, in
 * sessionClosed and in stats() totals.
 */
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type IsolationMode, type SessionInfo } from '../lib/index.js';
import { CdpConnection } from '../lib/cdp.js';
import { chromeEndpoint, closedAfterEach, nextEvent, startServer, type TestServer } from './helpers.js';

const KB = 1024;
const BIG = 300 * KB;
let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    '/big': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>big</title><!--${'x'.repeat(BIG)}-->`),
  });
});
afterAll(async () => {
  await server.close();
});
const managers = closedAfterEach<SessionManager>();

describe.each(['reset', 'context', 'browser'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('network bytes, pages opened and CPU move the right way; final usage in sessionClosed and stats()', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, maxConcurrent: 2, pageUsage: true });
    managers.push(m);
    const [busy, idle] = await Promise.all([m.create(), m.create()]);
    const b = await puppeteer.connect({ browserWSEndpoint: busy.wsEndpoint });
    const ib = await puppeteer.connect({ browserWSEndpoint: idle.wsEndpoint });
    try {
      const before = m.get(busy.id).usage!;
      expect(before).toMatchObject({ networkBytesReceived: 0, pagesOpened: 0 });
      const [page] = await b.pages();
      await page!.goto(`${server.origin}/big`);
      expect(m.get(busy.id).usage!.networkBytesReceived).toBeGreaterThanOrEqual(BIG);
      for (let i = 0; i < 3; i++) await b.newPage();
      expect(m.get(busy.id).usage!.pagesOpened).toBe(3);
      // The idle session loads a small page and does nothing; the busy one spins for 1.5 s.
      const [ipage] = await ib.pages();
      await ipage!.goto(`${server.origin}/title/idle`);
      await page!.evaluate(() => {
        const t = Date.now();
        while (Date.now() - t < 1500);
      });
      await new Promise((r) => setTimeout(r, 1200)); // a poll of the renderers ('context')
      const live = m.get(busy.id).usage!;
      expect(live.cpuMs).toBeGreaterThan(0);
      expect(live.durationMs).toBeGreaterThan(1500);
      expect(live.peakRssBytes).toBeGreaterThan(10 * 1024 * 1024);
    } finally {
      await b.disconnect();
      await ib.disconnect();
    }
    const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (s) => s.id === busy.id, 20_000);
    await m.stop(busy.id);
    const [payload] = await closed;
    const final = payload.usage!;
    expect(final.cpuMs).toBeGreaterThan(0);
    expect(final.networkBytesReceived).toBeGreaterThanOrEqual(BIG);
    expect(final.pagesOpened).toBe(3);
    expect(m.get(busy.id).usage).toEqual(final);
    await m.stop(idle.id);
    const idleUsage = m.get(idle.id).usage!;
    // Both ran the same wall time in the same run; the busy one burnt at least a second more CPU.
    expect(final.cpuMs).toBeGreaterThan(idleUsage.cpuMs!);
    expect(idleUsage.networkBytesReceived).toBeLessThan(BIG);
    expect(idleUsage.pagesOpened).toBe(0);
    // Final: it no longer moves.
    await new Promise((r) => setTimeout(r, 200));
    expect(m.get(busy.id).usage!.durationMs).toBe(final.durationMs);
    const totals = m.stats().usage;
    expect(totals.sessions).toBe(2);
    expect(totals.networkBytesReceived).toBe(final.networkBytesReceived! + idleUsage.networkBytesReceived!);
    expect(totals.pagesOpened).toBe(3);
    expect(totals.cpuMs).toBe(final.cpuMs! + idleUsage.cpuMs!);
  }, 90_000);
});

describe.each(['reset', 'context'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('without pageUsage: no page is attached for it; the /proc figures only', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation });
    managers.push(m);
    const s = await m.create();
    const chrome = await CdpConnection.connect(chromeEndpoint(s.browserPid!), 10_000);
    try {
      const { targetInfos } = await chrome.send('Target.getTargets', {}, { timeoutMs: 10_000 });
      const pages = targetInfos.filter((t) => t.type === 'page');
      expect(pages.length).toBeGreaterThan(0);
      // No client is connected: a page attached now would be the manager's (a hook).
      expect(pages.filter((t) => t.attached)).toEqual([]);
    } finally {
      chrome.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    await m.stop(s.id);
    const u = m.get(s.id).usage!;
    expect(u.networkBytesReceived).toBeUndefined();
    expect(u.durationMs).toBeGreaterThanOrEqual(300);
    if (isolation === 'reset') expect(u.cpuMs).toBeGreaterThanOrEqual(0);
    else expect(u.cpuMs).toBeUndefined();
    expect(u.peakRssBytes).toBeGreaterThan(0);
  }, 60_000);
});
