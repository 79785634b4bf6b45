/**
 * Per-session page overrides (`userAgent`, `locale`, `timezoneId`, `screen`), applied as
 * Playwright applies a context's options: through an auto-attaching CDP connection of the
 * manager's own, one per browser, opened by the first session with overrides. Each new page of a
 * context with overrides is attached paused, given them, and resumed; so is each of its
 * out-of-process iframes (a cross-site iframe under site isolation is a target of its own, which
 * would otherwise report Chrome's own user agent, language and time zone), its dedicated workers
 * (whose `navigator.language` would otherwise be Chrome's own) and the context's service and
 * shared workers (whose requests would otherwise carry Chrome's own `User-Agent`). The overrides
 * last as long as the attachment: detaching undoes them. Pages of other contexts are resumed and
 * left.
 */
import type { Protocol } from 'devtools-protocol';
import { AutoAttachConnection, autoAttach } from './auto-attach.js';
import type { CdpConnection } from './cdp.js';
import type { ExitInfo } from './chrome/launch.js';
import type { PageOverrides } from './session/emulation.js';
import { deviceMetrics } from './session/screen.js';

/** Bound on the connection's own commands to a page or frame it attached to. */
export const OVERRIDE_TIMEOUT_MS = 5_000;

/** What the emulation needs of its browser. */
export interface EmulationHost {
  readonly wsEndpoint: string;
  readonly exited: Promise<ExitInfo>;
  /** Open pages: target id → browser context id ('' for the default one). */
  pageContexts(): Iterable<[string, string]>;
  /** The session context a browser context belongs to (see `PooledBrowser.sessionContextOf`). */
  sessionContextOf(contextId: string | undefined): string;
  /** Chrome's own user agent (a locale without a user agent still sets `Accept-Language` with it). */
  defaultUserAgent(timeoutMs: number): Promise<string>;
}

export class PageEmulation {
  readonly #host: EmulationHost;
  /** Overrides by session context id (`'*'`: every context). */
  readonly #overrides = new Map<string, PageOverrides>();
  /** Attachments that carry overrides (pages, frames, workers): session id → its key in `#overrides`. */
  readonly #attached = new Map<string, string>();
  readonly #conn: AutoAttachConnection;

  constructor(host: EmulationHost) {
    this.#host = host;
    this.#conn = new AutoAttachConnection(host.wsEndpoint, host.exited, (c, e) => {
      if (e.method === 'Target.detachedFromTarget') this.#attached.delete(e.params.sessionId);
      if (e.method !== 'Target.attachedToTarget') return;
      const { sessionId, targetInfo, waitingForDebugger } = e.params;
      void this.#onAttached(c, e.sessionId, sessionId, targetInfo, waitingForDebugger);
    });
  }

  /**
   * Makes every page of session context `contextId` (`'*'`: every context) report `o`: the pages
   * there now, and each new one (opened by a client, or a popup) before it runs.
   */
  async apply(contextId: string, o: PageOverrides, timeoutMs: number): Promise<void> {
    const resolved = o.locale !== undefined && o.userAgent === undefined ? { ...o, userAgent: await this.#host.defaultUserAgent(timeoutMs) } : o;
    this.#overrides.set(contextId, resolved);
    const c = await this.#conn.get(timeoutMs);
    const existing = [...this.#host.pageContexts()].filter(([, ctx]) => contextId === '*' || this.#host.sessionContextOf(ctx) === contextId).map(([id]) => id);
    await Promise.all(
      existing.map(async (targetId) => {
        const sessionId = await this.#conn.attach(c, targetId, timeoutMs);
        this.#attached.set(sessionId, contextId);
        // Its out-of-process iframes, those there now included, come as attachments of this session.
        await Promise.all([emulate(c, sessionId, resolved, 'page', timeoutMs), autoAttach(c, sessionId, timeoutMs).catch(() => {})]);
      }),
    );
  }

  /**
   * Stops making pages of `contextId` (`'*'`: every context) report a session's overrides: new
   * ones are left alone, and the attachments to its pages are dropped, which undoes the overrides
   * on pages that outlive the session (a reset Chrome's kept page).
   */
  async clear(contextId: string, timeoutMs = OVERRIDE_TIMEOUT_MS): Promise<void> {
    if (contextId === '*') this.#overrides.clear();
    else this.#overrides.delete(contextId);
    const c = await this.#conn.current();
    const ids = [...this.#attached].filter(([, key]) => contextId === '*' || key === contextId).map(([id]) => id);
    for (const id of ids) this.#attached.delete(id);
    await Promise.all(ids.map((sessionId) => c?.send('Target.detachFromTarget', { sessionId }, { timeoutMs }).catch(() => {})));
  }

  /** The overrides' key for a page of browser context `contextId`, if it has any. */
  #keyFor(contextId: string | undefined): string | undefined {
    const own = this.#host.sessionContextOf(contextId);
    return this.#overrides.has(own) ? own : this.#overrides.has('*') ? '*' : undefined;
  }

  /**
   * A page (`parent` undefined), or an out-of-process iframe or dedicated worker of an overridden
   * page or frame (`parent`: its session). A page that was already running (not waiting) is
   * `apply()`'s to attach, which waits for its overrides: reported by the connection's own
   * auto-attach, it is detached here (`apply()`'s own attach is not reported here).
   */
  async #onAttached(c: CdpConnection, parent: string | undefined, sessionId: string, info: Protocol.Target.TargetInfo, waiting: boolean): Promise<void> {
    // Under a page or frame: its iframes and dedicated workers. At the top: new pages, and the
    // service and shared workers of a context, which belong to no page.
    const child = parent !== undefined && (info.type === 'iframe' || info.type === 'worker');
    const top = parent === undefined && ((info.type === 'page' && waiting) || info.type === 'service_worker' || info.type === 'shared_worker');
    const key = top ? this.#keyFor(info.browserContextId) : child ? this.#attached.get(parent!) : undefined;
    const kind = info.type === 'page' ? 'page' : info.type === 'iframe' ? 'iframe' : 'worker';
    const o = key === undefined ? undefined : this.#overrides.get(key);
    if (o && key !== undefined) this.#attached.set(sessionId, key);
    try {
      if (o) await Promise.all([emulate(c, sessionId, o, kind, OVERRIDE_TIMEOUT_MS), kind === 'worker' ? undefined : autoAttach(c, sessionId, OVERRIDE_TIMEOUT_MS).catch(() => {})]);
    } finally {
      if (waiting) void c.send('Runtime.runIfWaitingForDebugger', {}, { sessionId, timeoutMs: OVERRIDE_TIMEOUT_MS }).catch(() => {});
      // A page or frame with overrides keeps this connection attached: they last as long as the attachment.
      if (!o) void c.send('Target.detachFromTarget', { sessionId }, { timeoutMs: OVERRIDE_TIMEOUT_MS }).catch(() => {});
    }
  }
}

/**
 * Makes the page, iframe or worker on `sessionId` report `o`; a target that closed meanwhile is
 * no error, and neither is a command Chrome refuses there:
 * - The screen is a page's alone: Chrome refuses `Emulation.setDeviceMetricsOverride` on an iframe
 *   ("Command can only be executed on top-level targets"), so an out-of-process iframe's `screen`
 *   stays Chrome's own.
 * - A worker in its page's renderer has the locale the page's override set for that process
 *   (Chrome refuses a second: "Another locale override is already in effect"); its
 *   `navigator.language`, and the `User-Agent` and `Accept-Language` of its requests, come from its
 *   own user agent override. A service worker's `navigator.userAgent` is fixed by Chrome as it
 *   starts, before any override, and the fetch of its script is the browser's own: both keep
 *   Chrome's user agent.
 */
async function emulate(c: CdpConnection, sessionId: string, o: PageOverrides, kind: 'page' | 'iframe' | 'worker', timeoutMs: number): Promise<void> {
  const opts = { sessionId, timeoutMs };
  await Promise.allSettled([
    o.userAgent !== undefined ? c.send('Emulation.setUserAgentOverride', { userAgent: o.userAgent, ...(o.locale !== undefined ? { acceptLanguage: o.locale } : {}) }, opts) : undefined,
    o.locale !== undefined ? c.send('Emulation.setLocaleOverride', { locale: o.locale }, opts) : undefined,
    o.timezoneId !== undefined ? c.send('Emulation.setTimezoneOverride', { timezoneId: o.timezoneId }, opts) : undefined,
    o.screen !== undefined && kind === 'page' ? c.send('Emulation.setDeviceMetricsOverride', deviceMetrics(o.screen), opts) : undefined,
  ]);
}
