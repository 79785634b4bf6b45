/**
 * A session's context (Steel's `sessionContext`): the origins it touched, `getContext(id)`,
 * `create({ sessionContext })` and `create({ saveContext: true })`.
 *
 * Origins are those of the top-level documents (and out-of-process frames) of the session's pages,
 * from the manager's target discovery (`Target.targetInfoChanged`), plus those it was given.
 * Cookies are read and written for the whole browser context (`Storage.getCookies/setCookies`);
 * localStorage and IndexedDB per origin through `storage-io.ts`; sessionStorage from the pages
 * that show an origin now (it lives per tab), and is put in place in the session's first page.
 */
import type { PooledBrowser } from '../browser.js';
import type { CdpConnection, CdpEvent } from '../cdp.js';
import { settleWithin } from '../deadline.js';
import { CdpError, InvalidOptionError, LaunchError, SessionClosedError } from '../errors.js';
import type { Lease } from '../pool/dispatcher.js';
import type { FullSessionContext, SessionContext, SessionCookie, StorageItems } from './context-state.js';
import type { IndexedDBDatabase } from './context-state.js';
import type { ResolvedCreateParams } from './params.js';
import type { SessionRuntime } from './runtime.js';
import { OriginTab, readLivePage, type OriginState } from './storage-io.js';
import type { Protocol } from 'devtools-protocol';

/** Bound on reading or writing a whole context (every origin). */
export const CONTEXT_IO_TIMEOUT_MS = 15_000;
/** Bound on the final read of a `saveContext` session: within the runtime's 10 s for end work, so no reading tab outlives it. */
const SAVE_TIMEOUT_MS = 8_000;
/** Bound on reading one of the session's open pages. */
const LIVE_PAGE_TIMEOUT_MS = 3_000;

interface Tracker {
  /** Until the session has ended (an ended record does not hold on to its browser). */
  browser: PooledBrowser | undefined;
  /** The session's browser context ('context' isolation); undefined: Chrome's default one. */
  readonly contextId: string | undefined;
  readonly origins: Set<string>;
  readonly save: boolean;
  /** The final context, once the session ended (`saveContext`). */
  saved?: Promise<FullSessionContext>;
}

const trackers = new WeakMap<SessionRuntime, Tracker>();

/**
 * One step of `prepareSession()`: starts tracking the session's origins, puts `sessionContext`
 * in place (nothing is left of it if that fails: the create fails and its browser is reset,
 * its context disposed, or its Chrome closed), and arranges for `saveContext`.
 */
export async function prepareContext(rt: SessionRuntime, lease: Lease<PooledBrowser>, contextId: string | undefined, p: ResolvedCreateParams): Promise<void> {
  const b = lease.browser;
  const t: Tracker = { browser: b, contextId, origins: new Set(), save: p.saveContext };
  trackers.set(rt, t);
  const onTarget = (e: CdpEvent) => {
    if (e.sessionId !== undefined || (e.method !== 'Target.targetInfoChanged' && e.method !== 'Target.targetCreated')) return;
    const info = e.params.targetInfo;
    if ((info.type !== 'page' && info.type !== 'iframe') || (contextId !== undefined && info.browserContextId !== contextId)) return;
    const origin = httpOrigin(info.url);
    if (origin) t.origins.add(origin);
  };
  b.cdp.on('event', onTarget);
  rt.onEnd(async () => {
    b.cdp.off('event', onTarget);
    t.browser = undefined;
    t.origins.clear();
  });
  if (p.saveContext) {
    rt.beforeRelease(async () => {
      t.saved = bounded(readContext(b, t), 'save the final session context', SAVE_TIMEOUT_MS);
      await t.saved.catch(() => {});
    });
  }
  if (!p.sessionContext) return;
  try {
    await bounded(writeContext(b.cdp, contextId, p.sessionContext, t.origins), 'put the session context in place');
  } catch (err) {
    if (err instanceof InvalidOptionError) throw err;
    throw new LaunchError(`Could not put the session context in place: ${(err as Error).message}`, b.process.executablePath, '', { cause: err });
  }
}

/**
 * The context of session `rt`: read now while it is active; the one saved at its end when it was
 * created with `saveContext: true`. Otherwise a `SessionClosedError`.
 */
export async function getContext(rt: SessionRuntime): Promise<FullSessionContext> {
  const t = trackers.get(rt);
  if (rt.record.status === 'active' && t?.browser) {
    try {
      return await bounded(readContext(t.browser, t), 'read the session context');
    } catch (err) {
      // It ended during the read (its browser or context went away): as if asked after the end.
      if (!rt.record.ended) throw err;
    }
  }
  if (!t?.save || !rt.record.ended) throw new SessionClosedError(rt.id, rt.record.status);
  // Ended a moment ago: its final read may still be running.
  if (!t.saved) await rt.ended;
  if (!t.saved) throw new CdpError(`session ${rt.id} ended with its browser gone (${rt.record.stopReason}): no final context was saved`);
  return t.saved;
}

function bounded<T>(p: Promise<T>, what: string, ms = CONTEXT_IO_TIMEOUT_MS): Promise<T> {
  return settleWithin(p, ms, () => new CdpError(`could not ${what} within ${ms} ms`)).promise;
}

/** The http(s) origin of `url`, or undefined (about:blank, data:, chrome:…). */
function httpOrigin(url: string): string | undefined {
  if (!/^https?:\/\//.test(url)) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** The page targets of the session's browser context, first opened first (Chrome lists the newest first). */
async function sessionPages(c: CdpConnection, contextId: string | undefined): Promise<Protocol.Target.TargetInfo[]> {
  const t = { timeoutMs: CONTEXT_IO_TIMEOUT_MS };
  const [{ targetInfos }, { browserContextIds }] = await Promise.all([c.send('Target.getTargets', {}, t), c.send('Target.getBrowserContexts', {}, t)]);
  return targetInfos.filter(
    (ti) => ti.type === 'page' && (contextId !== undefined ? ti.browserContextId === contextId : !browserContextIds.includes(ti.browserContextId ?? '')),
  ).reverse();
}

async function readContext(b: PooledBrowser, t: Tracker): Promise<FullSessionContext> {
  const c = b.cdp;
  const ms = CONTEXT_IO_TIMEOUT_MS;
  const [{ cookies }, pages] = await Promise.all([
    c.send('Storage.getCookies', t.contextId !== undefined ? { browserContextId: t.contextId } : {}, { timeoutMs: ms }),
    sessionPages(c, t.contextId),
  ]);
  const out = { cookies: cookies.map(fromCdpCookie), localStorage: {} as Record<string, StorageItems>, sessionStorage: {} as Record<string, StorageItems>, indexedDB: {} as Record<string, readonly IndexedDBDatabase[]> };
  const add = (origin: string, s: OriginState) => {
    if (s.localStorage && Object.keys(s.localStorage).length > 0) out.localStorage[origin] = s.localStorage;
    if (s.sessionStorage && Object.keys(s.sessionStorage).length > 0) out.sessionStorage[origin] = { ...out.sessionStorage[origin], ...s.sessionStorage };
    if (s.indexedDB && s.indexedDB.length > 0) out.indexedDB[origin] = s.indexedDB;
  };
  const done = new Set<string>();
  // A page that does not answer soon (paused in a debugger, hung) is skipped: its origin is read in the tab below.
  const live = await Promise.all(pages.filter((p) => httpOrigin(p.url)).map((p) => readLivePage(c, p.targetId, LIVE_PAGE_TIMEOUT_MS)));
  for (const r of live) {
    if (!r) continue;
    add(r.origin, r.state);
    done.add(r.origin);
    t.origins.add(r.origin);
  }
  const rest = [...t.origins].filter((o) => !done.has(o)).sort();
  if (rest.length > 0) {
    const tab = await OriginTab.open(c, t.contextId !== undefined ? { browserContextId: t.contextId } : {}, ms);
    try {
      for (const origin of rest) {
        try {
          await tab.visit(origin);
        } catch (err) {
          // An origin Chrome will not show (an http one of an HSTS host) holds nothing pages can use.
          if (unshowable(err)) continue;
          throw err;
        }
        const { skipped: _, ...state } = await tab.read(false);
        add(origin, state);
      }
    } finally {
      await tab.close();
    }
  }
  return out;
}

async function writeContext(c: CdpConnection, contextId: string | undefined, ctx: SessionContext, origins: Set<string>): Promise<void> {
  const ms = CONTEXT_IO_TIMEOUT_MS;
  if (ctx.cookies && ctx.cookies.length > 0) await setCookies(c, contextId, ctx.cookies);
  const byOrigin = new Map<string, OriginState>();
  const put = (origin: string, s: OriginState) => byOrigin.set(origin, { ...byOrigin.get(origin), ...s });
  for (const [o, items] of Object.entries(ctx.localStorage ?? {})) put(o, { localStorage: items });
  for (const [o, items] of Object.entries(ctx.sessionStorage ?? {})) put(o, { sessionStorage: items });
  for (const [o, dbs] of Object.entries(ctx.indexedDB ?? {})) put(o, { indexedDB: dbs });
  if (byOrigin.size === 0) return;
  // The session's first page: sessionStorage lives per tab, and the client gets this tab.
  const [first] = await sessionPages(c, contextId);
  const tab = await OriginTab.open(c, first ? { targetId: first.targetId } : contextId !== undefined ? { browserContextId: contextId } : {}, ms);
  try {
    for (const [origin, state] of byOrigin) {
      // One part at a time, so that what Chrome refuses (a quota, an IndexedDB constraint) is named.
      const o = `[${JSON.stringify(origin)}]`;
      const parts: [string, OriginState][] = [
        ...(state.localStorage ? [[`localStorage${o}`, { localStorage: state.localStorage }] as [string, OriginState]] : []),
        ...(state.sessionStorage ? [[`sessionStorage${o}`, { sessionStorage: state.sessionStorage }] as [string, OriginState]] : []),
        ...(state.indexedDB ?? []).map((db, i): [string, OriginState] => [`indexedDB${o}[${i}]`, { indexedDB: [db] }]),
      ];
      if (parts.length === 0) continue;
      try {
        await tab.visit(origin);
      } catch (err) {
        if (unshowable(err)) throw new InvalidOptionError(`create.sessionContext.${parts[0]![0]}`, 'an origin Chrome can show (not http for an HSTS host)', (err as Error).message);
        throw err;
      }
      for (const [field, part] of parts) {
        try {
          await tab.write(part);
        } catch (err) {
          if (!(err instanceof CdpError) || !/^\w*(Error|Exception)\b/.test(err.message)) throw err;
          throw new InvalidOptionError(`create.sessionContext.${field}`, 'what Chrome stores', err.message.replace(/^Error: /, ''));
        }
      }
      origins.add(origin);
    }
  } finally {
    await tab.close();
  }
}

/** The visit failed because of the origin (a network error Chrome gave, or another origin shown), not of Chrome. */
function unshowable(err: unknown): boolean {
  return err instanceof CdpError && /net::ERR_|ended up at/.test(err.message);
}

/** All cookies at once; if Chrome refuses the batch, one by one, to name the one it refuses. */
async function setCookies(c: CdpConnection, contextId: string | undefined, cookies: readonly SessionCookie[]): Promise<void> {
  const t = { timeoutMs: CONTEXT_IO_TIMEOUT_MS };
  const ctx = contextId !== undefined ? { browserContextId: contextId } : {};
  try {
    await c.send('Storage.setCookies', { cookies: cookies.map(toCdpCookie), ...ctx }, t);
  } catch (err) {
    for (const [i, k] of cookies.entries()) {
      await c.send('Storage.setCookies', { cookies: [toCdpCookie(k)], ...ctx }, t).catch((e: Error) => {
        throw new InvalidOptionError(`create.sessionContext.cookies[${i}]`, `a cookie Chrome accepts (${e.message})`, k);
      });
    }
    throw err;
  }
}

/** A cookie to set: a host-only one (no leading dot) is set by URL, so it stays host-only. */
function toCdpCookie(k: SessionCookie): Protocol.Network.CookieParam {
  const path = k.path ?? '/';
  const where = k.domain.startsWith('.') ? { domain: k.domain } : { url: `${k.secure ? 'https' : 'http'}://${k.domain}${path}` };
  return {
    name: k.name,
    value: k.value,
    ...where,
    path,
    ...(k.secure !== undefined ? { secure: k.secure } : {}),
    ...(k.httpOnly !== undefined ? { httpOnly: k.httpOnly } : {}),
    ...(k.sameSite !== undefined ? { sameSite: k.sameSite } : {}),
    ...(k.priority !== undefined ? { priority: k.priority } : {}),
    ...(k.expires !== undefined && k.expires !== -1 ? { expires: k.expires } : {}),
    ...(k.partitionKey !== undefined ? { partitionKey: k.partitionKey } : {}),
  };
}

/** Chrome's cookie as the session context carries it (the fields of `SessionCookie`). */
function fromCdpCookie(k: Protocol.Network.Cookie): SessionCookie {
  const { name, value, domain, path, expires, httpOnly, secure, session, size, sameSite, priority, sourceScheme, sourcePort, partitionKey } = k;
  return { name, value, domain, path, expires, httpOnly, secure, session, size, priority, sourceScheme, sourcePort, ...(sameSite ? { sameSite } : {}), ...(partitionKey ? { partitionKey } : {}) };
}
