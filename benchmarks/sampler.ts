/**
 * Child process of a benchmark (see `MemorySampler` in common.ts): every `intervalMs` it sums
 * RSS and PSS (/proc/PID/smaps_rollup) over the chrome processes below the benchmark's Node
 * process and keeps the peaks. Commands arrive over IPC: `reset` starts a window, `report` reads it.
 */
import { CLK_TCK, descendants, isChromeComm, readSmapsRollup, readStat, type SamplerReport } from './common.js';

const root = Number(process.argv[2]);
const intervalMs = Number(process.argv[3] ?? 100);
const self = new Set([process.pid]);

let samples = 0;
let peakRss = 0;
let peakPss = 0;
let peakProcesses = 0;
/** pid:startTicks -> [ticks at window start (0 if born later), last ticks seen]. */
let cpu = new Map<string, [number, number]>();
let cpuAtReset = process.cpuUsage();

function sample(): void {
  let rss = 0;
  let pss = 0;
  let n = 0;
  for (const pid of descendants(root, self)) {
    const s = readStat(pid);
    if (!s || s.state === 'Z' || !isChromeComm(s.comm)) continue;
    const key = `${pid}:${s.startTicks}`;
    const seen = cpu.get(key);
    if (seen) seen[1] = s.selfTicks;
    else cpu.set(key, [samples === 0 ? s.selfTicks : 0, s.selfTicks]);
    const m = readSmapsRollup(pid);
    if (!m) continue;
    rss += m.rss;
    pss += m.pss;
    n++;
  }
  samples++;
  peakRss = Math.max(peakRss, rss);
  peakPss = Math.max(peakPss, pss);
  peakProcesses = Math.max(peakProcesses, n);
}

function report(): SamplerReport {
  let ticks = 0;
  for (const [start, last] of cpu.values()) ticks += last - start;
  const u = process.cpuUsage(cpuAtReset);
  return {
    samples,
    peakRssBytes: peakRss,
    peakPssBytes: peakPss,
    peakProcesses,
    sampledChromeCpuMs: (ticks * 1000) / CLK_TCK,
    samplerCpuMs: (u.user + u.system) / 1000,
  };
}

function reset(): void {
  samples = 0;
  peakRss = 0;
  peakPss = 0;
  peakProcesses = 0;
  cpu = new Map();
  cpuAtReset = process.cpuUsage();
  sample();
}

process.on('message', (m: { cmd: 'reset' | 'report'; seq: number }) => {
  sample();
  const r = report();
  if (m.cmd === 'reset') reset();
  process.send!({ seq: m.seq, report: r });
});
process.on('disconnect', () => process.exit(0));

setInterval(sample, intervalMs);
process.send!({ ready: true });
