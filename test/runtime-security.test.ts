/**
 * Issue 14: the runtime folder is ours alone, and nothing in it that another user could plant
 * decides what a manager or a watchdog kills. Runs as root and acts as another user (nobody,
 * uid 65534) through `setpriv`. The default location is tested in a folder of the test's own
 * (`defaultRuntimeDir(base)`), never the real /dev/shm one. Real processes, no mocks; only
 * processes started here are checked or killed.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChrome } from '../lib/chrome/launch.js';
import { RunDir } from '../lib/chrome/runtime.js';
import { findChrome, RuntimeDirError, SessionManager } from '../lib/index.js';
import { defaultRuntimeDir, resolveManagerOptions } from '../lib/options.js';
import { buildLibrary, groupGone, isAlive, profileDirOf, runDirs, runFixture, waitUntil, withDeadline, type Fixture } from './helpers.js';

const NOBODY = 65534;
const uid = process.getuid!();
const asRoot = uid === 0;

let tmp: string;
/** A world-writable, sticky folder like /dev/shm, where nobody can create things. */
let shared: string;
const sleeps: number[] = [];
const fixtures: Fixture[] = [];
const managers: SessionManager[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-security-'));
  fs.chmodSync(tmp, 0o755);
  shared = path.join(tmp, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o1777);
});

afterAll(async () => {
  for (const m of managers) await m.close();
  for (const f of fixtures) await f.dispose();
  for (const pid of sleeps) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a command as nobody; throws with its stderr when it fails. */
function asNobody(cmd: string, ...args: string[]): void {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`as nobody: ${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

/** Writes a file as nobody (through `sh -c 'cat > file'`). */
function writeAsNobody(file: string, text: string): void {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'sh', '-c', 'cat > "$1"', 'sh', file], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`as nobody: writing ${file} failed: ${r.stderr}`);
}

function mode(p: string): number {
  return fs.lstatSync(p).mode & 0o777;
}

/** Start time (field 22 of /proc/PID/stat) of a pid. */
function startTicks(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** An unrelated `setsid sleep 300`, in its own session and group: what an attacker would point a record at. */
async function startSleep(): Promise<number> {
  const child = spawn('setsid', ['sleep', '300'], { stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  sleeps.push(pid);
  await waitUntil(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0'), 5_000, 'setsid to exec sleep');
  return pid;
}

/** A pid that is surely dead: a `true` that has exited. */
function deadPid(): number {
  return spawnSync('true').pid;
}

/** Plants a run folder that looks like a dead manager's, with a launch record pointing at `victim`. */
function plantRun(runtimeDir: string, name: string, victim: number, write: (file: string, text: string) => void, mkdir: (dir: string) => void): string {
  const run = path.join(runtimeDir, name);
  mkdir(run);
  mkdir(path.join(run, 'b-1-abcdef'));
  write(path.join(run, 'owner.json'), JSON.stringify({ pid: deadPid(), startTicks: '1' }));
  write(path.join(run, 'b-1-abcdef.json'), JSON.stringify({ pid: victim, startTicks: startTicks(victim) }));
  return run;
}

function newManager(runtimeDir: string): SessionManager {
  const m = new SessionManager({ runtimeDir, minIdle: 0, handleSignals: false, healthCheckIntervalMs: 0, clientPingTimeoutMs: 0 });
  managers.push(m);
  return m;
}

describe.runIf(asRoot)('the default runtime folder', () => {
  it('is the default only when no runtimeDir is given', () => {
    expect(resolveManagerOptions({}).runtimeDirIsDefault).toBe(true);
    expect(resolveManagerOptions({ runtimeDir: tmp }).runtimeDirIsDefault).toBe(false);
    expect(defaultRuntimeDir(shared)).toBe(path.join(shared, `chrome-sessions-${uid}`));
  });

  it.each(['a folder', 'a symbolic link'])('taken first by another user (%s) is not used: a private one is, and no profile lands in theirs', async (kind) => {
    const base = path.join(shared, kind === 'a folder' ? 'd1' : 'd2');
    asNobody('mkdir', '-m', '1777', base);
    const requested = defaultRuntimeDir(base);
    const theirs = path.join(base, 'theirs');
    asNobody('mkdir', '-m', '0777', theirs);
    if (kind === 'a folder') asNobody('mkdir', '-m', '0777', requested);
    else asNobody('ln', '-s', theirs, requested);

    const run = new RunDir(requested, { replaceIfUnsafe: true });
    try {
      expect(run.runtimeDir).not.toBe(requested);
      expect(path.dirname(run.runtimeDir)).toBe(base);
      expect(path.basename(run.runtimeDir)).toMatch(new RegExp(`^chrome-sessions-${uid}-[A-Za-z0-9]{6}$`));
      expect(fs.lstatSync(run.runtimeDir).uid).toBe(uid);
      expect(mode(run.runtimeDir)).toBe(0o700);

      const chrome = await launchChrome({ ...findChrome({ headless: 'shell' }), args: [], env: {} }, run, { timeoutMs: 20_000 });
      try {
        expect(chrome.userDataDir.startsWith(run.dir + path.sep)).toBe(true);
        expect(path.dirname(run.dir)).toBe(run.runtimeDir);
        // Created private: the run, the profile and Chrome's TMPDIR 0700, the launch record 0600.
        expect(mode(run.dir)).toBe(0o700);
        expect(mode(chrome.userDataDir)).toBe(0o700);
        expect(mode(run.tmpDir)).toBe(0o700);
        expect(mode(`${chrome.userDataDir}.json`)).toBe(0o600);
        expect(mode(path.join(run.dir, 'owner.json'))).toBe(0o600);
      } finally {
        await chrome.close({ graceMs: 0 });
      }
    } finally {
      await run.destroy();
    }
    // Nothing of ours in the folder (or link target) the other user controls.
    expect(fs.readdirSync(theirs)).toEqual([]);
    if (kind === 'a folder') expect(fs.readdirSync(requested)).toEqual([]);
    expect(fs.lstatSync(requested).uid).toBe(NOBODY);
  });

  it('left empty by an earlier manager, a replacement folder is removed by the next one', async () => {
    const base = path.join(shared, 'd3');
    asNobody('mkdir', '-m', '1777', base);
    const requested = defaultRuntimeDir(base);
    asNobody('mkdir', '-m', '0777', requested);
    const first = new RunDir(requested, { replaceIfUnsafe: true });
    await first.destroy();
    expect(fs.readdirSync(first.runtimeDir)).toEqual([]);
    // A folder made a moment ago may be another manager's about to make its run: only old ones go.
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(first.runtimeDir, old, old);

    const second = new RunDir(requested, { replaceIfUnsafe: true });
    try {
      expect(second.runtimeDir).not.toBe(first.runtimeDir);
      second.reapOrphans();
      expect(fs.existsSync(first.runtimeDir)).toBe(false);
      expect(fs.existsSync(second.dir)).toBe(true);
    } finally {
      await second.destroy();
    }
  });
});

describe.runIf(asRoot)('an explicit runtimeDir', () => {
  it('owned by another user is refused: create() rejects with RuntimeDirError', async () => {
    const runtimeDir = path.join(shared, 'explicit-theirs');
    asNobody('mkdir', '-m', '0777', runtimeDir);
    const m = newManager(runtimeDir);
    const err = await m.create().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeDirError);
    expect((err as RuntimeDirError).code).toBe('ERR_RUNTIME_DIR');
    expect((err as RuntimeDirError).path).toBe(runtimeDir);
    expect((err as Error).message).toMatch(/owned by uid 65534/);
    expect(fs.readdirSync(runtimeDir)).toEqual([]);
    expect(mode(runtimeDir)).toBe(0o777);
  });

  it('that is a symbolic link is refused, even to a folder of ours', async () => {
    const target = path.join(tmp, 'ours');
    fs.mkdirSync(target, { mode: 0o700 });
    const runtimeDir = path.join(shared, 'explicit-link');
    asNobody('ln', '-s', target, runtimeDir);
    const m = newManager(runtimeDir);
    const err = await m.create().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeDirError);
    expect((err as RuntimeDirError).code).toBe('ERR_RUNTIME_DIR');
    expect((err as Error).message).toMatch(/symbolic link/);
    expect(fs.readdirSync(target)).toEqual([]);
  });
});

describe.runIf(asRoot)('planted launch records', () => {
  it('never make the reaper kill an unrelated process; a loose mode on our folder is fixed to 0700', async () => {
    const runtimeDir = path.join(tmp, 'reap');
    fs.mkdirSync(runtimeDir);
    fs.chmodSync(runtimeDir, 0o777);
    const sleep = await startSleep();
    // While the folder was world-writable, another user planted a run; and a run of our own uid
    // (so only the command-line check stands between it and the sleep) points at the sleep too.
    const theirs = plantRun(runtimeDir, 'run-1-nobody', sleep, writeAsNobody, (d) => asNobody('mkdir', d));
    const ours = plantRun(runtimeDir, 'run-2-ours', sleep, (f, t) => fs.writeFileSync(f, t), (d) => fs.mkdirSync(d));

    const m = newManager(runtimeDir);
    const s = await m.create();
    expect(s.status).toBe('active');

    expect(mode(runtimeDir)).toBe(0o700);
    expect(isAlive(sleep)).toBe(true);
    // A dead run of ours is removed without killing; one that is not ours is left alone.
    expect(fs.existsSync(ours)).toBe(false);
    expect(fs.existsSync(path.join(theirs, 'b-1-abcdef.json'))).toBe(true);

    // The manager's own files are private.
    const profile = profileDirOf(runtimeDir, s.browserPid!)!;
    expect(profile).toBeDefined();
    expect(mode(profile)).toBe(0o700);
    expect(mode(`${profile}.json`)).toBe(0o600);
    expect(mode(path.join(path.dirname(profile), 'tmp'))).toBe(0o700);
    expect(mode(path.dirname(profile))).toBe(0o700);

    await m.close();
    expect(isAlive(sleep)).toBe(true);
    expect(runDirs(runtimeDir)).toEqual([theirs]);
    process.kill(sleep, 'SIGKILL');
    await waitUntil(() => !isAlive(sleep), 5_000, 'the sleep to die');
  });

  it("never make a watchdog kill an unrelated process, while it kills the dead owner's browser", async () => {
    const lib = await buildLibrary();
    const runtimeDir = path.join(tmp, 'watchdog');
    const owner = runFixture('owner.mjs', [lib, runtimeDir, '1']);
    fixtures.push(owner);
    const info = JSON.parse(await owner.line((l) => l.startsWith('{'), 30_000)) as { runDir: string; browserPids: number[] };
    expect(info.browserPids.every(isAlive)).toBe(true);
    const sleep = await startSleep();
    fs.mkdirSync(path.join(info.runDir, 'b-9-abcdef'), { mode: 0o700 });
    fs.writeFileSync(path.join(info.runDir, 'b-9-abcdef.json'), JSON.stringify({ pid: sleep, startTicks: startTicks(sleep) }), { mode: 0o600 });

    owner.child.kill('SIGKILL');
    await withDeadline(owner.exited, 10_000, 'the owner to exit');

    await waitUntil(() => info.browserPids.every(groupGone), 10_000, "the dead owner's browser to be killed");
    await waitUntil(() => !fs.existsSync(info.runDir), 10_000, 'the run folder to be removed');
    expect(isAlive(sleep)).toBe(true);
    process.kill(sleep, 'SIGKILL');
    await waitUntil(() => !isAlive(sleep), 5_000, 'the sleep to die');
  });
});
