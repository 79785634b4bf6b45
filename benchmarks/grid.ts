/**
 * Sessions through Selenium Grid against local Chrome, in one run: create p50, create-to-first-
 * page-load p50 (create, connect Puppeteer, load a local page) and sessions/s at a concurrency
 * equal to the Grid's slots. Four configurations, full Chromium (`--headless=new`) everywhere:
 *
 *   local · browser   a fresh local Chrome per session (`isolation: 'browser'`)
 *   local · reset     a pooled local Chrome, reset over CDP between sessions
 *   grid · browser    a fresh Grid session per session (the Grid default: POST, DELETE)
 *   grid · reset      a Grid session kept and reset over `se:cdp` between sessions
 *
 * Each side runs with its defaults otherwise (local keeps one warm spare, `minIdle: 1`, in
 * 'browser' isolation; a Grid keeps none, since a spare would hold a Grid slot).
 * The Grid is started here (a hub on 127.0.0.1 and `--nodes` nodes on 127.0.0.2…, one slot each,
 * chromedriver from Debian), unless `--url` names one (its nodes must serve Chrome).
 * Usage: npm run bench:grid -- [--sessions 40] [--nodes 2] [--url http://hub:4444]
 */
import puppeteer from 'puppeteer-core';
import { SessionManager, seleniumGrid, type SessionManagerOptions } from '../lib/index.js';
import { CHROMIUM, startGrid, type GridCluster } from '../test/grid-cluster.js';
import { CHROMIUM_PATH, FACTS_FLAGS, cli, fmt, int, round, runMain, runMeta, startPageServer, summary, table, writeResults, type PageServer } from './common.js';

const args = cli({
  sessions: { type: 'string', default: '40' },
  nodes: { type: 'string', default: '2' },
  url: { type: 'string', default: '' },
});
const SESSIONS = int('sessions', args.sessions);
const NODES = Math.max(1, int('nodes', args.nodes));

interface Result {
  readonly config: string;
  readonly concurrency: number;
  readonly createMs: ReturnType<typeof summary>;
  readonly firstLoadMs: ReturnType<typeof summary>;
  readonly sessionsPerS: number;
  readonly failures: number;
}

/** Runs `SESSIONS` sessions, `concurrency` at a time: create, connect, load a page, stop. */
async function run(config: string, opts: SessionManagerOptions, concurrency: number, pages: PageServer): Promise<Result> {
  const manager = new SessionManager({ handleSignals: false, maxConcurrent: concurrency, launchTimeoutMs: 120_000, ...opts });
  const createMs: number[] = [];
  const firstLoadMs: number[] = [];
  let failures = 0;
  let next = 0;
  try {
    // One session first, not timed: JIT, the Grid's first chromedriver, the pool's first launch.
    await manager.withSession({}, async (s) => {
      const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      await b.disconnect();
    });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < SESSIONS) {
          const i = next++;
          const start = performance.now();
          try {
            const s = await manager.create({ timeoutMs: 120_000 });
            createMs.push(performance.now() - start);
            const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
            const [page] = await b.pages();
            await page!.goto(pages.url(i));
            if ((await page!.title()) !== pages.title(i)) throw new Error(`wrong title on session ${i}`);
            firstLoadMs.push(performance.now() - start);
            await b.disconnect();
            await s.stop();
          } catch (err) {
            failures++;
            console.error(`${config}: session ${i}: ${(err as Error).message}`);
          }
        }
      }),
    );
    const wallS = (performance.now() - t0) / 1000;
    return { config, concurrency, createMs: summary(createMs), firstLoadMs: summary(firstLoadMs), sessionsPerS: round((SESSIONS - failures) / wallS, 2), failures };
  } finally {
    await manager.close();
  }
}

runMain(async () => {
  const pages = await startPageServer();
  let grid: GridCluster | undefined;
  try {
    let url = args.url;
    if (!url) {
      grid = await startGrid({ nodeHosts: Array.from({ length: NODES }, (_, i) => `127.0.0.${i + 2}`) });
      url = grid.url;
    }
    const concurrency = NODES;
    // Same build and flags on both sides: full Chromium, our flags, plus what this machine needs.
    const local: SessionManagerOptions = { headless: 'new', executablePath: CHROMIUM_PATH, args: FACTS_FLAGS.filter((f) => f === '--no-sandbox') };
    const provider = seleniumGrid({ url, capabilities: args.url ? {} : { 'goog:chromeOptions': { binary: CHROMIUM } } });
    const remote: SessionManagerOptions = { provider, args: local.args! };
    const results: Result[] = [];
    for (const [config, opts] of [
      ['local · browser', { ...local, isolation: 'browser' }],
      ['grid · browser', { ...remote, isolation: 'browser' }],
      ['local · reset', { ...local, isolation: 'reset', minIdle: 0 }],
      ['grid · reset', { ...remote, isolation: 'reset' }],
    ] as const) {
      console.log(`${config}: ${SESSIONS} sessions, ${concurrency} at a time…`);
      results.push(await run(config, opts, concurrency, pages));
    }
    console.log(
      '\n' +
        table(
          ['config', 'create p50 ms', 'create p95 ms', 'create→first load p50 ms', 'p95 ms', 'sessions/s', 'failures'],
          results.map((r) => [r.config, fmt(r.createMs.p50), fmt(r.createMs.p95), fmt(r.firstLoadMs.p50), fmt(r.firstLoadMs.p95), fmt(r.sessionsPerS, 2), String(r.failures)]),
        ),
    );
    const file = writeResults(`grid-${new Date().toISOString().slice(0, 10)}`, { meta: { ...runMeta(), sessions: SESSIONS, nodes: NODES, gridUrl: args.url || 'local' }, results });
    console.log(`results: ${file}`);
  } finally {
    await grid?.stop();
    await pages.close();
  }
});
