/**
 * Nothing outlives the process that owns a manager: the watchdog cleans up after an owner killed
 * with SIGKILL (and is replaced when it dies itself), the next manager reaps what a frozen
 * watchdog left, and `handleSignals` kills the browsers on SIGTERM. A watchdog that should not
 * help is frozen with SIGSTOP, not killed: a killed one is restarted by a live owner. Owners run in child Node processes (test/fixtures/owner.mjs) on the
 * library compiled from lib/; only processes started here are checked or killed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESTARTS, Watchdog, type WatchdogRestartEvent } from '../lib/chrome/watchdog.js';
import { SessionManager } from '../lib/index.js';
import { buildLibrary, groupGone, isAlive, runDirs, runFixture, waitUntil, watchdogPids, withDeadline, type Fixture } from './helpers.js';

/** What owner.mjs prints once its sessions are active. */
interface OwnerInfo {
  pid: number;
  runDir: string;
  browserPids: number[];
  sessionPids: number[];
  wsEndpoints: string[];
}

let tmp: string;
let lib: string;
const started: Fixture[] = [];
const browsers: number[] = [];
/** Watchdogs this file froze or saw; SIGKILLed at the end (SIGKILL ends a stopped process too). */
const watchdogs: number[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-orphans-'));
  lib = await buildLibrary();
});

afterAll(async () => {
  for (const f of started) await f.dispose();
  for (const pid of watchdogs) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of browsers) {
    if (groupGone(pid)) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts an owner process with `sessions` sessions and waits for its report. */
async function startOwner(runtimeDir: string, sessions: number, mode?: 'signals' | 'exit-on-usr2'): Promise<{ owner: Fixture; info: OwnerInfo }> {
  const owner = runFixture('owner.mjs', [lib, runtimeDir, String(sessions), ...(mode ? [mode] : [])]);
  started.push(owner);
  const info = JSON.parse(await owner.line((l) => l.startsWith('{'), 30_000)) as OwnerInfo;
  browsers.push(...info.browserPids);
  expect(info.browserPids).toHaveLength(sessions);
  expect([...info.sessionPids].sort()).toEqual([...info.browserPids].sort());
  expect(info.browserPids.every(isAlive)).toBe(true);
  expect(fs.existsSync(info.runDir)).toBe(true);
  return { owner, info };
}

/** Freezes the watchdog of a run (SIGSTOP): it stays alive, so it is not replaced, and does nothing. */
async function freezeWatchdog(runDir: string): Promise<number> {
  const [watchdog] = watchdogPids(runDir);
  expect(watchdog).toBeDefined();
  watchdogs.push(watchdog!);
  process.kill(watchdog!, 'SIGSTOP');
  await waitUntil(() => procState(watchdog!) === 'T', 10_000, 'the watchdog to stop');
  return watchdog!;
}

/** State letter of a pid (field 3 of /proc/PID/stat), or undefined when gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** SIGKILLs a process this file started and waits until it has been reaped. */
async function killHard(f: Fixture): Promise<void> {
  f.child.kill('SIGKILL');
  await withDeadline(f.exited, 10_000, `pid ${f.pid} to exit`);
}

describe('an owner process killed with SIGKILL', () => {
  it('has its browsers killed and its run folder removed by the watchdog', async () => {
    const runtimeDir = path.join(tmp, 'watchdog');
    const { owner, info } = await startOwner(runtimeDir, 2);
    expect(watchdogPids(info.runDir)).toHaveLength(1);

    await killHard(owner);

    await waitUntil(() => info.browserPids.every(groupGone), 10_000, "the dead owner's browsers to be killed");
    await waitUntil(() => !fs.existsSync(info.runDir), 10_000, "the dead owner's run folder to be removed");
    await waitUntil(() => watchdogPids(info.runDir).length === 0, 10_000, 'the watchdog to exit');
  });

  it('whose watchdog died before, has its browsers killed by the watchdog started in its place', async () => {
    const runtimeDir = path.join(tmp, 'respawn');
    const { owner, info } = await startOwner(runtimeDir, 2);
    const [first] = watchdogPids(info.runDir);
    expect(first).toBeDefined();

    process.kill(first!, 'SIGKILL');
    await waitUntil(() => watchdogPids(info.runDir).some((p) => p !== first), 10_000, 'a new watchdog for the same run folder');
    const second = watchdogPids(info.runDir).find((p) => p !== first);
    watchdogs.push(second!);
    expect(second).not.toBe(first);
    expect(info.browserPids.every(isAlive)).toBe(true);

    await killHard(owner);

    await waitUntil(() => info.browserPids.every(groupGone), 10_000, "the dead owner's browsers to be killed by the new watchdog");
    await waitUntil(() => !fs.existsSync(info.runDir), 10_000, "the dead owner's run folder to be removed");
    await waitUntil(() => !isAlive(second!), 10_000, 'the new watchdog to exit');
  });

  it('with its watchdog frozen, is reaped by the next manager, which spares a live owner', async () => {
    const runtimeDir = path.join(tmp, 'reap');
    const { owner, info } = await startOwner(runtimeDir, 2);
    const live = await startOwner(runtimeDir, 1);
    const reaper = new SessionManager({ runtimeDir, minIdle: 0, handleSignals: false, healthCheckIntervalMs: 0, clientPingTimeoutMs: 0 });
    try {
      const frozen = await freezeWatchdog(info.runDir);
      await killHard(owner);
      // Nothing cleaned up: the orphans are still running.
      expect(info.browserPids.every(isAlive)).toBe(true);
      expect(fs.existsSync(info.runDir)).toBe(true);

      const s = await reaper.create();
      expect(s.status).toBe('active');

      await waitUntil(() => info.browserPids.every(groupGone), 10_000, 'the orphaned browsers to be reaped');
      await waitUntil(() => !fs.existsSync(info.runDir), 10_000, 'the orphaned run folder to be removed');

      // The live owner's run, browser and session are untouched.
      expect(fs.existsSync(live.info.runDir)).toBe(true);
      expect(runDirs(runtimeDir)).toContain(live.info.runDir);
      expect(live.info.browserPids.every(isAlive)).toBe(true);
      const client = await puppeteer.connect({ browserWSEndpoint: live.info.wsEndpoints[0]!, defaultViewport: null });
      try {
        expect(await client.version()).toMatch(/Chrome/);
      } finally {
        await client.disconnect();
      }
      // The frozen watchdog never woke up to do anything; it goes now.
      expect(procState(frozen)).toBe('T');
      process.kill(frozen, 'SIGKILL');
      await waitUntil(() => !isAlive(frozen), 10_000, 'the frozen watchdog to die');
    } finally {
      await reaper.close();
    }
    // The live owner goes too; its own watchdog cleans up.
    await killHard(live.owner);
    await waitUntil(() => live.info.browserPids.every(groupGone), 10_000, "the second owner's browsers to be killed");
  });
});

describe('handleSignals', () => {
  it('on SIGTERM, kills the browsers, removes the run folder and dies by the signal', async () => {
    const runtimeDir = path.join(tmp, 'signals');
    const { owner, info } = await startOwner(runtimeDir, 1, 'signals');

    owner.child.kill('SIGTERM');

    const exit = await withDeadline(owner.exited, 10_000, 'the owner to exit on SIGTERM');
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    await waitUntil(() => info.browserPids.every(groupGone), 10_000, 'its browser to be gone');
    expect(fs.existsSync(info.runDir)).toBe(false);
  });
});

describe('an owner process that exits without close()', () => {
  it("kills its browsers in its 'exit' hook, with no watchdog to help", async () => {
    const runtimeDir = path.join(tmp, 'exit');
    const { owner, info } = await startOwner(runtimeDir, 1, 'exit-on-usr2');
    const frozen = await freezeWatchdog(info.runDir);

    owner.child.kill('SIGUSR2');

    expect(await withDeadline(owner.exited, 10_000, 'the owner to exit')).toEqual({ code: 0, signal: null });
    await waitUntil(() => info.browserPids.every(groupGone), 5_000, 'its browser to be gone');
    expect(fs.existsSync(info.runDir)).toBe(false);
    // The exit hook stops the watchdog itself (SIGKILL ends a stopped process too).
    await waitUntil(() => !isAlive(frozen), 5_000, 'the frozen watchdog to be killed by the exit hook');
  });
});

describe('a watchdog that keeps dying', () => {
  it(`is restarted ${MAX_RESTARTS} times a minute, then given up on; a stopped one is not restarted`, async () => {
    const runDir = fs.mkdtempSync(path.join(tmp, 'run-'));
    const events: WatchdogRestartEvent[] = [];
    const dog = new Watchdog(runDir, { onRestart: (e) => events.push(e) });
    // A process of this test's own as the "browser": the watchdog only needs a pid to list.
    dog.add(process.pid, 'not-a-start-time');
    try {
      for (let i = 1; i <= MAX_RESTARTS + 1; i++) {
        const pid = dog.pid!;
        watchdogs.push(pid);
        expect(watchdogPids(runDir)).toEqual([pid]);
        process.kill(pid, 'SIGKILL');
        await waitUntil(() => events.length === i, 10_000, `restart event ${i}`);
        expect(events[i - 1]).toMatchObject({ previousPid: pid, code: null, signal: 'SIGKILL', gaveUp: i > MAX_RESTARTS });
      }
      expect(events.slice(0, MAX_RESTARTS).every((e) => typeof e.pid === 'number')).toBe(true);
      expect(events[MAX_RESTARTS]!.pid).toBeUndefined();
      expect(dog.pid).toBeUndefined();
      expect(watchdogPids(runDir)).toEqual([]);
    } finally {
      dog.stop();
    }

    const calm = new Watchdog(runDir, { onRestart: (e) => events.push(e) });
    calm.add(process.pid, 'not-a-start-time');
    const pid = calm.pid!;
    watchdogs.push(pid);
    calm.stop();
    await waitUntil(() => !isAlive(pid), 10_000, 'the stopped watchdog to die');
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toHaveLength(MAX_RESTARTS + 1);
    expect(watchdogPids(runDir)).toEqual([]);
    // Killed, not told EOF: it removed nothing.
    expect(fs.existsSync(runDir)).toBe(true);
  });
});
