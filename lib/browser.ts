import fs from 'node:fs';
import { EventEmitter } from 'eventemitter3';
import { CdpConnection } from './cdp.js';
import { launchChrome, type ChromeProcess, type ExitInfo, type LaunchSpec } from './chrome/launch.js';
import type { RunDir } from './chrome/runtime.js';
import { ChromeSessionsError, LaunchError } from './errors.js';
import type { BrowserFactory, PoolBrowser } from './pool/types.js';
import { resetBrowser, windowBoundsAtLaunch, type WindowBounds } from './reset.js';

/** Sum of RSS over a browser's process group, from /proc. */
export function processGroupRssBytes(pgid: number): number {
  let total = 0;
  const page = 4096;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields after the name: [0]=state [2]=pgrp ... [21]=rss (pages)
      if (Number(f[2]) === pgid) total += Number(f[21]) * page;
    } catch {
      // process ended while we read
    }
  }
  return total;
}

/**
 * One launched browser as the pool holds it: the process, the manager's own CDP connection to
 * it, and a live count of its pages (for the "all pages closed" rule). The manager's connection
 * is its lifeline: if it drops while Chrome runs, the browser can no longer be reset or watched,
 * so it is killed, and its exit ends whatever session it served.
 */
export class PooledBrowser extends EventEmitter<{ pagesChanged: [count: number] }> implements PoolBrowser {
  readonly process: ChromeProcess;
  readonly cdp: CdpConnection;
  /** Its window's bounds at launch; the reset gives them back to the page it keeps. */
  windowBounds: WindowBounds | undefined;
  /** Set when the manager closes it on purpose. */
  closing = false;
  /** Open pages: target id → its browser context's id. */
  readonly #pages = new Map<string, string>();

  private constructor(proc: ChromeProcess, cdp: CdpConnection) {
    super();
    this.process = proc;
    this.cdp = cdp;
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
  static async attach(proc: ChromeProcess, timeoutMs: number): Promise<PooledBrowser> {
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

  /** Ids of the pages open in the browser context `contextId`. */
  pageIdsIn(contextId: string): string[] {
    return [...this.#pages].filter(([, c]) => c === contextId).map(([id]) => id);
  }

  /** Pages open in the browser context `contextId`. */
  pagesIn(contextId: string): number {
    let n = 0;
    for (const c of this.#pages.values()) if (c === contextId) n++;
    return n;
  }

  /**
   * A fresh browser context with one blank page, for a session of its own ('context' isolation).
   * Nothing is left behind when it fails.
   */
  async openContext(timeoutMs: number, opts: { proxyServer?: string; proxyBypassList?: string } = {}): Promise<string> {
    const { browserContextId } = await this.cdp.send('Target.createBrowserContext', { disposeOnDetach: false, ...opts }, { timeoutMs });
    try {
      await this.cdp.send('Target.createTarget', { url: 'about:blank', browserContextId }, { timeoutMs });
      return browserContextId;
    } catch (err) {
      await this.cdp.send('Target.disposeBrowserContext', { browserContextId }, { timeoutMs }).catch(() => {});
      throw err;
    }
  }

  /** Disposes browser contexts with everything in them (pages, storage, connections). */
  async disposeContexts(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    await Promise.all([...ids].map((browserContextId) => this.cdp.send('Target.disposeBrowserContext', { browserContextId }, { timeoutMs })));
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
      return false;
    }
  }

  reset(timeoutMs: number): Promise<void> {
    return resetBrowser(this.cdp, timeoutMs, { windowBounds: this.windowBounds });
  }

  rssBytes(): number {
    return processGroupRssBytes(this.pid);
  }

  /** Kills the process group at once (a hung browser). */
  kill(): void {
    this.process.kill();
  }

  /** Closes the browser: `Browser.close`, then SIGKILL of its group after a grace period. */
  async close(graceMs = 1000): Promise<void> {
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
