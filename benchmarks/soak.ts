/**
 * Soak: many sessions back to back through one manager (create + puppeteer.connect + goto a
 * local page + disconnect), then checks that nothing grew and nothing was left behind:
 *
 *   - RSS/PSS of the browser trees after the warm-up vs at the end (pool settled both times): drift <= 10 %
 *   - after manager.close(): no chrome process of ours alive (pids new since the start that are
 *     below us or carry our runtimeDir in their environment/command line), no process still holding
 *     a pipe to us, nothing left under our runtimeDir, and /proc/self/fd back to its count before
 *     the manager existed (± 2).
 *
 * Usage: node dist/bench/benchmarks/soak.js [--sessions 1000] [--warmup 50] [--conc 1] [--build shell|new]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionManager } from '../lib/index.js';
import {
  BUILD_LABEL,
  MiB,
  browserTreeMemory,
  cli,
  descendants,
  executableFor,
  fdCount,
  fmt,
  int,
  processMentions,
  readStat,
  round,
  runMain,
  runMeta,
  sleep,
  startPageServer,
  summary,
  systemChromePids,
  table,
  tempDir,
  waitFor,
  writeResults,
  type Build,
} from './common.js';
import { poolQuiet, sessionJob } from './jobs.js';

const args = cli({
  sessions: { type: 'string', default: '1000' },
  warmup: { type: 'string', default: '50' },
  conc: { type: 'string', default: '1' },
  build: { type: 'string', default: 'shell' },
});
const SESSIONS = int('sessions', args.sessions);
const WARMUP = int('warmup', args.warmup);
const CONC = Math.max(1, int('conc', args.conc));
const BUILD = args.build as Build;
const FD_TOLERANCE = 2;
const DRIFT_LIMIT = 0.1;

/** Pipes and sockets a process holds open (a helper we spawned shares one with us). */
function pipeInodes(pid: number | 'self'): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (link.startsWith('pipe:') || link.startsWith('socket:')) out.add(link);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

/** Other live processes holding one of our pipes or sockets (e.g. a helper we started and never ended). */
function processesSharingOurPipes(): { pid: number; comm: string }[] {
  const ours = pipeInodes('self');
  const out: { pid: number; comm: string }[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const pid = Number(e);
    if (readStat(pid)?.state === 'Z') continue;
    for (const p of pipeInodes(pid)) {
      if (ours.has(p)) {
        out.push({ pid, comm: readStat(pid)?.comm ?? '?' });
        break;
      }
    }
  }
  return out;
}

function listTree(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { recursive: true }).map(String);
  } catch {
    return [];
  }
}

function chromiumTempDirs(): Set<string> {
  return new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('org.chromium.Chromium.')));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function main(): Promise<void> {
  const meta = runMeta();
  const pages = await startPageServer();
  const runtimeDir = tempDir('bench-soak-rt-');
  await sleep(100);
  const chromeBefore = systemChromePids();
  const chromiumTmpBefore = chromiumTempDirs();
  const sharingBefore = new Set(processesSharingOurPipes().map((p) => p.pid));
  gc();
  const fdBefore = fdCount();
  console.log(`soak: ${SESSIONS} sessions (+${WARMUP} warm-up) on ${BUILD_LABEL[BUILD]}, concurrency ${CONC}, runtimeDir ${runtimeDir}\n`);

  const manager = new SessionManager({ maxConcurrent: CONC, headless: BUILD, executablePath: executableFor(BUILD), runtimeDir });
  const checkpoints: Record<string, number | string>[] = [];
  const latencies: number[] = [];
  const pids = new Set<number>();
  manager.on('browserLaunched', (e) => pids.add(e.pid));
  let failures = 0;
  let start: { rss: number; pss: number; processes: number; fds: number; nodeRss: number; nodeHeap: number } | undefined;
  let end: typeof start;
  let closeMs = 0;
  try {
    let next = 0;
    const run = async (count: number, timed: boolean) => {
      const last = next + count;
      let lastReport = performance.now();
      let reportFrom = next;
      await Promise.all(
        Array.from({ length: CONC }, async () => {
          while (next < last) {
            const i = next++;
            const t = performance.now();
            try {
              await sessionJob(manager, pages, i);
              if (timed) latencies.push(performance.now() - t);
            } catch (err) {
              failures++;
              console.error(`session ${i} failed:`, err);
              if (failures > 10) throw new Error('more than 10 sessions failed');
            }
            if (timed && (i - WARMUP + 1) % 100 === 0) {
              const now = performance.now();
              const mem = browserTreeMemory();
              const s = manager.stats();
              const cp = {
                sessions: i - WARMUP + 1,
                sessionsPerSec: round((next - reportFrom) / ((now - lastReport) / 1000)),
                treeRssMiB: round(mem.rss / MiB, 1),
                treePssMiB: round(mem.pss / MiB, 1),
                chromeProcesses: mem.processes,
                fds: fdCount(),
                nodeHeapMiB: round(process.memoryUsage().heapUsed / MiB, 1),
                launches: s.launches,
                resets: s.resets,
                recycles: s.recycles,
              };
              checkpoints.push(cp);
              lastReport = now;
              reportFrom = next;
              console.log(
                `  ${String(cp.sessions).padStart(5)} sessions  ${fmt(cp.sessionsPerSec, 1)}/s  tree RSS ${fmt(cp.treeRssMiB, 0)} MiB PSS ${fmt(cp.treePssMiB, 0)} MiB (${cp.chromeProcesses} procs)  fds ${cp.fds}  heap ${fmt(cp.nodeHeapMiB, 1)} MiB  launches ${cp.launches} recycles ${cp.recycles}`,
              );
            }
          }
        }),
      );
    };
    const snapshot = async () => {
      await waitFor(() => poolQuiet(manager), 30_000, 'the pool to settle');
      await sleep(300);
      gc();
      const mem = browserTreeMemory();
      const m = process.memoryUsage();
      return { rss: mem.rss, pss: mem.pss, processes: mem.processes, fds: fdCount(), nodeRss: m.rss, nodeHeap: m.heapUsed };
    };
    await run(WARMUP, false);
    start = await snapshot();
    const tRun = performance.now();
    await run(SESSIONS, true);
    const runMs = performance.now() - tRun;
    end = await snapshot();
    meta.sessionsPerSec = round(SESSIONS / (runMs / 1000), 2);
  } finally {
    const tc = performance.now();
    await manager.close();
    closeMs = performance.now() - tc;
    await pages.close();
  }
  // Give the kernel a moment to reap, then look for anything left.
  await sleep(500);
  gc();
  const fdAfter = fdCount();
  const newChrome = [...systemChromePids()].filter((p) => !chromeBefore.has(p));
  const below = new Set(descendants(process.pid));
  const leaked = newChrome.filter((p) => below.has(p) || processMentions(p, runtimeDir) || pids.has(readStat(p)?.pgrp ?? -1));
  const leftovers = listTree(runtimeDir);
  const sharing = processesSharingOurPipes().filter((p) => !sharingBefore.has(p.pid));
  const chromiumTmpNew = [...chromiumTempDirs()].filter((n) => !chromiumTmpBefore.has(n));
  const s = start!;
  const e = end!;
  const drift = (a: number, b: number) => (b - a) / a;
  const rssDrift = drift(s.rss, e.rss);
  const pssDrift = drift(s.pss, e.pss);

  const rows = [
    ['browser trees RSS (MiB)', fmt(s.rss / MiB, 0), fmt(e.rss / MiB, 0), `${fmt(rssDrift * 100, 1)} %`, '<= 10 %', Math.abs(rssDrift) <= DRIFT_LIMIT ? 'ok' : 'FAIL'],
    ['browser trees PSS (MiB)', fmt(s.pss / MiB, 0), fmt(e.pss / MiB, 0), `${fmt(pssDrift * 100, 1)} %`, '<= 10 %', Math.abs(pssDrift) <= DRIFT_LIMIT ? 'ok' : 'FAIL'],
    ['chrome processes (settled pool)', String(s.processes), String(e.processes), String(e.processes - s.processes), '', ''],
    ['node RSS (MiB)', fmt(s.nodeRss / MiB, 0), fmt(e.nodeRss / MiB, 0), `${fmt(drift(s.nodeRss, e.nodeRss) * 100, 1)} %`, '', ''],
    ['node heap used (MiB)', fmt(s.nodeHeap / MiB, 1), fmt(e.nodeHeap / MiB, 1), `${fmt(drift(s.nodeHeap, e.nodeHeap) * 100, 1)} %`, '', ''],
    ['node fds (manager running)', String(s.fds), String(e.fds), String(e.fds - s.fds), '', ''],
    ['node fds before manager / after close()', String(fdBefore), String(fdAfter), String(fdAfter - fdBefore), `± ${FD_TOLERANCE}`, Math.abs(fdAfter - fdBefore) <= FD_TOLERANCE ? 'ok' : 'FAIL'],
    ['chrome processes of ours alive after close()', '', String(leaked.length), '', '0', leaked.length === 0 ? 'ok' : 'FAIL'],
    ['entries left under runtimeDir', '', String(leftovers.length), '', '0', leftovers.length === 0 ? 'ok' : 'FAIL'],
    ['processes still sharing a pipe/socket with us', '', String(sharing.length), '', '0', sharing.length === 0 ? 'ok' : 'FAIL'],
    ['new org.chromium.Chromium.* in os.tmpdir()', '', String(chromiumTmpNew.length), '', '0', chromiumTmpNew.length === 0 ? 'ok' : 'FAIL'],
    ['failed sessions', '', String(failures), '', '0', failures === 0 ? 'ok' : 'FAIL'],
  ];
  const lat = summary(latencies);
  console.log(`\n${SESSIONS} sessions in ${fmt((SESSIONS / (meta.sessionsPerSec as number)), 1)} s (${meta.sessionsPerSec} sessions/s), session job p50 ${fmt(lat.p50)} ms, p95 ${fmt(lat.p95)} ms, manager.close() ${fmt(closeMs)} ms\n`);
  console.log(table(['metric', 'start', 'end', 'change', 'target', 'verdict'], rows));
  if (leaked.length) console.log('leaked:', leaked.map((p) => `${p} ${readStat(p)?.comm}`).join(', '));
  if (sharing.length) console.log('sharing a pipe/socket with us:', sharing.map((p) => `${p} ${p.comm}`).join(', '));
  if (leftovers.length) console.log('left under runtimeDir:', leftovers.slice(0, 20).join(', '));
  const file = writeResults('soak', {
    meta,
    config: { sessions: SESSIONS, warmup: WARMUP, concurrency: CONC, build: BUILD, driftLimit: DRIFT_LIMIT, fdTolerance: FD_TOLERANCE },
    latencyMs: lat,
    start: s,
    end: e,
    rssDrift: round(rssDrift, 4),
    pssDrift: round(pssDrift, 4),
    fdBefore,
    fdAfter,
    leakedChrome: leaked.map((p) => ({ pid: p, comm: readStat(p)?.comm })),
    processesHoldingOurPipes: sharing,
    leftoverEntries: leftovers,
    chromiumTmpNew,
    failures,
    closeMs: round(closeMs),
    checkpoints,
    verdicts: Object.fromEntries(rows.filter((r) => r[5]).map((r) => [r[0], r[5]])),
  });
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (rows.some((r) => r[5] === 'FAIL')) process.exitCode = 1;
}

runMain(main);
