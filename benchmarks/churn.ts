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
 *   ours-noreuse     the same with isolation 'browser' (a fresh browser per session, pre-launched)
 *   ours-context     the same with isolation 'context' (a fresh context per session, sessionsPerBrowser default)
 *   ours-context-1   isolation 'context' with sessionsPerBrowser 1
 *   cluster-context+flags  CONCURRENCY_CONTEXT with the Chrome features the library disables also
 *                    disabled (RenderDocument...) and, without the sandbox, --in-process-gpu: how
 *                    much of our lead is flags anyone could pass.
 *                    Shown for transparency, never the "best cluster" the ratios divide by.
 *
 * Each (build, concurrency) runs every strategy `--rounds` times, rotating their order each round
 * so that drift in the machine's speed hits them alike; the figures add the rounds up (jobs and
 * wall and CPU summed, latencies pooled), and the ratio column also shows the lowest and highest
 * per-round ratio. Each round of a strategy is a fresh setup, `2 × c` untimed warm-up jobs, a wait
 * until background work settles, then the timed jobs; CPU is counted until the background work
 * (resets, closes, pre-launches) has settled again. See README.md for how CPU and memory are measured.
 *
 * Usage: node dist/bench/benchmarks/churn.js [--quick] [--jobs 40] [--rounds 3] [--conc 1,2,4] [--build shell|new|both]
 *        [--strategies naive,cluster-context,...] [--micro 30] [--sample-ms 100]
 *        investigation knobs for ours: [--runtime-parent DIR (default: the library's own)] [--min-idle N]
 */
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { SessionManager } from '../lib/index.js';
import { cluster, naive, ours, type Knobs, type Parts, type Strategy } from './churn-strategies.js';
import { writeChurnChart } from './chart.js';
import {
  BUILD_LABEL,
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
  waitFor,
  writeResults,
  type Build,
  type SamplerReport,
} from './common.js';

const args = cli({
  quick: { type: 'boolean', default: false },
  jobs: { type: 'string', default: '40' },
  rounds: { type: 'string', default: '3' },
  conc: { type: 'string', default: '1,2,4' },
  build: { type: 'string', default: 'both' },
  strategies: { type: 'string', default: 'naive,cluster-context,cluster-browser,cluster-context+flags,ours-reuse,ours-noreuse,ours-context,ours-context-1' },
  micro: { type: 'string', default: '30' },
  'sample-ms': { type: 'string', default: '100' },
  // Knobs for investigations; the defaults are the library's.
  'runtime-parent': { type: 'string', default: '' },
  'min-idle': { type: 'string', default: '' },
});
const JOBS = int('jobs', args.jobs);
const ROUNDS = int('rounds', args.rounds);
const CONCS = args.quick ? [2] : args.conc.split(',').map((c) => int('conc', c));
const BUILDS: Build[] = args.quick ? ['shell'] : args.build === 'both' ? ['shell', 'new'] : [args.build as Build];
const STRATEGIES = args.quick && args.strategies.includes('naive') ? ['cluster-context', 'cluster-browser', 'cluster-context+flags', 'ours-reuse', 'ours-context'] : args.strategies.split(',');
const MICRO = int('micro', args.micro);
const SAMPLE_MS = int('sample-ms', args['sample-ms']);
const MIN_IDLE = args['min-idle'] === '' ? undefined : int('min-idle', args['min-idle']);
const KNOBS: Knobs = { runtimeParent: args['runtime-parent'], minIdle: MIN_IDLE };

interface RunResult {
  build: Build;
  concurrency: number;
  strategy: string;
  rounds: number;
  jobs: number;
  wallMs: number;
  jobsPerSec: number;
  perRoundJobsPerSec: number[];
  latencyMs: ReturnType<typeof summary>;
  cpu: { totalMsPerJob: number; nodeMsPerJob: number; childrenMsPerJob: number; windowMs: number; sampledChromeMsPerJob: number };
  memory: { peakRssMiB: number; peakPssMiB: number; peakProcesses: number; samples: number };
  parts?: Record<string, ReturnType<typeof summary>>;
  setupMs: number;
  teardownMs: number;
  extra?: Record<string, unknown>;
  error?: string;
  ratioJobsPerSecToBestCluster?: number;
  /** Lowest and highest ratio of a single round (to the same round of the same cluster mode). */
  ratioRangePerRound?: [number, number];
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

/** One round of one strategy: what was measured, before any adding up. */
interface Sample {
  wallMs: number;
  windowMs: number;
  latencies: number[];
  parts: Parts[];
  cpu: { totalMs: number; nodeMs: number; childrenMs: number };
  mem: SamplerReport;
  setupMs: number;
  teardownMs: number;
  extra?: Record<string, unknown>;
}

async function measure(s: Strategy, c: number, sampler: MemorySampler): Promise<Sample> {
  const exclude = new Set([sampler.pid]);
  const t0 = performance.now();
  await s.setup();
  const setupMs = performance.now() - t0;
  let sample: Sample | undefined;
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
    const mem = await sampler.report();
    sample = { wallMs, windowMs, latencies, parts, cpu: cpuDelta(cpu0, cpu1), mem, setupMs, teardownMs: 0, ...(s.extra ? { extra: s.extra() } : {}) };
  } finally {
    const t1 = performance.now();
    await s.teardown();
    if (sample) sample.teardownMs = performance.now() - t1;
  }
  return sample;
}

/** Adds up the rounds of one strategy. */
function combine(build: Build, c: number, strategy: string, samples: Sample[]): RunResult {
  const sum = (f: (x: Sample) => number) => samples.reduce((a, x) => a + f(x), 0);
  const jobs = JOBS * samples.length;
  const wallMs = sum((x) => x.wallMs);
  const parts = samples.flatMap((x) => x.parts);
  const partNames = parts.length ? Object.keys(parts[0]!) : [];
  const extras = samples.map((x) => x.extra).filter((e): e is Record<string, unknown> => e !== undefined);
  return {
    build,
    concurrency: c,
    strategy,
    rounds: samples.length,
    jobs,
    wallMs: round(wallMs),
    jobsPerSec: round(jobs / (wallMs / 1000), 3),
    perRoundJobsPerSec: samples.map((x) => round(JOBS / (x.wallMs / 1000), 3)),
    latencyMs: summary(samples.flatMap((x) => x.latencies)),
    cpu: {
      totalMsPerJob: round(sum((x) => x.cpu.totalMs) / jobs),
      nodeMsPerJob: round(sum((x) => x.cpu.nodeMs) / jobs),
      childrenMsPerJob: round(sum((x) => x.cpu.childrenMs) / jobs),
      windowMs: round(sum((x) => x.windowMs)),
      sampledChromeMsPerJob: round(sum((x) => x.mem.sampledChromeCpuMs) / jobs),
    },
    memory: {
      peakRssMiB: round(Math.max(...samples.map((x) => x.mem.peakRssBytes)) / MiB, 1),
      peakPssMiB: round(Math.max(...samples.map((x) => x.mem.peakPssBytes)) / MiB, 1),
      peakProcesses: Math.max(...samples.map((x) => x.mem.peakProcesses)),
      samples: sum((x) => x.mem.samples),
    },
    ...(partNames.length ? { parts: Object.fromEntries(partNames.map((k) => [k, summary(parts.map((p) => p[k]!))])) } : {}),
    setupMs: round(sum((x) => x.setupMs) / samples.length),
    teardownMs: round(sum((x) => x.teardownMs) / samples.length),
    // Counters of the last round (each round starts a fresh manager).
    ...(extras.length ? { extra: { ...extras.at(-1), rounds: extras } } : {}),
  };
}

/** `create()` with an idle browser waiting, and create + puppeteer.connect, one at a time. */
async function micro(build: Build, iterations: number): Promise<Record<string, unknown>> {
  const manager = new SessionManager({ maxConcurrent: 2, headless: build, executablePath: executableFor(build) });
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
  console.log(`churn: ${JOBS} jobs per round, ${ROUNDS} rounds, builds ${BUILDS.join(', ')}, concurrency ${CONCS.join(', ')}, strategies ${STRATEGIES.join(', ')}\n`);
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
          'cluster-context+flags': () => cluster(build, pages, c, 'context', true),
          'ours-reuse': () => ours(build, pages, c, 'ours-reuse', 'reset', KNOBS),
          'ours-noreuse': () => ours(build, pages, c, 'ours-noreuse', 'browser', KNOBS),
          'ours-context': () => ours(build, pages, c, 'ours-context', 'context', KNOBS),
          'ours-context-1': () => ours(build, pages, c, 'ours-context-1', 'context', KNOBS, 1),
        };
        for (const name of STRATEGIES) if (!make[name]) throw new Error(`unknown strategy ${name}`);
        const samples = new Map<string, Sample[]>(STRATEGIES.map((n) => [n, []]));
        const failed = new Map<string, string>();
        for (let r = 0; r < ROUNDS; r++) {
          // Rotate the order, so that no strategy always runs first (or right after a heavy one).
          const order = STRATEGIES.map((_, i) => STRATEGIES[(i + r) % STRATEGIES.length]!);
          for (const name of order) {
            if (failed.has(name)) continue;
            try {
              const x = await measure(make[name]!(), c, sampler);
              samples.get(name)!.push(x);
              console.log(`  ${build} c=${c} round ${r + 1}/${ROUNDS} ${name.padEnd(22)} ${fmt(JOBS / (x.wallMs / 1000), 2).padStart(6)} jobs/s  CPU ${fmt(x.cpu.totalMs / JOBS).padStart(6)} ms/job`);
            } catch (err) {
              console.error(`  ${build} c=${c} ${name} FAILED:`, err);
              failed.set(name, String((err as Error)?.stack ?? err));
            }
          }
        }
        const group: RunResult[] = STRATEGIES.map((name) =>
          failed.has(name)
            ? ({ build, concurrency: c, strategy: name, error: failed.get(name) } as RunResult)
            : combine(build, c, name, samples.get(name)!),
        );
        results.push(...group);
        // Ratios to the best puppeteer-cluster mode (as shipped: no extra flags) of the same build
        // and concurrency, over all rounds, and round by round to that mode's same round.
        const ok = group.filter((r) => !r.error);
        const clusters = ok.filter((r) => r.strategy === 'cluster-context' || r.strategy === 'cluster-browser');
        if (clusters.length) {
          const best = clusters.reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));
          for (const r of ok) {
            r.ratioJobsPerSecToBestCluster = round(r.jobsPerSec / best.jobsPerSec, 3);
            r.ratioCpuPerJobToBestCluster = round(r.cpu.totalMsPerJob / best.cpu.totalMsPerJob, 3);
            const perRound = r.perRoundJobsPerSec.map((v, i) => v / best.perRoundJobsPerSec[i]!);
            r.ratioRangePerRound = [round(Math.min(...perRound), 3), round(Math.max(...perRound), 3)];
          }
        }
        for (const r of ok) {
          console.log(`  ${build} c=${c} ${r.strategy.padEnd(22)} ${fmt(r.jobsPerSec, 2).padStart(6)} jobs/s  p50 ${fmt(r.latencyMs.p50).padStart(6)} ms  CPU ${fmt(r.cpu.totalMsPerJob).padStart(6)} ms/job  PSS ${fmt(r.memory.peakPssMiB, 0)} MiB  ÷ best cluster ${fmt(r.ratioJobsPerSecToBestCluster, 2)}`);
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
          r.ratioRangePerRound ? `${fmt(r.ratioJobsPerSecToBestCluster, 2)} (${fmt(r.ratioRangePerRound[0], 2)}–${fmt(r.ratioRangePerRound[1], 2)})` : fmt(r.ratioJobsPerSecToBestCluster, 2),
          fmt(r.ratioCpuPerJobToBestCluster, 2),
        ],
  );
  console.log(
    '\n' +
      table(['build', 'c', 'strategy', 'jobs/s', 'p50 ms', 'p95 ms', 'CPU-ms/job', 'of it node', 'peak RSS MiB', 'peak PSS MiB', 'jobs/s ÷ best cluster (rounds min–max)', 'CPU/job ÷ best cluster'], rows),
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
  const file = writeResults('churn', { meta, config: { jobsPerRound: JOBS, rounds: ROUNDS, concurrency: CONCS, runtimeParent: args['runtime-parent'] || "the library's default", minIdle: MIN_IDLE ?? 'default', builds: BUILDS, strategies: STRATEGIES, warmupJobsPerRun: '2 x concurrency', sampleMs: SAMPLE_MS }, micro: micros, runs: results });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  for (const build of BUILDS) {
    const rows = results.filter((r) => r.build === build && !r.error).map((r) => ({ strategy: r.strategy, concurrency: r.concurrency, jobsPerSec: r.jobsPerSec, peakPssMiB: r.memory.peakPssMiB }));
    const svg = writeChurnChart(file.replace(/\.json$/, `-${build}.svg`), rows, `churn, ${BUILD_LABEL[build]}: ${JOBS} jobs x ${ROUNDS} rounds per strategy`);
    console.log(`wrote ${path.relative(process.cwd(), svg)}`);
  }
  if (results.some((r) => r.error)) throw new Error('some runs failed, see above');
}

runMain(main, { subreaper: true });
