/**
 * The three isolation modes on real Chrome: 'context' sessions share a Chrome, each in a context
 * of its own that ends with it; 'browser' sessions get a fresh Chrome each; a crash of a shared
 * Chrome ends every session on it. What each mode isolates is proven in isolation-storage.test.ts,
 * isolation-tabs.test.ts and isolation-leftovers.test.ts.
 */
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { SessionManager, type BrowserRecycledEvent, type SessionInfo, type SessionManagerOptions } from '../lib/index.js';
import { chromeEndpoint, closedAfterEach, groupGone, nextEvent, waitUntil, withDeadline } from './helpers.js';

const managers = closedAfterEach<SessionManager>();

function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, clientPingTimeoutMs: 0, healthCheckIntervalMs: 0, ...opts });
  managers.push(m);
  return m;
}

/** Sends one CDP command over a raw websocket and resolves with its result. */
async function cdp<T>(url: string, method: string, params: Record<string, unknown> = {}): Promise<T> {
  const ws = new WebSocket(url);
  try {
    await withDeadline(new Promise((r, j) => ws.once('open', r).once('error', j)), 5_000, 'open');
    return await withDeadline(
      new Promise<T>((resolve, reject) => {
        ws.on('message', (d) => {
          const msg = JSON.parse(d.toString()) as { id?: number; result?: T; error?: { message: string } };
          if (msg.id !== 1) return;
          if (msg.error) reject(new Error(msg.error.message));
          else resolve(msg.result!);
        });
        ws.send(JSON.stringify({ id: 1, method, params }));
      }),
      5_000,
      method,
    );
  } finally {
    ws.terminate();
  }
}

describe("'context' isolation", () => {
  it('packs concurrent sessions into one Chrome, each with a context of its own and one blank page', async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 3, sessionsPerBrowser: 3 });
    const [a, b, c] = await Promise.all([m.create(), m.create(), m.create()]);
    expect(new Set([a!.browserPid, b!.browserPid, c!.browserPid]).size).toBe(1);
    expect(a).toMatchObject({ isolation: 'context' });
    expect(m.stats()).toMatchObject({ launches: 1, busy: 1, active: 3 });
    const browser = await puppeteer.connect({ browserWSEndpoint: a!.wsEndpoint, defaultViewport: null });
    try {
      const pages = await browser.pages();
      expect(pages).toHaveLength(1);
      expect(pages[0]!.url()).toBe('about:blank');
    } finally {
      await browser.disconnect();
    }
  });

  it("keeps no page outside the sessions' contexts (the launch's blank page is closed) and stays up", async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 2, sessionsPerBrowser: 2 });
    const a = await m.create({ keepAlive: true });
    const chrome = chromeEndpoint(a.browserPid!);
    const pages = async () => (await cdp<{ targetInfos: { type: string; browserContextId?: string }[] }>(chrome, 'Target.getTargets')).targetInfos.filter((t) => t.type === 'page');
    const contexts = async () => (await cdp<{ browserContextIds: string[] }>(chrome, 'Target.getBrowserContexts')).browserContextIds;
    await withDeadline((async () => {
      while ((await pages()).length !== 1) await new Promise((r) => setTimeout(r, 20));
    })(), 5_000, 'the launch page to close');
    expect((await pages())[0]!.browserContextId).toBe((await contexts())[0]);
    // With every session gone, Chrome has no page at all and still serves the next session.
    await m.stop(a.id);
    expect(await pages()).toHaveLength(0);
    const b = await m.create();
    expect(b.browserPid).toBe(a.browserPid);
    expect(await pages()).toHaveLength(1);
  });

  it('a fourth session beyond sessionsPerBrowser gets a second Chrome', async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 4, sessionsPerBrowser: 3 });
    const sessions = await Promise.all([1, 2, 3, 4].map(() => m.create()));
    expect(new Set(sessions.map((s) => s.browserPid)).size).toBe(2);
  });

  it("ends with its context disposed; the Chrome stays for the next session and is not reset", async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 2, sessionsPerBrowser: 2 });
    const keep = await m.create({ keepAlive: true });
    const s = await m.create({ keepAlive: true });
    const chrome = chromeEndpoint(keep.browserPid!);
    const contexts = async () => (await cdp<{ browserContextIds: string[] }>(chrome, 'Target.getBrowserContexts')).browserContextIds;
    const before = await contexts();
    expect(before).toHaveLength(2);
    await m.stop(s.id);
    const after = await contexts();
    expect(after).toHaveLength(1);
    expect(before).toEqual(expect.arrayContaining(after));
    const next = await m.create();
    expect(next.browserPid).toBe(keep.browserPid);
    expect(m.stats().resets).toBe(0);
  });

  it("a session's last page closing ends it (all_pages_closed), not the session beside it", async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 2, sessionsPerBrowser: 2 });
    const [a, b] = await Promise.all([m.create({ keepAlive: true }), m.create({ keepAlive: true })]);
    const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (i) => i.id === a!.id);
    // Through a's scoped endpoint, a sees its own page only.
    const { targetInfos } = await cdp<{ targetInfos: { targetId: string; type: string }[] }>(a!.wsEndpoint, 'Target.getTargets');
    const pages = targetInfos.filter((t) => t.type === 'page');
    expect(pages).toHaveLength(1);
    await cdp(a!.wsEndpoint, 'Target.closeTarget', { targetId: pages[0]!.targetId });
    expect((await closed)[0]).toMatchObject({ stopReason: 'all_pages_closed' });
    expect(m.get(b!.id).status).toBe('active');
  });

  it('a crash of the shared Chrome ends every session on it as crashed, and their clients are told', async () => {
    const m = manager({ isolation: 'context', maxConcurrent: 3, sessionsPerBrowser: 3 });
    const sessions = await Promise.all([1, 2, 3].map(() => m.create()));
    const pid = sessions[0]!.browserPid!;
    const clients = await Promise.all(sessions.slice(0, 2).map((s) => puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null })));
    const told = Promise.all(clients.map((c) => new Promise<void>((r) => c.once('disconnected', () => r()))));
    const ended = Promise.all(sessions.map((s) => nextEvent<[SessionInfo]>(m, 'sessionClosed', (i) => i.id === s.id)));
    process.kill(-pid, 'SIGKILL');
    for (const [info] of await ended) expect(info).toMatchObject({ status: 'error', stopReason: 'crashed' });
    await withDeadline(told, 10_000, 'the clients to be disconnected');
    await waitUntil(() => groupGone(pid), 5_000, 'the group to be gone');
    const next = await m.create();
    expect(next.browserPid).not.toBe(pid);
  });
});

describe("'browser' isolation", () => {
  it('gives every session a fresh Chrome, closed after it (reuse: false is the same)', async () => {
    for (const opts of [{ isolation: 'browser' as const }, { reuse: false }]) {
      const m = manager({ maxConcurrent: 1, ...opts });
      const recycled: BrowserRecycledEvent[] = [];
      m.on('browserRecycled', (e) => recycled.push(e));
      const a = await m.create();
      expect(a.isolation).toBe('browser');
      await m.stop(a.id);
      const b = await m.create();
      expect(b.browserPid).not.toBe(a.browserPid);
      expect(recycled).toEqual([{ pid: a.browserPid, reason: 'no_reuse' }]);
    }
  });

  it("a create can ask for another mode than the manager's", async () => {
    const m = manager({ maxConcurrent: 2 });
    const shared = await m.create();
    await m.stop(shared.id);
    const fresh = await m.create({ isolation: 'browser' });
    expect(fresh.browserPid).not.toBe(shared.browserPid);
    const reused = await m.create();
    expect(reused.browserPid).toBe(shared.browserPid);
  });
});

describe('isolation options', () => {
  it('are validated', async () => {
    expect(() => new SessionManager({ isolation: 'tab' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'isolation' }));
    expect(() => new SessionManager({ isolation: 'context', reuse: false })).toThrow(expect.objectContaining({ option: 'reuse' }));
    expect(() => new SessionManager({ sessionsPerBrowser: 0 })).toThrow(expect.objectContaining({ option: 'sessionsPerBrowser' }));
    const m = manager();
    await expect(m.create({ isolation: 'none' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.isolation' });
  });
});
