/**
 * Churn: many short jobs, the same job for every strategy — get a browser, take a page, load a
 * local page (served by this process), read its title, dispose — at concurrency 1, 2 and 4, on
 * headless-shell and full Chromium.
 *
 * Strategies:
 *   naive            puppeteer.launch per job, first page, browser.close()
 *   cluster-context  puppeteer-cluster CONCURRENCY_CONTEXT (one browser, a context per job)
 *   cluster-browser  puppeteer-cluster CONCURRENCY_BROWSER (a browser per worker, a context per job)
 *   ours-reuse       SessionManager({ reuse: true }): create() + puppeteer.connect + pages()[0] + disconnect()
 *   ours-noreuse     the same with reuse: false (a fresh browser per session, pre-launched)
 *
 * Each (build, concurrency, strategy) runs `2 × c` untimed warm-up jobs, waits until background
 * work settles, then the timed jobs; CPU is counted until the background work (resets, closes,
 * pre-launches) has settled again. See README.md for how CPU and memory are measured.
 *
 * Usage: node dist/bench/benchmarks/churn.js [--quick] [--jobs 40] [--conc 1,2,4] [--build shell|new|both]
 *        [--strategies naive,cluster-context,...] [--micro 30] [--sample-ms 100]
 *        investigation knobs for ours: [--runtime-parent /dev/shm] [--min-idle N]
 */
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { Cluster } from 'puppeteer-cluster';
import { SessionManager } from '../lib/index.js';
import { loadAndCheck, poolQuiet, sessionJob } from './jobs.js';
import {
  BUILD_LABEL,
  FACTS_FLAGS,
  MemorySampler,
  MiB,
  cli,
  cpuDelta,
  cpuSnapshot,
  executableFor,
  fmt,
  int,
  isSubreaper,
  round,
  runMain,
  runMeta,
  sleep,
  startPageServer,
  summary,
  table,
  tempDir,
  waitFor,
  writeResults,
  type Build,
  type PageServer,
  type SamplerReport,
} from './common.js';

const args = cli({
  quick: { type: 'boolean', default: false },
  jobs: { type: 'string', default: '40' },
  conc: { type: 'string', default: '1,2,4' },
  build: { type: 'string', default: 'both' },
  strategies: { type: 'string', default: 'naive,cluster-context,cluster-browser,ours-reuse,ours-noreuse' },
  micro: { type: 'string', default: '30' },
  'sample-ms': { type: 'string', default: '100' },
  // Knobs for investigations; the defaults are the library's.
  'runtime-parent': { type: 'string', default: os.tmpdir() },
  'min-idle': { type: 'string', default: '' },
});
const JOBS = int('jobs', args.jobs);
const CONCS = args.quick ? [2] : args.conc.split(',').map((c) => int('conc', c));
const BUILDS: Build[] = args.quick ? ['shell'] : args.build === 'both' ? ['shell', 'new'] : [args.build as Build];
const STRATEGIES = args.strategies.split(',');
const MICRO = int('micro', args.micro);
const SAMPLE_MS = int('sample-ms', args['sample-ms']);
const MIN_IDLE = args['min-idle'] === '' ? undefined : int('min-idle', args['min-idle']);

type Parts = Record<string, number>;

interface Strategy {
  readonly name: string;
  setup(): Promise<void>;
  /** One job; may return the duration of its parts (ms). Throws if the title is wrong. */
  job(i: number): Promise<Parts | void>;
  /** Resolves once background work started by the jobs (resets, closes, launches) is done. */
  settle(): Promise<void>;
  teardown(): Promise<void>;
  extra?(): Record<string, unknown>;
}

function launchOptions(build: Build) {
  return {
    executablePath: executableFor(build),
    // 'shell' is Puppeteer's name for the old headless mode, which is what chrome-headless-shell is.
    headless: build === 'shell' ? ('shell' as const) : true,
    args: FACTS_FLAGS,
    defaultViewport: null,
  };
}

function naive(build: Build, pages: PageServer): Strategy {
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

function cluster(build: Build, pages: PageServer, c: number, mode: 'context' | 'browser'): Strategy {
  let cl: Cluster<number, string> | undefined;
  return {
    name: `cluster-${mode}`,
    async setup() {
      cl = await Cluster.launch({
        concurrency: mode === 'context' ? Cluster.CONCURRENCY_CONTEXT : Cluster.CONCURRENCY_BROWSER,
        maxConcurrency: c,
        puppeteer,
        puppeteerOptions: launchOptions(build) as never,
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

function ours(build: Build, pages: PageServer, c: number, reuse: boolean): Strategy {
  let manager: SessionManager | undefined;
  const alive = new Set<number>();
  return {
    name: reuse ? 'ours-reuse' : 'ours-noreuse',
    async setup() {
      manager = new SessionManager({
        maxConcurrent: c,
        headless: build,
        executablePath: executableFor(build),
        runtimeDir: tempDir('bench-churn-rt-', args['runtime-parent']),
        reuse,
        ...(MIN_IDLE === undefined ? {} : { minIdle: MIN_IDLE }),
      });
      manager.on('browserLaunched', (e) => alive.add(e.pid));
      manager.on('browserExited', (e) => alive.delete(e.pid));
      await manager.warmUp();
      if (MIN_IDLE !== 0) await waitFor(() => manager!.stats().idle >= 1, 30_000, 'the first warm browser');
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

interface RunResult {
  build: Build;
  concurrency: number;
  strategy: string;
  jobs: number;
  wallMs: number;
  jobsPerSec: number;
  latencyMs: ReturnType<typeof summary>;
  cpu: { totalMsPerJob: number; nodeMsPerJob: number; childrenMsPerJob: number; windowMs: number; sampledChromeMsPerJob: number };
  memory: { peakRssMiB: number; peakPssMiB: number; peakProcesses: number; samples: number };
  parts?: Record<string, ReturnType<typeof summary>>;
  setupMs: number;
  teardownMs: number;
  extra?: Record<string, unknown>;
  error?: string;
  ratioJobsPerSecToBestCluster?: number;
  ratioCpuPerJobToBestCluster?: number;
}

/** Runs jobs [from, from + count) on `c` workers; resolves with per-job latency and parts. */
async function runJobs(s: Strategy, c: number, from: number, count: number): Promise<{ latencies: number[]; parts: Parts[] }> {
  const latencies: number[] = [];
  const parts: Parts[] = [];
  let next = from;
  const end = from + count;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < end) {
        const i = next++;
        const t0 = performance.now();
        const p = await s.job(i);
        latencies.push(performance.now() - t0);
        if (p) parts.push(p);
      }
    }),
  );
  return { latencies, parts };
}

async function measure(s: Strategy, build: Build, c: number, sampler: MemorySampler): Promise<RunResult> {
  const exclude = new Set([sampler.pid]);
  const t0 = performance.now();
  await s.setup();
  const setupMs = performance.now() - t0;
  let result: RunResult | undefined;
  try {
    await runJobs(s, c, 0, 2 * c);
    await s.settle();
    await sampler.reset();
    const cpu0 = cpuSnapshot(exclude);
    const w0 = performance.now();
    const { latencies, parts } = await runJobs(s, c, 1000, JOBS);
    const wallMs = performance.now() - w0;
    await s.settle();
    const cpu1 = cpuSnapshot(exclude);
    const windowMs = performance.now() - w0;
    const mem: SamplerReport = await sampler.report();
    const d = cpuDelta(cpu0, cpu1);
    const partNames = parts.length ? Object.keys(parts[0]!) : [];
    result = {
      build,
      concurrency: c,
      strategy: s.name,
      jobs: JOBS,
      wallMs: round(wallMs),
      jobsPerSec: round(JOBS / (wallMs / 1000), 3),
      latencyMs: summary(latencies),
      cpu: {
        totalMsPerJob: round(d.totalMs / JOBS),
        nodeMsPerJob: round(d.nodeMs / JOBS),
        childrenMsPerJob: round(d.childrenMs / JOBS),
        windowMs: round(windowMs),
        sampledChromeMsPerJob: round(mem.sampledChromeCpuMs / JOBS),
      },
      memory: { peakRssMiB: round(mem.peakRssBytes / MiB, 1), peakPssMiB: round(mem.peakPssBytes / MiB, 1), peakProcesses: mem.peakProcesses, samples: mem.samples },
      ...(partNames.length ? { parts: Object.fromEntries(partNames.map((k) => [k, summary(parts.map((p) => p[k]!))])) } : {}),
      setupMs: round(setupMs),
      teardownMs: 0,
      ...(s.extra ? { extra: s.extra() } : {}),
    };
  } finally {
    const t1 = performance.now();
    await s.teardown();
    if (result) result.teardownMs = round(performance.now() - t1);
  }
  return result;
}

/** `create()` with an idle browser waiting, and create + puppeteer.connect, one at a time. */
async function micro(build: Build, iterations: number): Promise<Record<string, unknown>> {
  const manager = new SessionManager({ maxConcurrent: 2, headless: build, executablePath: executableFor(build), runtimeDir: tempDir('bench-micro-rt-') });
  const create: number[] = [];
  const createConnect: number[] = [];
  try {
    await manager.warmUp();
    // Three untimed rounds bring the pool to its steady state (one idle spare, nothing launching).
    for (let i = 0; i < iterations + 3; i++) {
      await waitFor(() => {
        const s = manager.stats();
        return s.idle >= 1 && s.resetting === 0 && s.launching === 0 && s.active === 0;
      }, 30_000, 'an idle browser');
      await sleep(20);
      const t0 = performance.now();
      const session = await manager.create();
      const t1 = performance.now();
      const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
      const t2 = performance.now();
      await browser.disconnect();
      if (i < 3) continue;
      create.push(t1 - t0);
      createConnect.push(t2 - t0);
    }
  } finally {
    await manager.close();
  }
  return { createMs: summary(create), createConnectMs: summary(createConnect), targets: { createP50Ms: 2, createConnectP50Ms: 15 } };
}

async function main(): Promise<void> {
  const subreaper = isSubreaper();
  const meta = { ...runMeta(), cpuAccounting: subreaper ? 'exact (subreaper)' : 'lower bound (no subreaper: orphaned helpers not counted)' };
  if (!subreaper) console.warn('warning: not a subreaper, CPU of launch-per-job strategies is under-counted');
  const pages = await startPageServer();
  const sampler = await MemorySampler.start(SAMPLE_MS);
  const results: RunResult[] = [];
  const micros: Record<string, Record<string, unknown>> = {};
  console.log(`churn: ${JOBS} jobs per run, builds ${BUILDS.join(', ')}, concurrency ${CONCS.join(', ')}, strategies ${STRATEGIES.join(', ')}\n`);
  try {
    for (const build of BUILDS) {
      if (MICRO > 0) {
        micros[build] = await micro(build, MICRO);
        const m = micros[build] as { createMs: { p50: number }; createConnectMs: { p50: number } };
        console.log(`  ${build} micro: create() p50 ${fmt(m.createMs.p50, 2)} ms, create+connect p50 ${fmt(m.createConnectMs.p50, 2)} ms`);
      }
      for (const c of CONCS) {
        const make: Record<string, () => Strategy> = {
          naive: () => naive(build, pages),
          'cluster-context': () => cluster(build, pages, c, 'context'),
          'cluster-browser': () => cluster(build, pages, c, 'browser'),
          'ours-reuse': () => ours(build, pages, c, true),
          'ours-noreuse': () => ours(build, pages, c, false),
        };
        for (const name of STRATEGIES) {
          if (!make[name]) throw new Error(`unknown strategy ${name}`);
          const s = make[name]();
          let r: RunResult;
          try {
            r = await measure(s, build, c, sampler);
          } catch (err) {
            console.error(`  ${build} c=${c} ${name} FAILED:`, err);
            r = { build, concurrency: c, strategy: name, error: String((err as Error)?.stack ?? err) } as RunResult;
          }
          results.push(r);
          if (!r.error) {
            console.log(`  ${build} c=${c} ${name.padEnd(16)} ${fmt(r.jobsPerSec, 2).padStart(6)} jobs/s  p50 ${fmt(r.latencyMs.p50).padStart(6)} ms  CPU ${fmt(r.cpu.totalMsPerJob).padStart(6)} ms/job  PSS ${fmt(r.memory.peakPssMiB, 0)} MiB`);
          }
        }
        // Ratios to the best puppeteer-cluster mode of the same build and concurrency.
        const group = results.filter((r) => r.build === build && r.concurrency === c && !r.error);
        const clusters = group.filter((r) => r.strategy.startsWith('cluster-'));
        if (clusters.length) {
          const best = clusters.reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));
          for (const r of group) {
            r.ratioJobsPerSecToBestCluster = round(r.jobsPerSec / best.jobsPerSec, 3);
            r.ratioCpuPerJobToBestCluster = round(r.cpu.totalMsPerJob / best.cpu.totalMsPerJob, 3);
          }
        }
      }
    }
  } finally {
    sampler.stop();
    await pages.close();
  }

  const rows = results.map((r) =>
    r.error
      ? [BUILD_LABEL[r.build], String(r.concurrency), r.strategy, 'FAILED', '', '', '', '', '', '', '', '']
      : [
          BUILD_LABEL[r.build],
          String(r.concurrency),
          r.strategy,
          fmt(r.jobsPerSec, 2),
          fmt(r.latencyMs.p50),
          fmt(r.latencyMs.p95),
          fmt(r.cpu.totalMsPerJob, 0),
          fmt(r.cpu.nodeMsPerJob, 0),
          fmt(r.memory.peakRssMiB, 0),
          fmt(r.memory.peakPssMiB, 0),
          fmt(r.ratioJobsPerSecToBestCluster, 2),
          fmt(r.ratioCpuPerJobToBestCluster, 2),
        ],
  );
  console.log(
    '\n' +
      table(['build', 'c', 'strategy', 'jobs/s', 'p50 ms', 'p95 ms', 'CPU-ms/job', 'of it node', 'peak RSS MiB', 'peak PSS MiB', 'jobs/s ÷ best cluster', 'CPU/job ÷ best cluster'], rows),
  );

  const oursRows = results
    .filter((r) => !r.error && r.parts && r.strategy.startsWith('ours'))
    .map((r) => [
      BUILD_LABEL[r.build],
      String(r.concurrency),
      r.strategy,
      `${fmt(r.parts!.create!.p50, 1)} / ${fmt(r.parts!.create!.p95, 1)}`,
      fmt(r.parts!.connect!.p50, 1),
      fmt(r.parts!.work!.p50, 1),
      fmt(r.parts!.disconnect!.p50, 1),
      fmt(r.extra?.resetMsP50 as number | undefined, 1),
      `${r.extra?.launches}/${r.extra?.resets}/${r.extra?.recycles}`,
    ]);
  if (oursRows.length) {
    console.log('\nours, parts of a job (ms):\n' + table(['build', 'c', 'strategy', 'create p50 / p95', 'connect p50', 'goto+title p50', 'disconnect p50', 'reset p50', 'launches/resets/recycles'], oursRows));
  }
  const microRows = Object.entries(micros).map(([build, m]) => {
    const mm = m as { createMs: { p50: number; p95: number }; createConnectMs: { p50: number; p95: number } };
    return [
      BUILD_LABEL[build as Build],
      `${fmt(mm.createMs.p50, 2)} / ${fmt(mm.createMs.p95, 2)}`,
      mm.createMs.p50 <= 2 ? 'met' : 'MISSED',
      `${fmt(mm.createConnectMs.p50, 2)} / ${fmt(mm.createConnectMs.p95, 2)}`,
      mm.createConnectMs.p50 <= 15 ? 'met' : 'MISSED',
    ];
  });
  if (microRows.length) {
    console.log(`\nours with an idle browser waiting (${MICRO} sessions, one at a time):\n` + table(['build', 'create() p50 / p95 ms', '<= 2 ms', 'create+connect p50 / p95 ms', '<= 15 ms'], microRows));
  }
  const file = writeResults('churn', { meta, config: { jobs: JOBS, concurrency: CONCS, runtimeParent: args['runtime-parent'], minIdle: MIN_IDLE ?? 'default', builds: BUILDS, strategies: STRATEGIES, warmupJobsPerRun: '2 x concurrency', sampleMs: SAMPLE_MS }, micro: micros, runs: results });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (results.some((r) => r.error)) throw new Error('some runs failed, see above');
}

runMain(main, { subreaper: true });
