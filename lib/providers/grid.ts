import { PooledBrowser } from '../browser.js';
import type { FoundChrome } from '../chrome/find.js';
import { chromeArgs } from '../chrome/flags.js';
import type { LaunchSpec } from '../chrome/launch.js';
import { ChromeSessionsError, CreateAbortedError, InvalidOptionError } from '../errors.js';
import type { BrowserFactory } from '../pool/types.js';
import type { ProxySettings } from '../session/proxy.js';
import { bool, checkKeys, ms } from '../validate.js';
import { deleteSessionsSync } from './grid-http.js';
import { GridSession, type GridTarget } from './grid-session.js';
import type { ProviderHooks } from './provider.js';

export { REQUEST_TAG } from './grid-session.js';

/** Options of {@link seleniumGrid}. */
export interface SeleniumGridOptions {
  /**
   * The Grid's URL: the hub's, or the router's in distributed mode, e.g. `http://grid.internal:4444`
   * (a path such as `/wd/hub` is kept). Credentials in it (`http://user:pass@…`, Grid's
   * `--username`/`--password`) are sent as Basic auth, also on the `se:cdp` websocket.
   */
  readonly url: string;
  /**
   * Capabilities of every `POST /session`, over ours (`browserName: 'chrome'` and
   * `goog:chromeOptions.args`): e.g. `platformName`, `browserVersion`, `se:name`, or
   * `goog:chromeOptions.binary` (the Chrome binary on the nodes). Args given here come after ours.
   * @default { browserName: 'chrome' }
   */
  readonly capabilities?: Readonly<Record<string, unknown>>;
  /** Chrome in its new headless mode (`--headless=new`); `false` for nodes with a display. @default true */
  readonly headless?: boolean;
  /**
   * Each Grid session gets a WebDriver command this often: Grid's `--session-timeout` (300 s by
   * default) counts WebDriver commands only, so a session used over CDP alone would be reaped.
   * Also how soon a session the Grid lost (node or Chrome died) is noticed. `0`: off. @default 10_000
   */
  readonly heartbeatIntervalMs?: number;
  /** Bound on each HTTP call to the Grid other than the new-session request (which `launchTimeoutMs` bounds). @default 10_000 */
  readonly requestTimeoutMs?: number;
}

const GRID_OPTION_NAMES = ['url', 'capabilities', 'headless', 'heartbeatIntervalMs', 'requestTimeoutMs'] as const satisfies readonly (keyof SeleniumGridOptions)[];

/** Flags of ours that mean nothing on a node: chromedriver picks the profile and the debugging port. */
const NODE_DROPS = new Set(['--remote-debugging-port=0', '--user-data-dir=', 'about:blank']);

/**
 * Sessions on a Selenium Grid 4 (made by {@link seleniumGrid}): each browser is a Grid session
 * (`POST /session`), reached over its `se:cdp` websocket; the pool, the endpoint, the lifecycle
 * rules and the isolation modes work over it unchanged.
 */
export class SeleniumGridProvider implements ProviderHooks {
  readonly kind = 'selenium-grid' as const;
  /** @internal */
  readonly abandonsLaunches = true;
  /** The Grid's URL, without credentials. */
  readonly url: string;
  readonly #target: GridTarget;
  readonly #capabilities: Readonly<Record<string, unknown>>;
  readonly #headless: boolean;
  /** Watches of the hub for sessions that cancelled requests may still create. */
  readonly #watches = new Set<Promise<void>>();
  /** Grid sessions alive now, deleted synchronously on a signal exit. */
  readonly #live = new Set<GridSession>();

  /** @internal Use {@link seleniumGrid}. */
  constructor(options: SeleniumGridOptions) {
    const o = checkKeys('seleniumGrid', options, GRID_OPTION_NAMES) as Partial<SeleniumGridOptions>;
    let url: URL;
    try {
      url = new URL(String(o.url));
    } catch {
      throw new InvalidOptionError('seleniumGrid.url', 'an http(s) URL such as http://grid:4444', o.url);
    }
    if (typeof o.url !== 'string' || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new InvalidOptionError('seleniumGrid.url', 'an http(s) URL such as http://grid:4444', o.url);
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const wsAuth = url.username ? `${url.username}:${url.password}@` : '';
    url.username = '';
    url.password = '';
    this.url = url.href.replace(/\/+$/, '');
    this.#capabilities = checkCapabilities(o.capabilities);
    this.#headless = bool('seleniumGrid.headless', o.headless, true);
    this.#target = {
      base: this.url,
      headers: wsAuth ? { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` } : {},
      wsAuth,
      heartbeatIntervalMs: ms('seleniumGrid.heartbeatIntervalMs', o.heartbeatIntervalMs, 10_000, 0),
      requestTimeoutMs: ms('seleniumGrid.requestTimeoutMs', o.requestTimeoutMs, 10_000, 1),
    };
  }

  /** @internal */
  findChrome(): FoundChrome {
    const chrome = this.#capabilities['goog:chromeOptions'] as { binary?: unknown } | undefined;
    return { executablePath: typeof chrome?.binary === 'string' ? chrome.binary : `chrome on Selenium Grid ${this.url}`, headless: 'new' };
  }

  /** @internal */
  factory(_run: unknown, launchTimeoutMs: number): BrowserFactory<PooledBrowser> {
    return {
      launch: async (spec: LaunchSpec, signal: AbortSignal): Promise<PooledBrowser> => {
        const session = await GridSession.create(this.#target, this.capabilitiesFor(spec), signal, launchTimeoutMs, (w) => this.#track(w));
        this.#live.add(session);
        void session.exited.then(() => this.#live.delete(session));
        const browser = await PooledBrowser.attach(session, Math.min(launchTimeoutMs, this.#target.requestTimeoutMs));
        if (signal.aborted) {
          await browser.close();
          throw signal.reason instanceof ChromeSessionsError ? signal.reason : new CreateAbortedError('cancelled while Grid created the session', { cause: signal.reason });
        }
        return browser;
      },
    };
  }

  /** @internal */
  settle(): Promise<void> {
    return Promise.all(this.#watches).then(() => {});
  }

  /** @internal */
  shutdownSync(): void {
    deleteSessionsSync(this.#target.base, [...this.#live].map((s) => s.gridSessionId), this.#target.headers);
  }

  #track(watch: Promise<void>): void {
    const settled = watch.catch(() => {}).finally(() => this.#watches.delete(settled));
    this.#watches.add(settled);
  }

  /** @internal */
  checkCreate(p: { readonly proxy: ProxySettings | undefined; readonly browserURL: boolean; readonly profile: boolean }): void {
    if (p.proxy?.username !== undefined) {
      throw new InvalidOptionError('create.proxy', 'a proxy without credentials with a seleniumGrid provider (Chrome runs on a node, which cannot reach the local forwarder that adds them)', '(a proxy with credentials)');
    }
    if (p.browserURL) throw new InvalidOptionError('create.browserURL', 'false with a seleniumGrid provider (the node serves no DevTools HTTP endpoint of its own)', true);
    if (p.profile) throw new InvalidOptionError('create.profile', 'no profile with a seleniumGrid provider (a profile is a folder on this machine; the node cannot open it)', '(a profile)');
  }

  /**
   * The capabilities of a new session for `spec`: our Chrome flags (those that make sense on a
   * node) and the manager's `args`, then the provider's capabilities and their args.
   * @internal
   */
  capabilitiesFor(spec: LaunchSpec): Record<string, unknown> {
    const chrome = (this.#capabilities['goog:chromeOptions'] ?? {}) as { args?: readonly string[] };
    // 'shell' adds no headless flag; ours follows. This host's uid says nothing of the node's: the
    // sandbox is turned off (and the GPU work moved in-process with it) only by the user's args.
    const ours = chromeArgs({ headless: 'shell', userDataDir: '', userArgs: spec.args, asRoot: false }).filter((a) => !NODE_DROPS.has(a));
    const args = [...(this.#headless ? ['--headless=new'] : []), ...ours, ...(chrome.args ?? [])];
    return { browserName: 'chrome', ...this.#capabilities, 'goog:chromeOptions': { ...chrome, args } };
  }
}

/**
 * Sessions on a Selenium Grid 4 instead of local Chrome:
 * `new SessionManager({ provider: seleniumGrid({ url: 'http://grid:4444' }) })`. Throws
 * `InvalidOptionError` naming a bad option.
 */
export function seleniumGrid(options: SeleniumGridOptions): SeleniumGridProvider {
  return new SeleniumGridProvider(options);
}

function checkCapabilities(value: unknown): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidOptionError('seleniumGrid.capabilities', 'an object of W3C capabilities', value);
  const caps = value as Record<string, unknown>;
  const chrome = caps['goog:chromeOptions'];
  if (chrome !== undefined) {
    if (chrome === null || typeof chrome !== 'object' || Array.isArray(chrome)) throw new InvalidOptionError("seleniumGrid.capabilities['goog:chromeOptions']", 'an object', chrome);
    const args = (chrome as { args?: unknown }).args;
    if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))) throw new InvalidOptionError("seleniumGrid.capabilities['goog:chromeOptions'].args", 'an array of strings', args);
  }
  return structuredClone(caps);
}
