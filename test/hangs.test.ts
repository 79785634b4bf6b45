/**
 * Waits that used to hang, on real Chrome: a create waiting for a browser that dies while it is
 * reset, clients connecting while their Chrome is killed or frozen, aborts at every stage, a
 * close() during the first start, a failed first start, a lost manager connection, a failed
 * attach. Every wait here has a deadline, so a regression fails instead of hanging the suite.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PooledBrowser } from '../lib/browser.js';
import { launchChrome } from '../lib/chrome/launch.js';
import { RunDir } from '../lib/chrome/runtime.js';
import {
  CreateAbortedError,
  LaunchError,
  RuntimeDirError,
  SessionManager,
  findChrome,
  type BrowserRecycledEvent,
  type SessionInfo,
  type SessionManagerOptions,
  type WatchdogRestartEvent,
} from '../lib/index.js';
import { groupGone, nextEvent, runDirs, startServer, waitUntil, watchdogPids, withDeadline, type TestServer } from './helpers.js';

let tmp: string;
let server: TestServer;
const managers: SessionManager[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-hangs-'));
  server = await startServer();
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ runtimeDir: path.join(tmp, 'rt'), minIdle: 0, handleSignals: false, clientPingTimeoutMs: 0, healthCheckIntervalMs: 0, ...opts });
  managers.push(m);
  return m;
}

/** SIGCONT then SIGKILL of a group this test froze or meant to kill, if anything of it is left. */
function killIfLeft(pid: number): void {
  if (groupGone(pid)) return;
  for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
    try {
      process.kill(-pid, sig);
    } catch {
      // gone
    }
  }
}

/** How a promise settled, within `ms` (a rejection of the deadline means it hung). */
function settled<T>(p: Promise<T>, ms: number, what: string): Promise<'fulfilled' | 'rejected'> {
  return withDeadline(p.then(() => 'fulfilled' as const, () => 'rejected' as const), ms, what);
}

/** Resolves once a connected Puppeteer client has been disconnected (bounded). */
function disconnected(b: Browser): Promise<void> {
  if (!b.connected) return Promise.resolve();
  return withDeadline(new Promise<void>((r) => b.once('disconnected', () => r())), 15_000, "the client's 'disconnected'");
}

describe('a browser killed while it is being reset, with a create waiting for it', () => {
  it('wakes the create, which gets a new browser', async () => {
    const m = manager({ maxConcurrent: 1, resetTimeoutMs: 20_000 });
    const recycled: BrowserRecycledEvent[] = [];
    m.on('browserRecycled', (e) => recycled.push(e));
    const s = await m.create();
    const pid = s.browserPid!;
    try {
      const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      const [page] = await b.pages();
      await page!.goto(`${server.origin}/title/busy`);
      // The kept page loops forever: the reset needs over a second to replace it.
      await page!.evaluate(() => void setTimeout(() => { for (;;) {} }, 20));
      await b.disconnect();
      await waitUntil(() => m.stats().resetting === 1, 10_000, 'the reset to start');

      const waiting = m.create();
      await waitUntil(() => m.stats().pending === 1, 5_000, 'the create to wait');
      // It waits for the reset (a launch costs more) rather than launching.
      expect(m.stats()).toMatchObject({ launching: 0, resetting: 1 });
      process.kill(-pid, 'SIGKILL');

      const next = await withDeadline(waiting, 20_000, 'the waiting create');
      expect(next.status).toBe('active');
      expect(next.browserPid).not.toBe(pid);
      expect(recycled).toContainEqual({ pid, reason: 'crashed' });
    } finally {
      killIfLeft(pid);
    }
  });
});

describe('a client connecting while its Chrome dies or freezes', () => {
  // Each delay hits another moment of the client's connect: before the upgrade, during the dial
  // to Chrome, during Puppeteer's target discovery.
  const delays = [0, 2, 5, 10, 20, 40];

  it.each(delays)('SIGKILL %i ms into puppeteer.connect: connect settles, the session ends crashed', async (delay) => {
    const m = manager();
    const s = await m.create();
    const pid = s.browserPid!;
    try {
      const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (i) => i.id === s.id, 15_000);
      const connecting = puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      setTimeout(() => process.kill(-pid, 'SIGKILL'), delay);
      // Connected before the signal landed: then the client must be told when the session ends.
      if ((await settled(connecting, 15_000, 'puppeteer.connect')) === 'fulfilled') await disconnected(await connecting);
      expect((await closed)[0]).toMatchObject({ status: 'error', stopReason: 'crashed' });
    } finally {
      killIfLeft(pid);
    }
  });

  it.each(delays)('SIGSTOP %i ms into puppeteer.connect: connect settles, the session ends unresponsive', async (delay) => {
    const m = manager({ healthCheckIntervalMs: 200 });
    const s = await m.create();
    const pid = s.browserPid!;
    try {
      const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (i) => i.id === s.id, 15_000);
      const connecting = puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      setTimeout(() => process.kill(-pid, 'SIGSTOP'), delay);
      // Connected before the signal landed: then the client must be told when the session ends.
      if ((await settled(connecting, 15_000, 'puppeteer.connect')) === 'fulfilled') await disconnected(await connecting);
      expect((await closed)[0]).toMatchObject({ status: 'error', stopReason: 'unresponsive' });
      await waitUntil(() => groupGone(pid), 10_000, 'the frozen browser to be killed');
    } finally {
      killIfLeft(pid);
    }
  });

  it("SIGKILL during Playwright's connectOverCDP: it settles too", async () => {
    const m = manager();
    for (const delay of [0, 5, 20]) {
      const s = await m.create();
      const pid = s.browserPid!;
      try {
        const connecting = chromium.connectOverCDP(s.wsEndpoint, { timeout: 15_000 });
        setTimeout(() => process.kill(-pid, 'SIGKILL'), delay);
        if ((await settled(connecting, 15_000, 'connectOverCDP')) === 'fulfilled') await (await connecting).close();
      } finally {
        killIfLeft(pid);
      }
    }
  });

  it('the endpoint ends a client as Chrome would: targetDestroyed for its attached targets, then the close', async () => {
    const m = manager();
    const s = await m.create();
    const ws = new WebSocket(s.wsEndpoint);
    const messages: { method?: string; params?: { targetId?: string; targetInfo?: { targetId: string } } }[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    await withDeadline(new Promise((r) => ws.once('open', r)), 5_000, 'open');
    ws.send(JSON.stringify({ id: 1, method: 'Target.setAutoAttach', params: { autoAttach: true, waitForDebuggerOnStart: false, flatten: true } }));
    await waitUntil(() => messages.some((x) => x.method === 'Target.attachedToTarget'), 5_000, 'an attached target');
    const targetId = messages.find((x) => x.method === 'Target.attachedToTarget')!.params!.targetInfo!.targetId;
    const closedWith = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await m.stop(s.id);
    expect(await withDeadline(closedWith, 5_000, 'the close')).toBe(1001);
    expect(messages.at(-1)).toEqual({ method: 'Target.targetDestroyed', params: { targetId } });
  });
});

describe('aborts at every stage, on real Chrome', () => {
  it('an abort right after create() is called, before the manager has started, launches nothing', async () => {
    const m = manager();
    const launched: number[] = [];
    m.on('browserLaunched', (e) => launched.push(e.pid));
    const ac = new AbortController();
    const create = m.create({ signal: ac.signal });
    ac.abort('changed my mind');
    const err = await create.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CreateAbortedError);
    expect(err).toMatchObject({ code: 'ERR_CREATE_ABORTED', cause: 'changed my mind' });
    await m.close();
    expect(launched).toEqual([]);
    expect(m.list().sessions[0]).toMatchObject({ status: 'closed', stopReason: 'cancelled' });
  });

  it('an abort while its browser launches rejects at once; the browser serves the next create', async () => {
    const m = manager();
    const ac = new AbortController();
    const create = m.create({ signal: ac.signal });
    await waitUntil(() => m.stats().launching === 1, 5_000, 'the launch to start');
    ac.abort();
    await expect(withDeadline(create, 2_000, 'the aborted create')).rejects.toBeInstanceOf(CreateAbortedError);
    await waitUntil(() => m.stats().idle === 1, 20_000, 'the launch to become a spare');
    const s = await m.create();
    expect(m.stats().launches).toBe(1);
    expect(s.status).toBe('active');
  });
});

describe('starting and closing', () => {
  it('close() during the first start leaves no signal handlers behind', async () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    const m = manager({ handleSignals: true });
    const create = settled(m.create(), 5_000, 'the create');
    await m.close();
    expect(await create).toBe('rejected');
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before);
  });

  it('a failed first start is not cached: once the cause is gone, the next create works', async () => {
    const target = fs.mkdtempSync(path.join(tmp, 'real-'));
    const link = path.join(tmp, 'link');
    fs.symlinkSync(target, link);
    const m = manager({ runtimeDir: link });
    await expect(m.create()).rejects.toBeInstanceOf(RuntimeDirError);
    fs.rmSync(link);
    fs.mkdirSync(link, { mode: 0o700 });
    const s = await withDeadline(m.create(), 20_000, 'a create after the cause is gone');
    expect(s.status).toBe('active');
  });

  it('a watchdog that dies is replaced, and the manager says so', async () => {
    const runtimeDir = path.join(tmp, 'wd');
    const m = manager({ runtimeDir });
    await m.create();
    const [run] = runDirs(runtimeDir);
    const [old] = watchdogPids(run!);
    const restarted = nextEvent<[WatchdogRestartEvent]>(m, 'watchdogRestarted');
    process.kill(old!, 'SIGKILL');
    const [e] = await restarted;
    expect(e).toMatchObject({ previousPid: old, gaveUp: false, signal: 'SIGKILL' });
    expect(watchdogPids(run!)).toEqual([e.pid]);
  });
});

describe('the manager loses its own connection to a running Chrome', () => {
  it('kills that browser, so whatever it serves ends instead of going unwatched', async () => {
    const run = new RunDir(path.join(tmp, 'lost'));
    const { executablePath, headless } = findChrome({ headless: 'shell' });
    const proc = await launchChrome({ executablePath, headless, args: [], env: {} }, run, { timeoutMs: 20_000 });
    try {
      const b = await PooledBrowser.attach(proc, 20_000);
      expect(b.usable).toBe(true);
      b.cdp.close();
      await withDeadline(proc.exited, 5_000, 'the browser to be killed');
      expect(b.usable).toBe(false);
    } finally {
      killIfLeft(proc.pid);
      await run.destroy();
    }
  });
});

describe('an attach that fails after Chrome started', () => {
  it('rejects with LaunchError, kills what was started, and records launch_failed', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'noattach-'));
    const bin = path.join(dir, 'chrome');
    // Prints an endpoint nobody listens on, then waits.
    fs.writeFileSync(bin, `#!/bin/sh\necho $$ > "${dir}/pid"\necho "DevTools listening on ws://127.0.0.1:9/devtools/browser/x" >&2\nexec sleep 60\n`, { mode: 0o755 });
    const m = manager({ executablePath: bin, headless: 'shell' });
    const err = await m.create().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err).toMatchObject({ code: 'ERR_LAUNCH' });
    expect((err as Error).message).toMatch(/could not attach/);
    expect(m.list({ status: 'error' }).sessions[0]).toMatchObject({ stopReason: 'launch_failed' });
    const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    await waitUntil(() => groupGone(pid), 5_000, 'the started process to be killed');
  });
});

