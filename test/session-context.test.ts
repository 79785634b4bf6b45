/**
 * Session context (Steel's sessionContext): `getContext(id)` exports cookies (HttpOnly too),
 * localStorage, sessionStorage and IndexedDB of every origin the session touched;
 * `create({ sessionContext })` puts them in place in a session on another Chrome, in each
 * isolation mode, through Puppeteer and Playwright; `saveContext` keeps the state of a session
 * ended by a disconnect or a timeout; malformed contexts are refused and nothing is half-applied.
 */
import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type FullSessionContext, type HeadlessMode, type IsolationMode, type SessionContext } from '../lib/index.js';
import { closedAfterEach, nextEvent, startServer, type TestServer } from './helpers.js';

/** Polls an async predicate every 50 ms; throws after `timeoutMs`. */
async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: TestServer;
/** The same server under a second origin. */
let otherOrigin: string;
const requestsWithCookies: string[] = [];
beforeAll(async () => {
  server = await startServer({
    '/login': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Set-Cookie': ['sid=s3cret; HttpOnly; Path=/', 'theme=dark; Path=/; Max-Age=3600'] }).end('<!doctype html><title>in</title>');
    },
    '/whoami': (req, res) => {
      requestsWithCookies.push(req.headers.cookie ?? '');
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>${req.headers.cookie ?? ''}</title>`);
    },
  });
  otherOrigin = server.origin.replace('127.0.0.1', 'localhost');
});
afterAll(async () => {
  await server.close();
});
const managers = closedAfterEach<SessionManager>();
const manager = (isolation: IsolationMode, headless: HeadlessMode = 'shell') => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2, isolation, headless });
  managers.push(m);
  return m;
};

/** Page scripts, as strings: both clients evaluate an expression and await its promise. */
const DIRTY = `(async () => {
  localStorage.setItem('ls', 'one'); sessionStorage.setItem('ss', 'two');
  const open = indexedDB.open('app', 3);
  open.onupgradeneeded = () => {
    const db = open.result;
    db.createObjectStore('items', { keyPath: 'id' }).createIndex('byName', 'name', { unique: false, multiEntry: false });
    db.createObjectStore('kv');
  };
  const db = await new Promise((r) => (open.onsuccess = () => r(open.result)));
  const tx = db.transaction(['items', 'kv'], 'readwrite');
  tx.objectStore('items').put({ id: 1, name: 'one', tags: ['a', 'b'] });
  tx.objectStore('kv').put({ nested: { n: 2 } }, 'k1');
  tx.objectStore('kv').put(new Date(0), 'a-date');
  await new Promise((r) => (tx.oncomplete = r));
  db.close();
  return true;
})()`;
const PROBE = `(async () => {
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const names = (await indexedDB.databases()).map((d) => d.name);
  let idb = null;
  if (names.includes('app')) {
    const db = await req(indexedDB.open('app'));
    const tx = db.transaction(['items', 'kv']);
    idb = { version: db.version, item: await req(tx.objectStore('items').get(1)), byName: await req(tx.objectStore('items').index('byName').get('one')), kv: await req(tx.objectStore('kv').get('k1')) };
    db.close();
  }
  return { ls: localStorage.getItem('ls'), ss: sessionStorage.getItem('ss'), other: localStorage.getItem('other'), cookie: document.cookie, idb };
})()`;
type Probe = { ls: string | null; ss: string | null; other: string | null; cookie: string; idb: { version: number; item: unknown; byName: unknown; kv: unknown } | null };
const WANT_IDB = { version: 3, item: { id: 1, name: 'one', tags: ['a', 'b'] }, byName: { id: 1, name: 'one', tags: ['a', 'b'] }, kv: { nested: { n: 2 } } };

type Client = 'puppeteer' | 'playwright';

/** A connected client's view of a session, whichever library. */
interface View {
  goto(tab: number, url: string): Promise<void>;
  evaluate(tab: number, expression: string): Promise<unknown>;
  tabs(): Promise<string[]>;
  close(): Promise<void>;
}

async function connect(client: Client, wsEndpoint: string): Promise<View> {
  if (client === 'puppeteer') {
    const b = await puppeteer.connect({ browserWSEndpoint: wsEndpoint, defaultViewport: null });
    const pages = await b.pages();
    return {
      goto: async (i, url) => void (await (pages[i] ??= await b.newPage()).goto(url)),
      evaluate: (i, expression) => pages[i]!.evaluate(expression),
      tabs: async () => (await b.pages()).map((p) => p.url()),
      close: () => b.disconnect(),
    };
  }
  const browser = await chromium.connectOverCDP(wsEndpoint);
  const context = browser.contexts()[0]!;
  const pages = context.pages();
  return {
    goto: async (i, url) => void (await (pages[i] ??= await context.newPage()).goto(url)),
    evaluate: (i, expression) => pages[i]!.evaluate(expression),
    tabs: async () => context.pages().map((p) => p.url()),
    close: () => browser.close(),
  };
}

/** Dirties a session: its first tab stays on the server's origin, a second tab visits the other origin and leaves it. */
async function dirty(view: View): Promise<void> {
  await view.goto(0, `${server.origin}/login`);
  await view.evaluate(0, DIRTY);
  await view.goto(1, `${otherOrigin}/title/other`);
  await view.evaluate(1, `localStorage.setItem('other', 'three')`);
  await view.goto(1, 'about:blank');
}

/** Dirties a session through Puppeteer, then disconnects. */
async function dirtyWithPuppeteer(wsEndpoint: string): Promise<void> {
  const view = await connect('puppeteer', wsEndpoint);
  try {
    await dirty(view);
  } finally {
    await view.close();
  }
}

function expectExported(ctx: FullSessionContext): void {
  const byName = Object.fromEntries(ctx.cookies.map((c) => [c.name, c]));
  expect(byName.sid).toMatchObject({ value: 's3cret', domain: '127.0.0.1', path: '/', httpOnly: true, session: true });
  expect(byName.theme).toMatchObject({ value: 'dark', httpOnly: false, session: false });
  expect(ctx.localStorage).toEqual({ [server.origin]: { ls: 'one' }, [otherOrigin]: { other: 'three' } });
  expect(ctx.sessionStorage).toEqual({ [server.origin]: { ss: 'two' } });
  const [db, ...more] = ctx.indexedDB[server.origin]!;
  expect(more).toEqual([]);
  expect(db).toEqual({
    name: 'app',
    version: 3,
    objectStores: [
      { name: 'items', keyPath: 'id', autoIncrement: false, indexes: [{ name: 'byName', keyPath: 'name', unique: false, multiEntry: false }], records: [{ value: { id: 1, name: 'one', tags: ['a', 'b'] } }] },
      // The Date record is not JSON: left out.
      { name: 'kv', keyPath: null, autoIncrement: false, indexes: [], records: [{ key: 'k1', value: { nested: { n: 2 } } }] },
    ],
  });
  expect(ctx.indexedDB[otherOrigin]).toBeUndefined();
}

describe.each([
  ['reset', 'context', 'shell', 'puppeteer', 'playwright'],
  ['context', 'browser', 'shell', 'playwright', 'puppeteer'],
  ['browser', 'reset', 'shell', 'puppeteer', 'playwright'],
  ['context', 'reset', 'new', 'playwright', 'puppeteer'],
] as [IsolationMode, IsolationMode, HeadlessMode, Client, Client][])("exported from a '%s' session, imported into a '%s' one on another Chrome (headless '%s', %s then %s)", (from, to, headless, exporter, importer) => {
  it('pages of the new session see the same cookies (HttpOnly too), localStorage, sessionStorage and IndexedDB', async () => {
    const m1 = manager(from, headless);
    const s1 = await m1.create();
    const v1 = await connect(exporter, s1.wsEndpoint);
    let ctx: FullSessionContext;
    try {
      await dirty(v1);
      // Read with the client connected: the origin no tab shows is read in a short-lived tab of its own.
      ctx = await m1.getContext(s1.id);
      expectExported(ctx);
      await waitUntil(async () => (await v1.tabs()).length === 2, 5_000, 'the reading tab to close');
      expect(await v1.tabs()).toEqual([`${server.origin}/login`, 'about:blank']);
    } finally {
      await v1.close();
    }
    // Through JSON, as a user would store it.
    const imported = JSON.parse(JSON.stringify(ctx)) as SessionContext;

    const m2 = manager(to, headless);
    const s2 = await m2.create({ sessionContext: imported });
    expect(s2.browserPid).not.toBe(s1.browserPid);
    const v2 = await connect(importer, s2.wsEndpoint);
    try {
      // The client's first page is blank, with no history left by the import.
      expect(await v2.tabs()).toEqual(['about:blank']);
      expect(await v2.evaluate(0, 'history.length')).toBe(1);
      requestsWithCookies.length = 0;
      await v2.goto(0, `${server.origin}/whoami`);
      expect(requestsWithCookies[0]?.split('; ').sort()).toEqual(['sid=s3cret', 'theme=dark']);
      expect(await v2.evaluate(0, PROBE)).toEqual({ ls: 'one', ss: 'two', other: null, cookie: 'theme=dark', idb: WANT_IDB } satisfies Probe);
      await v2.goto(1, `${otherOrigin}/title/other`);
      expect(await v2.evaluate(1, PROBE)).toMatchObject({ other: 'three', ls: null, ss: null, idb: null });
      // The new session exports the same state again (sessionStorage: the first page shows its origin).
      const again = await m2.getContext(s2.id);
      expect(again.localStorage).toEqual(ctx.localStorage);
      expect(again.sessionStorage).toEqual(ctx.sessionStorage);
      expect(again.indexedDB).toEqual(ctx.indexedDB);
      expect(again.cookies.map((c) => [c.name, c.value, c.httpOnly]).sort()).toEqual(ctx.cookies.map((c) => [c.name, c.value, c.httpOnly]).sort());
    } finally {
      await v2.close();
    }
  });
});

it("an http origin's storage stays http's on full Chromium (whose HTTPS-Upgrades would try https first)", async () => {
  const m = manager('context', 'new');
  const localStorage = { 'http://example.com': { scheme: 'http' }, 'https://example.com': { scheme: 'https' }, 'http://shop.example.com:8080': { port: '8080' } };
  const s = await m.create({ sessionContext: { localStorage } });
  expect((await m.getContext(s.id)).localStorage).toEqual(localStorage);
});

it.each(['reset', 'context', 'browser'] as IsolationMode[])("saveContext keeps the state of a '%s' session ended by its client disconnecting", async (isolation) => {
  const m = manager(isolation);
  const s = await m.create({ saveContext: true });
  const closed = nextEvent(m, 'sessionClosed', (info: { id: string }) => info.id === s.id);
  await dirtyWithPuppeteer(s.wsEndpoint);
  const [info] = (await closed) as unknown as [{ stopReason: string }];
  expect(info.stopReason).toBe('client_disconnected');
  // The client disconnected with its tab on the server's origin: sessionStorage was still there to read.
  expectExported(await m.getContext(s.id));
});

it('saveContext keeps the state of a session ended by its timeout, read before the reset', async () => {
  const m = manager('reset');
  const t = await m.create({ saveContext: true, timeoutMs: 3_000, keepAlive: true });
  const b = await puppeteer.connect({ browserWSEndpoint: t.wsEndpoint, defaultViewport: null });
  const [page] = await b.pages();
  await page!.goto(`${server.origin}/title/t`);
  await page!.evaluate(`localStorage.setItem('late', 'yes')`);
  await b.disconnect();
  const [ended] = (await nextEvent(m, 'sessionClosed', (i: { id: string }) => i.id === t.id, 15_000)) as unknown as [{ stopReason: string }];
  expect(ended.stopReason).toBe('timeout');
  expect((await m.getContext(t.id)).localStorage).toEqual({ [server.origin]: { late: 'yes' } });

  // The reset came after the capture: the next session on that Chrome starts clean.
  const next = await m.create();
  expect(next.browserPid).toBe(t.browserPid);
  expect(await m.getContext(next.id)).toEqual({ cookies: [], localStorage: {}, sessionStorage: {}, indexedDB: {} });
});

it('unknown ids, ended sessions without saveContext, and malformed contexts get typed errors; nothing is half-applied', async () => {
  const m = manager('reset');
  await expect(m.getContext('nope')).rejects.toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
  const bad: [unknown, string][] = [
    ['x', 'create.sessionContext'],
    [{ cookie: [] }, 'create.sessionContext.cookie'],
    [{ cookies: {} }, 'create.sessionContext.cookies'],
    [{ cookies: [{ name: 'a', value: 'b', domain: 'x.test' }, { name: 'a', value: 'b', domain: 'x.test' }, { name: '', value: 'b', domain: 'x.test' }] }, 'create.sessionContext.cookies[2].name'],
    [{ cookies: [{ name: 'a', value: 'b;c', domain: 'x.test' }] }, 'create.sessionContext.cookies[0].value'],
    [{ cookies: [{ name: 'a', value: 'b', domain: 'x.test', sameSite: 'None' }] }, 'create.sessionContext.cookies[0].secure'],
    [{ cookies: [{ name: 'a', value: 'b', domain: 'x.test', expires: 'soon' }] }, 'create.sessionContext.cookies[0].expires'],
    [{ localStorage: { 'https://a.test/path': {} } }, 'create.sessionContext.localStorage["https://a.test/path"]'],
    [{ localStorage: { 'https://a.test': { k: 1 } } }, 'create.sessionContext.localStorage["https://a.test"]["k"]'],
    [{ sessionStorage: { 'ftp://a.test': {} } }, 'create.sessionContext.sessionStorage["ftp://a.test"]'],
    [{ indexedDB: { 'https://a.test': [{ name: 'd', version: 0, objectStores: [] }] } }, 'create.sessionContext.indexedDB["https://a.test"][0].version'],
    [
      { indexedDB: { 'https://a.test': [{ name: 'd', version: 1, objectStores: [{ name: 's', keyPath: null, autoIncrement: false, indexes: [], records: [{ value: 1 }] }] }] } },
      'create.sessionContext.indexedDB["https://a.test"][0].objectStores[0].records[0].key',
    ],
    [
      { indexedDB: { 'https://a.test': [{ name: 'd', version: 1, objectStores: [{ name: 's', keyPath: 'id', autoIncrement: false, indexes: [], records: [{ value: { no: 1 } }] }] }] } },
      'create.sessionContext.indexedDB["https://a.test"][0].objectStores[0].records[0].value',
    ],
  ];
  for (const [sessionContext, option] of bad) {
    await expect(m.create({ sessionContext: sessionContext as SessionContext })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
  }
  expect(m.stats().launches).toBe(0);
  await expect(m.create({ saveContext: 'yes' as unknown as boolean })).rejects.toMatchObject({ option: 'create.saveContext' });

  // Well-formed, but more than Chrome stores (localStorage holds ~5 MB per origin): the create
  // fails naming it, and the cookie set before it does not reach the next session.
  const tooBig: SessionContext = {
    cookies: [{ name: 'half', value: 'applied', domain: '127.0.0.1', path: '/' }],
    localStorage: { [server.origin]: { big: 'x'.repeat(6 * 1024 * 1024) } },
  };
  await expect(m.create({ sessionContext: tooBig })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: `create.sessionContext.localStorage[${JSON.stringify(server.origin)}]` });
  const dupe: SessionContext = {
    indexedDB: {
      [server.origin]: [{ name: 'd', version: 1, objectStores: [{ name: 's', keyPath: 'id', autoIncrement: false, indexes: [{ name: 'u', keyPath: 'n', unique: true, multiEntry: false }], records: [{ value: { id: 1, n: 'x' } }, { value: { id: 2, n: 'x' } }] }] }],
    },
  };
  await expect(m.create({ sessionContext: dupe })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: `create.sessionContext.indexedDB[${JSON.stringify(server.origin)}][0]` });
  // The same Chrome (reset after each failed create) holds nothing of either.
  const s = await m.create();
  expect(m.stats().launches).toBe(1);
  expect(await m.getContext(s.id)).toEqual({ cookies: [], localStorage: {}, sessionStorage: {}, indexedDB: {} });
  await s.stop();
  await expect(m.getContext(s.id)).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });

  // A create still waiting for a slot has no context yet.
  const one = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 1 });
  managers.push(one);
  const busy = await one.create();
  const queued = nextEvent(one, 'sessionQueued');
  const waiting = one.create();
  const [pending] = (await queued) as unknown as [{ id: string; status: string }];
  expect(pending.status).toBe('pending');
  await expect(one.getContext(pending.id)).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });
  await busy.stop();
  await (await waiting).stop();
});
