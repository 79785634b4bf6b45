/**
 * What a session gets before it starts, beyond its browser: how the pool lends that browser for
 * its isolation mode, its own browser context ('context'), its proxy flags ('browser'), and its
 * HTTP discovery server (`browserURL`).
 */
import type { PooledBrowser } from '../browser.js';
import type { LaunchSpec } from '../chrome/launch.js';
import { settleWithin } from '../deadline.js';
import { DiscoveryServer, chromeDiscoverySource, chromeHttpBase, type DiscoveryTarget } from '../discovery.js';
import { LaunchError } from '../errors.js';
import type { IsolationMode } from '../options.js';
import type { Dispatcher, Lease } from '../pool/dispatcher.js';
import type { PageOverrides } from './emulation.js';
import type { ChromeProxy } from './proxy.js';
import type { ResolvedCreateParams } from './params.js';
import type { SessionRuntime } from './runtime.js';
import { prepareContext } from './session-context.js';
import { startRecording } from '../recording/recorder.js';
import { setupDownloads } from '../downloads/downloads.js';
import { startUsage } from '../usage/usage.js';

/** Opening or disposing a session's browser context takes a few ms; one that takes this long failed. */
export const CONTEXT_TIMEOUT_MS = 10_000;

/** How the pool lends a browser for an isolation mode: whole or shared, reused or fresh. */
export function lending(isolation: IsolationMode, sessionsPerBrowser: number): { capacity?: number; flavour?: string } {
  if (isolation === 'context') return { capacity: sessionsPerBrowser };
  return isolation === 'browser' ? { flavour: 'fresh' } : {};
}

/** A fresh browser context for a 'context' session; a browser that cannot make one takes no more sessions. */
export async function openContext(dispatcher: Dispatcher<PooledBrowser>, lease: Lease<PooledBrowser>, proxy: ChromeProxy | undefined): Promise<string> {
  const b = lease.browser;
  const opts = proxy ? { proxyServer: proxy.server, ...(proxy.bypass !== undefined ? { proxyBypassList: proxy.bypass } : {}) } : undefined;
  try {
    return await settleWithin(b.openContext(CONTEXT_TIMEOUT_MS, opts), CONTEXT_TIMEOUT_MS, () => new Error(`no context within ${CONTEXT_TIMEOUT_MS} ms`)).promise;
  } catch (err) {
    dispatcher.release(lease, b.usable ? 'reset_failed' : 'crashed');
    throw new LaunchError(`Could not open a browser context for the session: ${(err as Error).message}`, b.process.executablePath, '', { cause: err });
  }
}

/** HTTP discovery for one session (`create({ browserURL: true })`), closed with it. */
export async function serveDiscovery(rt: SessionRuntime, b: PooledBrowser, contextId: string | undefined): Promise<void> {
  const listPages = async (): Promise<DiscoveryTarget[]> => {
    const { targetInfos } = await b.cdp.send('Target.getTargets', {}, { timeoutMs: CONTEXT_TIMEOUT_MS });
    return targetInfos
      .filter((t) => t.type === 'page' && (contextId === undefined || t.browserContextId === contextId))
      .map((t) => ({ id: t.targetId, type: t.type, title: t.title, url: t.url }));
  };
  const server = await DiscoveryServer.start(chromeDiscoverySource(chromeHttpBase(b.process.wsEndpoint), rt.record.wsEndpoint, listPages));
  rt.onEnd(() => server.close());
  rt.record.browserURL = server.url;
}

/** A launch spec whose Chrome sends everything through `proxy` ('browser' isolation). */
export function withProxyFlags(spec: LaunchSpec, proxy: ChromeProxy): LaunchSpec {
  const flags = [`--proxy-server=${proxy.server}`, ...(proxy.bypass !== undefined ? [`--proxy-bypass-list=${proxy.bypass}`] : [])];
  return { ...spec, args: [...spec.args, ...flags] };
}

/**
 * Makes every page of the session report its `userAgent`, `locale`, `timezoneId`, `screen`: those
 * of its context ('context'), or of the whole Chrome, which is its alone ('browser', 'reset').
 * Undone with it (a reset Chrome also drops them before its reset).
 */
export async function applyOverrides(rt: SessionRuntime, lease: Lease<PooledBrowser>, contextId: string | undefined, o: PageOverrides): Promise<void> {
  const b = lease.browser;
  const key = contextId ?? '*';
  // A Chrome of the session's own ('*') drops them itself before its reset (or is closed): clearing
  // here, after the browser went back, could hit the next session's.
  if (contextId !== undefined) rt.onEnd(() => b.clearOverrides(key));
  try {
    await settleWithin(b.applyOverrides(key, o, CONTEXT_TIMEOUT_MS), CONTEXT_TIMEOUT_MS, () => new Error(`overrides not applied within ${CONTEXT_TIMEOUT_MS} ms`)).promise;
  } catch (err) {
    throw new LaunchError(`Could not apply the session's userAgent, locale, timezoneId or screen: ${(err as Error).message}`, b.process.executablePath, '', { cause: err });
  }
}

/**
 * Everything a session gets between its browser (and context) and its start, in order. Each
 * feature is one line here calling into a file of its own; a throw fails the create, and the
 * cleanups already registered with `rt.onEnd` undo what was done.
 */
export async function prepareSession(rt: SessionRuntime, lease: Lease<PooledBrowser>, contextId: string | undefined, p: ResolvedCreateParams): Promise<void> {
  rt.record.gridSessionId = lease.browser.process.gridSessionId;
  const overrides = p.screen ? { ...p.overrides, screen: p.screen } : p.overrides;
  if (overrides) await applyOverrides(rt, lease, contextId, overrides);
  await prepareContext(rt, lease, contextId, p);
  if (p.browserURL) await serveDiscovery(rt, lease.browser, contextId);
  await startUsage(rt, lease.browser, contextId, p.usage, CONTEXT_TIMEOUT_MS);
  // A Grid node's downloads land on its own disk: they are not collected here.
  if (!lease.browser.process.remote) setupDownloads(rt, lease.browser, contextId, p.downloads, CONTEXT_TIMEOUT_MS);
  if (p.recording) await startRecording(rt, lease.browser, contextId, p.recording, CONTEXT_TIMEOUT_MS);
}
