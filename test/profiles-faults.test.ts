/**
 * Profiles when things go wrong: a lock held by another process (alive, dead, or dead with its
 * Chrome still running), a create aborted during its launch or whose launch fails, SIGKILL of a
 * profile's Chrome (headless-shell and full Chromium), an owner process killed (the watchdog) or
 * reaped. Real Chrome and real processes; profiles in a temporary profilesDir.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import { launchChrome } from '../lib/chrome/launch.js';
import { RunDir, reapOrphans } from '../lib/chrome/runtime.js';
import { userDataDirInUse } from '../lib/chrome/user-data-dirs.js';
import { CreateAbortedError, QueueTimeoutError, findChrome, type SessionInfo } from '../lib/index.js';
import { SPEC, fakeDispatcher, flush } from './fakes.js';
import { buildLibrary, groupGone, isAlive, nextEvent, pidsWithArg, runDirs, runFixture, waitUntil, withDeadline } from './helpers.js';
import { tagged, useProfileTests, withPuppeteer, type State } from './profiles-helpers.js';

const t = useProfileTests();
const { manager, write, read } = t;

describe("another process's lock", () => {
  it('is waited for while its process lives (polled), and taken over once it is dead or its pid was reused', async () => {
    const m = manager({ queueTimeoutMs: 400 });
    const profile = await m.profiles.create();
    const lockFile = path.join(m.profiles.dir, profile.id, '.lock');
    const sleep = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const ticks = fs.readFileSync(`/proc/${sleep.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
      // Another process's session holds it.
      fs.writeFileSync(lockFile, JSON.stringify({ pid: sleep.pid, startTicks: ticks, holder: 'session x', token: 't' }), { mode: 0o600 });
      expect((await m.profiles.get(profile.id)).inUse).toBe(true);
      await expect(m.profiles.delete(profile.id)).rejects.toThrow(`of process ${sleep.pid}`);
      await expect(m.create({ profile: { id: profile.id, persistChanges: true } })).rejects.toBeInstanceOf(QueueTimeoutError);
      // The same pid with another start time is another process: the lock is stale.
      fs.writeFileSync(lockFile, JSON.stringify({ pid: sleep.pid, startTicks: '1', holder: 'session x', token: 't' }), { mode: 0o600 });
      expect((await m.profiles.get(profile.id)).inUse).toBe(false);
      fs.writeFileSync(lockFile, JSON.stringify({ pid: sleep.pid, startTicks: ticks, holder: 'session x', token: 't' }), { mode: 0o600 });
      // A waiter gets it once the holder dies, without anyone telling it.
      const m2 = manager({ profilesDir: m.profiles.dir });
      const waiting = m2.create({ profile: { id: profile.id, persistChanges: true } });
      await nextEvent(m2, 'sessionQueued');
      sleep.kill('SIGKILL');
      const s = await waiting;
      expect(s.status).toBe('active');
      expect(JSON.parse(fs.readFileSync(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, holder: `session ${s.id}` });
      await m2.stop(s.id);
      expect(fs.existsSync(lockFile)).toBe(false);
    } finally {
      sleep.kill('SIGKILL');
    }
  });

  it("left by a dead owner still counts while a process runs on the profile's folder (its Chrome, not yet killed)", async () => {
    const m = manager();
    const profile = await m.profiles.create();
    const folder = path.join(m.profiles.dir, profile.id);
    fs.writeFileSync(path.join(folder, '.lock'), JSON.stringify({ pid: 2 ** 22 + 1, startTicks: '1', holder: 'session x', token: 't' }), { mode: 0o600 });
    expect((await m.profiles.get(profile.id)).inUse).toBe(false);
    // Stands in for the dead owner's Chrome: a process with the profile's folder on its command line.
    const straggler = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', `--user-data-dir=${path.join(folder, 'data')}`], { stdio: 'ignore' });
    try {
      await waitUntil(() => pidsWithArg(`--user-data-dir=${path.join(folder, 'data')}`).length > 0, 5_000, 'the straggler to start');
      expect((await m.profiles.get(profile.id)).inUse).toBe(true);
      await expect(m.profiles.delete(profile.id)).rejects.toThrow(`process ${straggler.pid} still running on it`);
      const waiting = m.create({ profile: { id: profile.id, persistChanges: true } });
      await nextEvent(m, 'sessionQueued');
      straggler.kill('SIGKILL');
      expect((await waiting).status).toBe('active');
    } finally {
      straggler.kill('SIGKILL');
    }
  });
});

describe('a create on a profile that fails or is cancelled', () => {
  it('aborted while its Chrome launches: that Chrome is closed, never kept as a spare, and the profile is free again', async () => {
    const m = manager({ minIdle: 1 });
    const profile = await m.profiles.create();
    const data = path.join(m.profiles.dir, profile.id, 'data');
    const ac = new AbortController();
    const launched = nextEvent<[{ pid: number }]>(m, 'browserLaunched', () => true, 20_000);
    const creating = m.create({ profile: { id: profile.id, persistChanges: true }, signal: ac.signal });
    // Aborted once the launch is under way (the spawn is within a few ms of the lock).
    await waitUntil(() => pidsWithArg(`--user-data-dir=${data}`).length > 0, 10_000, 'the profile Chrome to be spawned');
    ac.abort();
    await expect(creating).rejects.toBeInstanceOf(CreateAbortedError);
    const [{ pid }] = await launched;
    await waitUntil(() => groupGone(pid), 10_000, 'the orphaned profile Chrome to be closed');
    await waitUntil(() => !userDataDirInUse(data), 10_000, 'the profile folder to be free');
    expect((await m.profiles.get(profile.id)).inUse).toBe(false);
    expect(m.stats().idle).toBe(0);
    const s = await m.create({ profile: { id: profile.id, persistChanges: true } });
    expect(s.browserPid).not.toBe(pid);
  });

  it('whose Chrome fails to launch rejects with LaunchError and leaves the profile free', async () => {
    const runtimeDir = path.join(t.tmp, 'rt-fail');
    const m = manager({ executablePath: '/bin/false', runtimeDir });
    const profile = await m.profiles.create();
    for (const persistChanges of [true, false]) {
      await expect(m.create({ profile: { id: profile.id, persistChanges } })).rejects.toMatchObject({ code: 'ERR_LAUNCH' });
      expect((await m.profiles.get(profile.id)).inUse).toBe(false);
    }
    // No copy is left in the run folder either, and the profile can go.
    const [run] = runDirs(runtimeDir);
    await waitUntil(() => fs.readdirSync(run!).filter((n) => n.startsWith('b-')).length === 0, 5_000, 'the copy to be removed');
    await m.profiles.delete(profile.id);
  });
});

describe.each(['shell', 'new'] as const)('a crash (headless %s)', (headless) => {
  it('SIGKILL of the session\'s Chrome leaves a profile that opens in a new session, with what was persisted before', async () => {
    const m = manager({ headless });
    const profile = await m.profiles.create();
    const id = { id: profile.id, persistChanges: true };
    await withPuppeteer(m, { profile: id }, (page) => write(page, 'kept'));

    const s = await m.create({ profile: id });
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    const [page] = await b.pages();
    await write(page!, 'lost');
    const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (r) => r.id === s.id);
    process.kill(-s.browserPid!, 'SIGKILL');
    expect((await closed)[0]).toMatchObject({ status: 'error', stopReason: 'crashed' });
    await b.disconnect();

    const st = await withPuppeteer(m, { profile: id }, (p) => read(p));
    // What a clean close persisted is there; of the killed session's writes, whatever Chrome recovers.
    for (const [k, v] of Object.entries(tagged(['kept']))) expect(st[k as keyof State]).toEqual(expect.arrayContaining(v));
  });
});

describe('an owner that dies', () => {
  it('has its profile Chrome killed by the watchdog; the profile is left, and its stale lock taken over', async () => {
    const lib = await buildLibrary();
    const m = manager();
    const profile = await m.profiles.create();
    await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => write(page, 'kept'));
    const runtimeDir = path.join(t.tmp, 'rt-owner');
    const owner = runFixture('profile-owner.mjs', [lib, m.profiles.dir, runtimeDir, t.origin, profile.id, 'hold']);
    t.fixtures.push(owner);
    const info = JSON.parse(await owner.line((l) => l.startsWith('{'), 60_000)) as { browserPid: number; runDir: string };
    expect(isAlive(info.browserPid)).toBe(true);
    expect((await m.profiles.get(profile.id)).inUse).toBe(true);

    owner.child.kill('SIGKILL');
    await withDeadline(owner.exited, 10_000, 'the owner to exit');
    await waitUntil(() => groupGone(info.browserPid), 10_000, "the dead owner's profile Chrome to be killed");
    await waitUntil(() => !fs.existsSync(info.runDir), 10_000, 'the run folder to be removed');
    expect(fs.existsSync(path.join(m.profiles.dir, profile.id, 'data', 'Default'))).toBe(true);
    // Its lock file names a dead process: the profile is free.
    expect((await m.profiles.get(profile.id)).inUse).toBe(false);
    const st = await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => read(page));
    for (const [k, v] of Object.entries(tagged(['kept']))) expect(st[k as keyof State]).toEqual(expect.arrayContaining(v));
  });

  it('has its profile Chrome reaped by the next manager, which never removes the profile folder', async () => {
    const runtimeDir = path.join(t.tmp, 'rt-reap');
    const data = path.join(t.tmp, 'reap-profile', 'data');
    fs.mkdirSync(data, { recursive: true, mode: 0o700 });
    const chrome = findChrome({});
    const run = new RunDir(runtimeDir);
    const proc = await launchChrome({ executablePath: chrome.executablePath, headless: chrome.headless, args: [], env: {}, userDataDir: data }, run, { timeoutMs: 20_000 });
    try {
      // The record names the outside folder; the reaper checks the command line against it.
      const records = fs.readdirSync(run.dir).filter((n) => n.endsWith('-ext.json'));
      expect(records).toHaveLength(1);
      expect(JSON.parse(fs.readFileSync(path.join(run.dir, records[0]!), 'utf8'))).toMatchObject({ pid: proc.pid, userDataDir: data });
      // Make the run look like a dead owner's, as the reaper of another manager would find it.
      fs.rmSync(path.join(run.dir, 'owner.json'));
      fs.writeFileSync(path.join(run.dir, 'owner.json'), JSON.stringify({ pid: 2 ** 22 + 1, startTicks: '1' }), { mode: 0o600 });
      expect(reapOrphans(runtimeDir)).toBe(1);
      await waitUntil(() => groupGone(proc.pid), 10_000, 'the profile Chrome to be reaped');
      expect(runDirs(runtimeDir)).toEqual([]);
      expect(fs.existsSync(path.join(data, 'Default'))).toBe(true);
    } finally {
      await proc.close({ graceMs: 0 });
      await run.destroy();
    }
  });
});


describe('the pool and a named user-data-dir (fake browsers)', () => {
  it('launches no spare on it, and closes a launch on it whose create gave up instead of keeping it idle', async () => {
    const { d, factory } = fakeDispatcher({ minIdle: 1, maxConcurrent: 2 });
    const named = { ...SPEC, userDataDir: '/profiles/x/data' };
    const ac = new AbortController();
    const creating = d.acquire(named, { flavour: 'fresh', signal: ac.signal });
    expect(factory.launches.map((l) => l.spec.userDataDir)).toEqual(['/profiles/x/data']);
    ac.abort();
    await expect(creating).rejects.toBeInstanceOf(CreateAbortedError);
    const late = factory.launches[0]!.succeed();
    await flush();
    expect(late.closes).toBe(1);
    expect(d.stats()).toMatchObject({ idle: 0, busy: 0, launching: 0 });
    // A create that got its browser: released, it is closed (never reused), and no spare of it follows.
    const lease = d.acquire(named, { flavour: 'fresh' });
    const b = factory.launches[1]!.succeed();
    d.release(await lease, 'no_reuse');
    await flush();
    expect(b.closes).toBe(1);
    expect(factory.launches).toHaveLength(2);
    await d.close();
  });
});
