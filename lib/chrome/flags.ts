import type { HeadlessMode } from '../options.js';

/**
 * Flags every browser gets. The network-related ones matter on closed networks: without them
 * Chrome keeps dialing Google services and floods the machine with refused connections.
 */
const BASE_FLAGS = [
  '--remote-debugging-port=0',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-extensions',
  '--disable-default-apps',
  '--disable-breakpad',
  '--disable-crash-reporter',
  '--disable-hang-monitor',
  '--disable-client-side-phishing-detection',
  '--disable-domain-reliability',
  // BackForwardCache: the reset navigates the kept page away, and a cached previous document
  // must not survive into the next session (Puppeteer disables it too).
  '--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider,BackForwardCache',
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
];

/** The full argument list for one browser; `userArgs` come last so they can override ours. */
export function chromeArgs(opts: { headless: HeadlessMode; userDataDir: string; userArgs: readonly string[] }): string[] {
  const args = [...BASE_FLAGS, `--user-data-dir=${opts.userDataDir}`];
  // headless-shell is headless by construction; full Chrome needs the new headless mode.
  if (opts.headless === 'new') args.push('--headless=new');
  // Chrome refuses to start its sandbox as root.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  args.push(...opts.userArgs);
  // One blank page, so `browser.contexts()[0].pages()[0]` works as on cloud providers.
  args.push('about:blank');
  return args;
}
