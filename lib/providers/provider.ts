import type { PooledBrowser } from '../browser.js';
import type { FoundChrome } from '../chrome/find.js';
import type { RunDir } from '../chrome/runtime.js';
import type { HeadlessMode } from '../options.js';
import type { BrowserFactory } from '../pool/types.js';
import type { ProxySettings } from '../session/proxy.js';

/** What the manager asks of a provider (both `localChrome()` and `seleniumGrid()` answer it). */
export interface ProviderHooks {
  /** `'local'` or `'selenium-grid'`. */
  readonly kind: 'local' | 'selenium-grid';
  /**
   * True when a launch whose creates all gave up is aborted rather than kept as a warm spare (a
   * remote session that would hold a Grid slot for nobody).
   * @internal
   */
  readonly abandonsLaunches: boolean;
  /** The browser sessions run, as `manager.chrome` reports it. @internal */
  findChrome(opts: { executablePath: string | undefined; headless: HeadlessMode | undefined }): FoundChrome;
  /** The factory the pool launches browsers with. @internal */
  factory(run: RunDir, launchTimeoutMs: number): BrowserFactory<PooledBrowser>;
  /**
   * Resolves once the provider's background work is done (a Grid watch for the session a cancelled
   * request may still create, at most 10 s). `close()` awaits it, so nothing is left behind.
   * @internal
   */
  settle(): Promise<void>;
  /** Ends what the pool cannot kill as a process group, synchronously, for a signal exit (Grid sessions). @internal */
  shutdownSync(): void;
  /** Throws `InvalidOptionError` for a create parameter this provider cannot honour. @internal */
  checkCreate(p: { readonly proxy: ProxySettings | undefined; readonly browserURL: boolean; readonly profile: boolean }): void;
}
