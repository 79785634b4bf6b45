/**
 * Cold start: spawn → a usable CDP connection, ours against a bare spawn of the same binary.
 *
 *   raw:  spawn Chrome with the library's own flags (`chromeArgs`), parse "DevTools listening on
 *         ws://…" from stderr, open a websocket, Browser.getVersion.
 *   ours: `new SessionManager({ minIdle: 0 })`, `create()`, open a websocket to
 *         `session.wsEndpoint`, Browser.getVersion. Then `manager.close()` (not timed).
 *
 * Rounds alternate raw/ours (the order flips every round), for headless-shell and full Chromium.
 * Usage: node dist/bench/benchmarks/cold-start.js [--rounds 20] [--build shell|new|both]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { chromeArgs } from '../lib/chrome/flags.js';
import { SessionManager } from '../lib/index.js';
import {
  BUILD_LABEL,
  cli,
  descendants,
  executableFor,
  fmt,
  int,
  isChromeComm,
  readStat,
  waitFor,
  median,
  pct,
  round,
  runMain,
  runMeta,
  summary,
  table,
  tempDir,
  writeResults,
  type Build,
} from './common.js';

const args = cli({
  rounds: { type: 'string', default: '20' },
  build: { type: 'string', default: 'both' },
});
const ROUNDS = int('rounds', args.rounds);
const BUILDS: Build[] = args.build === 'both' ? ['shell', 'new'] : [args.build as Build];
const ENDPOINT_RE = /^DevTools listening on (ws:\/\/\S+)\s*$/m;

/** Opens a websocket, sends Browser.getVersion, resolves when answered, closes the socket. */
function getVersion(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no Browser.getVersion answer from ${url}`));
    }, 30_000);
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'Browser.getVersion', params: {} })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: { product: string }; error?: { message: string } };
      if (msg.id !== 1) return;
      clearTimeout(timer);
      ws.close();
      if (msg.result) resolve(msg.result.product);
      else reject(new Error(msg.error?.message ?? 'Browser.getVersion failed'));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

interface RawSample {
  totalMs: number;
  endpointMs: number;
  connectMs: number;
  closeMs: number;
}

/** One bare launch: same binary, same flags, same TMPDIR arrangement as the library's. */
async function rawOnce(build: Build): Promise<RawSample> {
  const dir = tempDir('bench-cold-raw-');
  const userDataDir = path.join(dir, 'profile');
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(userDataDir);
  fs.mkdirSync(tmp);
  const t0 = performance.now();
  const child = spawn(executableFor(build), chromeArgs({ headless: build, userDataDir, userArgs: [] }), {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TMPDIR: tmp },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let tail = '';
      const timer = setTimeout(() => reject(new Error(`no DevTools line within 30 s:\n${tail}`)), 30_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        tail = (tail + chunk.toString()).slice(-4096);
        const m = ENDPOINT_RE.exec(tail);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Chrome exited with ${code}:\n${tail}`));
      });
    });
    const t1 = performance.now();
    await getVersion(url);
    const t2 = performance.now();
    return { totalMs: t2 - t0, endpointMs: t1 - t0, connectMs: t2 - t1, closeMs: await closeRaw() };
  } finally {
    await closeRaw();
  }

  async function closeRaw(): Promise<number> {
    const t = performance.now();
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    await exited;
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    return performance.now() - t;
  }
}

interface OursSample {
  totalMs: number;
  /** `new SessionManager` to `create()` resolved. */
  createMs: number;
  /** Browser launch as the pool reports it (spawn → endpoint → the pool's own CDP attach). */
  launchMs: number;
  /** Client websocket through the session endpoint + Browser.getVersion. */
  connectMs: number;
  closeMs: number;
}

async function oursOnce(build: Build): Promise<OursSample> {
  const runtimeDir = tempDir('bench-cold-rt-');
  let launchMs = NaN;
  const t0 = performance.now();
  const manager = new SessionManager({ minIdle: 0, headless: build, executablePath: executableFor(build), runtimeDir });
  manager.on('browserLaunched', (e) => {
    launchMs = e.launchMs;
  });
  try {
    const session = await manager.create();
    const t1 = performance.now();
    await getVersion(session.wsEndpoint);
    const t2 = performance.now();
    const t3 = performance.now();
    await manager.close();
    return { totalMs: t2 - t0, createMs: t1 - t0, launchMs, connectMs: t2 - t1, closeMs: performance.now() - t3 };
  } finally {
    await manager.close();
    fs.rmSync(runtimeDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const meta = runMeta();
  console.log(`cold start: ${ROUNDS} rounds (+1 warm-up) per build, raw spawn vs SessionManager first session\n`);
  const results: Record<string, unknown> = {};
  const rows: string[][] = [];
  const breakdown: string[][] = [];
  const verdicts: string[] = [];
  for (const build of BUILDS) {
    const raw: RawSample[] = [];
    const ours: OursSample[] = [];
    const pairs: number[] = [];
    // Round 0 warms the page cache for both paths and is dropped.
    for (let round = 0; round <= ROUNDS; round++) {
      const order = round % 2 === 0 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const);
      let r: RawSample | undefined;
      let o: OursSample | undefined;
      for (const which of order) {
        if (which === 'raw') r = await rawOnce(build);
        else o = await oursOnce(build);
      }
      // Every browser of the round must be gone (the watchdog shell may take a moment to be reaped).
      const chromeLeft = () => descendants(process.pid).filter((p) => isChromeComm(readStat(p)?.comm ?? '')).length;
      await waitFor(() => chromeLeft() === 0, 5_000, `chrome processes of round ${round} to exit`);
      if (round === 0) continue;
      raw.push(r!);
      ours.push(o!);
      pairs.push(o!.totalMs / r!.totalMs);
      process.stdout.write(`  ${build} round ${round}: raw ${r!.totalMs.toFixed(1)} ms, ours ${o!.totalMs.toFixed(1)} ms\n`);
    }
    const rt = raw.map((s) => s.totalMs);
    const ot = ours.map((s) => s.totalMs);
    const ratioP50 = median(ot)! / median(rt)!;
    const ratioP95 = pct(ot, 0.95)! / pct(rt, 0.95)!;
    rows.push([BUILD_LABEL[build], 'raw spawn + parse stderr + ws getVersion', fmt(median(rt)), fmt(pct(rt, 0.95)), fmt(Math.min(...rt)), '1.00', '']);
    rows.push([BUILD_LABEL[build], 'ours: new manager + create() + ws getVersion', fmt(median(ot)), fmt(pct(ot, 0.95)), fmt(Math.min(...ot)), ratioP50.toFixed(2), ratioP95.toFixed(2)]);
    breakdown.push([BUILD_LABEL[build], 'raw', `endpoint line ${fmt(median(raw.map((s) => s.endpointMs)))}`, `ws+getVersion ${fmt(median(raw.map((s) => s.connectMs)), 2)}`, '', `kill ${fmt(median(raw.map((s) => s.closeMs)))}`]);
    breakdown.push([
      BUILD_LABEL[build],
      'ours',
      `launch (pool) ${fmt(median(ours.map((s) => s.launchMs)))}`,
      `ws via endpoint+getVersion ${fmt(median(ours.map((s) => s.connectMs)), 2)}`,
      `create() ${fmt(median(ours.map((s) => s.createMs)))} (launch + ${fmt(median(ours.map((s) => s.createMs - s.launchMs)))})`,
      `manager.close() ${fmt(median(ours.map((s) => s.closeMs)))}`,
    ]);
    verdicts.push(`${BUILD_LABEL[build]}: ours/raw p50 = ${ratioP50.toFixed(2)} (target <= 1.20: ${ratioP50 <= 1.2 ? 'met' : 'MISSED'}), median of per-round ratios ${median(pairs)!.toFixed(2)}`);
    results[build] = {
      raw: { totalMs: summary(rt), endpointMs: summary(raw.map((s) => s.endpointMs)), connectMs: summary(raw.map((s) => s.connectMs)), samples: raw.map(roundAll) },
      ours: {
        totalMs: summary(ot),
        createMs: summary(ours.map((s) => s.createMs)),
        launchMs: summary(ours.map((s) => s.launchMs)),
        connectMs: summary(ours.map((s) => s.connectMs)),
        closeMs: summary(ours.map((s) => s.closeMs)),
        samples: ours.map(roundAll),
      },
      ratioP50: round(ratioP50, 3),
      ratioP95: round(ratioP95, 3),
      pairedRatioP50: round(median(pairs)!, 3),
      targetRatio: 1.2,
      targetMet: ratioP50 <= 1.2,
    };
  }
  console.log('\n' + table(['build', 'path', 'p50 ms', 'p95 ms', 'min ms', 'ratio p50 ours/raw', 'ratio p95'], rows));
  console.log('\nmedians of the parts (ms):\n' + table(['build', 'path', 'part 1', 'part 2', 'part 3', 'teardown'], breakdown));
  console.log('\n' + verdicts.join('\n'));
  const file = writeResults('cold-start', { meta, rounds: ROUNDS, builds: results });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

function roundAll<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v])) as T;
}

runMain(main);
