import { EventEmitter } from 'eventemitter3';
import { CdpConnection } from './cdp.js';
import { procStats } from './proc.js';
import { launchChrome, type ExitInfo, type LaunchSpec } from './chrome/launch.js';
import type { RunDir } from './chrome/runtime.js';
import { ChromeSessionsError, LaunchError } from './errors.js';
import type { BrowserFactory, PoolBrowser } from './pool/types.js';
import type { BrowserProcess } from './providers/process.js';
import { resetBrowser, windowBoundsAtLaunch, type WindowBounds } from './reset.js';
import { PageEmulation } from './page-emulation.js';
import type { PageOverrides } from './session/emulation.js';

/** A browser context's own proxy (`Target.createBrowserContext`'s parameters). */
export interface ContextProxy {
  readonly proxyServer: string;
  readonly proxyBypassList?: string;
}

/** A Chrome on a named profile gets this long to flush it and exit after `Browser.close`. */
const PROFILE_CLOSE_GRACE_MS = 5_000;

/** Sum of RSS over a browser's process group, from /proc. */
export function processGroupRssBytes(pgid: number): number {
  let total = 0;
  for (const { f } of procStats()) if (Number(f[2]) === pgid) total += Number(f[21]) * 4096;
  return total;
}

/**
 * One launched browser as the pool holds it: the process, the manager's own CDP connection to
 * it, and a live count of its pages (for the "all pages closed" rule). The manager's connection
 * is its lifeline: if it drops while Chrome runs, the browser can no longer be reset or watched,
 * so it is killed, and its exit ends whatever session it served.
 */
export class PooledBrowser extends EventEmitter<{ pagesChanged: [count: number] }> implements PoolBrowser {
  /** A local Chrome process or a Grid session. */
  readonly process: BrowserProcess;
  readonly cdp: CdpConnection;
  /** Its window's bounds at launch; the reset gives them back to the page it keeps. */
  windowBounds: WindowBounds | undefined;
  /** Set when the manager closes it on purpose. */
  closing = false;
  /** Open pages: target id → its browser context's id. */
  readonly #pages = new Map<string, string>();
  /** Per-session page overrides, over a connection of their own (never sees the reset's attachments). */
  readonly #emulation: PageEmulation;
  #userAgent: string | undefined;
  /** Contexts a session's clients created ('context' isolation) → that session's context. */
  readonly #adopted = new Map<string, string>();
  /** Each session context's proxy, which the contexts its clients create get too. */
  readonly #proxies = new Map<string, ContextProxy>();
  /** 'context' isolation: the launch's blank page was closed at the first context. */
  #launchPagesClosed = false;

  private constructor(proc: BrowserProcess, cdp: CdpConnection) {
    super();
    this.process = proc;
    this.cdp = cdp;
    this.#emulation = new PageEmulation({
      wsEndpoint: proc.wsEndpoint,
      exited: proc.exited,
      pageContexts: () => this.#pages.entries(),
      sessionContextOf: (id) => this.sessionContextOf(id),
      defaultUserAgent: (ms) => this.#defaultUserAgent(ms),
    });
    cdp.on('event', (e) => {
      if (e.method === 'Target.targetCreated' && e.params.targetInfo.type === 'page') {
        this.#pages.set(e.params.targetInfo.targetId, e.params.targetInfo.browserContextId ?? '');
        this.emit('pagesChanged', this.#pages.size);
      } else if (e.method === 'Target.targetDestroyed') {
        if (this.#pages.delete(e.params.targetId)) this.emit('pagesChanged', this.#pages.size);
      }
    });
    cdp.once('close', () => {
      if (!this.closing) proc.kill();
    });
    void proc.exited.then(() => cdp.close());
  }

  /**
   * Connects the manager's CDP connection and starts tracking pages. On failure the process is
   * closed and the error is a {@link LaunchError}.
   */
  static async attach(proc: BrowserProcess, timeoutMs: number): Promise<PooledBrowser> {
    try {
      const cdp = await CdpConnection.connect(proc.wsEndpoint, timeoutMs);
      const browser = new PooledBrowser(proc, cdp);
      // targetCreated fires for every existing target first, so the count starts right.
      [, browser.windowBounds] = await Promise.all([
        cdp.send('Target.setDiscoverTargets', { discover: true }, { timeoutMs }),
        windowBoundsAtLaunch(cdp, timeoutMs),
      ]);
      return browser;
    } catch (err) {
      await proc.close({ graceMs: 0 });
      const why = err instanceof Error ? err.message : String(err);
      throw new LaunchError(`Chrome started but the manager could not attach to it: ${why}`, proc.executablePath, proc.stderrTail, { cause: err });
    }
  }

  /** Pages open in any of its contexts. */
  get pageCount(): number {
    return this.#pages.size;
  }

  /** Ids of its open pages, oldest first. */
  pageIds(): string[] {
    return [...this.#pages.keys()];
  }

  /** Ids of the pages open in the browser context `contextId`. */
  pageIdsIn(contextId: string): string[] {
    return [...this.#pages].filter(([, c]) => c === contextId).map(([id]) => id);
  }

  /** Ids of the pages of session context `contextId` and of the contexts its clients created. */
  sessionPageIds(contextId: string): string[] {
    return [...this.#pages].filter(([, c]) => this.sessionContextOf(c) === contextId).map(([id]) => id);
  }

  /** How many pages session context `contextId` and the contexts its clients created have open. */
  sessionPageCount(contextId: string): number {
    let n = 0;
    for (const c of this.#pages.values()) if (this.sessionContextOf(c) === contextId) n++;
    return n;
  }

  /**
   * Records that a client of the session whose context is `sessionContextId` created `contextId`:
   * its pages are that session's, and get its overrides and page hooks.
   */
  adoptContext(contextId: string, sessionContextId: string): void {
    this.#adopted.set(contextId, sessionContextId);
  }

  /** The session context that browser context `contextId` belongs to ('' for the default one). */
  sessionContextOf(contextId: string | undefined): string {
    const id = contextId ?? '';
    return this.#adopted.get(id) ?? id;
  }

  /** The proxy session context `contextId` was opened with (its clients' contexts get it too). */
  proxyOf(contextId: string): ContextProxy | undefined {
    return this.#proxies.get(contextId);
  }

  /**
   * A fresh browser context with one blank page, for a session of its own ('context' isolation).
   * Nothing is left behind when it fails.
   */
  async openContext(timeoutMs: number, proxy?: ContextProxy): Promise<string> {
    if (!this.#launchPagesClosed) {
      // The blank page Chrome opened at launch, in its default context, which no 'context' session
      // can reach: its renderer holds ~16 MiB (PSS, headless-shell). Those open before the first
      // context are that page alone (a browser lent by contexts serves no other mode).
      this.#launchPagesClosed = true;
      for (const targetId of this.pageIds()) void this.cdp.send('Target.closeTarget', { targetId }, { timeoutMs }).catch(() => {});
    }
    const { browserContextId } = await this.cdp.send('Target.createBrowserContext', { disposeOnDetach: false, ...proxy }, { timeoutMs });
    try {
      await this.cdp.send('Target.createTarget', { url: 'about:blank', browserContextId }, { timeoutMs });
      if (proxy) this.#proxies.set(browserContextId, proxy);
      return browserContextId;
    } catch (err) {
      await this.cdp.send('Target.disposeBrowserContext', { browserContextId }, { timeoutMs }).catch(() => {});
      throw err;
    }
  }

  /**
   * Makes every page of session context `contextId` (`'*'`: every context) report `o`, with its
   * out-of-process iframes: the pages there now, and each new one before it runs
   * ({@link PageEmulation}).
   */
  applyOverrides(contextId: string, o: PageOverrides, timeoutMs: number): Promise<void> {
    return this.#emulation.apply(contextId, o, timeoutMs);
  }

  /**
   * Stops making pages of `contextId` (`'*'`: every context) report a session's overrides, and
   * undoes them on pages that outlive the session (a reset Chrome's kept page).
   */
  clearOverrides(contextId: string, timeoutMs?: number): Promise<void> {
    return this.#emulation.clear(contextId, timeoutMs);
  }

  async #defaultUserAgent(timeoutMs: number): Promise<string> {
    this.#userAgent ??= (await this.cdp.send('Browser.getVersion', {}, { timeoutMs })).userAgent;
    return this.#userAgent;
  }

  /**
   * Disposes browser contexts with everything in them (pages, storage, connections). One that is
   * gone already (a client disposed its own) counts as disposed.
   */
  async disposeContexts(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    await Promise.all(
      [...ids].map(async (browserContextId) => {
        this.#adopted.delete(browserContextId);
        this.#proxies.delete(browserContextId);
        await this.cdp.send('Target.disposeBrowserContext', { browserContextId }, { timeoutMs }).catch((err: unknown) => {
          if (!(err instanceof Error && /Failed to find context/i.test(err.message))) throw err;
        });
      }),
    );
  }

  get pid(): number {
    return this.process.pid;
  }

  get startedAt(): number {
    return this.process.startedAt;
  }

  get exited(): Promise<ExitInfo> {
    return this.process.exited;
  }

  /** True while the process runs and the CDP connection is open. */
  get usable(): boolean {
    return this.process.alive && !this.cdp.closed;
  }

  /** True when the browser answers a trivial CDP call within `timeoutMs`. */
  async responsive(timeoutMs: number): Promise<boolean> {
    try {
      await this.cdp.send('Browser.getVersion', {}, { timeoutMs });
      return true;
    } catch {
      // A remote browser may be gone rather than hung: its provider knows (it then reports the exit).
      await this.process.probe?.();
      return false;
    }
  }

  async reset(timeoutMs: number): Promise<void> {
    // A session's overrides (its screen) must not reach the next one: drop them before the reset.
    await this.clearOverrides('*', timeoutMs);
    await resetBrowser(this.cdp, timeoutMs, { windowBounds: this.windowBounds });
  }

  rssBytes(): number {
    return this.process.rssBytes ? this.process.rssBytes() : processGroupRssBytes(this.pid);
  }

  /** Kills the process group at once (a hung browser). */
  kill(): void {
    this.process.kill();
  }

  /** Closes the browser: `Browser.close`, then SIGKILL of its group after a grace period. */
  async close(graceMs = this.process.ownsUserDataDir === false ? PROFILE_CLOSE_GRACE_MS : 1000): Promise<void> {
    this.closing = true;
    await this.process.close({ graceMs, polite: this.cdp.closed ? undefined : () => this.cdp.send('Browser.close', {}, { timeoutMs: graceMs }) });
  }
}

/** The real factory: spawn Chrome in `run`, then attach; every failure is a typed error. */
export function chromeFactory(run: RunDir, launchTimeoutMs: number): BrowserFactory<PooledBrowser> {
  return {
    async launch(spec: LaunchSpec, signal: AbortSignal): Promise<PooledBrowser> {
      const proc = await launchChrome(spec, run, { timeoutMs: launchTimeoutMs, signal });
      if (signal.aborted) {
        await proc.close({ graceMs: 0 });
        throw signal.reason instanceof ChromeSessionsError ? signal.reason : new LaunchError('launch aborted', spec.executablePath, '');
      }
      return PooledBrowser.attach(proc, launchTimeoutMs);
    },
  };
}
