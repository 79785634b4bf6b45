/**
 * Shared set-up of the isolation tests (isolation-storage, isolation-tabs, isolation-leftovers):
 * in each isolation mode, session N writes one kind of state and checks that it took, the session
 * ends, and session N+1 probes from a fresh page (and the kept first page where that matters).
 * In 'reset' mode the next session runs in the same Chrome after its reset; in 'context' mode in
 * the same Chrome, in a new context; in 'browser' mode in a new Chrome. `isolationSuite` runs one
 * manager per describe (`maxConcurrent: 1, minIdle: 0`) and asserts by pid that every session
 * gets the one browser ('reset', 'context') or a new one ('browser').
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { CdpConnection } from '../lib/cdp.js';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { resetBrowser } from '../lib/reset.js';
import type { BrowserRecycledEvent, BrowserResetEvent } from '../lib/index.js';
import { nextEvent, startServer, type TestServer } from './helpers.js';

// Browser globals, used only inside page.evaluate (the project compiles without the DOM lib).
declare const window: any;

/** The modes every isolation test runs in, one describe each. */
export const MODES = ['reset', 'context', 'browser'] as const;

/** One connected session. */
export interface Client {
  readonly id: string;
  readonly pid: number;
  readonly browser: Browser;
  /** The page the session starts with (`(await browser.pages())[0]`). */
  readonly page: Page;
}

const routes: Parameters<typeof startServer>[0] = {
  '/set-cookie': (_req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/html',
      'Set-Cookie': ['srv_httponly=1; Path=/; Max-Age=3600; HttpOnly', 'srv_session=1; Path=/'],
    });
    res.end('<!doctype html><title>cookie</title>');
  },
  // What cookies the browser sends, HttpOnly ones included.
  '/echo-cookie': (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.headers.cookie ?? '');
  },
  '/sw.js': (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/javascript' }).end("self.addEventListener('fetch', () => {});");
  },
  '/cached.js': (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'max-age=3600' }).end('// cached');
  },
  '/download': (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment; filename="leak.bin"' }).end('leak');
  },
  // Basic auth: Chrome caches the credentials per origin and realm once a 401 has been answered,
  // and sends them unasked to every path under the one that asked.
  '/auth/login': (req, res) => {
    if (req.headers.authorization) res.writeHead(200, { 'Content-Type': 'text/plain' }).end('welcome');
    else res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="leak"', 'Content-Type': 'text/plain' }).end('');
  },
  // Never challenges (a 401 would open a login prompt in full Chromium): shows what was sent.
  '/auth/echo': (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.headers.authorization ?? '');
  },
};

/** Runs `fn` in `page` after loading a blank page of `origin`. */
export async function at<T>(page: Page, origin: string, fn: () => T | Promise<T>): Promise<T> {
  await page.goto(`${origin}/title/probe`);
  return (await page.evaluate(fn)) as T;
}

/** `promise`, or a rejection naming `what` once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a page sees of its window. */
export const size = (page: Page) =>
  page.evaluate(() => ({ outerWidth: window.outerWidth, outerHeight: window.outerHeight, innerWidth: window.innerWidth, innerHeight: window.innerHeight }));

/** Files in `dir`, partial downloads included. */
export const filesIn = (dir: string) => fs.readdirSync(dir);

/** The Authorization header `page` sends to `/auth/echo` on its own ('' when none). */
export const sentAuth = (page: Page) => page.evaluate(async () => (await fetch('/auth/echo')).text());
export const BASIC = `Basic ${Buffer.from('user:secret').toString('base64')}`;

/** One describe's manager, server and session helpers; the fields are set once its beforeAll ran. */
export interface IsolationSuite {
  readonly manager: SessionManager;
  readonly server: TestServer;
  /** Two origins of the one server: cookies and storage are per host. */
  readonly A: string;
  readonly B: string;
  readonly downloadDir: string;
  /** Creates a session and asserts that it runs on the one browser. */
  create(): Promise<{ id: string; pid: number; wsEndpoint: string }>;
  /** Creates a session and connects puppeteer to it; stops the session if that fails. */
  open(): Promise<Client>;
  /** Resolves once session `c` has ended and its browser is ready for the next. */
  ended(c: { id: string; pid: number }): Promise<unknown>;
  /** Ends a session by `manager.stop` (or by the client disconnecting) and waits until it is cleared away. */
  end(c: Client, how?: 'stop' | 'disconnect'): Promise<void>;
  /** Session N runs `write`, ends, and session N+1 on the same browser runs `probe`. */
  twoSessions(write: (c: Client) => Promise<void>, probe: (c: Client) => Promise<void>, how?: 'stop' | 'disconnect'): Promise<void>;
  /** In 'reset' mode: `dirty` on a CDP connection that stays attached, a reset over it, then `probe`. */
  resetWhileAttached(c: Client, dirty: (cdp: CdpConnection) => Promise<unknown>, probe: () => Promise<void>): Promise<void>;
}

/** Registers the describe's beforeAll/afterAll (call it first in the describe) and returns its suite. */
export function isolationSuite(mode: IsolationMode): IsolationSuite {
  let manager: SessionManager;
  let server: TestServer;
  /** Two origins of the one server: cookies and storage are per host. */
  let A: string;
  let B: string;
  let downloadDir: string;
  /** Pid of the one browser every session must get. */
  let pid: number | undefined;

  beforeAll(async () => {
    server = await startServer(routes);
    A = server.origin;
    B = server.origin.replace('127.0.0.1', 'localhost');
    downloadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolation-dl-'));
    manager = new SessionManager({ maxConcurrent: 1, minIdle: 0, isolation: mode });
  });

  afterAll(async () => {
    await manager?.close();
    await server?.close();
    if (downloadDir) fs.rmSync(downloadDir, { recursive: true, force: true });
  });

  /** Creates a session and asserts that it runs on the one browser. */
  async function create(): Promise<{ id: string; pid: number; wsEndpoint: string }> {
    const session = await manager.create();
    const sessionPid = manager.get(session.id).browserPid!;
    expect(session.browserPid).toBe(sessionPid);
    if (mode === 'browser') {
      if (pid !== undefined) expect(sessionPid, 'every session gets a new browser').not.toBe(pid);
      pid = sessionPid;
    } else {
      pid ??= sessionPid;
      expect(sessionPid, 'the next session gets the same browser back').toBe(pid);
    }
    return { id: session.id, pid: sessionPid, wsEndpoint: session.wsEndpoint };
  }

  /** Creates a session and connects puppeteer to it; stops the session if that fails. */
  async function open(): Promise<Client> {
    const { id, pid, wsEndpoint } = await create();
    try {
      // A page left hung by the last session makes browser.pages() wait forever.
      const connect = async () => {
        const browser = await puppeteer.connect({ browserWSEndpoint: wsEndpoint, defaultViewport: null });
        return { id, pid, browser, page: (await browser.pages())[0]! };
      };
      return await within(connect(), 10_000, 'puppeteer.connect and browser.pages()');
    } catch (err) {
      await manager.stop(id);
      throw err;
    }
  }

  /** Resolves once session `c` has ended and its browser is ready for the next: reset ('reset'), its context disposed ('context'), closed ('browser'). */
  function ended(c: { id: string; pid: number }): Promise<unknown> {
    if (mode === 'reset') return nextEvent<[BrowserResetEvent]>(manager, 'browserReset', (e) => e.pid === c.pid, 20_000);
    if (mode === 'browser') return nextEvent<[BrowserRecycledEvent]>(manager, 'browserRecycled', (e) => e.pid === c.pid, 20_000);
    return nextEvent(manager, 'sessionClosed', (info: { id: string }) => info.id === c.id, 20_000);
  }

  /** Ends a session by `manager.stop` (or by the client disconnecting) and waits until it is cleared away. */
  async function end(c: Client, how: 'stop' | 'disconnect' = 'stop'): Promise<void> {
    const reset = ended(c);
    if (how === 'stop') await manager.stop(c.id);
    await c.browser.disconnect();
    await reset;
    expect(manager.get(c.id).stopReason).toBe(how === 'stop' ? 'stopped' : 'client_disconnected');
  }

  /** Session N runs `write`, ends, and session N+1 on the same browser runs `probe`. */
  async function twoSessions(write: (c: Client) => Promise<void>, probe: (c: Client) => Promise<void>, how: 'stop' | 'disconnect' = 'stop'): Promise<void> {
    const n = await open();
    try {
      await write(n);
    } finally {
      await end(n, how);
    }
    const next = await open();
    try {
      if (mode === 'browser') expect(next.pid).not.toBe(n.pid);
      else expect(next.pid).toBe(n.pid);
      await probe(next);
    } finally {
      await end(next);
    }
  }

  /**
   * Chrome itself reverts a client's permission overrides and download behaviour when that
   * client's DevTools session detaches, so ending a session clears them with or without a reset.
   * To see the reset's own calls at work, `dirty` changes the setting on a CDP connection that
   * stays attached, the reset runs over it, and `probe` runs while it is still attached.
   */
  async function resetWhileAttached(c: Client, dirty: (cdp: CdpConnection) => Promise<unknown>, probe: () => Promise<void>): Promise<void> {
    if (mode !== 'reset') return; // only a reset needs this: the others start from a new context or Chrome
    const cdp = await CdpConnection.connect(manager.get(c.id).wsEndpoint, 5_000);
    try {
      await cdp.send('Target.setDiscoverTargets', { discover: true }, { timeoutMs: 5_000 });
      await dirty(cdp);
      await resetBrowser(cdp, 5_000);
      await probe();
    } finally {
      cdp.close();
    }
  }

  return {
    get manager() {
      return manager;
    },
    get server() {
      return server;
    },
    get A() {
      return A;
    },
    get B() {
      return B;
    },
    get downloadDir() {
      return downloadDir;
    },
    create,
    open,
    ended,
    end,
    twoSessions,
    resetWhileAttached,
  };
}
