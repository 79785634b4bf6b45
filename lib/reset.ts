import type { CdpConnection } from './cdp.js';

interface TargetInfo {
  targetId: string;
  type: string;
  browserContextId?: string;
}

/**
 * Returns a used browser to the state of a fresh one, so the next session sees nothing of the
 * last. Measured on Chromium 156 (see README "Isolation"):
 * - extra browser contexts are disposed (a killed client's contexts stay alive otherwise);
 * - a new blank page replaces every old one: a kept page would keep its history,
 *   sessionStorage and window size;
 * - `Storage.clearDataForOrigin('*', 'all')` must run on a *page* session (on the browser
 *   session Chrome answers "Internal error"); it removes local/session storage, IndexedDB,
 *   Cache Storage and service workers; cookies and the HTTP cache need their own calls;
 * - permissions and download behaviour are browser-wide settings a client may have changed.
 * Independent steps run in parallel; the whole reset is bounded by the caller's deadline.
 */
export async function resetBrowser(cdp: CdpConnection, timeoutMs: number): Promise<void> {
  const t = { timeoutMs };
  const [{ browserContextIds }, { targetInfos }, { targetId: fresh }] = await Promise.all([
    cdp.send<{ browserContextIds: string[] }>('Target.getBrowserContexts', {}, t),
    cdp.send<{ targetInfos: TargetInfo[] }>('Target.getTargets', {}, t),
    cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' }, t),
  ]);
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId: fresh, flatten: true }, t);
  const page = { ...t, sessionId };
  await Promise.all([
    ...browserContextIds.map((id) => cdp.send('Target.disposeBrowserContext', { browserContextId: id }, t)),
    ...targetInfos
      .filter((ti) => ti.type === 'page' && ti.targetId !== fresh && !browserContextIds.includes(ti.browserContextId ?? ''))
      .map((ti) => cdp.send('Target.closeTarget', { targetId: ti.targetId }, t).catch(() => {})),
    cdp.send('Storage.clearDataForOrigin', { origin: '*', storageTypes: 'all' }, page),
    cdp.send('Network.clearBrowserCache', {}, page),
    cdp.send('Storage.clearCookies', {}, t),
    cdp.send('Browser.resetPermissions', {}, t),
    cdp.send('Browser.setDownloadBehavior', { behavior: 'default' }, t),
  ]);
  await cdp.send('Target.detachFromTarget', { sessionId }, t);
}
