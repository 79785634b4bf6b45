import { EventEmitter } from 'eventemitter3';
import { CdpConnection } from './cdp.js';
import type { ChromeProcess, ExitInfo } from './chrome/launch.js';
import { windowBoundsAtLaunch, type WindowBounds } from './reset.js';

/**
 * One launched browser as the pool holds it: the process, the manager's own CDP connection to
 * it, and a live count of its pages (for the "all pages closed" rule).
 */
export class PooledBrowser extends EventEmitter<{ pagesChanged: [count: number]; exit: [info: ExitInfo] }> {
  readonly process: ChromeProcess;
  readonly cdp: CdpConnection;
  /** The pool key of its launch configuration. */
  readonly key: string;
  /** Sessions it has served so far. */
  sessionsServed = 0;
  /** Its window's bounds at launch; the reset gives them back to the page it keeps. */
  windowBounds: WindowBounds | undefined;
  /** Set when the manager closes it on purpose, so its exit is not reported as a crash. */
  closing = false;
  readonly #pages = new Set<string>();

  private constructor(proc: ChromeProcess, cdp: CdpConnection, key: string) {
    super();
    this.process = proc;
    this.cdp = cdp;
    this.key = key;
    cdp.on('event', (e) => {
      const info = e.params.targetInfo as { targetId: string; type: string } | undefined;
      if (e.method === 'Target.targetCreated' && info?.type === 'page') {
        this.#pages.add(info.targetId);
        this.emit('pagesChanged', this.#pages.size);
      } else if (e.method === 'Target.targetDestroyed') {
        if (this.#pages.delete(e.params.targetId as string)) this.emit('pagesChanged', this.#pages.size);
      }
    });
    void proc.exited.then((info) => {
      cdp.close();
      this.emit('exit', info);
    });
  }

  /** Connects the manager's CDP connection and starts tracking pages. Closes the process on failure. */
  static async attach(proc: ChromeProcess, key: string, timeoutMs: number): Promise<PooledBrowser> {
    try {
      const cdp = await CdpConnection.connect(proc.wsEndpoint, timeoutMs);
      const browser = new PooledBrowser(proc, cdp, key);
      // targetCreated fires for every existing target first, so the count starts right.
      [, browser.windowBounds] = await Promise.all([
        cdp.send('Target.setDiscoverTargets', { discover: true }, { timeoutMs }),
        windowBoundsAtLaunch(cdp, timeoutMs),
      ]);
      return browser;
    } catch (err) {
      await proc.close({ graceMs: 0 });
      throw err;
    }
  }

  /** Pages open in any of its contexts. */
  get pageCount(): number {
    return this.#pages.size;
  }

  /** Pid of the browser process. */
  get pid(): number {
    return this.process.pid;
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

  /** Closes the browser: `Browser.close`, then SIGKILL of its group after a grace period. */
  async close(graceMs = 1000): Promise<void> {
    this.closing = true;
    await this.process.close({ graceMs, polite: this.cdp.closed ? undefined : () => this.cdp.send('Browser.close') });
  }
}
