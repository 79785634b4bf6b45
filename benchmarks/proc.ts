/**
 * What the benchmarks read of processes: CPU of this Node process and of every process it started
 * (/proc/PID/stat, children walked through /proc/PID/task/TID/children), chrome processes on the
 * machine, and RSS/PSS of the browser trees (/proc/PID/smaps_rollup), sampled by a separate niced
 * process (sampler.ts). Re-exported by common.ts.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  /** utime + stime of the process itself, in ticks. */
  selfTicks: number;
  /** cutime + cstime: its children that it has reaped, in ticks. */
  childTicks: number;
  startTicks: number;
  rssPages: number;
}

/** Parses /proc/PID/stat; undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  // After the name: [0]=state [1]=ppid [2]=pgrp ... [11]=utime [12]=stime [13]=cutime [14]=cstime ... [19]=starttime [21]=rss
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, close),
    state: f[0]!,
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    selfTicks: Number(f[11]) + Number(f[12]),
    childTicks: Number(f[13]) + Number(f[14]),
    startTicks: Number(f[19]),
    rssPages: Number(f[21]),
  };
}

/** Direct children of a process (all of its threads), from /proc/PID/task/TID/children. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(' ')) out.push(Number(c));
    } catch {
      // thread ended
    }
  }
  return out;
}

/** Every live descendant of `root` (not `root` itself), skipping the subtrees of `exclude`. */
export function descendants(root: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const out: number[] = [];
  const stack = childrenOf(root);
  while (stack.length) {
    const pid = stack.pop()!;
    if (exclude.has(pid)) continue;
    out.push(pid);
    stack.push(...childrenOf(pid));
  }
  return out;
}

export const isChromeComm = (comm: string) => /chrom/i.test(comm);

/**
 * Cumulative CPU of this Node process and of everything it ever started, in ms.
 *
 * How: Node's own time from `process.cpuUsage()` (µs); plus `cutime+cstime` of /proc/self/stat,
 * which holds every child Node has reaped *including what that child had reaped itself* (a
 * browser's renderers and zygotes are reaped by the browser, the browser by Node); plus
 * `utime+stime+cutime+cstime` of every live descendant. The difference of two snapshots is the
 * CPU spent in between by the whole tree, whether processes were born, lived or died in between.
 * Only processes orphaned before they are reaped (their parent died first) escape it; that can
 * only make a launch-per-job strategy look cheaper, never ours. Excluded pids (the sampler) and
 * their subtrees are left out.
 */
export interface CpuSnapshot {
  nodeMs: number;
  treeMs: number;
  liveProcesses: number;
}

export function cpuSnapshot(exclude: ReadonlySet<number> = new Set()): CpuSnapshot {
  const u = process.cpuUsage();
  const self = readStat(process.pid);
  let ticks = self?.childTicks ?? 0;
  const live = descendants(process.pid, exclude);
  for (const pid of live) {
    const s = readStat(pid);
    if (s) ticks += s.selfTicks + s.childTicks;
  }
  return { nodeMs: (u.user + u.system) / 1000, treeMs: (ticks * 1000) / CLK_TCK, liveProcesses: live.length };
}

/** CPU between two snapshots: `node` (this process), `children` (browsers and helpers), `total`. */
export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): { nodeMs: number; childrenMs: number; totalMs: number } {
  const nodeMs = b.nodeMs - a.nodeMs;
  const childrenMs = b.treeMs - a.treeMs;
  return { nodeMs, childrenMs, totalMs: nodeMs + childrenMs };
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Chrome processes on the whole machine (zombies excluded). */
export function systemChromePids(): Set<number> {
  const out = new Set<number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s && s.state !== 'Z' && isChromeComm(s.comm)) out.add(s.pid);
  }
  return out;
}

/** True when a process's environment or command line mentions `marker` (e.g. our runtimeDir). */
export function processMentions(pid: number, marker: string): boolean {
  for (const file of ['environ', 'cmdline']) {
    try {
      if (fs.readFileSync(`/proc/${pid}/${file}`).includes(marker)) return true;
    } catch {
      // gone or not ours
    }
  }
  return false;
}

/** Sum of RSS/PSS (bytes) over the chrome processes below this Node process, read once. */
export function browserTreeMemory(exclude: ReadonlySet<number> = new Set()): { rss: number; pss: number; processes: number } {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of descendants(process.pid, exclude)) {
    const s = readStat(pid);
    if (!s || !isChromeComm(s.comm) || s.state === 'Z') continue;
    const m = readSmapsRollup(pid);
    if (!m) continue;
    rss += m.rss;
    pss += m.pss;
    processes++;
  }
  return { rss, pss, processes };
}

export function readSmapsRollup(pid: number): { rss: number; pss: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const rss = /^Rss:\s+(\d+) kB/m.exec(text);
    const pss = /^Pss:\s+(\d+) kB/m.exec(text);
    if (!rss || !pss) return undefined;
    return { rss: Number(rss[1]) * 1024, pss: Number(pss[1]) * 1024 };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- memory sampler (child process)

export interface SamplerReport {
  samples: number;
  peakRssBytes: number;
  peakPssBytes: number;
  peakProcesses: number;
  /** Sum over every chrome pid seen of its last sampled utime+stime: a lower bound cross-check of the tree CPU. */
  sampledChromeCpuMs: number;
  /** CPU the sampler itself used since the last reset (it is excluded from every CPU figure). */
  samplerCpuMs: number;
}

/**
 * Samples the browser trees' RSS and PSS (/proc/PID/smaps_rollup) every `intervalMs` from a
 * separate, niced process, so that neither its CPU nor its blocking reads land on the benchmark's
 * event loop. Its pid is excluded from the CPU accounting.
 */
export class MemorySampler {
  readonly #child: ChildProcess;
  readonly pid: number;
  #seq = 0;
  readonly #pending = new Map<number, (r: SamplerReport) => void>();

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.pid = child.pid!;
    child.on('message', (m: { seq: number; report: SamplerReport }) => {
      this.#pending.get(m.seq)?.(m.report);
      this.#pending.delete(m.seq);
    });
  }

  static async start(intervalMs: number): Promise<MemorySampler> {
    const child = fork(path.join(HERE, 'sampler.js'), [String(process.pid), String(intervalMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
    });
    try {
      os.setPriority(child.pid!, 19);
    } catch {
      // not allowed: it still runs
    }
    return new MemorySampler(child);
  }

  /** Starts a new measurement window; resolves with the report of the previous one. */
  reset(): Promise<SamplerReport> {
    return this.#ask('reset');
  }

  /** The peaks since the last reset (one more sample is taken first). */
  report(): Promise<SamplerReport> {
    return this.#ask('report');
  }

  #ask(cmd: string): Promise<SamplerReport> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      this.#pending.set(seq, resolve);
      this.#child.send({ cmd, seq });
    });
  }

  stop(): void {
    this.#child.kill('SIGKILL');
  }
}

