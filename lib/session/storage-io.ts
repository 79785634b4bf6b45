/**
 * Reading and writing an origin's Web Storage and IndexedDB over CDP, without a network request:
 * a tab is navigated to the origin with `Fetch` interception answering every request with a
 * blank document (Playwright's technique for `storageState`), then a script reads or writes
 * storage in it. Pages the session shows already are read in an isolated world of their own
 * instead (their scripts cannot interfere; no extra tab when every origin is on screen).
 */
import type { CdpConnection, CdpEvent } from '../cdp.js';
import { CdpError } from '../errors.js';
import type { IndexedDBDatabase, StorageItems } from './context-state.js';

/** What one origin holds, as the page script reads or writes it. */
export interface OriginState {
  localStorage?: StorageItems;
  sessionStorage?: StorageItems;
  indexedDB?: readonly IndexedDBDatabase[];
}

const BLANK = Buffer.from('<!doctype html><meta charset="utf-8"><title></title>').toString('base64');

/*
 * The page scripts. They run in Chrome, so they are plain JavaScript strings: `READ` lists every
 * IndexedDB database of the origin and every record whose key and value survive JSON (records
 * holding a Date, a Blob, binary data, a Map… are left out, as `skipped`).
 */
const READ = `async (withSession) => {
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const plain = (v, d) => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ||
    (d < 64 && typeof v === 'object' && (Array.isArray(v) ? v.every((x) => plain(x, d + 1)) :
      (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) && Object.values(v).every((x) => plain(x, d + 1))));
  const isKey = (k, d) => typeof k === 'string' || (typeof k === 'number' && !Number.isNaN(k)) || (d < 32 && Array.isArray(k) && k.every((x) => isKey(x, d + 1)));
  const items = (s) => { const o = {}; for (let i = 0; i < s.length; i++) { const k = s.key(i); o[k] = s.getItem(k); } return o; };
  const out = { localStorage: items(localStorage), indexedDB: [], skipped: 0 };
  if (withSession) out.sessionStorage = items(sessionStorage);
  for (const info of await indexedDB.databases()) {
    const open = indexedDB.open(info.name);
    open.onupgradeneeded = () => open.transaction.abort();
    let db;
    try { db = await req(open); } catch { continue; }
    const names = [...db.objectStoreNames];
    const objectStores = [];
    if (names.length > 0) {
      const tx = db.transaction(names, 'readonly');
      for (const name of names) {
        const s = tx.objectStore(name);
        const indexes = [...s.indexNames].map((n) => { const x = s.index(n); return { name: x.name, keyPath: x.keyPath, unique: x.unique, multiEntry: x.multiEntry }; });
        const [keys, values] = await Promise.all([req(s.getAllKeys()), req(s.getAll())]);
        const records = [];
        keys.forEach((key, i) => {
          if (isKey(key, 0) && plain(values[i], 0)) records.push(s.keyPath === null ? { key, value: values[i] } : { value: values[i] });
          else out.skipped++;
        });
        objectStores.push({ name, keyPath: s.keyPath, autoIncrement: s.autoIncrement, indexes, records });
      }
    }
    db.close();
    out.indexedDB.push({ name: db.name, version: db.version, objectStores });
  }
  return out;
}`;

const WRITE = `async (state) => {
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  for (const [k, v] of Object.entries(state.localStorage || {})) localStorage.setItem(k, v);
  for (const [k, v] of Object.entries(state.sessionStorage || {})) sessionStorage.setItem(k, v);
  for (const d of state.indexedDB || []) {
    const open = indexedDB.open(d.name, d.version);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const s of d.objectStores) {
        if (db.objectStoreNames.contains(s.name)) continue;
        const os = db.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
        for (const x of s.indexes) os.createIndex(x.name, x.keyPath, { unique: x.unique, multiEntry: x.multiEntry });
      }
    };
    const db = await req(open);
    const names = d.objectStores.map((s) => s.name);
    if (names.length > 0) {
      const tx = db.transaction(names, 'readwrite');
      const done = new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = (e) => rej(e.target.error); tx.onabort = () => rej(tx.error); });
      for (const s of d.objectStores) {
        const os = tx.objectStore(s.name);
        for (const r of s.records) os.keyPath === null && r.key !== undefined ? os.put(r.value, r.key) : os.put(r.value);
      }
      await done;
    }
    db.close();
  }
  return true;
}`;

/** Runs `fn` (one of the scripts above) with `arg` in the page on `sessionId`; page exceptions reject with their message. */
async function run<T>(c: CdpConnection, sessionId: string, fn: string, arg: unknown, timeoutMs: number, contextId?: number): Promise<T> {
  const { result, exceptionDetails } = await c.send(
    'Runtime.evaluate',
    // Whatever the script throws or rejects with (a DOMException, null…) arrives as an Error with its name.
    { expression: `Promise.resolve().then(() => (${fn})(${JSON.stringify(arg)})).catch((e) => { throw new Error(e && e.name ? e.name + ': ' + e.message : String(e)); })`, awaitPromise: true, returnByValue: true, ...(contextId !== undefined ? { contextId } : {}) },
    { sessionId, timeoutMs },
  );
  if (exceptionDetails) throw new CdpError(exceptionDetails.exception?.description?.split('\n')[0] ?? exceptionDetails.text);
  return result.value as T;
}

/**
 * A tab that visits origins with every request answered by a blank document: `targetId`'s (the
 * session's first page, given back at about:blank with its history erased), or a new one in
 * `browserContextId` (closed after).
 */
export class OriginTab {
  readonly #c: CdpConnection;
  readonly #targetId: string;
  readonly #sessionId: string;
  readonly #own: boolean;
  readonly #timeoutMs: number;
  readonly #onEvent: (e: CdpEvent) => void;
  readonly #loads = new Set<() => void>();
  /** The origin being visited: a document request for another one is refused. */
  #want: string | undefined;

  private constructor(c: CdpConnection, targetId: string, sessionId: string, own: boolean, timeoutMs: number) {
    this.#c = c;
    this.#targetId = targetId;
    this.#sessionId = sessionId;
    this.#own = own;
    this.#timeoutMs = timeoutMs;
    this.#onEvent = (e) => {
      if (e.sessionId !== sessionId) return;
      if (e.method === 'Page.loadEventFired') for (const l of this.#loads) l();
      else if (e.method === 'Fetch.requestPaused') {
        const { requestId, request, resourceType } = e.params;
        const document = resourceType === 'Document';
        // Full Chromium tries https first for an http URL (HTTPS-Upgrades) and falls back to http
        // when that fails: fail it, or the document (and the storage) would be the https origin's.
        if (document && this.#want !== undefined && originOf(request.url) !== this.#want) {
          void c.send('Fetch.failRequest', { requestId, errorReason: 'ConnectionRefused' }, { sessionId, timeoutMs }).catch(() => {});
          return;
        }
        void c
          .send('Fetch.fulfillRequest', { requestId, responseCode: document ? 200 : 404, responseHeaders: [{ name: 'Content-Type', value: 'text/html' }], body: document ? BLANK : '' }, { sessionId, timeoutMs })
          .catch(() => {});
      }
    };
    c.on('event', this.#onEvent);
  }

  /** Opens it on `targetId`, or on a new background tab of `browserContextId` (undefined: the default context). */
  static async open(c: CdpConnection, where: { targetId?: string; browserContextId?: string }, timeoutMs: number): Promise<OriginTab> {
    const t = { timeoutMs };
    const own = where.targetId === undefined;
    const targetId = where.targetId ?? (await c.send('Target.createTarget', { url: 'about:blank', background: true, ...(where.browserContextId ? { browserContextId: where.browserContextId } : {}) }, t)).targetId;
    let tab: OriginTab | undefined;
    try {
      const { sessionId } = await c.send('Target.attachToTarget', { targetId, flatten: true }, t);
      tab = new OriginTab(c, targetId, sessionId, own, timeoutMs);
      const s = { sessionId, timeoutMs };
      await Promise.all([c.send('Page.enable', {}, s), c.send('Fetch.enable', { patterns: [{ urlPattern: '*', requestStage: 'Request' }] }, s)]);
      // A new tab may wait for a debugger (clients auto-attach with waitForDebuggerOnStart).
      void c.send('Runtime.runIfWaitingForDebugger', {}, s).catch(() => {});
      return tab;
    } catch (err) {
      if (tab) await tab.close();
      else if (own) await c.send('Target.closeTarget', { targetId }, t).catch(() => {});
      throw err;
    }
  }

  /** Shows a blank document of `origin` (no request leaves Chrome). */
  async visit(origin: string): Promise<void> {
    this.#want = origin;
    try {
      await this.#navigate(`${origin}/`);
      const shown = await run<string>(this.#c, this.#sessionId, '() => location.origin', null, this.#timeoutMs);
      if (shown !== origin) throw new CdpError(`a blank document of ${origin} ended up at ${shown}`);
    } finally {
      this.#want = undefined;
    }
  }

  /** Reads the shown origin's localStorage and IndexedDB (and sessionStorage when asked). */
  read(withSession: boolean): Promise<OriginState & { skipped: number }> {
    return run(this.#c, this.#sessionId, READ, withSession, this.#timeoutMs);
  }

  /** Writes `state` into the shown origin. */
  async write(state: OriginState): Promise<void> {
    await run(this.#c, this.#sessionId, WRITE, state, this.#timeoutMs);
  }

  /** Closes the tab (its own), or gives the page back at about:blank with no history. Never throws. */
  async close(): Promise<void> {
    const s = { sessionId: this.#sessionId, timeoutMs: this.#timeoutMs };
    try {
      if (this.#own) {
        await this.#c.send('Target.closeTarget', { targetId: this.#targetId }, { timeoutMs: this.#timeoutMs });
        return;
      }
      await this.#c.send('Fetch.disable', {}, s);
      await this.#navigate('about:blank');
      await this.#c.send('Page.resetNavigationHistory', {}, s);
      await this.#c.send('Target.detachFromTarget', { sessionId: this.#sessionId }, { timeoutMs: this.#timeoutMs });
    } catch {
      // a tab that went away (its browser or context closed) has nothing left to give back
    } finally {
      this.#c.off('event', this.#onEvent);
    }
  }

  async #navigate(url: string): Promise<void> {
    let done!: () => void;
    const loaded = new Promise<void>((resolve) => (done = resolve));
    this.#loads.add(done);
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CdpError(`${url} did not load within ${this.#timeoutMs} ms`)), this.#timeoutMs)));
      const [{ errorText }] = await Promise.race([Promise.all([this.#c.send('Page.navigate', { url }, { sessionId: this.#sessionId, timeoutMs: this.#timeoutMs }), loaded]), late]);
      if (errorText) throw new CdpError(`${url}: ${errorText}`);
    } finally {
      clearTimeout(timer);
      this.#loads.delete(done);
    }
  }
}

/**
 * Reads a live page's origin state in an isolated world (the page's own scripts cannot see or
 * change what runs there). Resolves with its origin and state, or undefined for a page that is
 * not at an http(s) origin or cannot be read (an opaque origin, a page hung or paused).
 */
export async function readLivePage(c: CdpConnection, targetId: string, timeoutMs: number): Promise<{ origin: string; state: OriginState } | undefined> {
  let sessionId: string | undefined;
  try {
    ({ sessionId } = await c.send('Target.attachToTarget', { targetId, flatten: true }, { timeoutMs }));
    const s = { sessionId, timeoutMs };
    const { executionContextId } = await c.send('Page.createIsolatedWorld', { frameId: targetId, worldName: 'chrome-sessions-context' }, s);
    const origin = await run<string>(c, sessionId, '() => location.origin', null, timeoutMs, executionContextId);
    if (!/^https?:\/\//.test(origin)) return undefined;
    const { skipped: _, ...state } = await run<OriginState & { skipped: number }>(c, sessionId, READ, true, timeoutMs, executionContextId);
    return { origin, state };
  } catch {
    return undefined;
  } finally {
    if (sessionId) void c.send('Target.detachFromTarget', { sessionId }, { timeoutMs }).catch(() => {});
  }
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
