/**
 * One call from a session to a connected Puppeteer or Playwright browser and its page. The clients
 * are optional peer dependencies: they are loaded with `import()` on first use, and only their
 * types are referenced here, so the library runs without either installed.
 */
import type { Browser as PlaywrightBrowser, BrowserContext, ConnectOverCDPOptions, Page as PlaywrightPage } from 'playwright-core';
import type { Browser as PuppeteerBrowser, ConnectOptions, Page as PuppeteerPage } from 'puppeteer-core';
import type { SessionInfo } from './session/types.js';

/**
 * An optional peer dependency (`puppeteer-core`, `playwright-core`, `@playwright/test`) that a
 * helper needs is not installed. `code` is `'ERR_PEER_MISSING'`, `peer` names the package and
 * `cause` is the module loader's error. Not a `ChromeSessionsError`: it is about the install, not
 * a session.
 */
export class PeerDependencyMissingError extends Error {
  /** A stable identifier of the failure. */
  readonly code = 'ERR_PEER_MISSING' as const;
  /** The package to install. */
  readonly peer: string;

  constructor(peer: string, options?: { cause?: unknown }) {
    super(`This helper needs the optional peer dependency '${peer}', which is not installed. Run: npm install ${peer}`, options);
    this.name = 'PeerDependencyMissingError';
    this.peer = peer;
  }
}

/** True when `error` is the module loader failing to find `name` itself (not something inside it). */
function isNotFound(error: unknown, name: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    (e.message.includes(`'${name}'`) || e.message.includes(`"${name}"`))
  );
}

/**
 * Runs `load` (an `import()` of `name`) and turns "package not found" into a
 * {@link PeerDependencyMissingError}; any other failure passes through.
 * @internal Exported for the tests and the fixtures.
 */
export async function importPeer<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isNotFound(error, name)) throw new PeerDependencyMissingError(name, { cause: error });
    throw error;
  }
}

/** What a helper needs of a session: its CDP endpoint (a `Session` or `SessionInfo`, or the URL itself). */
export type SessionEndpoint = Pick<SessionInfo, 'wsEndpoint'> | string;

function endpointOf(session: SessionEndpoint): string {
  return typeof session === 'string' ? session : session.wsEndpoint;
}

/** Options of {@link connectPuppeteer}: Puppeteer's `connect()` options, except where to connect. */
export type PuppeteerConnectOptions = Omit<ConnectOptions, 'browserWSEndpoint' | 'browserURL' | 'transport' | 'connectionTransport'>;

/** A Puppeteer browser connected to a session, and the session's page. */
export interface PuppeteerConnection {
  /** `browser.disconnect()` leaves the session (which then stops, unless keepAlive); `browser.close()` stops it. */
  readonly browser: PuppeteerBrowser;
  /** The session's blank page (a new one if the session had none left). */
  readonly page: PuppeteerPage;
}

/**
 * Connects Puppeteer (`puppeteer-core`, an optional peer) to a session and returns the browser and
 * the session's page.
 *
 * ```ts
 * const { browser, page } = await connectPuppeteer(session);
 * await page.goto('https://example.com');
 * await browser.disconnect();
 * ```
 * @throws PeerDependencyMissingError when `puppeteer-core` is not installed.
 */
export async function connectPuppeteer(session: SessionEndpoint, options: PuppeteerConnectOptions = {}): Promise<PuppeteerConnection> {
  const { connect } = await importPeer('puppeteer-core', () => import('puppeteer-core'));
  const browser = await connect({ ...options, browserWSEndpoint: endpointOf(session) });
  try {
    const [first] = await browser.pages();
    return { browser, page: first ?? (await browser.newPage()) };
  } catch (error) {
    await browser.disconnect().catch(() => {});
    throw error;
  }
}

/** Options of {@link connectPlaywright}: Playwright's `connectOverCDP()` options. */
export type PlaywrightConnectOptions = ConnectOverCDPOptions;

/** A Playwright browser connected to a session over CDP, its default context and the session's page. */
export interface PlaywrightConnection {
  /** `browser.close()` disconnects Playwright: the session then stops, unless it is keepAlive. */
  readonly browser: PlaywrightBrowser;
  /** The browser's default context (`browser.contexts()[0]`), the one the session's page lives in. */
  readonly context: BrowserContext;
  /** The session's blank page (a new one if the session had none left). */
  readonly page: PlaywrightPage;
}

/**
 * Connects Playwright (`playwright-core`, an optional peer) to a session with
 * `chromium.connectOverCDP(session.wsEndpoint)` and returns the browser, its default context and
 * the session's page.
 *
 * ```ts
 * const { browser, page } = await connectPlaywright(session);
 * await page.goto('https://example.com');
 * await browser.close();
 * ```
 * @throws PeerDependencyMissingError when `playwright-core` is not installed.
 */
export async function connectPlaywright(session: SessionEndpoint, options?: PlaywrightConnectOptions): Promise<PlaywrightConnection> {
  const { chromium } = await importPeer('playwright-core', () => import('playwright-core'));
  const browser = await chromium.connectOverCDP(endpointOf(session), options);
  try {
    const context = browser.contexts()[0];
    if (!context) throw new Error('The session has no default browser context');
    return { browser, context, page: context.pages()[0] ?? (await context.newPage()) };
  } catch (error) {
    await browser.close().catch(() => {});
    throw error;
  }
}
