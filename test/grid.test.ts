/**
 * Sessions on a real Selenium Grid 4 on loopback: a hub and two nodes (127.0.0.2, 127.0.0.3), one
 * Chrome slot each, Grid's `--session-timeout` at 10 s (so the heartbeat has something to prove).
 * Each test ends with the Grid empty: every Grid session our managers made is gone from `/status`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CreateAbortedError, SessionManager, seleniumGrid, type SessionInfo, type SessionManagerOptions, type SeleniumGridOptions } from '../lib/index.js';
import { REQUEST_TAG } from '../lib/providers/grid.js';
import { deleteTagged } from '../lib/providers/grid-session.js';
import { CHROMIUM, startGrid, type GridCluster } from './grid-cluster.js';
import { SPEC, fakeDispatcher, flush } from './fakes.js';
import { groupMembers, nextEvent, startServer, waitUntil, type TestServer } from './helpers.js';

const SESSION_TIMEOUT_S = 10;
let grid: GridCluster;
let server: TestServer;

beforeAll(async () => {
  [grid, server] = await Promise.all([startGrid({ sessionTimeoutS: SESSION_TIMEOUT_S }), startServer()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([grid?.stop(), server?.close()]);
}, 30_000);

const managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await waitFor(async () => (await grid.sessions()).length === 0, 20_000, 'the Grid to be empty after close()');
  expect(await grid.queue()).toEqual([]);
}, 40_000);

function manager(opts: SessionManagerOptions = {}, grid_: Partial<SeleniumGridOptions> = {}): SessionManager {
  const provider = seleniumGrid({ url: grid.url, capabilities: { 'goog:chromeOptions': { binary: CHROMIUM } }, heartbeatIntervalMs: 2_000, ...grid_ });
  const m = new SessionManager({
    provider,
    // The nodes run as this user; Chrome refuses its sandbox as root.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    handleSignals: false,
    clientPingTimeoutMs: 0,
    maxConcurrent: 3,
    launchTimeoutMs: 60_000,
    ...opts,
  });
  managers.push(m);
  return m;
}

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function nodeOf(s: SessionInfo): Promise<string | undefined> {
  return (await grid.sessions()).find((g) => g.sessionId === s.gridSessionId)?.node;
}

/** Waits until the Grid no longer lists the Grid session that served `s`. */
async function goneFromGrid(gridSessionId: string | undefined): Promise<void> {
  expect(gridSessionId).toBeTruthy();
  await waitFor(async () => !(await grid.sessions()).some((g) => g.sessionId === gridSessionId), 15_000, `Grid session ${gridSessionId} to end`);
}

describe('the dispatcher with abandonLaunches (fakes: what the Grid provider asks of the pool)', () => {
  it('a launch whose only create gave up is aborted, not kept as a spare', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 2, abandonLaunches: true });
    const ac = new AbortController();
    const create = d.acquire(SPEC, { signal: ac.signal });
    await flush();
    expect(factory.launches[0]!.signal.aborted).toBe(false);
    ac.abort();
    await expect(create).rejects.toBeInstanceOf(CreateAbortedError);
    expect(factory.launches[0]!.signal.aborted).toBe(true);
    // Without the option the launch goes on and becomes a warm spare (local Chrome).
    const local = fakeDispatcher({ maxConcurrent: 2 });
    const ac2 = new AbortController();
    const create2 = local.d.acquire(SPEC, { signal: ac2.signal });
    await flush();
    ac2.abort();
    await expect(create2).rejects.toBeInstanceOf(CreateAbortedError);
    expect(local.factory.launches[0]!.signal.aborted).toBe(false);
  });

  it('a create waiting on a launch takes a browser that becomes free first, and the launch is abandoned', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 2, abandonLaunches: true });
    const first = d.acquire(SPEC);
    const b1 = factory.launches[0]!.succeed();
    const lease = await first;
    const second = d.acquire(SPEC);
    await flush();
    expect(factory.launches).toHaveLength(2); // waiting in "Grid's queue"
    d.release(lease); // reset, then idle
    await flush();
    expect((await second).browser).toBe(b1);
    expect(factory.launches[1]!.signal.aborted).toBe(true);
    // A create arriving while the abandoned launch winds down is not handed to it (it would get
    // its abort error): it waits for room, then launches.
    const third = d.acquire(SPEC);
    await flush();
    factory.launches[1]!.result.reject(factory.launches[1]!.signal.reason);
    await flush();
    expect(factory.launches).toHaveLength(3);
    const b3 = factory.launches[2]!.succeed();
    expect((await third).browser).toBe(b3);
  });
});

describe('seleniumGrid() options and create parameters', () => {
  it('names a bad option', () => {
    const bad: [Partial<SeleniumGridOptions> & Record<string, unknown>, string][] = [
      [{ url: 'ftp://grid:4444' }, 'seleniumGrid.url'],
      [{ url: 'not a url' }, 'seleniumGrid.url'],
      [{ url: 'http://grid:4444', capabilities: [] as unknown as Record<string, unknown> }, 'seleniumGrid.capabilities'],
      [{ url: 'http://grid:4444', capabilities: { 'goog:chromeOptions': { args: [1] } } }, "seleniumGrid.capabilities['goog:chromeOptions'].args"],
      [{ url: 'http://grid:4444', heartbeatIntervalMs: -1 }, 'seleniumGrid.heartbeatIntervalMs'],
      [{ url: 'http://grid:4444', colour: 'red' }, 'seleniumGrid.colour'],
    ];
    for (const [opts, name] of bad) {
      expect(() => seleniumGrid(opts as SeleniumGridOptions), name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: name }));
    }
    expect(() => new SessionManager({ provider: {} as never })).toThrow(expect.objectContaining({ option: 'provider' }));
  });

  it("defaults to 'browser' isolation and no spares; refuses what a node cannot do", async () => {
    const m = new SessionManager({ provider: seleniumGrid({ url: 'http://127.0.0.1:9' }), handleSignals: false });
    managers.push(m);
    expect(m.chrome.headless).toBe('new');
    await expect(m.create({ proxy: { server: 'http://proxy:8080', username: 'u', password: 'p' }, isolation: 'browser' })).rejects.toMatchObject({ option: 'create.proxy' });
    await expect(m.create({ browserURL: true })).rejects.toMatchObject({ option: 'create.browserURL' });
    // A profile is a folder on this machine, which a node cannot open.
    const profilesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grid-profiles-'));
    try {
      const withProfiles = new SessionManager({ provider: seleniumGrid({ url: 'http://127.0.0.1:9' }), profilesDir, handleSignals: false });
      managers.push(withProfiles);
      const { id } = await withProfiles.profiles.create();
      await expect(withProfiles.create({ profile: { id } })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.profile' });
    } finally {
      fs.rmSync(profilesDir, { recursive: true, force: true });
    }
    expect(m.stats()).toMatchObject({ idle: 0, launching: 0 });
    const reset = new SessionManager({ provider: seleniumGrid({ url: 'http://127.0.0.1:9' }), reuse: true, handleSignals: false });
    managers.push(reset);
    await expect(reset.create({ proxy: { server: 'http://proxy:8080' } })).rejects.toMatchObject({ option: 'create.proxy' });
  });
});

describe('sessions on Selenium Grid', () => {
  it('two sessions land on different nodes, each a Grid session on /status', async () => {
    const m = manager();
    const [a, b] = await Promise.all([m.create(), m.create()]);
    expect(a.isolation).toBe('browser');
    const nodes = [await nodeOf(a), await nodeOf(b)];
    expect(nodes.every((n) => grid.nodes.includes(n!))).toBe(true);
    expect(new Set(nodes).size).toBe(2);
    expect(a.wsEndpoint).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/devtools\/browser\//);
    // The node's Chrome is not this machine's: no local download folder, no /proc figures.
    const info = m.get(a.id);
    expect(info.downloadsPath).toBeUndefined();
    expect(info.usage).toMatchObject({ pagesOpened: expect.any(Number), durationMs: expect.any(Number) });
    expect(info.usage?.peakRssBytes).toBeUndefined();
    expect(info.usage?.cpuMs).toBeUndefined();
  });

  it('puppeteer-core and playwright-core work through wsEndpoint; the first tab is about:blank', async () => {
    const m = manager();
    const [a, b] = await Promise.all([m.create(), m.create()]);
    const pb = await puppeteer.connect({ browserWSEndpoint: a.wsEndpoint, defaultViewport: null });
    const [page] = await pb.pages();
    expect(page!.url()).toBe('about:blank');
    await page!.goto(`${server.origin}/title/via-grid`);
    expect(await page!.title()).toBe('via-grid');
    const pw = await chromium.connectOverCDP(b.wsEndpoint);
    const pwPage = pw.contexts()[0]!.pages()[0]!;
    expect(pwPage.url()).toBe('about:blank');
    await pwPage.goto(`${server.origin}/title/playwright-grid`);
    expect(await pwPage.title()).toBe('playwright-grid');
    await Promise.all([pb.disconnect(), pw.close()]);
  });

  it('a third create is pending while Grid queues it, and becomes active on the node a stop frees', async () => {
    const m = manager();
    const [a] = await Promise.all([m.create(), m.create()]);
    const nodeA = await nodeOf(a);
    let settled = false;
    const third = m.create().finally(() => (settled = true));
    await waitFor(async () => (await grid.queue()).length === 1, 10_000, "the third request in Grid's queue");
    expect(m.list({ status: 'pending' }).totalCount).toBe(1);
    expect(m.stats()).toMatchObject({ active: 2, pending: 1 });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(settled).toBe(false);
    await m.stop(a.id);
    await goneFromGrid(a.gridSessionId);
    const c = await third;
    expect(c.status).toBe('active');
    expect(await nodeOf(c)).toBe(nodeA);
  });

  it("maxConcurrent and maxQueue apply before Grid's queue: a create beyond them never reaches the Grid", async () => {
    const m = manager({ maxConcurrent: 1, maxQueue: 1 });
    const a = await m.create();
    const queued = m.create();
    await expect(m.create()).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' });
    expect(m.stats()).toMatchObject({ active: 1, pending: 1 });
    // The queued create waits for our slot, not in Grid's queue (a node is free).
    await new Promise((r) => setTimeout(r, 500));
    expect(await grid.queue()).toEqual([]);
    await m.stop(a.id);
    expect((await queued).status).toBe('active');
  });

  it("a cancelled pending create leaves nothing in Grid's queue nor a session behind", async () => {
    const m = manager();
    await Promise.all([m.create(), m.create()]);
    const ac = new AbortController();
    const third = m.create({ signal: ac.signal });
    await waitFor(async () => (await grid.queue()).some((q) => typeof q[REQUEST_TAG] === 'string'), 10_000, "the request in Grid's queue");
    ac.abort();
    await expect(third).rejects.toBeInstanceOf(CreateAbortedError);
    await waitFor(async () => (await grid.queue()).length === 0, 10_000, "Grid's queue to drop the request");
    // Slots free up: a request still alive somewhere would now become a session.
    await m.releaseAll();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await grid.sessions()).toEqual([]);
  });

  it('a session made for a request whose client went away is found by its tag and deleted', async () => {
    // What the hub may do when the request was already on a node as the create was cancelled.
    const tag = `orphan-${Date.now()}`;
    const res = await fetch(`${grid.url}/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ capabilities: { alwaysMatch: { browserName: 'chrome', [REQUEST_TAG]: tag, 'goog:chromeOptions': { binary: CHROMIUM, args: ['--headless=new', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])] } } } }),
    });
    const orphan = ((await res.json()) as { value: { sessionId: string } }).value.sessionId;
    expect((await grid.sessions()).find((g) => g.sessionId === orphan)?.capabilities[REQUEST_TAG]).toBe(tag);
    await deleteTagged({ base: grid.url, headers: {}, wsAuth: '', heartbeatIntervalMs: 0, requestTimeoutMs: 5_000 }, tag);
    await goneFromGrid(orphan);
  });

  it('each lifecycle rule ends its Grid session: disconnect, keepAlive then timeout, timeout, extend, Browser.close, stop, releaseAll', async () => {
    const m = manager();
    const closed = (s: SessionInfo) => nextEvent<[SessionInfo]>(m, 'sessionClosed', (x) => x.id === s.id, 20_000).then(([x]) => x);

    const disc = await m.create();
    const whenDisc = closed(disc);
    await (await puppeteer.connect({ browserWSEndpoint: disc.wsEndpoint })).disconnect();
    expect((await whenDisc).stopReason).toBe('client_disconnected');
    await goneFromGrid(disc.gridSessionId);

    const kept = await m.create({ keepAlive: true, timeoutMs: 3_000 });
    const whenKept = closed(kept);
    await (await puppeteer.connect({ browserWSEndpoint: kept.wsEndpoint })).disconnect();
    await new Promise((r) => setTimeout(r, 500));
    expect(m.get(kept.id).status).toBe('active');
    expect((await grid.sessions()).some((g) => g.sessionId === kept.gridSessionId)).toBe(true);
    expect((await whenKept).stopReason).toBe('timeout');
    await goneFromGrid(kept.gridSessionId);

    const [short, extended] = await Promise.all([m.create({ timeoutMs: 1_500 }), m.create({ timeoutMs: 1_500 })]);
    m.extend(extended.id, 3_000);
    const [s1, s2] = await Promise.all([closed(short), closed(extended)]);
    expect([s1.stopReason, s2.stopReason]).toEqual(['timeout', 'timeout']);
    expect(Date.parse(s2.closedAt!) - Date.parse(s1.closedAt!)).toBeGreaterThan(2_000);
    await Promise.all([goneFromGrid(short.gridSessionId), goneFromGrid(extended.gridSessionId)]);

    const bc = await m.create();
    const whenBc = closed(bc);
    await (await puppeteer.connect({ browserWSEndpoint: bc.wsEndpoint })).close();
    expect((await whenBc).stopReason).toBe('browser_closed');
    await goneFromGrid(bc.gridSessionId);

    const st = await m.create();
    await st.stop();
    expect(m.get(st.id).stopReason).toBe('stopped');
    await goneFromGrid(st.gridSessionId);

    const [r1, r2] = await Promise.all([m.create(), m.create()]);
    expect(await m.releaseAll()).toBe(2);
    await Promise.all([goneFromGrid(r1.gridSessionId), goneFromGrid(r2.gridSessionId)]);
  }, 90_000);

  it('a Chrome SIGKILLed on its node ends the session as crashed, and its Grid session with it', async () => {
    const m = manager();
    const s = await m.create();
    expect(s.browserPid).toBeGreaterThan(0);
    // Only a Chrome of our own cluster: the pid is a member of one of its nodes' process groups.
    expect(grid.groups.some((g) => groupMembers(g).includes(s.browserPid!))).toBe(true);
    const whenClosed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (x) => x.id === s.id, 20_000);
    process.kill(s.browserPid!, 'SIGKILL');
    const [info] = await whenClosed;
    expect(info).toMatchObject({ status: 'error', stopReason: 'crashed' });
    await goneFromGrid(s.gridSessionId);
  });

  it('a node that dies under a session ends it in error (crashed)', async () => {
    // A grid of its own: the shared one keeps both nodes for the other tests.
    const lone = await startGrid({ nodeHosts: ['127.0.0.4'] });
    try {
      const m = manager({}, { url: lone.url });
      const s = await m.create();
      const whenClosed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (x) => x.id === s.id, 30_000);
      process.kill(-lone.groups[1]!, 'SIGKILL'); // the node: Java, chromedriver and Chrome
      const [info] = await whenClosed;
      expect(info).toMatchObject({ status: 'error', stopReason: 'crashed' });
    } finally {
      await lone.stop();
    }
  }, 90_000);

  it('a screenshot of over 5 MB passes through the Grid and the endpoint', async () => {
    const m = manager();
    const s = await m.create();
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    const [page] = await b.pages();
    await page!.setViewport({ width: 2000, height: 2000 });
    // Noise does not compress: a 2000x2000 PNG of it is ~12 MB.
    await page!.setContent('<body style="margin:0"><canvas id=c width=2000 height=2000></canvas><script>const x=c.getContext("2d");const d=x.createImageData(2000,2000);for(let i=0;i<d.data.length;i++)d.data[i]=i%4===3?255:Math.random()*256;x.putImageData(d,0,0)</script>');
    const png = await page!.screenshot({ type: 'png', encoding: 'base64' });
    expect(png.length).toBeGreaterThan(5 * 1024 * 1024);
    await b.disconnect();
  });

  it("reuse with a reset works over se:cdp: the next session gets the same Grid session, clean", async () => {
    const m = manager({ isolation: 'reset', maxConcurrent: 1 });
    const first = await m.create();
    const b1 = await puppeteer.connect({ browserWSEndpoint: first.wsEndpoint, defaultViewport: null });
    const [p1] = await b1.pages();
    await p1!.goto(`${server.origin}/title/one`);
    await p1!.evaluate(() => {
      document.cookie = 'left=behind; max-age=3600';
      localStorage.setItem('left', 'behind');
    });
    await b1.newPage();
    await b1.disconnect();
    await waitUntil(() => m.get(first.id).status === 'closed', 10_000, 'the first session to end');
    const second = await m.create();
    expect(second.gridSessionId).toBe(first.gridSessionId);
    const b2 = await puppeteer.connect({ browserWSEndpoint: second.wsEndpoint, defaultViewport: null });
    const pages = await b2.pages();
    expect(pages.map((p) => p.url())).toEqual(['about:blank']);
    await pages[0]!.goto(`${server.origin}/title/two`);
    expect(await pages[0]!.evaluate(() => [document.cookie, localStorage.getItem('left')])).toEqual(['', null]);
    await b2.disconnect();
    expect(m.stats().resets).toBeGreaterThanOrEqual(1);
  });

  it("'context' isolation and a session's userAgent work over se:cdp, two sessions sharing one Grid session", async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 2 });
    const [a, b] = await Promise.all([m.create({ userAgent: 'grid-agent/1' }), m.create()]);
    expect(a.gridSessionId).toBe(b.gridSessionId);
    const pa = await puppeteer.connect({ browserWSEndpoint: a.wsEndpoint, defaultViewport: null });
    const pb = await puppeteer.connect({ browserWSEndpoint: b.wsEndpoint, defaultViewport: null });
    const [pageA] = await pa.pages();
    const [pageB] = await pb.pages();
    await Promise.all([pageA!.goto(`${server.origin}/title/a`), pageB!.goto(`${server.origin}/title/b`)]);
    expect(await pageA!.evaluate(() => navigator.userAgent)).toBe('grid-agent/1');
    expect(await pageB!.evaluate(() => navigator.userAgent)).not.toBe('grid-agent/1');
    // Each client sees its own context only: one page each.
    expect((await pa.pages()).length).toBe(1);
    await Promise.all([pa.disconnect(), pb.disconnect()]);
    const caps = (await grid.sessions()).find((g) => g.sessionId === a.gridSessionId)!.capabilities;
    expect(caps['browserName']).toBe('chrome');
  });

  it("the heartbeat keeps a CDP-only session past Grid's --session-timeout; without it Grid reaps the session", async () => {
    const withBeat = manager({ maxConcurrent: 1 });
    const without = manager({ maxConcurrent: 1, healthCheckIntervalMs: 0 }, { heartbeatIntervalMs: 0 });
    const [a, b] = await Promise.all([withBeat.create({ keepAlive: true }), without.create({ keepAlive: true })]);
    const client = await puppeteer.connect({ browserWSEndpoint: a.wsEndpoint, defaultViewport: null });
    const [page] = await client.pages();
    // Grid checks for idle sessions every 30 s: 10 s idle plus one full check period, and a margin.
    const deadline = Date.now() + (SESSION_TIMEOUT_S + 30 + 5) * 1000;
    await waitFor(async () => !(await grid.sessions()).some((g) => g.sessionId === b.gridSessionId), deadline - Date.now(), 'Grid to reap the session without heartbeat');
    expect((await grid.sessions()).some((g) => g.sessionId === a.gridSessionId)).toBe(true);
    expect(await page!.evaluate(() => 6 * 7)).toBe(42);
    expect(withBeat.get(a.id).status).toBe('active');
    await client.disconnect();
  }, 70_000);
});
