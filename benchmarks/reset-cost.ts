/**
 * Where a reused browser's time goes: an investigation aid, not a headline benchmark.
 *
 * On one warm browser it measures
 *   1. the library's `resetBrowser` after a real job: wall time of every CDP call it makes, and the
 *      wall and CPU (whole process tree) of the reset with some calls stubbed out, to price each;
 *   2. a Puppeteer connect + pages() + disconnect, straight to Chrome vs through the library's
 *      `SessionEndpoint` (the websocket hop every session adds).
 * It imports lib internals (`launchChrome`, `PooledBrowser`, `resetBrowser`, `SessionEndpoint`), so it
 * follows their signatures.
 *
 * Usage: node dist/bench/benchmarks/reset-cost.js [--cycles 20] [--build shell|new] [--runtime-parent DIR (default: the library's)]
 */
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { PooledBrowser } from '../lib/browser.js';
import type { CdpCommand, CdpConnection, SendArgs } from '../lib/cdp.js';
import { launchChrome } from '../lib/chrome/launch.js';
import { RunDir } from '../lib/chrome/runtime.js';
import { SessionEndpoint } from '../lib/endpoint.js';
import { defaultRuntimeDir } from '../lib/options.js';
import { resetBrowser } from '../lib/reset.js';
import {
  BUILD_LABEL,
  cli,
  cpuDelta,
  cpuSnapshot,
  executableFor,
  fmt,
  int,
  median,
  round,
  runMain,
  runMeta,
  sleep,
  startPageServer,
  summary,
  table,
  tempDir,
  writeResults,
  type Build,
  type PageServer,
} from './common.js';
import { loadAndCheck } from './jobs.js';

const args = cli({ cycles: { type: 'string', default: '20' }, build: { type: 'string', default: 'shell' }, 'runtime-parent': { type: 'string', default: '' } });
// Profiles go where the library puts them unless told otherwise (/dev/shm when roomy).
const RUNTIME_PARENT = args['runtime-parent'] || path.dirname(defaultRuntimeDir());
const CYCLES = int('cycles', args.cycles);
const BUILD = args.build as Build;
const SETTLE_MS = 200;

/** A CdpConnection stand-in that times every call and answers stubbed methods itself. */
function instrument(cdp: CdpConnection, stubs: Record<string, unknown>, times: Map<string, number[]>): CdpConnection {
  return {
    on: cdp.on.bind(cdp),
    off: cdp.off.bind(cdp),
    send: (method: CdpCommand, ...args: SendArgs<CdpCommand>) => {
      if (method in stubs) return Promise.resolve(stubs[method]);
      const t0 = performance.now();
      return cdp.send(method, ...args).finally(() => {
        const list = times.get(method) ?? [];
        list.push(performance.now() - t0);
        times.set(method, list);
      });
    },
  } as unknown as CdpConnection;
}

async function job(ws: string, pages: PageServer, i: number): Promise<void> {
  const browser = await puppeteer.connect({ browserWSEndpoint: ws, defaultViewport: null });
  try {
    const page = (await browser.pages())[0];
    if (!page) throw new Error('no page');
    await loadAndCheck(page, pages, i);
  } finally {
    await browser.disconnect();
  }
}

/** CPU (ms per ms of wall) of the idle tree, to subtract from short windows. */
async function idleRate(): Promise<number> {
  const a = cpuSnapshot();
  const t0 = performance.now();
  await sleep(2000);
  const d = cpuDelta(a, cpuSnapshot());
  return d.totalMs / (performance.now() - t0);
}

async function main(): Promise<void> {
  const meta = runMeta();
  const pages = await startPageServer();
  const run = new RunDir(tempDir('bench-reset-rt-', RUNTIME_PARENT));
  const spec = { executablePath: executableFor(BUILD), headless: BUILD, args: (process.env.BENCH_CHROME_ARGS ?? '').split(' ').filter(Boolean), env: {} };
  const proc = await launchChrome(spec, run, { timeoutMs: 30_000 });
  const browser = await PooledBrowser.attach(proc, 30_000);
  const results: Record<string, unknown> = {};
  let endpoint: SessionEndpoint | undefined;
  try {
    for (let i = 0; i < 5; i++) {
      await job(proc.wsEndpoint, pages, i);
      await resetBrowser(browser.cdp, 5000);
    }
    const rate = await idleRate();
    console.log(`reset cost on ${BUILD_LABEL[BUILD]}, profile under ${RUNTIME_PARENT}, ${CYCLES} cycles per variant (idle tree CPU ${fmt(rate * 1000, 1)} ms/s subtracted)\n`);

    const variants: [string, Record<string, unknown>][] = [
      ['library reset (as is)', {}],
      ['without Network.clearBrowserCache', { 'Network.clearBrowserCache': {} }],
      ['without Storage.clearDataForOrigin', { 'Storage.clearDataForOrigin': {} }],
      ['without both clears', { 'Network.clearBrowserCache': {}, 'Storage.clearDataForOrigin': {} }],
      ['no reset at all', { skip: true }],
    ];
    const perCall = new Map<string, number[]>();
    const rows: string[][] = [];
    const variantResults: Record<string, unknown> = {};
    let n = 100;
    // Interleave variants cycle by cycle so that load from elsewhere hits them alike.
    const wall = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    const jobCpu = new Map<string, number[]>();
    for (let c = 0; c < CYCLES; c++) {
      for (const [name, stubs] of variants) {
        const j0 = cpuSnapshot();
        await job(proc.wsEndpoint, pages, n++);
        await sleep(50);
        const j1 = cpuSnapshot();
        const t0 = performance.now();
        if (!('skip' in stubs)) await resetBrowser(instrument(browser.cdp, stubs, name === variants[0]![0] ? perCall : new Map()), 5000);
        const t1 = performance.now();
        await sleep(SETTLE_MS);
        const d = cpuDelta(j1, cpuSnapshot());
        const spent = d.totalMs - rate * (performance.now() - t0);
        (wall.get(name) ?? wall.set(name, []).get(name)!).push(t1 - t0);
        (cpu.get(name) ?? cpu.set(name, []).get(name)!).push(spent);
        (jobCpu.get(name) ?? jobCpu.set(name, []).get(name)!).push(cpuDelta(j0, j1).totalMs);
      }
    }
    for (const [name] of variants) {
      rows.push([name, fmt(median(wall.get(name)!), 1), fmt(median(cpu.get(name)!), 1), fmt(median(jobCpu.get(name)!), 1)]);
      variantResults[name] = { wallMs: summary(wall.get(name)!), cpuMs: summary(cpu.get(name)!), jobCpuMs: summary(jobCpu.get(name)!) };
    }
    console.log(table(['variant', 'reset wall p50 ms', 'reset CPU p50 ms (tree)', 'next job CPU p50 ms'], rows));
    const callRows = [...perCall].sort((a, b) => median(b[1])! - median(a[1])!).map(([m, t]) => [m, String(t.length), fmt(median(t), 2), fmt(Math.max(...t), 1)]);
    console.log('\nCDP calls of the library reset (wall ms; calls in parallel overlap):\n' + table(['method', 'calls', 'p50', 'max'], callRows));
    results.reset = { variants: variantResults, calls: Object.fromEntries([...perCall].map(([m, t]) => [m, summary(t)])), idleCpuMsPerSec: round(rate * 1000) };

    // 2. The endpoint hop.
    endpoint = new SessionEndpoint(
      {
        route: (id) => (id === 's1' ? { token: 'tok', upstream: proc.wsEndpoint } : undefined),
        clientConnected: () => {},
        clientDisconnected: () => {},
        clientTraffic: () => {},
        browserCloseRequested: () => {},
      clientContextCreated: () => {},
      },
      { pingTimeoutMs: 0 },
    );
    await endpoint.listen();
    const via = endpoint.urlFor('s1', 'tok');
    const hop: Record<string, { wall: number[]; node: number[]; chrome: number[] }> = { direct: { wall: [], node: [], chrome: [] }, 'via SessionEndpoint': { wall: [], node: [], chrome: [] } };
    for (let c = 0; c < CYCLES * 2; c++) {
      for (const [name, url] of [['direct', proc.wsEndpoint], ['via SessionEndpoint', via]] as const) {
        const a = cpuSnapshot();
        const t0 = performance.now();
        const b = await puppeteer.connect({ browserWSEndpoint: url, defaultViewport: null });
        await b.pages();
        const t1 = performance.now();
        await b.disconnect();
        await sleep(30);
        const d = cpuDelta(a, cpuSnapshot());
        hop[name]!.wall.push(t1 - t0);
        hop[name]!.node.push(d.nodeMs);
        hop[name]!.chrome.push(d.childrenMs - rate * (performance.now() - t0));
      }
    }
    console.log(
      '\npuppeteer.connect + pages() + disconnect:\n' +
        table(
          ['path', 'connect+pages wall p50 ms', 'node CPU p50 ms', 'chrome CPU p50 ms'],
          Object.entries(hop).map(([k, v]) => [k, fmt(median(v.wall), 2), fmt(median(v.node), 1), fmt(median(v.chrome), 1)]),
        ),
    );
    results.connect = Object.fromEntries(Object.entries(hop).map(([k, v]) => [k, { wallMs: summary(v.wall), nodeCpuMs: summary(v.node), chromeCpuMs: summary(v.chrome) }]));
  } finally {
    await endpoint?.close();
    await browser.close();
    await run.destroy();
    await pages.close();
  }
  const file = writeResults('reset-cost', { meta, build: BUILD, cycles: CYCLES, runtimeParent: RUNTIME_PARENT, ...results });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

runMain(main, { subreaper: true });
