/**
 * The live view (`session.liveUrl`), in a real browser: a second headless Chrome (a session of a
 * second manager) opens the viewer page, the test reads the session's page from screenshots of
 * the viewer, clicks and types through it, and checks what the session's page received. Viewers
 * are not clients: they neither keep a session alive nor end it. Through Puppeteer and Playwright.
 */
import { chromium } from 'playwright-core';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { startServer, waitUntil, type TestServer } from './helpers.js';
import { connect, pageAttached, poll } from './live-helpers.js';
import { decodePng } from './png.js';

declare const window: { clicks: number; scrollY: number };
declare const document: {
  title: string;
  body: { dataset: Record<string, string | undefined>; style: { background: string } };
  getElementById(id: string): { value: string; textContent: string | null; naturalWidth: number; getBoundingClientRect(): { x: number; y: number; width: number; height: number } } | null;
};

const BLUE: Rgb = [0, 128, 255];
const GREEN: Rgb = [0, 200, 0];
const RED: Rgb = [230, 0, 0];
type Rgb = [number, number, number];
const css = (c: Rgb) => `rgb(${c.join(',')})`;

const APP = `<!doctype html><title>app</title>
<body style="margin:0">
<div id="block" style="position:absolute;left:0;top:0;width:400px;height:300px;background:${css(BLUE)}"></div>
<button id="btn" style="position:absolute;left:450px;top:40px;width:200px;height:80px" onclick="window.clicks++; document.title = 'clicked ' + window.clicks">Click</button>
<input id="inp" style="position:absolute;left:450px;top:200px;width:250px;height:40px">
<div style="height:3000px"></div>
<script>window.clicks = 0</script>`;

let server: TestServer;
let viewerManager: SessionManager;
let viewerBrowser: Browser;
beforeAll(async () => {
  server = await startServer({
    '/app': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(APP),
    '/red': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>red</title><body style="margin:0;background:${css(RED)}">`),
  });
  // The second Chrome, which opens the live view as a user's browser would.
  viewerManager = new SessionManager({ minIdle: 0, handleSignals: false });
  const s = await viewerManager.create({ keepAlive: true });
  viewerBrowser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
}, 60_000);
afterAll(async () => {
  await viewerBrowser?.disconnect();
  await viewerManager?.close();
  await server?.close();
});
const managers: SessionManager[] = [];
const viewers: Page[] = [];
afterEach(async () => {
  await Promise.all(viewers.splice(0).map((p) => p.close().catch(() => {})));
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

function manager(isolation: IsolationMode = 'reset'): SessionManager {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2, isolation });
  managers.push(m);
  return m;
}

/** Opens a live view in the viewer Chrome and waits for its first frame. */
async function openViewer(liveUrl: string): Promise<Page> {
  const page = await viewerBrowser.newPage();
  viewers.push(page);
  // Not the session page's 800x600: the frame is shown scaled, so input must be scaled back.
  await page.setViewport({ width: 1000, height: 700 });
  const res = await page.goto(liveUrl);
  expect(res?.status()).toBe(200);
  await page.waitForFunction(() => (document.getElementById('frame')?.naturalWidth ?? 0) > 0, { timeout: 15_000 });
  return page;
}

/** Where a point of the session's page (CSS px, viewport `vw`x`vh`) shows in the viewer. */
async function inViewer(viewer: Page, x: number, y: number, vw = 800, vh = 600): Promise<{ x: number; y: number }> {
  const r = await viewer.evaluate(() => {
    const b = document.getElementById('frame')!.getBoundingClientRect();
    return { x: b.x, y: b.y, width: b.width, height: b.height };
  });
  return { x: r.x + (x / vw) * r.width, y: r.y + (y / vh) * r.height };
}

/** The colour a screenshot of the viewer shows at a point of the session's page. */
async function colourAt(viewer: Page, x: number, y: number): Promise<Rgb> {
  const p = await inViewer(viewer, x, y);
  const shot = decodePng(await viewer.screenshot({ type: 'png' }));
  return shot.at(p.x, p.y);
}

const near = (a: Rgb, b: Rgb) => a.every((v, i) => Math.abs(v - b[i]!) <= 30);

async function waitForColour(viewer: Page, x: number, y: number, want: Rgb, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen: Rgb = [0, 0, 0];
  while (Date.now() < deadline) {
    seen = await colourAt(viewer, x, y);
    if (near(seen, want)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: the viewer shows ${css(seen)} at (${x}, ${y}), expected about ${css(want)}`);
}

describe.each([
  ['puppeteer', 'reset'],
  ['playwright', 'reset'],
  ['puppeteer', 'context'],
  ['playwright', 'browser'],
] as const)("through %s, '%s' isolation", (kind, isolation) => {
  it('shows the session page live, clicks and types through the viewer, follows the active tab, and says when the session ended', async () => {
    const m = manager(isolation);
    const s = await m.create();
    expect(s.liveUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/live\/[\w-]+\?token=[\w-]+$/);
    expect(new URL(s.liveUrl).searchParams.get('token')).not.toBe(new URL(s.wsEndpoint).searchParams.get('token'));
    const client = await connect(kind, s);
    try {
      await client.page.goto(`${server.origin}/app`);
      const viewer = await openViewer(s.liveUrl);
      await waitForColour(viewer, 200, 150, BLUE, 'the blue block');
      expect(await viewer.evaluate(() => document.getElementById('tab')?.textContent)).toContain('/app');
      expect(await viewer.evaluate(() => document.getElementById('status')?.textContent)).toContain('active');

      // Live: a change made by the client shows in the viewer.
      await client.page.evaluate(() => void ((document.getElementById('block') as unknown as { style: { background: string } }).style.background = 'rgb(0,200,0)'));
      await waitForColour(viewer, 200, 150, GREEN, 'the block turned green');

      // A real click on the viewer's image, at the button's place, reaches the session's page.
      const btn = await inViewer(viewer, 550, 80);
      await viewer.mouse.click(btn.x, btn.y);
      expect(await poll(() => client.page.evaluate(() => window.clicks), (n) => n === 1)).toBe(1);

      // Typing: focus the input through the viewer, then type into the viewer.
      const inp = await inViewer(viewer, 575, 220);
      await viewer.mouse.click(inp.x, inp.y);
      await viewer.keyboard.type('Hello live');
      expect(await poll(() => client.page.evaluate(() => document.getElementById('inp')!.value), (v) => v === 'Hello live')).toBe('Hello live');

      // A new tab becomes the active one; closing it brings the viewer back.
      const second = await client.newPage();
      await second.goto(`${server.origin}/red`);
      await waitForColour(viewer, 200, 150, RED, 'the new red tab');
      await client.page.bringToFront();
      await waitForColour(viewer, 200, 150, GREEN, 'the first tab, brought to the front');
      await second.bringToFront();
      await waitForColour(viewer, 200, 150, RED, 'the red tab, brought to the front again');
      await second.close();
      await waitForColour(viewer, 200, 150, GREEN, 'the first tab, once the red one closed');

      // The wheel scrolls the page.
      const mid = await inViewer(viewer, 200, 150);
      await viewer.mouse.move(mid.x, mid.y);
      await viewer.mouse.wheel({ deltaY: 500 });
      expect(await poll(() => client.page.evaluate(() => window.scrollY), (y) => y > 0)).toBeGreaterThan(0);

      expect(m.get(s.id).clients).toBe(1);
      await m.stop(s.id);
      await viewer.waitForFunction(() => document.body.dataset.state === 'ended', { timeout: 10_000 });
      expect(await viewer.evaluate(() => document.getElementById('message')?.textContent)).toBe('Session ended');
      expect(await viewer.evaluate(() => document.getElementById('status')?.textContent)).toContain('stopped');
    } finally {
      await client.disconnect().catch(() => {});
    }
  });
});

it('refuses a wrong or missing token with 401 and an unknown session with 404, for the page and its websocket', async () => {
  const m = manager();
  const s = await m.create();
  const url = new URL(s.liveUrl);
  expect((await fetch(s.liveUrl)).status).toBe(200);
  expect((await fetch(s.liveUrl)).headers.get('content-type')).toMatch(/^text\/html/);
  const wrong = new URL(url);
  wrong.searchParams.set('token', 'x'.repeat(32));
  expect((await fetch(wrong)).status).toBe(401);
  // The CDP token is not the live view's.
  wrong.searchParams.set('token', new URL(s.wsEndpoint).searchParams.get('token')!);
  expect((await fetch(wrong)).status).toBe(401);
  expect((await fetch(`${url.origin}${url.pathname}`)).status).toBe(401);
  expect((await fetch(`${url.origin}/live/no-such-session${url.search}`)).status).toBe(404);
  const upgrade = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://${url.host}${path}`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('error', reject);
    });
  expect(await upgrade(`${url.pathname}/ws?token=wrong`)).toBe(401);
  expect(await upgrade(`/live/no-such-session/ws${url.search}`)).toBe(404);
  expect(await upgrade(`${url.pathname}/ws${url.search}`)).toBe(101);
  // The viewer of a session that stopped is told so at once.
  await m.stop(s.id);
  const viewer = await openViewerEnded(s.liveUrl);
  expect(await viewer.evaluate(() => document.getElementById('message')?.textContent)).toBe('Session ended');
});

async function openViewerEnded(liveUrl: string): Promise<Page> {
  const page = await viewerBrowser.newPage();
  viewers.push(page);
  await page.goto(liveUrl);
  await page.waitForFunction(() => document.body.dataset.state === 'ended', { timeout: 10_000 });
  return page;
}

/** A raw viewer socket: waits for the first frame, then sends a click at a point of the 800x600 page. */
async function rawClick(liveUrl: string, x: number, y: number): Promise<WebSocket> {
  const url = new URL(liveUrl);
  const ws = new WebSocket(`ws://${url.host}${url.pathname}/ws${url.search}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame within 15 s')), 15_000);
    ws.on('message', (d) => {
      if (JSON.parse(d.toString()).type !== 'frame') return;
      clearTimeout(timer);
      resolve();
    });
    ws.once('error', reject);
  });
  for (const kind of ['down', 'up']) ws.send(JSON.stringify({ type: 'mouse', kind, x: x / 800, y: y / 600, button: 'left', buttons: kind === 'down' ? 1 : 0, clickCount: 1, modifiers: 0 }));
  ws.send(JSON.stringify({ type: 'text', text: 'typed' }));
  return ws;
}

it("'readonly' shows the page and ignores input; an interactive session beside it takes the same messages", async () => {
  const m = manager();
  await expect(m.create({ liveView: 'watch' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.liveView' });
  const ro = await m.create({ liveView: 'readonly' });
  const rw = await m.create();
  const [a, b] = await Promise.all([puppeteer.connect({ browserWSEndpoint: ro.wsEndpoint, defaultViewport: null }), puppeteer.connect({ browserWSEndpoint: rw.wsEndpoint, defaultViewport: null })]);
  try {
    const [pa] = await a.pages();
    const [pb] = await b.pages();
    await Promise.all([pa!.goto(`${server.origin}/app`), pb!.goto(`${server.origin}/app`)]);
    // Focus the inputs so that inserted text has somewhere to go.
    await Promise.all([pa!.focus('#inp'), pb!.focus('#inp')]);
    const viewer = await openViewer(ro.liveUrl);
    await waitForColour(viewer, 200, 150, BLUE, 'the read-only view');
    expect(await viewer.evaluate(() => document.getElementById('mode')?.textContent)).toBe('read-only');
    const btn = await inViewer(viewer, 550, 80);
    await viewer.mouse.click(btn.x, btn.y);
    const sockets = [await rawClick(ro.liveUrl, 550, 80), await rawClick(rw.liveUrl, 550, 80)];
    const seen = () => pb!.evaluate(() => [window.clicks, document.getElementById('inp')!.value]);
    expect(await poll(seen, ([n, v]) => n === 1 && v === 'typed')).toEqual([1, 'typed']);
    await new Promise((r) => setTimeout(r, 500));
    expect(await pa!.evaluate(() => [window.clicks, document.getElementById('inp')!.value])).toEqual([0, '']);
    for (const ws of sockets) ws.close();
  } finally {
    await a.disconnect();
    await b.disconnect();
  }
});

it('a viewer is no client: the screencast runs only while it is open, it neither keeps a session alive nor ends it', async () => {
  const m = manager();
  const events: string[] = [];
  m.on('clientConnected', () => events.push('connected'));
  m.on('clientDisconnected', () => events.push('disconnected'));
  // keepAlive, no client: nothing is attached to its page until a viewer opens.
  const kept = await m.create({ keepAlive: true });
  const pid = m.get(kept.id).browserPid!;
  expect(await pageAttached(pid)).toBe(false);
  const v1 = await openViewer(kept.liveUrl);
  expect(await pageAttached(pid)).toBe(true);
  await v1.close();
  expect(await poll(() => pageAttached(pid), (a) => !a)).toBe(false);
  expect(m.get(kept.id)).toMatchObject({ status: 'active', clients: 0 });
  expect(events).toEqual([]);

  // Not keepAlive: opening and closing a viewer leaves the connected client's session alone...
  const s = await m.create();
  const client = await chromium.connectOverCDP(s.wsEndpoint);
  const v2 = await openViewer(s.liveUrl);
  expect(m.get(s.id)).toMatchObject({ status: 'active', clients: 1 });
  await v2.close();
  await new Promise((r) => setTimeout(r, 300));
  expect(m.get(s.id)).toMatchObject({ status: 'active', clients: 1 });
  // ...and a viewer still open does not keep it alive once its client has gone.
  const v3 = await openViewer(s.liveUrl);
  await client.close();
  await waitUntil(() => m.get(s.id).status === 'closed', 10_000, 'the session to end');
  expect(m.get(s.id).stopReason).toBe('client_disconnected');
  await v3.waitForFunction(() => document.body.dataset.state === 'ended', { timeout: 10_000 });
  expect(events).toEqual(['connected', 'disconnected']);

  // Input through a viewer is no client traffic: the idle rule still applies.
  const idle = await m.create({ keepAlive: true, idleTimeoutMs: 1_500 });
  const ws = await rawClick(idle.liveUrl, 10, 10);
  const moving = setInterval(() => ws.send(JSON.stringify({ type: 'mouse', kind: 'move', x: Math.random(), y: Math.random(), button: 'none', buttons: 0, clickCount: 0, modifiers: 0 })), 100);
  try {
    await waitUntil(() => m.get(idle.id).status === 'closed', 10_000, 'the idle timeout');
  } finally {
    clearInterval(moving);
    ws.close();
  }
  expect(m.get(idle.id).stopReason).toBe('idle');
});

it("'context' isolation: the viewer shows only the session's own pages, not those of a session beside it on the same Chrome", async () => {
  const m = manager('context');
  const s = await m.create();
  const other = await m.create();
  expect(m.get(other.id).browserPid).toBe(m.get(s.id).browserPid);
  const [a, b] = await Promise.all([puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null }), chromium.connectOverCDP(other.wsEndpoint)]);
  try {
    const [pa] = await a.pages();
    await pa!.goto(`${server.origin}/app`);
    const viewer = await openViewer(s.liveUrl);
    await waitForColour(viewer, 200, 150, BLUE, "the session's page");
    const theirs = await b.contexts()[0]!.newPage();
    await theirs.goto(`${server.origin}/red`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(near(await colourAt(viewer, 200, 150), BLUE)).toBe(true);
    // Its own new tab is followed.
    const mine = await a.newPage();
    await mine.goto(`${server.origin}/red`);
    await waitForColour(viewer, 200, 150, RED, "the session's own new tab");
  } finally {
    await a.disconnect();
    await b.close();
  }
});

it('closing the manager closes every viewer', async () => {
  const m = manager();
  const s = await m.create({ keepAlive: true });
  const viewer = await openViewer(s.liveUrl);
  await m.close();
  await viewer.waitForFunction(() => document.body.dataset.state === 'ended', { timeout: 10_000 });
  expect(await viewer.evaluate(() => document.getElementById('status')?.textContent)).toContain('shutdown');
});

it('a viewer of a queued session shows it pending, then its page once it is active', async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 1 });
  managers.push(m);
  const first = await m.create();
  const queued = new Promise<string>((resolve) => m.once('sessionQueued', (info) => resolve(info.liveUrl)));
  const second = m.create();
  const liveUrl = await queued;
  const viewer = await viewerBrowser.newPage();
  viewers.push(viewer);
  await viewer.goto(liveUrl);
  await viewer.waitForFunction(() => document.body.dataset.state === 'pending', { timeout: 10_000 });
  await m.stop(first.id);
  const s = await second;
  expect(s.liveUrl).toBe(liveUrl);
  await viewer.waitForFunction(() => document.body.dataset.state === 'active' && (document.getElementById('frame')?.naturalWidth ?? 0) > 0, { timeout: 15_000 });
});

it('starts on the tab created last and follows a tab activated with Target.activateTarget by a raw CDP client', async () => {
  const m = manager();
  const s = await m.create({ keepAlive: true });
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
  const raw = new WebSocket(s.wsEndpoint);
  await new Promise((resolve, reject) => {
    raw.once('open', resolve);
    raw.once('error', reject);
  });
  try {
    const [first] = await b.pages();
    await first!.goto(`${server.origin}/app`);
    const red = await b.newPage();
    await red.goto(`${server.origin}/red`);
    const viewer = await openViewer(s.liveUrl);
    await waitForColour(viewer, 200, 150, RED, 'the tab opened last');
    const call = (id: number, method: string, params: object) =>
      new Promise<{ result: { targetInfos?: { targetId: string; url: string }[] } }>((resolve) => {
        const on = (d: WebSocket.RawData) => {
          const msg = JSON.parse(d.toString());
          if (msg.id !== id) return;
          raw.off('message', on);
          resolve(msg);
        };
        raw.on('message', on);
        raw.send(JSON.stringify({ id, method, params }));
      });
    const { targetInfos } = (await call(1, 'Target.getTargets', {})).result;
    const app = targetInfos!.find((t) => t.url.endsWith('/app'))!;
    await call(2, 'Target.activateTarget', { targetId: app.targetId });
    await waitForColour(viewer, 200, 150, BLUE, 'the tab activated over CDP');
    // A viewer opened later starts on the tab activated last, not on the one created last.
    await viewer.close();
    const later = await openViewer(s.liveUrl);
    await waitForColour(later, 200, 150, BLUE, 'the activated tab, in a viewer opened after');
  } finally {
    raw.close();
    await b.disconnect();
  }
});
