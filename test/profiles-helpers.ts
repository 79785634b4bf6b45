/**
 * What the profile tests share: a temporary folder and a local site set up per file, managers on
 * profilesDirs of their own (closed after each test), and a way to write and read back everything
 * a page can store (cookies, HttpOnly too, localStorage, IndexedDB, the HTTP cache).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { SessionManager, type SessionInfo, type SessionManagerOptions } from '../lib/index.js';
import { startServer, type Fixture, type TestServer } from './helpers.js';

/** The per-file setup of {@link useProfileTests}. */
export interface ProfileTests {
  /** A temporary folder, removed after the file. */
  readonly tmp: string;
  /** The local site's origin (`http://127.0.0.1:PORT`). */
  readonly origin: string;
  /** Times the server has served `/cached.js` (a script with `Cache-Control: max-age=3600`). */
  readonly cachedHits: number;
  /** Child processes to kill after each test. */
  readonly fixtures: Fixture[];
  /** A manager on a profilesDir of its own (or the one given), closed after the test. */
  manager(opts?: SessionManagerOptions): SessionManager;
  /** Stores a script cookie, an HttpOnly server cookie, localStorage, IndexedDB and a cached script, all tagged. */
  write(page: AnyPage, tag: string): Promise<void>;
  /** What the session sees: cookies the server receives, script cookies, storage keys. */
  read(page: AnyPage): Promise<State>;
}

/** Registers the hooks of a profile test file and returns its helpers. */
export function useProfileTests(): ProfileTests {
  let tmp = '';
  let server: TestServer | undefined;
  let cachedHits = 0;
  let dirs = 0;
  const managers: SessionManager[] = [];
  const fixtures: Fixture[] = [];
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-profiles-'));
    server = await startServer({
      '/set': (req, res) => {
        const tag = new URL(req.url!, 'http://x').searchParams.get('tag');
        res.writeHead(200, { 'Content-Type': 'text/html', 'Set-Cookie': `srv_${tag}=1; Max-Age=3600; Path=/; HttpOnly` }).end('<!doctype html><title>set</title>');
      },
      '/cookies': (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.headers.cookie ?? '');
      },
      '/cached.js': (_req, res) => {
        cachedHits++;
        res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'max-age=3600' }).end(`// ${cachedHits}`);
      },
    });
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    for (const f of fixtures.splice(0)) await f.dispose();
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return {
    get tmp() {
      return tmp;
    },
    get cachedHits() {
      return cachedHits;
    },
    get origin() {
      return server!.origin;
    },
    fixtures,
    manager(opts = {}) {
      const m = new SessionManager({ profilesDir: path.join(tmp, `profiles-${++dirs}`), minIdle: 0, handleSignals: false, maxConcurrent: 3, ...opts });
      managers.push(m);
      return m;
    },
    async write(page, tag) {
      await page.goto(`${server!.origin}/set?tag=${tag}`);
      await page.evaluate(writeJs(tag));
    },
    async read(page) {
      await page.goto(`${server!.origin}/cookies`);
      const sent = (await page.evaluate('document.body.innerText')) as string;
      const seen = (await page.evaluate(readJs)) as Omit<State, 'server'>;
      return { server: sent.split('; ').filter(Boolean).sort(), ...seen };
    },
  };
}

/** In the page: a script cookie, localStorage, an IndexedDB record and a cached script, all tagged. */
const writeJs = (tag: string) => `(async () => {
  document.cookie = 'js_${tag}=1; max-age=3600';
  localStorage.setItem('ls_${tag}', '1');
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('db', 1); r.onupgradeneeded = () => r.result.createObjectStore('s'); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  await new Promise((ok, ko) => { const tx = db.transaction('s', 'readwrite'); tx.objectStore('s').put(1, '${tag}'); tx.oncomplete = ok; tx.onerror = () => ko(tx.error); });
  db.close();
  await fetch('/cached.js');
})()`;
/** In the page: what the writes above left, as sorted lists. */
const readJs = `(async () => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('db', 1); r.onupgradeneeded = () => r.result.createObjectStore('s'); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  const idb = await new Promise((ok, ko) => { const q = db.transaction('s').objectStore('s').getAllKeys(); q.onsuccess = () => ok(q.result); q.onerror = () => ko(q.error); });
  db.close();
  await fetch('/cached.js');
  return { js: document.cookie.split('; ').filter(Boolean).sort(), ls: Object.keys(localStorage).sort(), idb: [...idb].sort() };
})()`;

export interface State {
  server: string[];
  js: string[];
  ls: string[];
  idb: string[];
}

/** What both clients' pages offer: enough for these checks. */
export interface AnyPage {
  goto(url: string): Promise<unknown>;
  evaluate(js: string): Promise<unknown>;
}

/** The state `write` leaves for these tags. */
export const tagged = (tags: string[]): State => ({
  server: tags.flatMap((t) => [`js_${t}=1`, `srv_${t}=1`]).sort(),
  js: tags.map((t) => `js_${t}=1`).sort(),
  ls: tags.map((t) => `ls_${t}`).sort(),
  idb: [...tags].sort(),
});

/** The --user-data-dir of a running browser. */
export function userDataDirOfPid(pid: number): string {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return argv.find((a) => a.startsWith('--user-data-dir='))!.slice('--user-data-dir='.length);
}

/** Runs a Puppeteer client on a new session and returns what `fn` returns; the session ends after. */
export async function withPuppeteer<T>(m: SessionManager, params: Parameters<SessionManager['create']>[0], fn: (page: Page, s: SessionInfo) => Promise<T>): Promise<T> {
  const s = await m.create(params);
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
  try {
    const [page] = await b.pages();
    return await fn(page!, s);
  } finally {
    await b.disconnect();
    await m.stop(s.id);
  }
}
