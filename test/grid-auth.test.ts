/**
 * A real Selenium Grid whose router asks for Basic credentials (`--username`/`--password`): with
 * them in the Grid URL, sessions are created, used over `se:cdp` through the router's websocket
 * (Puppeteer and Playwright) and deleted; with wrong ones a create fails with a typed error and
 * leaves nothing on the Grid. (Grid asks for the credentials on its HTTP calls, not on the
 * websocket: see the second test.)
 */
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LaunchError, SessionManager, seleniumGrid } from '../lib/index.js';
import { CHROMIUM, startGrid, type GridCluster } from './grid-cluster.js';
import { closedAfterEach, serverForFile, waitUntil } from './helpers.js';

const USER = 'gridder';
const PASS = 's3cret:with@signs';
let grid: GridCluster;
beforeAll(async () => {
  grid = await startGrid({ nodeHosts: ['127.0.0.5'], auth: { username: USER, password: PASS } });
}, 120_000);
afterAll(async () => {
  await grid?.stop();
}, 30_000);

const server = serverForFile({ '/hello': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>through the router</title>') });
const managers = closedAfterEach<SessionManager>();

function manager(user: string, pass: string): SessionManager {
  const url = new URL(grid.url);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(pass);
  const m = new SessionManager({
    provider: seleniumGrid({ url: url.href, capabilities: { 'goog:chromeOptions': { binary: CHROMIUM } } }),
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    handleSignals: false,
    clientPingTimeoutMs: 0,
    maxConcurrent: 1,
    launchTimeoutMs: 60_000,
  });
  managers.push(m);
  return m;
}

/** The hub's `/status` with `auth` (`user:pass`) or none: its HTTP status. */
async function statusCode(auth?: string): Promise<number> {
  const headers: Record<string, string> = auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
  return (await fetch(`${grid.url}/status`, { headers, signal: AbortSignal.timeout(5_000) })).status;
}

/** The HTTP status a websocket upgrade to `url` gets (101 when it opens). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5_000 });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', reject);
  });
}

it('the router refuses calls without its credentials (the control)', async () => {
  expect(await statusCode()).toBe(401);
  expect(await statusCode(`${USER}:${PASS}`)).toBe(200);
});

it("with the credentials in the Grid URL, Puppeteer and Playwright work through se:cdp behind the router's Basic auth", async () => {
  const m = manager(USER, PASS);
  const s = await m.create();
  expect(s.gridSessionId).toBeTruthy();
  // Grid's se:cdp URL is the router's. Grid 4.48 asks for no credentials on that websocket (only
  // on its HTTP calls); the library sends them there anyway, in case a Grid or a proxy in front does.
  const [g] = await grid.sessions();
  const cdpUrl = String(g!.capabilities['se:cdp']);
  expect(new URL(cdpUrl).port).toBe(new URL(grid.url).port);
  expect(await upgradeStatus(cdpUrl)).toBe(101);
  const pb = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
  const [page] = await pb.pages();
  await page!.goto(`${server.origin}/hello`);
  expect(await page!.title()).toBe('through the router');
  await pb.disconnect();
  await waitUntil(() => m.get(s.id).status !== 'active', 10_000, 'the session to end at the disconnect');
  const t = await m.create();
  const pw = await chromium.connectOverCDP(t.wsEndpoint);
  const pwPage = pw.contexts()[0]!.pages()[0]!;
  await pwPage.goto(`${server.origin}/hello`);
  expect(await pwPage.title()).toBe('through the router');
  await pw.close();
  await m.close();
  // The deletes went through the router too: the Grid is empty.
  const deadline = Date.now() + 15_000;
  while ((await grid.sessions()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect(await grid.sessions()).toEqual([]);
});

it('wrong credentials: the create fails with a LaunchError naming the refusal, and the Grid holds nothing', async () => {
  const m = manager(USER, 'wrong');
  const err = await m.create().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LaunchError);
  expect(err).toMatchObject({ code: 'ERR_LAUNCH' });
  expect((err as Error).message).toMatch(/401/);
  expect(await grid.sessions()).toEqual([]);
});
