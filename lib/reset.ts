import type { Protocol } from 'devtools-protocol';
import { CdpError, type CdpConnection, type CdpEvent } from './cdp.js';
import { resetLog, since } from './log.js';

/*
 * What a reset clears, measured on Chromium 156, headless-shell and full Chromium
 * (test/isolation-*.test.ts prove each kind with two sessions on one browser): cookies (HttpOnly,
 * session, JS), localStorage, sessionStorage, IndexedDB, Cache Storage, service workers, the HTTP
 * cache, extra tabs with their history, extra browser contexts (also a killed client's), a page
 * hung in a loop, state a closing page writes from its timers or `pagehide` handler, and window
 * size (see below for full Chromium).
 *
 * Not clearable by CDP: the HTTP auth cache (Basic/Digest credentials a page logged in with are
 * sent again by the next session). Chrome clears it only through its BrowsingDataRemover with
 * cookies selected, which no CDP command reaches: `Storage.clearDataForOrigin` (any origin,
 * 'all'), `Storage.clearDataForStorageKey`, `Storage.clearCookies`, `Network.clearBrowserCookies`
 * and `Network.clearBrowserCache` all leave it. Sessions that must not share it need
 * `reuse: false` (a fresh browser each time). Neither can a reset reach keep-alive connections,
 * Client Hints opt-ins or the DNS cache (a name session N resolved is not asked again by N+1;
 * test/network-isolation-tls-dns.test.ts). HSTS entries are cleared, by `Network.clearBrowserCache`
 * (the only call of the reset that does, measured one by one).
 *
 * Window size needs the caller's help: the kept page keeps a session's `Browser.setWindowBounds`,
 * and full Chromium (`headless: 'new'`) even sizes new windows like the last one used, unless
 * `windowBounds` (the bounds at launch, see `windowBoundsAtLaunch`) is passed to the reset.
 *
 * Permission overrides and download behaviour set by a client are reverted by Chrome itself when
 * that client's DevTools session detaches (BrowserHandler::Disable); the reset reverts them too,
 * for the case where the session that set them is still attached.
 */

/** A window's position and size (CDP `Browser.Bounds` without the state; Chrome reports all four). */
export type WindowBounds = Readonly<Omit<Protocol.Browser.Bounds, 'windowState'>>;

/** Options of {@link resetBrowser}. */
export interface ResetOptions {
  /**
   * The browser's window bounds at launch (see {@link windowBoundsAtLaunch}); the kept page's
   * window gets them back. The pool always passes them. @default the window is left as it is
   */
  readonly windowBounds?: WindowBounds | undefined;
}

/** How long the kept page may take to show about:blank before the reset replaces it instead. */
const KEEP_PAGE_NAVIGATE_MS = 1000;

/**
 * Returns a used browser to the state of a fresh one, so the next session sees nothing of the
 * last. `cdp` must have target discovery on (`Target.setDiscoverTargets`, as `PooledBrowser`
 * does): the reset waits for `Target.targetDestroyed` of the pages it closes.
 * - extra browser contexts are disposed (a killed client's contexts stay alive otherwise);
 * - one page of the default context is kept and navigated to about:blank, its history erased,
 *   its window given the launch bounds back; every other page is closed. Keeping the page keeps
 *   its renderer process: a new page would cost a renderer spawn now and a process swap at the
 *   next navigation, about half the CPU of a whole reset. A kept page that does not reach
 *   about:blank in time (hung in a loop) is replaced by a new one;
 * - storage is cleared only once the old documents are gone: a closing page still runs its
 *   `pagehide` handler and timers, and what it writes after a clear would reach the next session;
 * - `Storage.clearDataForOrigin('*', 'all')` must run on a *page* session (on the browser
 *   session Chrome answers "Internal error"); it removes local/session storage, IndexedDB,
 *   Cache Storage and service workers; cookies and the HTTP cache need their own calls;
 * - permissions and download behaviour are browser-wide settings a client may have changed.
 * Steps that do not depend on each other overlap (closing pages and contexts runs alongside the
 * kept page's navigation; the clears, the window and the final check run together once every old
 * document is gone): the reset's wall time is what a `create()` waits for when no idle browser is
 * left. The whole reset is bounded by the caller's deadline; a page that never closes makes it
 * fail, so that browser is retired instead of reused.
 */
export async function resetBrowser(cdp: CdpConnection, timeoutMs: number, opts: ResetOptions = {}): Promise<void> {
  const t = { timeoutMs };
  const t0 = performance.now();
  // Listen before listing targets, so a page that goes away in between is not waited for forever.
  const destroyed = new Set<string>();
  const waiters = new Set<() => void>();
  const listener = (e: CdpEvent) => {
    if (e.sessionId) return;
    if (e.method === 'Target.targetDestroyed') destroyed.add(e.params.targetId);
    for (const w of waiters) w();
  };
  cdp.on('event', listener);
  const timers: NodeJS.Timeout[] = [];
  /** Resolves once every target in `ids` is destroyed; rejects after the reset's deadline. */
  const gone = (ids: string[]) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (ids.every((id) => destroyed.has(id))) {
          waiters.delete(check);
          resolve();
        }
      };
      timers.push(setTimeout(() => {
        waiters.delete(check);
        reject(new CdpError(`old pages still open after ${timeoutMs} ms`));
      }, timeoutMs));
      waiters.add(check);
      check();
    });
  try {
    const [{ browserContextIds }, { targetInfos }] = await Promise.all([
      cdp.send('Target.getBrowserContexts', {}, t),
      cdp.send('Target.getTargets', {}, t),
    ]);
    const defaultPages = targetInfos
      .filter((ti) => ti.type === 'page' && !browserContextIds.includes(ti.browserContextId ?? ''))
      .map((ti) => ti.targetId);
    const [first, ...others] = defaultPages;
    const close = (ids: string[]) => [
      ...ids.map((id) =>
        cdp.send('Target.closeTarget', { targetId: id }, t).catch(() => {
          // Already gone: its targetDestroyed has been or will be seen.
        }),
      ),
      gone(ids),
    ];
    // What does not depend on the kept page runs alongside its navigation.
    const aside = Promise.all([
      ...browserContextIds.map((id) => cdp.send('Target.disposeBrowserContext', { browserContextId: id }, t)),
      ...close(others),
      cdp.send('Browser.resetPermissions', {}, t),
      cdp.send('Browser.setDownloadBehavior', { behavior: 'default' }, t),
    ]);
    // A failure is thrown by the `await` below; until then it must not count as unhandled.
    aside.catch(() => {});
    let kept = first;
    let sessionId = first ? await blankKeptPage(cdp, first, t) : undefined;
    if (!sessionId) {
      resetLog('kept page %s could not be blanked (not at about:blank in time, or gone): opening a new page', first ?? '(none)');
      const replaced = Promise.all(first ? close([first]) : []);
      replaced.catch(() => {});
      kept = (await cdp.send('Target.createTarget', { url: 'about:blank' }, t)).targetId;
      ({ sessionId } = await cdp.send('Target.attachToTarget', { targetId: kept, flatten: true }, t));
      await replaced;
    }
    await aside;
    // Every old document is gone now: clear what they may have written.
    const [cleared] = await Promise.all([
      clearStorage(cdp, kept!, sessionId, t),
      clearCookies(cdp, t),
      checkOnlyPage(cdp, kept!, t),
      opts.windowBounds && restoreWindow(cdp, kept!, opts.windowBounds, t),
    ]);
    void cdp.send('Target.detachFromTarget', { sessionId: cleared }, t).catch(() => {});
    resetLog('reset done in %d ms', since(t0));
  } catch (err) {
    resetLog('reset failed after %d ms: %s', since(t0), err instanceof Error ? err.message : err);
    throw err;
  } finally {
    for (const timer of timers) clearTimeout(timer);
    cdp.off('event', listener);
  }
}

/**
 * Clears storage of every origin and the HTTP cache through a page session. A navigation that
 * swapped the kept page's renderer can drop the session we attached before it ("Session with
 * given id not found"): then attach again, once. Resolves with the session in use.
 */
async function clearStorage(cdp: CdpConnection, targetId: string, sessionId: string, t: { timeoutMs: number }): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const page = { ...t, sessionId };
      await Promise.all([
        cdp.send('Storage.clearDataForOrigin', { origin: '*', storageTypes: 'all' }, page),
        cdp.send('Network.clearBrowserCache', {}, page),
      ]);
      return sessionId;
    } catch (err) {
      if (attempt > 0 || !/Session with given id not found/.test((err as Error).message)) throw err;
      ({ sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }, t));
    }
  }
}

/**
 * Navigates the kept page to about:blank and erases its history; resolves with the attached
 * session, or undefined when the page did not get there in time (the caller replaces it).
 */
async function blankKeptPage(cdp: CdpConnection, targetId: string, t: { timeoutMs: number }): Promise<string | undefined> {
  let sessionId: string | undefined;
  let onEvent: ((e: CdpEvent) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    ({ sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }, t));
    const page = { sessionId, timeoutMs: Math.min(t.timeoutMs, KEEP_PAGE_NAVIGATE_MS) };
    // Awaited before navigating: Page.enable reaches the renderer, Page.navigate only the browser.
    // Sent together, a navigation that moves to a new frame host (RenderDocument, a process swap)
    // can commit before the old frame's agent was enabled, and the load event never comes.
    await cdp.send('Page.enable', {}, page);
    // The load event of about:blank: the old document has run its pagehide/unload handlers by
    // then (so the clears come after its last writes), and a navigation that swapped renderer
    // processes is complete (before that, history calls fail with "Not attached to an active page").
    const loaded = new Promise<void>((resolve, reject) => {
      onEvent = (e) => {
        if (e.sessionId === sessionId && e.method === 'Page.loadEventFired') resolve();
      };
      cdp.on('event', onEvent);
      timer = setTimeout(() => reject(new CdpError('about:blank did not load in time')), page.timeoutMs);
    });
    const [{ errorText }] = await Promise.all([cdp.send('Page.navigate', { url: 'about:blank' }, page), loaded]);
    if (errorText) throw new CdpError(errorText);
    // What lives on the tab rather than the document: its history and window.name (kept by
    // navigations to about:blank).
    await Promise.all([
      cdp.send('Page.resetNavigationHistory', {}, page),
      cdp.send('Runtime.evaluate', { expression: "window.name = ''" }, page),
    ]);
    // Page events stop with the detach that ends the reset; no Page.disable needed.
    return sessionId;
  } catch {
    if (sessionId) void cdp.send('Target.detachFromTarget', { sessionId }, t).catch(() => {});
    return undefined;
  } finally {
    clearTimeout(timer);
    if (onEvent) cdp.off('event', onEvent);
  }
}

/**
 * Fails unless `fresh` is the only page and no extra context is left: a page or context that
 * appeared after the listing (a popup of a closing page) would reach the next session, so the
 * browser is retired instead.
 */
async function checkOnlyPage(cdp: CdpConnection, fresh: string, t: { timeoutMs: number }): Promise<void> {
  const [{ targetInfos }, { browserContextIds }] = await Promise.all([
    cdp.send('Target.getTargets', {}, t),
    cdp.send('Target.getBrowserContexts', {}, t),
  ]);
  const pages = targetInfos.filter((ti) => ti.type === 'page' && ti.targetId !== fresh).length;
  if (pages > 0 || browserContextIds.length > 0) {
    throw new CdpError(`reset left ${pages} extra page(s) and ${browserContextIds.length} context(s)`);
  }
}

/**
 * Clears every cookie of the default context, then looks again: a cookie write a page sent just
 * before it closed can reach the network service after the page is gone (seen with a renderer
 * starved of CPU), and would otherwise greet the next session. This narrows that window; CDP
 * offers nothing that orders a clear after a dead renderer's last messages.
 */
async function clearCookies(cdp: CdpConnection, t: { timeoutMs: number }): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await cdp.send('Storage.clearCookies', {}, t);
    const { cookies } = await cdp.send('Storage.getCookies', {}, t);
    if (cookies.length === 0) return;
  }
  throw new CdpError('cookies keep coming back after Storage.clearCookies');
}

/**
 * The window bounds of the browser's first page: call it right after launch, before any client
 * has had the browser, and pass the result to every {@link resetBrowser} as `windowBounds`.
 */
export async function windowBoundsAtLaunch(cdp: CdpConnection, timeoutMs: number): Promise<WindowBounds | undefined> {
  const t = { timeoutMs };
  const { targetInfos } = await cdp.send('Target.getTargets', {}, t);
  const first = targetInfos.find((ti) => ti.type === 'page');
  if (!first) return undefined;
  const { bounds } = await cdp.send('Browser.getWindowForTarget', { targetId: first.targetId }, t);
  return { left: bounds.left, top: bounds.top, width: bounds.width, height: bounds.height };
}

/** Gives the window of `targetId` the bounds `want`, in the normal state. */
async function restoreWindow(cdp: CdpConnection, targetId: string, want: WindowBounds, t: { timeoutMs: number }): Promise<void> {
  const { windowId, bounds } = await cdp.send('Browser.getWindowForTarget', { targetId }, t);
  // Bounds can only be set on a normal window: minimized, maximized and fullscreen ones are restored first.
  if (bounds.windowState && bounds.windowState !== 'normal') await cdp.send('Browser.setWindowBounds', { windowId, bounds: { windowState: 'normal' } }, t);
  if (bounds.left !== want.left || bounds.top !== want.top || bounds.width !== want.width || bounds.height !== want.height) {
    await cdp.send('Browser.setWindowBounds', { windowId, bounds: { ...want, windowState: 'normal' } }, t);
  }
}
