/**
 * The chaos run behind test/chaos.test.ts and `npm run chaos`: workers run sessions through
 * puppeteer-core while Chrome main processes are SIGKILLed and SIGSTOPped at random and stops
 * race connects. Seeded, so a failing run can be replayed. Every call is bounded here: a bound
 * that fires is a hang, which is the failure this run looks for.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { SessionManager, type ManagerStats } from '../lib/index.js';
import { groupGone, runDirs, startServer } from './helpers.js';

/** A small seeded generator (mulberry32). */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosOptions {
  readonly seed: number;
  readonly jobs: number;
  readonly workers?: number;
  readonly maxConcurrent?: number;
  /**
   * 'context': sessions share Chromes (two to a Chrome), a third of them with a `userAgent` and a
   * sixth recording, and a third of the jobs load their page in a context of the client's own.
   * @default 'reset'
   */
  readonly isolation?: 'reset' | 'context';
}

/** What a run saw. A correct library has `hangs`, `badStats`, `leftoverChrome`, `leftoverDirs` and `untyped` empty or 0. */
export interface ChaosReport {
  seed: number;
  jobs: number;
  ms: number;
  created: number;
  /** Failed creates by error code. */
  createErrors: Record<string, number>;
  connected: number;
  connectFailed: number;
  pagesLoaded: number;
  sigkills: number;
  sigstops: number;
  /** Sessions by final `status/stopReason`. */
  ended: Record<string, number>;
  /** Calls that did not settle within their bound. */
  hangs: string[];
  /** Errors from the library without a `code`. */
  untyped: string[];
  /** Broken invariants of `stats()` seen during the run. */
  badStats: string[];
  leftoverChrome: number;
  leftoverDirs: number;
}

class Hang extends Error {}

/** Rejects with a Hang when `p` does not settle within `ms`. */
async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Hang(`${what} did not settle within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const CREATE_BOUND_MS = 60_000;
const CONNECT_BOUND_MS = 20_000;
const STOP_BOUND_MS = 10_000;
const CLOSE_BOUND_MS = 30_000;

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const rand = rng(opts.seed);
  const workers = opts.workers ?? 4;
  const maxConcurrent = opts.maxConcurrent ?? 3;
  const report: ChaosReport = {
    seed: opts.seed, jobs: opts.jobs, ms: 0, created: 0, createErrors: {}, connected: 0, connectFailed: 0, pagesLoaded: 0,
    sigkills: 0, sigstops: 0, ended: {}, hangs: [], untyped: [], badStats: [], leftoverChrome: 0, leftoverDirs: 0,
  };
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chaos-'));
  const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chaos-rec-'));
  const features = opts.isolation === 'context';
  const server = await startServer();
  const m = new SessionManager({
    runtimeDir,
    recordingsDir,
    ...(features ? { isolation: 'context' as const, sessionsPerBrowser: 2 } : {}),
    maxConcurrent,
    minIdle: 1,
    handleSignals: false,
    healthCheckIntervalMs: 300,
    clientPingTimeoutMs: 1_000,
    launchTimeoutMs: 10_000,
    resetTimeoutMs: 2_000,
  });
  const launched = new Set<number>();
  const everLaunched: number[] = [];
  const frozen = new Set<number>();
  m.on('browserLaunched', (e) => {
    launched.add(e.pid);
    everLaunched.push(e.pid);
  });
  m.on('browserExited', (e) => launched.delete(e.pid));
  /** What the endpoint did with each session's clients, to explain a hang. */
  const clientLog = new Map<string, string[]>();
  const logClient = (id: string, what: string) => clientLog.set(id, [...(clientLog.get(id) ?? []), what]);
  m.on('clientConnected', (e) => logClient(e.sessionId, `+${e.clientId}`));
  m.on('clientDisconnected', (e) => logClient(e.sessionId, `-${e.clientId}:${e.reason}`));
  const codeOf = (err: unknown) => (err as { code?: unknown })?.code;
  const noteError = (where: string, err: unknown) => {
    if (err instanceof Hang) report.hangs.push(err.message);
    else if (typeof codeOf(err) !== 'string') report.untyped.push(`${where}: ${String(err)}`);
  };
  const checkStats = (s: ManagerStats, when: string) => {
    if (s.busy > maxConcurrent) report.badStats.push(`${when}: busy ${s.busy} > maxConcurrent`);
    if (s.active > maxConcurrent) report.badStats.push(`${when}: active ${s.active} > maxConcurrent`);
    if (s.busy + s.idle + s.resetting + s.launching > maxConcurrent + 1) report.badStats.push(`${when}: ${JSON.stringify(s)} over maxConcurrent + minIdle browsers`);
    const listed = m.list({ perPage: 1000 }).sessions;
    const active = listed.filter((x) => x.status === 'active').length;
    const pending = listed.filter((x) => x.status === 'pending').length;
    if (active !== s.active || pending !== s.pending) report.badStats.push(`${when}: stats ${s.active}/${s.pending} vs list ${active}/${pending}`);
  };

  let next = 0;
  let done = false;
  const worker = async () => {
    while (next < opts.jobs) {
      next++;
      const ac = rand() < 0.1 ? new AbortController() : undefined;
      if (ac) setTimeout(() => ac.abort(), Math.floor(rand() * 300)).unref();
      const timeoutMs = rand() < 0.1 ? 200 + Math.floor(rand() * 400) : 60_000;
      let id: string;
      let ws: string;
      try {
        const extras = features ? { ...(rand() < 0.33 ? { userAgent: 'chaos/1.0', timezoneId: 'Asia/Tokyo' } : {}), ...(rand() < 0.17 ? { recording: true } : {}) } : {};
        const s = await bounded(m.create({ signal: ac?.signal, timeoutMs, keepAlive: rand() < 0.2, ...extras }), CREATE_BOUND_MS, 'create');
        report.created++;
        id = s.id;
        ws = s.wsEndpoint;
      } catch (err) {
        const code = String(codeOf(err) ?? 'none');
        report.createErrors[code] = (report.createErrors[code] ?? 0) + 1;
        noteError('create', err);
        continue;
      }
      const racingStop = rand() < 0.15 ? bounded(new Promise((r) => setTimeout(r, Math.floor(rand() * 30))).then(() => m.stop(id)), STOP_BOUND_MS, 'stop racing a connect').catch((e: unknown) => noteError('stop', e)) : undefined;
      let browser: Browser | undefined;
      try {
        browser = await bounded(puppeteer.connect({ browserWSEndpoint: ws, defaultViewport: null, protocolTimeout: 10_000 }), CONNECT_BOUND_MS, 'puppeteer.connect');
        report.connected++;
      } catch (err) {
        report.connectFailed++;
        if (err instanceof Hang) report.hangs.push(`${err.message} (session ${JSON.stringify(m.get(id))}, its clients: ${JSON.stringify(clientLog.get(id) ?? [])})`);
      }
      if (browser) {
        try {
          const ownContext = features && rand() < 0.33;
          const page = ownContext ? await (await browser.createBrowserContext()).newPage() : ((await browser.pages())[0] ?? (await browser.newPage()));
          await page.goto(`${server.origin}/title/chaos`, { timeout: 5_000 });
          if ((await page.title()) === 'chaos') report.pagesLoaded++;
        } catch {
          // the browser was killed or frozen under us: expected here
        }
        const end = rand();
        await bounded(end < 0.5 ? browser.disconnect() : end < 0.7 ? browser.close() : Promise.resolve(), STOP_BOUND_MS, 'disconnect/close').catch((e: unknown) => e instanceof Hang && report.hangs.push(e.message));
      }
      await bounded(m.stop(id), STOP_BOUND_MS, 'stop').catch((e: unknown) => noteError('stop', e));
      await racingStop;
      if (!browser?.connected) continue;
      await browser.disconnect().catch(() => {});
    }
  };

  const monkey = async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 100 + Math.floor(rand() * 300)));
      checkStats(m.stats(), 'during the run');
      const pids = [...launched];
      const pid = pids[Math.floor(rand() * pids.length)];
      if (pid === undefined) continue;
      const r = rand();
      try {
        if (r < 0.45) {
          process.kill(pid, 'SIGKILL');
          report.sigkills++;
        } else if (r < 0.75) {
          process.kill(pid, 'SIGSTOP');
          frozen.add(pid);
          report.sigstops++;
          // Thawed after a while, or never: then the health check or the reset deadline must act.
          if (rand() < 0.7) setTimeout(() => thaw(pid), Math.floor(rand() * 1500)).unref();
        }
      } catch {
        // exited meanwhile
      }
    }
  };
  const thaw = (pid: number) => {
    frozen.delete(pid);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  };

  try {
    const monkeyDone = monkey();
    await Promise.all(Array.from({ length: workers }, worker));
    done = true;
    await monkeyDone;
    for (const pid of [...frozen]) thaw(pid);
    const settled = m.stats();
    if (settled.active !== 0 || settled.pending !== 0) report.badStats.push(`after the jobs: ${JSON.stringify(settled)}`);
    for (const s of m.list({ perPage: 1000 }).sessions) {
      const key = `${s.status}/${s.stopReason ?? '-'}`;
      report.ended[key] = (report.ended[key] ?? 0) + 1;
      if (s.status !== 'closed' && s.status !== 'error') report.badStats.push(`session ${s.id} ended ${s.status}`);
    }
    await bounded(m.close(), CLOSE_BOUND_MS, 'close').catch((e: unknown) => noteError('close', e));
  } finally {
    done = true;
    for (const pid of [...frozen]) thaw(pid);
    // Whatever the library left: count it, then kill it so one failed run does not poison the next.
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of everLaunched) {
      if (groupGone(pid)) continue;
      report.leftoverChrome++;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    report.leftoverDirs = runDirs(runtimeDir).length;
    await server.close();
    fs.rmSync(runtimeDir, { recursive: true, force: true });
    fs.rmSync(recordingsDir, { recursive: true, force: true });
    report.ms = Date.now() - t0;
  }
  return report;
}
