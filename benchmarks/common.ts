/**
 * Shared helpers of the benchmark scripts: statistics, tables, the local page server, results
 * files and last-resort cleanup; the /proc accounting of the process tree is in proc.ts
 * (re-exported here).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const SHELL_PATH = '/usr/lib/chromium/chromium-headless-shell';
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The two builds compared everywhere: chrome-headless-shell and full Chromium (`--headless=new`). */
export type Build = 'shell' | 'new';
export const BUILD_LABEL: Record<Build, string> = { shell: 'headless-shell', new: 'chromium (new headless)' };
export const executableFor = (b: Build): string => (b === 'shell' ? SHELL_PATH : CHROMIUM_PATH);

/** Flags that this machine needs for Chrome launched by Puppeteer (notes/chrome-facts.md). */
export const FACTS_FLAGS = [
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** `benchmarks/` in the source tree, whether we run from there or from `dist/bench/benchmarks`. */
export const BENCH_DIR = HERE.includes(`${path.sep}dist${path.sep}bench${path.sep}`)
  ? path.resolve(HERE, '../../../benchmarks')
  : HERE;

// ---------------------------------------------------------------- arguments

/** Reads `--name value`/`--name=value` or the env variable `BENCH_NAME`, else the fallback. */
export function cli<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(spec: T) {
  const { values } = parseArgs({ options: spec, strict: true, allowPositionals: false });
  const out: Record<string, string | boolean | undefined> = {};
  for (const key of Object.keys(spec)) {
    const env = process.env[`BENCH_${key.toUpperCase().replaceAll('-', '_')}`];
    const given = (values as Record<string, string | boolean | undefined>)[key];
    out[key] = given ?? (env !== undefined ? (spec[key]!.type === 'boolean' ? env === '1' || env === 'true' : env) : spec[key]!.default);
  }
  return out as { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string };
}

export function int(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`--${name} must be an integer >= 0, got ${value}`);
  return n;
}

// ---------------------------------------------------------------- statistics

/** Percentile with linear interpolation between closest ranks; undefined for no data. */
export function pct(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const i = (s.length - 1) * p;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

export const median = (v: readonly number[]) => pct(v, 0.5);
export const mean = (v: readonly number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined);

/** p50/p95/min/max of a sample, rounded for JSON. */
export function summary(values: readonly number[]): { n: number; p50?: number; p95?: number; min?: number; max?: number; mean?: number } {
  if (!values.length) return { n: 0 };
  return {
    n: values.length,
    p50: round(pct(values, 0.5)!),
    p95: round(pct(values, 0.95)!),
    min: round(Math.min(...values)),
    max: round(Math.max(...values)),
    mean: round(mean(values)!),
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Formats a number for a table cell; `–` for missing. */
export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x.toFixed(digits);
}

export const MiB = 1024 * 1024;

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export * from './proc.js';
import { CLK_TCK, descendants, readStat } from './proc.js';

// ---------------------------------------------------------------- local pages

export interface PageServer {
  readonly origin: string;
  url(i: number): string;
  title(i: number): string;
  close(): Promise<void>;
}

/** A local http server: `/job/N` is a small page titled `job N`. */
export async function startPageServer(): Promise<PageServer> {
  const server = http.createServer((req, res) => {
    const m = /^\/job\/(\d+)$/.exec(req.url ?? '');
    const n = m ? m[1] : 'x';
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html><html><head><title>job ${n}</title></head><body><h1>job ${n}</h1><p>${'lorem ipsum '.repeat(50)}</p></body></html>`);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: (i) => `${origin}/job/${i}`,
    title: (i) => `job ${i}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- cleanup

const tempDirs = new Set<string>();

/** A temp folder removed at exit (and by {@link cleanupNow}). */
export function tempDir(prefix: string, parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  tempDirs.add(dir);
  return dir;
}

/**
 * SIGKILLs every process below this one, each one's process group too (Chrome runs in its own),
 * and removes our temp folders. Safe to call any time; used in `finally` blocks, on `exit` and
 * on SIGINT/SIGTERM, so that no browser outlives a benchmark even when it fails.
 */
export function cleanupNow(): void {
  // Puppeteer's own temp profiles (puppeteer.launch without userDataDir) are removed by
  // browser.close(); for a browser we kill here, remove the one its command line names.
  const profiles = new Set<string>();
  for (const pid of descendants(process.pid)) {
    try {
      const m = /--user-data-dir=([^\0]+)/.exec(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (m && path.basename(m[1]!).startsWith('puppeteer_dev_chrome_profile-')) profiles.add(m[1]!);
    } catch {
      // gone
    }
  }
  for (const pid of descendants(process.pid)) {
    const s = readStat(pid);
    try {
      if (s && s.pgrp === pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const dir of [...tempDirs, ...profiles]) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  tempDirs.clear();
}

let installed = false;
/** Installs {@link cleanupNow} on `exit`, SIGINT, SIGTERM and SIGHUP. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: killing every browser this benchmark started`);
      cleanupNow();
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    });
  }
}

// ---------------------------------------------------------------- exact CPU accounting

const SUBREAPER_PY = 'import ctypes, os, sys\nctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\nos.execv(sys.argv[1], sys.argv[1:])';

/**
 * Re-runs this script as a "child subreaper" (prctl PR_SET_CHILD_SUBREAPER, set by a python3
 * one-liner that then execs Node; the flag survives exec). Chrome helpers whose parent dies
 * first are then re-parented to us instead of to PID 1, so their CPU stays countable (as zombies
 * or reaped). Without it, a strategy that closes browsers per job would look cheaper than it is.
 * Returns true in the parent, which only waits for the child and passes its exit code on.
 */
function relaunchAsSubreaper(): boolean {
  if (process.env.BENCH_SUBREAPER !== undefined) return false;
  try {
    execFileSync('python3', ['-c', 'pass'], { stdio: 'ignore' });
  } catch {
    console.warn('python3 not found: running without a subreaper, CPU of orphaned Chrome helpers is not counted');
    return false;
  }
  const child = spawn('python3', ['-c', SUBREAPER_PY, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_SUBREAPER: '1' },
  });
  // Ctrl-C reaches the child through the process group; the parent just waits for it.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
  });
  return true;
}

/** True when processes orphaned below us are re-parented to us (checked with a real orphan). */
export function isSubreaper(): boolean {
  try {
    const pid = Number(execFileSync('/bin/sh', ['-c', 'sleep 5 </dev/null >/dev/null 2>&1 & echo $!']).toString().trim());
    const ppid = readStat(pid)?.ppid;
    process.kill(pid, 'SIGKILL');
    return ppid === process.pid;
  } catch {
    return false;
  }
}

/** Runs a benchmark's main with cleanup on every path; sets the exit code on failure. */
export function runMain(main: () => Promise<void>, opts: { subreaper?: boolean } = {}): void {
  if (opts.subreaper && relaunchAsSubreaper()) return;
  installCleanup();
  const t0 = performance.now();
  main()
    .then(() => {
      console.log(`\nwall time: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => {
      cleanupNow();
      // Puppeteer and ws may keep handles for a moment; the results are written already.
      setTimeout(() => process.exit(), 200).unref();
    });
}

// ---------------------------------------------------------------- results

export function chromeVersion(exe: string): string {
  try {
    return execFileSync(exe, ['--version'], { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Facts about the run that every results file carries. */
export function runMeta(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    memGiB: round(os.totalmem() / 1024 ** 3, 1),
    loadavgAtStart: os.loadavg().map((x) => round(x)),
    argv: process.argv.slice(2),
    chrome: { shell: chromeVersion(SHELL_PATH), chromium: chromeVersion(CHROMIUM_PATH) },
    clkTck: CLK_TCK,
  };
}

/** Writes `benchmarks/results/<name>.json` and returns its path. */
export function writeResults(name: string, data: unknown): string {
  const dir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `predicate` every 10 ms until true or `timeoutMs` passes (then throws). */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
