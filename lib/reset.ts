import { CdpError, type CdpConnection, type CdpEvent } from './cdp.js';

/*
 * What a reset clears, measured on Chromium 156, headless-shell and full Chromium
 * (test/isolation.test.ts proves each kind with two sessions on one browser): cookies (HttpOnly,
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
 * `reuse: false` (a fresh browser each time).
 *
 * Window size on full Chromium (`headless: 'new'`) needs the caller's help: it sizes every new
 * window, in any context, like the last one used, so the fresh page inherits a session's
 * `Browser.setWindowBounds` unless `windowBounds` (the bounds at launch) is passed to the reset.
 * headless-shell gives every new window its default size.
 *
 * Permission overrides and download behaviour set by a client are reverted by Chrome itself when
 * that client's DevTools session detaches (BrowserHandler::Disable); the reset reverts them too,
 * for the case where the session that set them is still attached.
 */

/** A window's position and size (CDP `Browser.Bounds` without the state). */
export interface WindowBounds {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Options of {@link resetBrowser}. */
export interface ResetOptions {
  /**
   * The browser's window bounds at launch (see {@link windowBoundsAtLaunch}); the fresh page's
   * window gets them back. Needed on full Chromium only. @default the window is left as it is
   */
  readonly windowBounds?: WindowBounds | undefined;
}

interface TargetInfo {
  targetId: string;
  type: string;
  browserContextId?: string;
}

/**
 * Returns a used browser to the state of a fresh one, so the next session sees nothing of the
 * last. `cdp` must have target discovery on (`Target.setDiscoverTargets`, as `PooledBrowser`
 * does): the reset waits for `Target.targetDestroyed` of the pages it closes.
 * - extra browser contexts are disposed (a killed client's contexts stay alive otherwise);
 * - a new blank page replaces every old one: a kept page would keep its history,
 *   sessionStorage and window size;
 * - storage is cleared only once the old pages are gone: a closing page still runs its
 *   `pagehide` handler and timers, and what it writes after a clear would reach the next session;
 * - `Storage.clearDataForOrigin('*', 'all')` must run on a *page* session (on the browser
 *   session Chrome answers "Internal error"); it removes local/session storage, IndexedDB,
 *   Cache Storage and service workers; cookies and the HTTP cache need their own calls;
 * - permissions and download behaviour are browser-wide settings a client may have changed;
 * - the window gets its launch bounds back when `opts.windowBounds` is given.
 * The whole reset is bounded by the caller's deadline; a page that never closes makes it fail,
 * so that browser is retired instead of reused.
 */
export async function resetBrowser(cdp: CdpConnection, timeoutMs: number, opts: ResetOptions = {}): Promise<void> {
  const t = { timeoutMs };
  // Listen before listing targets, so a page that goes away in between is not waited for forever.
  const destroyed = new Set<string>();
  let onDestroyed: (() => void) | undefined;
  const listener = (e: CdpEvent) => {
    if (e.method !== 'Target.targetDestroyed' || e.sessionId) return;
    destroyed.add(e.params.targetId as string);
    onDestroyed?.();
  };
  cdp.on('event', listener);
  let timer: NodeJS.Timeout | undefined;
  try {
    const [{ browserContextIds }, { targetInfos }, { targetId: fresh }] = await Promise.all([
      cdp.send<{ browserContextIds: string[] }>('Target.getBrowserContexts', {}, t),
      cdp.send<{ targetInfos: TargetInfo[] }>('Target.getTargets', {}, t),
      cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' }, t),
    ]);
    const oldPages = targetInfos
      .filter((ti) => ti.type === 'page' && ti.targetId !== fresh && !browserContextIds.includes(ti.browserContextId ?? ''))
      .map((ti) => ti.targetId);
    const pagesGone = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new CdpError(`old pages still open after ${timeoutMs} ms`)), timeoutMs);
      onDestroyed = () => {
        if (oldPages.every((id) => destroyed.has(id))) resolve();
      };
      onDestroyed();
    });
    const [{ sessionId }] = await Promise.all([
      cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId: fresh, flatten: true }, t),
      ...browserContextIds.map((id) => cdp.send('Target.disposeBrowserContext', { browserContextId: id }, t)),
      ...oldPages.map((id) =>
        cdp.send('Target.closeTarget', { targetId: id }, t).catch(() => {
          // Already gone: its targetDestroyed has been or will be seen.
        }),
      ),
      pagesGone,
      cdp.send('Browser.resetPermissions', {}, t),
      cdp.send('Browser.setDownloadBehavior', { behavior: 'default' }, t),
      opts.windowBounds && restoreWindow(cdp, fresh, opts.windowBounds, t),
    ]);
    const page = { ...t, sessionId };
    await Promise.all([
      cdp.send('Storage.clearDataForOrigin', { origin: '*', storageTypes: 'all' }, page),
      cdp.send('Network.clearBrowserCache', {}, page),
    ]);
    await Promise.all([clearCookies(cdp, t), checkOnlyPage(cdp, fresh, t)]);
    await cdp.send('Target.detachFromTarget', { sessionId }, t);
  } finally {
    clearTimeout(timer);
    cdp.off('event', listener);
  }
}

/**
 * Fails unless `fresh` is the only page and no extra context is left: a page or context that
 * appeared after the listing (a popup of a closing page) would reach the next session, so the
 * browser is retired instead.
 */
async function checkOnlyPage(cdp: CdpConnection, fresh: string, t: { timeoutMs: number }): Promise<void> {
  const [{ targetInfos }, { browserContextIds }] = await Promise.all([
    cdp.send<{ targetInfos: TargetInfo[] }>('Target.getTargets', {}, t),
    cdp.send<{ browserContextIds: string[] }>('Target.getBrowserContexts', {}, t),
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
    const { cookies } = await cdp.send<{ cookies: unknown[] }>('Storage.getCookies', {}, t);
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
  const { targetInfos } = await cdp.send<{ targetInfos: TargetInfo[] }>('Target.getTargets', {}, t);
  const first = targetInfos.find((ti) => ti.type === 'page');
  if (!first) return undefined;
  const { bounds } = await cdp.send<{ bounds: WindowBounds }>('Browser.getWindowForTarget', { targetId: first.targetId }, t);
  return { left: bounds.left, top: bounds.top, width: bounds.width, height: bounds.height };
}

/** Gives the window of `targetId` the bounds `want`, in the normal state. */
async function restoreWindow(cdp: CdpConnection, targetId: string, want: WindowBounds, t: { timeoutMs: number }): Promise<void> {
  const { windowId, bounds } = await cdp.send<{ windowId: number; bounds: WindowBounds & { windowState?: string } }>('Browser.getWindowForTarget', { targetId }, t);
  // Bounds can only be set on a normal window: minimized, maximized and fullscreen ones are restored first.
  if (bounds.windowState && bounds.windowState !== 'normal') await cdp.send('Browser.setWindowBounds', { windowId, bounds: { windowState: 'normal' } }, t);
  if (bounds.left !== want.left || bounds.top !== want.top || bounds.width !== want.width || bounds.height !== want.height) {
    await cdp.send('Browser.setWindowBounds', { windowId, bounds: { ...want, windowState: 'normal' } }, t);
  }
}
