/**
 * Where a 'context' session's cost goes: an investigation aid, not a headline benchmark.
 *
 * Runs the churn job (`jobs.ts`) in rounds, the variants interleaved, and splits the CPU of each
 * job by who spent it: this Node process (clients, endpoint, manager, page server) and Chrome by
 * process type (the browser process, renderers alive and reaped, zygotes, the network service,
 * other utilities, GPU), with the renderers launched per job. Variants:
 *   cluster  one puppeteer connection to a Chrome with the library's flags; per job
 *            createBrowserContext + newPage + goto + close the context (CONCURRENCY_CONTEXT's job)
 *   cluster-default  the same with Puppeteer's default flags (churn.ts's cluster-context)
 *   ours     `SessionManager({ isolation: 'context' })`, the churn job (create + connect + goto + disconnect)
 *   ours-x   'context' with the flags of `--x-args` added (to price a flag in the same run)
 *   reset    the churn job with isolation 'reset'
 *   base-ours, base-ours-reset  'context' and 'reset' with the library built in `--base DIR` (another
 *            commit's checkout); `--base a=DIR1,b=DIR2` names several (variants a, a-reset, b, b-reset)
 *   direct   per job a puppeteer.connect straight to a warm Chrome, createBrowserContext + newPage
 *            + goto, disconnect and dispose: what a connection per session costs without the endpoint
 *
 * Usage: node dist/bench/benchmarks/context-cost.js [--jobs 40] [--conc 2] [--rounds 2]
 *        [--variants cluster,cluster-default,ours,direct] [--build shell|new] [--chrome-args '--flag …']
 */
import fs from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { SessionManager } from '../lib/index.js';
import { chromeArgs } from '../lib/chrome/flags.js';
import { CLK_TCK, FACTS_FLAGS, childrenOf, cli, executableFor, fmt, int, readStat, round, runMain, runMeta, startPageServer, table, tempDir, waitFor, writeResults, type Build, type PageServer } from './common.js';
import { loadAndCheck, poolQuiet, sessionJob } from './jobs.js';

const args = cli({
  jobs: { type: 'string', default: '40' },
  conc: { type: 'string', default: '2' },
  rounds: { type: 'string', default: '2' },
  variants: { type: 'string', default: 'cluster,ours,direct' },
  build: { type: 'string', default: 'shell' },
  'chrome-args': { type: 'string', default: '' },
  base: { type: 'string', default: '' },
  'count-renderers': { type: 'boolean', default: true },
  'x-args': { type: 'string', default: '' },
});
/** Extra Chrome flags for every variant (space-separated), to price a flag. */
const EXTRA = args['chrome-args'].split(' ').filter(Boolean);
const JOBS = int('jobs', args.jobs);
const C = int('conc', args.conc);
const ROUNDS = int('rounds', args.rounds);
const BUILD = args.build as Build;

/** Chrome's process kind, from its command line. */
function kind(pid: number): string {
  let cmd: string;
  try {
    cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return 'gone';
  }
  const type = /--type=([a-z-]+)/.exec(cmd)?.[1];
  if (!type) return /chrom/i.test(cmd) ? 'browser' : 'other';
  if (type === 'utility') return /NetworkService/.test(cmd) ? 'network' : /StorageService/.test(cmd) ? 'storage' : 'utility';
  return type;
}

interface Snap {
  nodeMs: number;
  /** pid → [kind, self ticks, reaped-children ticks] */
  procs: Map<number, [string, number, number]>;
}

function snap(): Snap {
  const u = process.cpuUsage();
  const procs = new Map<number, [string, number, number]>();
  const stack = childrenOf(process.pid);
  while (stack.length) {
    const pid = stack.pop()!;
    const s = readStat(pid);
    if (s) procs.set(pid, [kind(pid), s.selfTicks, s.childTicks]);
    stack.push(...childrenOf(pid));
  }
  return { nodeMs: (u.user + u.system) / 1000, procs };
}

/** CPU ms by kind between two snapshots; what a dead process spent shows as `reaped by <parent kind>`. */
function split(a: Snap, b: Snap): Record<string, number> {
  const out: Record<string, number> = { node: b.nodeMs - a.nodeMs };
  const add = (k: string, ticks: number) => (out[k] = (out[k] ?? 0) + (ticks * 1000) / CLK_TCK);
  for (const [pid, [k, self, reaped]] of b.procs) {
    const before = a.procs.get(pid);
    add(k, self - (before?.[1] ?? 0));
    add(`reaped by ${k}`, reaped - (before?.[2] ?? 0));
  }
  // Died in between: what it had spent before `a` is inside its parent's reaped figure now.
  for (const [pid, [k, self, reaped]] of a.procs) if (!b.procs.has(pid)) add(`reaped (before) ${k}`, -(self + reaped));
  return out;
}

/** Counts renderers born while it runs (polling every 10 ms). */
function rendererCounter(): { stop(): number } {
  if (!args['count-renderers']) return { stop: () => Number.NaN };
  const seen = new Set<number>();
  const t = setInterval(() => {
    const stack = childrenOf(process.pid);
    while (stack.length) {
      const pid = stack.pop()!;
      if (!seen.has(pid) && kind(pid) === 'renderer') seen.add(pid);
      stack.push(...childrenOf(pid));
    }
  }, 10);
  const before = new Set<number>();
  return {
    stop() {
      clearInterval(t);
      return [...seen].filter((p) => !before.has(p)).length;
    },
  };
}

interface Variant {
  setup(): Promise<void>;
  job(i: number): Promise<void>;
  settle(): Promise<void>;
  teardown(): Promise<void>;
}

function launchOpts(): Parameters<typeof puppeteer.launch>[0] {
  // The library's own flags, so that Chrome is the same.
  const flags = chromeArgs({ headless: BUILD, userDataDir: tempDir('ctx-cost-'), userArgs: EXTRA });
  return { executablePath: executableFor(BUILD), headless: BUILD === 'shell' ? 'shell' : true, args: flags, defaultViewport: null, ignoreDefaultArgs: true, pipe: false };
}

function cluster(pages: PageServer, defaults = false): Variant {
  let b: Browser | undefined;
  return {
    async setup() {
      // `defaults`: Puppeteer's own flags plus the facts' ones, as churn.ts's cluster-context.
      b = await puppeteer.launch(defaults ? { executablePath: executableFor(BUILD), headless: BUILD === 'shell' ? 'shell' : true, args: [...FACTS_FLAGS, ...EXTRA], defaultViewport: null } : launchOpts());
    },
    async job(i) {
      const ctx = await b!.createBrowserContext();
      try {
        const page = await ctx.newPage();
        await loadAndCheck(page, pages, i);
      } finally {
        await ctx.close();
      }
    },
    async settle() {},
    async teardown() {
      await b?.close();
    },
  };
}

function direct(pages: PageServer): Variant {
  let b: Browser | undefined;
  return {
    async setup() {
      b = await puppeteer.launch(launchOpts());
    },
    async job(i) {
      const client = await puppeteer.connect({ browserWSEndpoint: b!.wsEndpoint(), defaultViewport: null });
      const ctx = await client.createBrowserContext();
      try {
        const page = await ctx.newPage();
        await loadAndCheck(page, pages, i);
      } finally {
        await ctx.close();
        await client.disconnect();
      }
    },
    async settle() {},
    async teardown() {
      await b?.close();
    },
  };
}

/** `lib`: another build of the library (`--base DIR`: its dist/bench/lib/index.js), to compare commits in one run. */
function ours(pages: PageServer, isolation: 'context' | 'reset' = 'context', lib: { SessionManager: typeof SessionManager } = { SessionManager }, extra = EXTRA): Variant {
  let m: SessionManager | undefined;
  return {
    async setup() {
      m = new lib.SessionManager({ maxConcurrent: C, isolation, headless: BUILD, executablePath: executableFor(BUILD), args: extra });
      await m.warmUp();
      await waitFor(() => m!.stats().idle >= 1, 30_000, 'a warm browser');
    },
    async job(i) {
      await sessionJob(m!, pages, i);
    },
    async settle() {
      await waitFor(() => poolQuiet(m!), 30_000, 'the pool to settle');
    },
    async teardown() {
      await m?.close();
    },
  };
}

async function run(v: Variant, from: number, count: number): Promise<number> {
  let next = from;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < from + count) await v.job(next++);
    }),
  );
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const pages = await startPageServer();
  const names = args.variants.split(',');
  const make: Record<string, () => Variant> = {
    reset: () => ours(pages, 'reset'),
    // `--x-args '--flag …'`: 'context' with these flags too, to price them against `ours` in one run.
    'ours-x': () => ours(pages, 'context', { SessionManager }, [...EXTRA, ...args['x-args'].split(' ').filter(Boolean)]), cluster: () => cluster(pages), 'cluster-default': () => cluster(pages, true), ours: () => ours(pages), direct: () => direct(pages) };
  // `--base DIR` or `--base name=DIR,name2=DIR2`: variants `name` ('context') and `name-reset`.
  for (const spec of args.base.split(',').filter(Boolean)) {
    const [name, dir] = spec.includes('=') ? (spec.split('=') as [string, string]) : ['base-ours', spec];
    const lib = (await import(`${dir}/dist/bench/lib/index.js`)) as { SessionManager: typeof SessionManager };
    make[name] = () => ours(pages, 'context', lib);
    make[`${name}-reset`] = () => ours(pages, 'reset', lib);
  }
  const totals = new Map<string, { wall: number; jobs: number; cpu: Record<string, number>; renderers: number }>();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      for (const name of order) {
        const v = make[name]!();
        await v.setup();
        try {
          await run(v, 0, 2 * C);
          await v.settle();
          await new Promise((res) => setTimeout(res, 300));
          const counter = rendererCounter();
          const a = snap();
          const wall = await run(v, 1000, JOBS);
          await v.settle();
          await new Promise((res) => setTimeout(res, 300));
          const b = snap();
          const renderers = counter.stop();
          const t = totals.get(name) ?? { wall: 0, jobs: 0, cpu: {}, renderers: 0 };
          t.wall += wall;
          t.jobs += JOBS;
          t.renderers += renderers;
          for (const [k, ms] of Object.entries(split(a, b))) t.cpu[k] = (t.cpu[k] ?? 0) + ms;
          totals.set(name, t);
          console.error(`round ${r} ${name}: ${(JOBS / (wall / 1000)).toFixed(2)} jobs/s`);
        } finally {
          await v.teardown();
        }
      }
    }
  } finally {
    await pages.close();
  }
  const kinds = [...new Set([...totals.values()].flatMap((t) => Object.keys(t.cpu)))].sort();
  const rows = [...totals].map(([name, t]) => {
    const total = Object.values(t.cpu).reduce((x, y) => x + y, 0);
    return [name, fmt(t.jobs / (t.wall / 1000), 2), fmt(total / t.jobs), ...kinds.map((k) => fmt((t.cpu[k] ?? 0) / t.jobs)), fmt(t.renderers / t.jobs, 2)];
  });
  console.log(`\n${BUILD}, c=${C}, ${ROUNDS} rounds × ${JOBS} jobs; CPU-ms per job\n`);
  console.log(table(['variant', 'jobs/s', 'CPU total', ...kinds, 'renderers/job'], rows));
  writeResults('context-cost', { meta: runMeta(), config: { jobs: JOBS, conc: C, rounds: ROUNDS, build: BUILD }, totals: Object.fromEntries([...totals].map(([k, t]) => [k, { ...t, cpu: Object.fromEntries(Object.entries(t.cpu).map(([a, b]) => [a, round(b)])) }])) });
}

runMain(main, { subreaper: true });
