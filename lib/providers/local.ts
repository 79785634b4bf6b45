import { chromeFactory, type PooledBrowser } from '../browser.js';
import { findChrome, type FoundChrome } from '../chrome/find.js';
import type { RunDir } from '../chrome/runtime.js';
import type { HeadlessMode } from '../options.js';
import type { BrowserFactory } from '../pool/types.js';
import type { ProviderHooks } from './provider.js';

/** Sessions on Chrome launched on this machine (the default provider). Made by {@link localChrome}. */
export class LocalChromeProvider implements ProviderHooks {
  readonly kind = 'local' as const;
  /** @internal */
  readonly abandonsLaunches = false;

  /** @internal */
  findChrome(opts: { executablePath: string | undefined; headless: HeadlessMode | undefined }): FoundChrome {
    return findChrome(opts);
  }

  /** @internal */
  factory(run: RunDir, launchTimeoutMs: number): BrowserFactory<PooledBrowser> {
    return chromeFactory(run, launchTimeoutMs);
  }

  /** @internal Local Chrome leaves no background work: the pool closes every browser. */
  settle(): Promise<void> {
    return Promise.resolve();
  }

  /** @internal Local Chrome dies with its process group (the run folder's `destroySync`). */
  shutdownSync(): void {}

  /** @internal */
  checkCreate(): void {}
}

/** Sessions on local Chrome: `new SessionManager({ provider: localChrome() })` is the default. */
export function localChrome(): LocalChromeProvider {
  return new LocalChromeProvider();
}
