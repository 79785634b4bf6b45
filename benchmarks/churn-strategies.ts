/**
 * The strategies churn.ts compares, each running the same short job: `naive` (`puppeteer.launch`
 * per job), puppeteer-cluster in CONTEXT or BROWSER mode (as shipped, or with the library's Chrome
 * flags), and the library in each isolation mode.
 */
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { Cluster } from 'puppeteer-cluster';
import { DISABLED_FEATURES, IN_PROCESS_GPU } from '../lib/chrome/flags.js';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { loadAndCheck, poolQuiet, sessionJob } from './jobs.js';
import { FACTS_FLAGS, executableFor, round, tempDir, waitFor, type Build, type PageServer } from './common.js';

/** Investigation knobs for the library's strategies (defaults: the library's own). */
export interface Knobs {
  /** Parent folder of the manager's runtimeDir; '' for the library's default. */
  readonly runtimeParent: string;
  readonly minIdle: number | undefined;
}

/** Times (ms) of the parts of one job, when a strategy reports them. */
export type Parts = Record<string, number>;

/** One way of running the churn job: a peer, or the library in one isolation mode. */
export interface Strategy {
  readonly name: string;
  setup(): Promise<void>;
  /** One job; may return the duration of its parts (ms). Throws if the title is wrong. */
  job(i: number): Promise<Parts | void>;
  /** Resolves once background work started by the jobs (resets, closes, launches) is done. */
  settle(): Promise<void>;
  teardown(): Promise<void>;
  extra?(): Record<string, unknown>;
}

function launchOptions(build: Build, ourFeatures = false) {
  return {
    executablePath: executableFor(build),
    // 'shell' is Puppeteer's name for the old headless mode, which is what chrome-headless-shell is.
    headless: build === 'shell' ? ('shell' as const) : true,
    // Puppeteer merges a --disable-features list with its own.
    args: ourFeatures ? [...FACTS_FLAGS, `--disable-features=${DISABLED_FEATURES.join(',')}`, ...(FACTS_FLAGS.includes('--no-sandbox') ? [IN_PROCESS_GPU] : [])] : FACTS_FLAGS,
    defaultViewport: null,
  };
}

export function naive(build: Build, pages: PageServer): Strategy {
  const live = new Set<Browser>();
  return {
    name: 'naive',
    async setup() {},
    async job(i) {
      const t0 = performance.now();
      const browser = await puppeteer.launch(launchOptions(build));
      live.add(browser);
      try {
        const t1 = performance.now();
        const page = (await browser.pages())[0] ?? (await browser.newPage());
        await loadAndCheck(page, pages, i);
        const t2 = performance.now();
        await browser.close();
        return { launch: t1 - t0, work: t2 - t1, close: performance.now() - t2 };
      } finally {
        live.delete(browser);
        await browser.close().catch(() => {});
      }
    },
    async settle() {},
    async teardown() {
      await Promise.all([...live].map((b) => b.close().catch(() => {})));
    },
  };
}

export function cluster(build: Build, pages: PageServer, c: number, mode: 'context' | 'browser', ourFeatures = false): Strategy {
  let cl: Cluster<number, string> | undefined;
  return {
    name: `cluster-${mode}${ourFeatures ? '+flags' : ''}`,
    async setup() {
      cl = await Cluster.launch({
        concurrency: mode === 'context' ? Cluster.CONCURRENCY_CONTEXT : Cluster.CONCURRENCY_BROWSER,
        maxConcurrency: c,
        puppeteer,
        puppeteerOptions: launchOptions(build, ourFeatures) as never,
        timeout: 60_000,
      });
    },
    async job(i) {
      await cl!.execute(i, async ({ page, data }) => {
        await loadAndCheck(page as unknown as Page, pages, data);
        return '';
      });
    },
    async settle() {
      await cl!.idle();
    },
    async teardown() {
      await cl?.close();
    },
  };
}

export function ours(build: Build, pages: PageServer, c: number, name: string, isolation: IsolationMode, knobs: Knobs, sessionsPerBrowser?: number): Strategy {
  let manager: SessionManager | undefined;
  const alive = new Set<number>();
  return {
    name,
    async setup() {
      manager = new SessionManager({
        maxConcurrent: c,
        headless: build,
        executablePath: executableFor(build),
        ...(knobs.runtimeParent ? { runtimeDir: tempDir('bench-churn-rt-', knobs.runtimeParent) } : {}),
        isolation,
        ...(sessionsPerBrowser === undefined ? {} : { sessionsPerBrowser }),
        ...(knobs.minIdle === undefined ? {} : { minIdle: knobs.minIdle }),
      });
      manager.on('browserLaunched', (e) => alive.add(e.pid));
      manager.on('browserExited', (e) => alive.delete(e.pid));
      await manager.warmUp();
      if (knobs.minIdle !== 0) await waitFor(() => manager!.stats().idle >= 1, 30_000, 'the first warm browser');
    },
    async job(i) {
      return { ...(await sessionJob(manager!, pages, i)) };
    },
    async settle() {
      // Quiet pool, and every browser still running is an idle one (discarded ones have exited).
      await waitFor(() => poolQuiet(manager!) && alive.size === manager!.stats().idle, 60_000, 'the pool to settle');
    },
    async teardown() {
      await manager?.close();
    },
    extra() {
      const s = manager!.stats();
      return { launches: s.launches, resets: s.resets, recycles: s.recycles, resetMsP50: s.resetMsP50 === undefined ? undefined : round(s.resetMsP50) };
    },
  };
}

