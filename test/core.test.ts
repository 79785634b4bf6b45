import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, SessionNotFoundError, ManagerClosedError, type SessionInfo } from '../lib/index.js';
import { isAlive, nextEvent, startServer, waitUntil, type TestServer } from './helpers.js';

let server: TestServer;
let manager: SessionManager;

beforeAll(async () => {
  server = await startServer({
    '/set-cookie': (_req, res) => {
      res.writeHead(200, { 'Set-Cookie': 'who=first; HttpOnly; Path=/', 'Content-Type': 'text/html' }).end('<title>set</title>');
    },
    '/echo-cookie': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<title>${req.headers.cookie ?? 'none'}</title>`);
    },
  });
  manager = new SessionManager({ maxConcurrent: 2, minIdle: 0 });
});

afterAll(async () => {
  await manager?.close();
  await server?.close();
});

/** Opens a raw websocket and resolves with the HTTP status of a refused upgrade, or 101. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

describe('create and connect', () => {
  it('gives a session record and an endpoint that puppeteer-core drives', async () => {
    const session = await manager.create();
    expect(session).toMatchObject({ status: 'active', keepAlive: false, timeoutMs: 300_000 });
    expect(session.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(session.wsEndpoint).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/devtools/browser/${session.id}\\?token=[\\w-]{32}$`));
    expect(Date.parse(session.expiresAt!) - Date.parse(session.startedAt!)).toBe(300_000);

    const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
    const pages = await browser.pages();
    expect(pages).toHaveLength(1);
    expect(pages[0]!.url()).toBe('about:blank');
    await pages[0]!.goto(`${server.origin}/title/from-puppeteer`);
    expect(await pages[0]!.title()).toBe('from-puppeteer');
    expect(manager.get(session.id).clients).toBe(1);
    await session.stop();
    expect(browser.connected).toBe(false);
  });

  it('gives an endpoint that playwright-core connectOverCDP drives, with one context and one page', async () => {
    const session = await manager.create();
    const browser = await chromium.connectOverCDP(session.wsEndpoint);
    expect(browser.contexts()).toHaveLength(1);
    const page = browser.contexts()[0]!.pages()[0]!;
    await page.goto(`${server.origin}/title/from-playwright`);
    expect(await page.title()).toBe('from-playwright');
    await manager.stop(session.id);
    await waitUntil(() => !browser.isConnected(), 5000, 'playwright to see the disconnect');
  });

  it('keeps two concurrent sessions apart: no shared cookies, different browsers', async () => {
    const [a, b] = await Promise.all([manager.create(), manager.create()]);
    expect(a.browserPid).not.toBe(b.browserPid);
    const [ba, bb] = await Promise.all([
      puppeteer.connect({ browserWSEndpoint: a.wsEndpoint }),
      puppeteer.connect({ browserWSEndpoint: b.wsEndpoint }),
    ]);
    const pa = (await ba.pages())[0]!;
    const pb = (await bb.pages())[0]!;
    await pa.goto(`${server.origin}/set-cookie`);
    await pa.evaluate(() => (document.cookie = 'js=1; path=/'));
    await pa.goto(`${server.origin}/echo-cookie`);
    expect(await pa.title()).toBe('who=first; js=1');
    await pb.goto(`${server.origin}/echo-cookie`);
    expect(await pb.title()).toBe('none');
    expect(await pb.evaluate(() => document.cookie)).toBe('');
    await Promise.all([manager.stop(a.id), manager.stop(b.id)]);
  });
});

  it('relays a burst of commands and a large message both ways intact and in order', async () => {
    const session = await manager.create();
    const ws = new WebSocket(session.wsEndpoint, { maxPayload: 64 * 1024 * 1024 });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const replies: { id: number; result?: Record<string, unknown>; error?: unknown }[] = [];
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.id !== undefined) replies.push(msg);
    });
    const until = (n: number) => waitUntil(() => replies.length >= n, 10_000, `${n} replies`);
    // 300 commands written in one tick: Chrome answers browser-level commands in order.
    for (let id = 1; id <= 300; id++) ws.send(JSON.stringify({ id, method: 'Browser.getVersion' }));
    await until(300);
    expect(replies.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(replies.every((r) => typeof r.result?.product === 'string')).toBe(true);
    // A 3 MB command up and a 6 MB result down, through a page session.
    ws.send(JSON.stringify({ id: 301, method: 'Target.getTargets' }));
    await until(301);
    const { targetInfos } = replies.at(-1)!.result as { targetInfos: { targetId: string; type: string }[] };
    ws.send(JSON.stringify({ id: 302, method: 'Target.attachToTarget', params: { targetId: targetInfos.find((t) => t.type === 'page')!.targetId, flatten: true } }));
    await until(302);
    const sessionId = replies.at(-1)!.result!.sessionId as string;
    const big = 'x'.repeat(3_000_000);
    ws.send(JSON.stringify({ id: 303, sessionId, method: 'Runtime.evaluate', params: { expression: `'${big}'.length + ':' + '${big}'.repeat(2)`, returnByValue: true } }));
    await until(303);
    const value = (replies.at(-1)!.result!.result as { value: string }).value;
    expect(value.length).toBe(String(big.length).length + 1 + 2 * big.length);
    expect(value.startsWith(`${big.length}:xxx`)).toBe(true);
    ws.close();
    await manager.stop(session.id);
  });

describe('stop, get and list', () => {
  it('stop is idempotent, release is its alias, and the endpoint refuses the ended session', async () => {
    const session = await manager.create();
    await manager.stop(session.id);
    await manager.stop(session.id);
    await manager.release(session.id);
    const info = manager.get(session.id);
    expect(info).toMatchObject({ status: 'closed', stopReason: 'stopped', clients: 0 });
    expect(Date.parse(info.closedAt!)).toBeGreaterThanOrEqual(Date.parse(info.startedAt!));
    expect(info.browserPid).toBeUndefined();
    expect(await upgradeStatus(session.wsEndpoint)).toBe(404);
  });

  it('refuses a wrong or missing token with 401 and an unknown session with 404', async () => {
    const session = await manager.create();
    const wrong = session.wsEndpoint.replace(/token=.*/, 'token=' + 'x'.repeat(32));
    expect(await upgradeStatus(wrong)).toBe(401);
    expect(await upgradeStatus(session.wsEndpoint.replace(/\?.*/, ''))).toBe(401);
    expect(await upgradeStatus(session.wsEndpoint.replace(session.id, 'no-such-session'))).toBe(404);
    expect(await upgradeStatus(session.wsEndpoint)).toBe(101);
    await manager.stop(session.id);
  });

  it('get returns fresh snapshots and unknown ids throw SessionNotFoundError', async () => {
    const session = await manager.create();
    const before = manager.get(session.id);
    expect(Object.isFrozen(before)).toBe(true);
    await manager.stop(session.id);
    expect(before.status).toBe('active');
    expect(manager.get(session.id).status).toBe('closed');
    expect(() => manager.get('nope')).toThrow(SessionNotFoundError);
    await expect(manager.stop('nope')).rejects.toMatchObject({ code: 'ERR_SESSION_NOT_FOUND', sessionId: 'nope' });
    expect(() => manager.extend('nope', 1000)).toThrow(SessionNotFoundError);
  });

  it('lists newest first, filters by status and pages', async () => {
    const m = new SessionManager({ maxConcurrent: 3, minIdle: 0 });
    try {
      const created: SessionInfo[] = [];
      for (let i = 0; i < 3; i++) created.push(await m.create());
      await m.stop(created[0]!.id);
      const all = m.list();
      expect(all.totalCount).toBe(3);
      expect(all.sessions.map((s) => s.id)).toEqual([created[2]!.id, created[1]!.id, created[0]!.id]);
      expect(m.list({ status: 'active' }).sessions.map((s) => s.id)).toEqual([created[2]!.id, created[1]!.id]);
      expect(m.list({ status: 'closed' }).sessions.map((s) => s.id)).toEqual([created[0]!.id]);
      const page2 = m.list({ perPage: 2, page: 2 });
      expect(page2).toMatchObject({ totalCount: 3, page: 2, perPage: 2 });
      expect(page2.sessions.map((s) => s.id)).toEqual([created[0]!.id]);
      expect(m.list({ status: 'error' })).toMatchObject({ totalCount: 0, sessions: [] });
      expect(await m.releaseAll()).toBe(2);
      expect(m.list({ status: 'active' }).totalCount).toBe(0);
      expect(m.list({ status: 'closed' }).totalCount).toBe(3);
    } finally {
      await m.close();
    }
  });

  it('forgets the oldest ended sessions beyond historyLimit', async () => {
    const m = new SessionManager({ maxConcurrent: 1, minIdle: 0, historyLimit: 2 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const s = await m.create();
        ids.push(s.id);
        await s.stop();
      }
      expect(m.list().sessions.map((s) => s.id)).toEqual([ids[2], ids[1]]);
      expect(() => m.get(ids[0]!)).toThrow(SessionNotFoundError);
    } finally {
      await m.close();
    }
  });
});

describe('maxConcurrent', () => {
  it('makes a further create wait until a session ends', async () => {
    const m = new SessionManager({ maxConcurrent: 1, minIdle: 0 });
    try {
      const first = await m.create();
      let second: SessionInfo | undefined;
      const pending = m.create().then((s) => (second = s));
      await nextEvent(m, 'sessionQueued');
      expect(second).toBeUndefined();
      expect(m.list({ status: 'pending' }).totalCount).toBe(1);
      await m.stop(first.id);
      await pending;
      expect(second!.status).toBe('active');
    } finally {
      await m.close();
    }
  });
});

describe('events', () => {
  it('arrive in order with their payloads, and a throwing listener breaks nothing', async () => {
    const m = new SessionManager({ maxConcurrent: 1, minIdle: 0 });
    const seen: string[] = [];
    const payloads: Record<string, unknown> = {};
    for (const name of ['browserLaunched', 'sessionCreated', 'clientConnected', 'clientDisconnected', 'sessionClosed', 'browserExited'] as const) {
      m.on(name, (arg: unknown) => {
        seen.push(name);
        payloads[name] = arg;
      });
    }
    const listenerErrors: unknown[] = [];
    m.on('sessionCreated', () => {
      throw new Error('listener bug');
    });
    m.on('listenerError', (e) => listenerErrors.push(e.error));
    try {
      const s = await m.create();
      const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
      await browser.disconnect();
      await nextEvent(m, 'sessionClosed');
      expect(seen).toEqual(['browserLaunched', 'sessionCreated', 'clientConnected', 'clientDisconnected', 'sessionClosed']);
      expect(payloads.browserLaunched).toMatchObject({ pid: s.browserPid, headless: m.chrome.headless });
      expect(payloads.sessionCreated).toMatchObject({ id: s.id, status: 'active' });
      expect(payloads.clientConnected).toMatchObject({ sessionId: s.id, clients: 1, keepAlive: false });
      expect(payloads.clientDisconnected).toMatchObject({ sessionId: s.id, clients: 0, reason: 'client_closed', willStop: true });
      expect(payloads.sessionClosed).toMatchObject({ id: s.id, status: 'closed', stopReason: 'client_disconnected' });
      expect(listenerErrors).toHaveLength(1);
      expect((listenerErrors[0] as Error).message).toBe('listener bug');
      expect(m.get(s.id).status).toBe('closed');
    } finally {
      await m.close();
    }
    expect(seen.at(-1)).toBe('browserExited');
    expect(payloads.browserExited).toMatchObject({ expected: true });
  });
});

describe('close', () => {
  it('leaves no Chrome process and no profile dir, and later calls reject with ManagerClosedError', async () => {
    const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-core-'));
    const m = new SessionManager({ maxConcurrent: 2, minIdle: 1, runtimeDir });
    const pids: number[] = [];
    m.on('browserLaunched', (e) => pids.push(e.pid));
    try {
      const sessions = await Promise.all([m.create(), m.create()]);
      await waitUntil(() => pids.length === 3, 10_000, 'the spare browser (minIdle: 1)');
      expect(fs.readdirSync(runtimeDir)).toHaveLength(1);
      const closed = nextEvent(m, 'sessionClosed', (s: SessionInfo) => s.id === sessions[1]!.id);
      await m.close();
      await m.close();
      expect((await closed)[0]).toMatchObject({ stopReason: 'shutdown' });
      for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
      expect(fs.readdirSync(runtimeDir)).toEqual([]);
      await expect(m.create()).rejects.toBeInstanceOf(ManagerClosedError);
      await expect(m.warmUp()).rejects.toMatchObject({ code: 'ERR_MANAGER_CLOSED' });
    } finally {
      await m.close();
      fs.rmSync(runtimeDir, { recursive: true, force: true });
    }
  });

  it('supports await using on the manager and on a session', async () => {
    let pid = 0;
    let id = '';
    let m2: SessionManager | undefined;
    {
      await using m = new SessionManager({ maxConcurrent: 1, minIdle: 0 });
      m2 = m;
      {
        await using s = await m.create();
        id = s.id;
        pid = s.browserPid!;
      }
      expect(m.get(id).status).toBe('closed');
    }
    expect(m2.closed).toBe(true);
    expect(isAlive(pid)).toBe(false);
  });
});
