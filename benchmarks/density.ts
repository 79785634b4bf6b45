/**
 * Density: how many concurrent sessions, each holding one loaded local page, this machine carries
 * in each isolation mode, against what puppeteer-cluster's CONCURRENCY_CONTEXT holds (one
 * browser, a browser context and a page per job: that is emulated here with puppeteer-core
 * directly, since a cluster job would have to block to hold its page).
 *
 * Sessions are opened one after another (create + puppeteer.connect + goto of a local page, the
 * client stays connected); every `--step` sessions the PSS and RSS of the browser trees are read.
 * A strategy stops at `--max` sessions (200) or `--max-rss-gib` (16) of RSS. Printed: sessions
 * reached, PSS and RSS there, and sessions per GiB of PSS, with its ratio to the cluster emulation.
 *
 * Usage: node dist/bench/benchmarks/density.js [--max 200] [--step 10] [--max-rss-gib 16]
 *        [--strategies cluster-context,ours-context,ours-reset,ours-browser] [--build shell|new]
 */
import puppeteer, { type Browser } from 'puppeteer-core';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { DISABLED_FEATURES } from '../lib/chrome/flags.js';
import { FACTS_FLAGS, MiB, browserTreeMemory, cli, executableFor, fmt, int, round, runMain, startPageServer, table, writeResults, runMeta, type Build, type PageServer } from './common.js';

const args = cli({
  max: { type: 'string', default: '200' },
  step: { type: 'string', default: '10' },
  'max-rss-gib': { type: 'string', default: '16' },
  strategies: { type: 'string', default: 'cluster-context,ours-context,ours-reset,ours-browser' },
  build: { type: 'string', default: 'shell' },
  'sessions-per-browser': { type: 'string', default: '' },
});
const MAX = int('max', args.max);
const STEP = int('step', args.step);
const MAX_RSS = int('max-rss-gib', args['max-rss-gib']) * 1024 * MiB;
const BUILD = args.build as Build;

interface Holder {
  /** Opens one more session holding page `i`. */
  add(i: number): Promise<void>;
  close(): Promise<void>;
}

interface Point {
  sessions: number;
  pssMiB: number;
  rssMiB: number;
  processes: number;
}

/** puppeteer-cluster CONCURRENCY_CONTEXT, held: one browser, a context and a page per session. */
async function clusterContext(pages: PageServer): Promise<Holder> {
  const browser = await puppeteer.launch({
    executablePath: executableFor(BUILD),
    headless: BUILD === 'shell' ? 'shell' : true,
    args: [...FACTS_FLAGS, `--disable-features=${DISABLED_FEATURES.join(',')}`],
  });
  return {
    async add(i) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.goto(pages.url(i));
    },
    close: () => browser.close(),
  };
}

/** Our sessions in one isolation mode, each with a connected Puppeteer client holding its page. */
async function ours(pages: PageServer, isolation: IsolationMode): Promise<Holder> {
  const spb = args['sessions-per-browser'] ? int('sessions-per-browser', args['sessions-per-browser']) : undefined;
  const manager = new SessionManager({ maxConcurrent: MAX, minIdle: 0, isolation, headless: BUILD, executablePath: executableFor(BUILD), ...(spb ? { sessionsPerBrowser: spb } : {}) });
  const clients: Browser[] = [];
  return {
    async add(i) {
      const s = await manager.create({ keepAlive: true });
      const client = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      clients.push(client);
      const [page] = await client.pages();
      await page!.goto(pages.url(i));
    },
    async close() {
      await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
      await manager.close();
    },
  };
}

async function measure(name: string, make: () => Promise<Holder>): Promise<{ name: string; points: Point[]; stoppedBy: string }> {
  const holder = await make();
  const points: Point[] = [];
  let stoppedBy = `max ${MAX} sessions`;
  try {
    for (let i = 1; i <= MAX; i++) {
      await holder.add(i);
      if (i % STEP !== 0 && i !== MAX) continue;
      const m = browserTreeMemory();
      points.push({ sessions: i, pssMiB: round(m.pss / MiB, 0), rssMiB: round(m.rss / MiB, 0), processes: m.processes });
      console.log(`  ${name.padEnd(16)} ${String(i).padStart(3)} sessions  PSS ${fmt(m.pss / MiB, 0)} MiB  RSS ${fmt(m.rss / MiB, 0)} MiB  ${m.processes} processes`);
      if (m.rss > MAX_RSS) {
        stoppedBy = `RSS over ${args['max-rss-gib']} GiB`;
        break;
      }
    }
  } catch (err) {
    stoppedBy = `error: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await holder.close();
  }
  return { name, points, stoppedBy };
}

runMain(async () => {
  const pages = await startPageServer();
  const make: Record<string, () => Promise<Holder>> = {
    'cluster-context': () => clusterContext(pages),
    'ours-context': () => ours(pages, 'context'),
    'ours-reset': () => ours(pages, 'reset'),
    'ours-browser': () => ours(pages, 'browser'),
  };
  const runs = [];
  try {
    for (const name of args.strategies.split(',')) {
      if (!make[name]) throw new Error(`unknown strategy ${name}`);
      runs.push(await measure(name, make[name]!));
    }
  } finally {
    await pages.close();
  }
  const perGib = (p: Point | undefined) => (p ? p.sessions / (p.pssMiB / 1024) : 0);
  const base = perGib(runs.find((r) => r.name === 'cluster-context')?.points.at(-1));
  const rows = runs.map((r) => {
    const last = r.points.at(-1);
    return [r.name, String(last?.sessions ?? 0), fmt(last?.pssMiB, 0), fmt(last?.rssMiB, 0), String(last?.processes ?? 0), fmt(perGib(last), 1), base ? fmt(perGib(last) / base, 2) : '–', r.stoppedBy];
  });
  console.log(`\n${table(['strategy', 'sessions', 'PSS MiB', 'RSS MiB', 'processes', 'sessions per GiB (PSS)', '÷ cluster CONTEXT', 'stopped by'], rows)}`);
  console.log(`wrote ${writeResults('density', { meta: runMeta(), build: BUILD, max: MAX, step: STEP, runs })}`);
});
