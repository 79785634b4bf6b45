import type { HeadlessMode } from '../options.js';

/**
 * Chrome features every browser runs without.
 * - BackForwardCache: the reset navigates the kept page away, and a cached previous document must
 *   not survive into the next session (Puppeteer disables it too).
 * - RenderDocument: with it Chrome builds a new RenderFrameHost (and its compositor plumbing) for
 *   every cross-document navigation; without it a same-process navigation reuses the frame, as
 *   Chrome did for years. Measured on headless-shell 156: a local page load costs ~10–20 CPU-ms
 *   less and the reset ~15 CPU-ms less, a fifth to a quarter of a pooled job (compare
 *   `BENCH_CHROME_ARGS=--enable-features=RenderDocument node dist/bench/benchmarks/reset-cost.js`
 *   with the same run without it). Pages cannot tell the difference; the isolation suite runs
 *   with it, and test/pool.test.ts checks the reset's fast path with the feature on too.
 * - The rest stop Chrome dialing Google services on a closed network.
 */
export const DISABLED_FEATURES: readonly string[] = ['Translate', 'MediaRouter', 'OptimizationHints', 'DialMediaRouteProvider', 'BackForwardCache', 'RenderDocument'];

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
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
];

/** Runs the GPU service's work in the browser process; added only when the sandbox is off. */
export const IN_PROCESS_GPU = '--in-process-gpu';

/** Switches whose values are lists Chrome reads from the *last* occurrence only. */
const LIST_SWITCHES = ['--disable-features', '--enable-features'] as const;

/**
 * The full argument list for one browser. `userArgs` come last so they can override ours, except
 * `--disable-features` / `--enable-features`, whose lists are merged with ours (Chrome would keep
 * only the last occurrence, silently dropping BackForwardCache from the disabled list). A feature
 * the user enables explicitly is taken off our disabled list. `asRoot` (default: whether this
 * process runs as root) turns the sandbox off, which Chrome cannot start as root.
 */
export function chromeArgs(opts: { headless: HeadlessMode; userDataDir: string; userArgs: readonly string[]; asRoot?: boolean }): string[] {
  const lists: Record<(typeof LIST_SWITCHES)[number], string[]> = { '--disable-features': [], '--enable-features': [] };
  const rest: string[] = [];
  for (const arg of opts.userArgs) {
    const sw = LIST_SWITCHES.find((s) => arg.startsWith(`${s}=`));
    if (sw) lists[sw].push(...arg.slice(sw.length + 1).split(',').filter(Boolean));
    else rest.push(arg);
  }
  const enabled = new Set(lists['--enable-features']);
  const disabled = [...new Set([...DISABLED_FEATURES.filter((f) => !enabled.has(f)), ...lists['--disable-features']])];
  const args = [...BASE_FLAGS, `--disable-features=${disabled.join(',')}`, `--user-data-dir=${opts.userDataDir}`];
  if (enabled.size > 0) args.push(`--enable-features=${[...enabled].join(',')}`);
  // headless-shell is headless by construction; full Chrome needs the new headless mode.
  if (opts.headless === 'new') args.push('--headless=new');
  // Chrome refuses to start its sandbox as root.
  if (opts.asRoot ?? process.getuid?.() === 0) args.push('--no-sandbox');
  args.push(...rest);
  // Without the sandbox a separate GPU process isolates nothing and costs a process, its memory
  // and an IPC hop for every frame of every renderer: its work (software compositing, as
  // `--disable-gpu`) runs in the browser process instead. Measured on headless-shell 156, a short
  // 'context' job: about a tenth less CPU and 5 MiB less PSS (benchmarks/README.md). With the
  // sandbox on, the GPU process stays a sandboxed process of its own.
  if (args.includes('--no-sandbox') && !args.includes(IN_PROCESS_GPU)) args.push(IN_PROCESS_GPU);
  // One blank page, so `browser.contexts()[0].pages()[0]` works as on cloud providers.
  args.push('about:blank');
  return args;
}
