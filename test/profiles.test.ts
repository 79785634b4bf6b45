/**
 * Profiles (issue 11): what a session on a profile writes (cookies, HttpOnly too, localStorage,
 * IndexedDB, HTTP cache) is there for the next one, in this process and in another one after a
 * restart; `persistChanges: false` leaves the profile as it was; one session at a time on a
 * profile, the next one waiting as a queued create; Chrome closed before the session counts as
 * ended; a killed Chrome or owner leaves a profile that opens. Real Chrome, Puppeteer and
 * Playwright; every profile lives in a temporary profilesDir removed at the end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChrome } from '../lib/chrome/launch.js';
import { RunDir, reapOrphans } from '../lib/chrome/runtime.js';
import { userDataDirInUse } from '../lib/chrome/user-data-dirs.js';
import {
  CreateAbortedError,
  ProfileBusyError,
  ProfileNotFoundError,
  ProfilesDirError,
  QueueTimeoutError,
  SessionManager,
  defaultProfilesDir,
  findChrome,
  type SessionInfo,
  type SessionManagerOptions,
} from '../lib/index.js';
import { buildLibrary, groupGone, isAlive, nextEvent, pidsWithArg, runDirs, runFixture, startServer, waitUntil, withDeadline, type Fixture, type TestServer } from './helpers.js';

let tmp: string;
let server: TestServer;
let cachedHits = 0;
const managers: SessionManager[] = [];
const fixtures: Fixture[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-profiles-'));
  server = await startServer({
    '/set': (req, res) => {
      const tag = new URL(req.url!, 'http://x').searchParams.get('tag');
      res.writeHead(200, { 'Content-Type': 'text/html', 'Set-Cookie': `srv_${tag}=1; Max-Age=3600; Path=/; HttpOnly` }).end('<!doctype html><title>set</title>');
    },
    '/cookies': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.headers.cookie ?? '');
    },
    '/cached.js': (_req, res) => {
      cachedHits++;
      res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'max-age=3600' }).end(`// ${cachedHits}`);
    },
  });
});
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  for (const f of fixtures.splice(0)) await f.dispose();
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let dirs = 0;
/** A manager on a profilesDir of its own (or the one given). */
function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ profilesDir: path.join(tmp, `profiles-${++dirs}`), minIdle: 0, handleSignals: false, maxConcurrent: 3, ...opts });
  managers.push(m);
  return m;
}

/** In the page: a script cookie, localStorage, an IndexedDB record and a cached script, all tagged. */
const writeJs = (tag: string) => `(async () => {
  document.cookie = 'js_${tag}=1; max-age=3600';
  localStorage.setItem('ls_${tag}', '1');
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('db', 1); r.onupgradeneeded = () => r.result.createObjectStore('s'); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  await new Promise((ok, ko) => { const tx = db.transaction('s', 'readwrite'); tx.objectStore('s').put(1, '${tag}'); tx.oncomplete = ok; tx.onerror = () => ko(tx.error); });
  db.close();
  await fetch('/cached.js');
})()`;
/** In the page: what the writes above left, as sorted lists. */
const readJs = `(async () => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('db', 1); r.onupgradeneeded = () => r.result.createObjectStore('s'); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  const idb = await new Promise((ok, ko) => { const q = db.transaction('s').objectStore('s').getAllKeys(); q.onsuccess = () => ok(q.result); q.onerror = () => ko(q.error); });
  db.close();
  await fetch('/cached.js');
  return { js: document.cookie.split('; ').filter(Boolean).sort(), ls: Object.keys(localStorage).sort(), idb: [...idb].sort() };
})()`;

interface State {
  server: string[];
  js: string[];
  ls: string[];
  idb: string[];
}

/** What both clients' pages offer: enough for these checks. */
interface AnyPage {
  goto(url: string): Promise<unknown>;
  evaluate(js: string): Promise<unknown>;
}

/** Tags everything the page can store on the test server's origin. */
async function write(page: AnyPage, tag: string): Promise<void> {
  await page.goto(`${server.origin}/set?tag=${tag}`);
  await page.evaluate(writeJs(tag));
}

/** What the session sees: cookies the server receives (HttpOnly too), script cookies, storage. */
async function read(page: AnyPage): Promise<State> {
  await page.goto(`${server.origin}/cookies`);
  const sent = (await page.evaluate('document.body.innerText')) as string;
  const seen = (await page.evaluate(readJs)) as Omit<State, 'server'>;
  return { server: sent.split('; ').filter(Boolean).sort(), ...seen };
}

const tagged = (tags: string[]): State => ({
  server: tags.flatMap((t) => [`js_${t}=1`, `srv_${t}=1`]).sort(),
  js: tags.map((t) => `js_${t}=1`).sort(),
  ls: tags.map((t) => `ls_${t}`).sort(),
  idb: [...tags].sort(),
});

/** The --user-data-dir of a running browser. */
function userDataDirOfPid(pid: number): string {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return argv.find((a) => a.startsWith('--user-data-dir='))!.slice('--user-data-dir='.length);
}

/** Runs a Puppeteer client on a new session and returns what `fn` returns; the session ends after. */
async function withPuppeteer<T>(m: SessionManager, params: Parameters<SessionManager['create']>[0], fn: (page: Page, s: SessionInfo) => Promise<T>): Promise<T> {
  const s = await m.create(params);
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
  try {
    const [page] = await b.pages();
    return await fn(page!, s);
  } finally {
    await b.disconnect();
    await m.stop(s.id);
  }
}

describe('a profile with persistChanges: true', () => {
  it('keeps cookies, localStorage, IndexedDB and the HTTP cache for the next session; Chrome exits before sessionClosed (Puppeteer)', async () => {
    const m = manager();
    const profile = await m.profiles.create({ name: 'shop' });
    expect(profile).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'shop', createdAt: expect.any(String), inUse: false });
    const folder = path.join(m.profiles.dir, profile.id);
    expect(fs.statSync(m.profiles.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700);

    let pid: number | undefined;
    let atClose: { pid: number; alive: boolean; inUse: boolean } | undefined;
    m.on('sessionClosed', () => {
      if (atClose === undefined && pid !== undefined) atClose = { pid, alive: !groupGone(pid), inUse: userDataDirInUse(path.join(folder, 'data')) };
    });
    const hitsBefore = cachedHits;
    await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, async (page, s) => {
      pid = s.browserPid!;
      expect(s.isolation).toBe('browser');
      expect(userDataDirOfPid(pid)).toBe(path.join(folder, 'data'));
      expect((await m.profiles.get(profile.id)).inUse).toBe(true);
      await write(page, 'a');
    });
    // The session counted as ended only once its Chrome had flushed the profile and exited.
    expect(atClose).toEqual({ pid, alive: false, inUse: false });
    expect(cachedHits).toBe(hitsBefore + 1);
    expect((await m.profiles.get(profile.id)).inUse).toBe(false);

    const state = await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, async (page, s) => {
      expect(s.browserPid).not.toBe(pid);
      const st = await read(page);
      await write(page, 'b');
      return st;
    });
    expect(state).toEqual(tagged(['a']));
    // The script came from the profile's disk cache, not from the server.
    expect(cachedHits).toBe(hitsBefore + 1);
    expect(await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => read(page))).toEqual(tagged(['a', 'b']));

    // The manager's close leaves profiles alone.
    await m.close();
    expect(fs.existsSync(path.join(folder, 'data', 'Default'))).toBe(true);
  });

  it('is there for a session in another process, after that process has exited (Playwright)', async () => {
    const lib = await buildLibrary();
    const m = manager();
    const profile = await m.profiles.create();
    const child = runFixture('profile-owner.mjs', [lib, m.profiles.dir, path.join(tmp, 'rt-child'), server.origin, profile.id, 'write']);
    fixtures.push(child);
    await child.line((l) => l.includes('"done"'), 60_000);
    expect(await withDeadline(child.exited, 10_000, 'the child to exit')).toEqual({ code: 0, signal: null });

    const s = await m.create({ profile: { id: profile.id, persistChanges: true } });
    const browser = await chromium.connectOverCDP(s.wsEndpoint);
    try {
      const page = browser.contexts()[0]!.pages()[0]!;
      const st = await read(page);
      expect(st.server).toEqual(['js_child=1', 'srv_child=1']);
      expect(st.ls).toEqual(['ls_child']);
    } finally {
      await browser.close();
    }
  });
});

describe('a profile with persistChanges: false (the default)', () => {
  it('starts each session from a copy, side by side, and leaves the profile as it was (Playwright)', async () => {
    const m = manager();
    const profile = await m.profiles.create();
    const folder = path.join(m.profiles.dir, profile.id);
    await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => write(page, 'base'));

    // Two sessions on copies of the profile at once: each sees the profile, writes its own.
    const [s1, s2] = await Promise.all([m.create({ profile: { id: profile.id } }), m.create({ profile: { id: profile.id, persistChanges: false } })]);
    const copies = [userDataDirOfPid(s1!.browserPid!), userDataDirOfPid(s2!.browserPid!)];
    expect(copies[0]).not.toBe(copies[1]);
    for (const c of copies) expect(c.startsWith(folder)).toBe(false);
    for (const [i, s] of [s1!, s2!].entries()) {
      const browser = await chromium.connectOverCDP(s.wsEndpoint);
      try {
        const page = browser.contexts()[0]!.pages()[0]!;
        expect(await read(page)).toEqual(tagged(['base']));
        await write(page, `copy${i}`);
        expect(await read(page)).toEqual(tagged(['base', `copy${i}`]));
      } finally {
        await browser.close();
      }
    }
    await Promise.all([m.stop(s1!.id), m.stop(s2!.id)]);
    // The copies are gone with their sessions; the profile has none of their writes.
    for (const c of copies) expect(fs.existsSync(c)).toBe(false);
    expect(await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => read(page))).toEqual(tagged(['base']));
  });
});

describe('one session at a time on a profile', () => {
  it('a second create waits as pending (listed, cancellable, bounded by queueTimeoutMs), and runs once the first Chrome has exited', async () => {
    const m = manager();
    const profile = await m.profiles.create();
    const id = { id: profile.id, persistChanges: true };
    const first = await m.create({ profile: id });

    // Cancelled by stop() while pending.
    const queued = nextEvent<[SessionInfo]>(m, 'sessionQueued');
    const waiting = m.create({ profile: id });
    const [info] = await queued;
    expect(info.status).toBe('pending');
    expect(m.list({ status: 'pending' }).sessions.map((s) => s.id)).toEqual([info.id]);
    await m.stop(info.id);
    await expect(waiting).rejects.toBeInstanceOf(CreateAbortedError);
    expect(m.get(info.id)).toMatchObject({ status: 'closed', stopReason: 'cancelled' });

    // Cancelled by its signal.
    const ac = new AbortController();
    const aborted = m.create({ profile: id, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(CreateAbortedError);

    // Bounded by queueTimeoutMs (a second manager on the same profiles: the lock is the profile's).
    const other = manager({ profilesDir: m.profiles.dir, queueTimeoutMs: 300 });
    await expect(other.create({ profile: id })).rejects.toBeInstanceOf(QueueTimeoutError);

    // Deleting it while in use is refused.
    await expect(m.profiles.delete(profile.id)).rejects.toBeInstanceOf(ProfileBusyError);
    await expect(m.profiles.delete(profile.id)).rejects.toMatchObject({ code: 'ERR_PROFILE_BUSY' });

    // The next one runs once the first has ended and its Chrome has exited.
    const next = m.create({ profile: id });
    await new Promise((r) => setTimeout(r, 300));
    expect(m.stats().pending).toBe(1);
    const firstPid = first.browserPid!;
    await m.stop(first.id);
    const s = await next;
    expect(groupGone(firstPid)).toBe(true);
    expect(s.status).toBe('active');
    expect(s.browserPid).not.toBe(firstPid);
    await m.stop(s.id);

    // Free again: deleted, with everything in it.
    await m.profiles.delete(profile.id);
    expect(fs.existsSync(path.join(m.profiles.dir, profile.id))).toBe(false);
    await expect(m.profiles.get(profile.id)).rejects.toBeInstanceOf(ProfileNotFoundError);
    expect((await m.profiles.list()).profiles).toEqual([]);
  });
});

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
    const runtimeDir = path.join(tmp, 'rt-fail');
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
    const runtimeDir = path.join(tmp, 'rt-owner');
    const owner = runFixture('profile-owner.mjs', [lib, m.profiles.dir, runtimeDir, server.origin, profile.id, 'hold']);
    fixtures.push(owner);
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
    const runtimeDir = path.join(tmp, 'rt-reap');
    const data = path.join(tmp, 'reap-profile', 'data');
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

describe('bad input', () => {
  it('unknown or malformed ids, isolation other than browser, bad parameters: typed errors, nothing left behind', async () => {
    const m = manager({ isolation: 'context' });
    const unknown = '00000000-0000-4000-8000-000000000000';
    await expect(m.create({ profile: { id: unknown } })).rejects.toMatchObject({ code: 'ERR_PROFILE_NOT_FOUND', profileId: unknown });
    expect(m.list().totalCount).toBe(0);
    await expect(m.profiles.get(unknown)).rejects.toBeInstanceOf(ProfileNotFoundError);
    await expect(m.profiles.delete(unknown)).rejects.toBeInstanceOf(ProfileNotFoundError);
    for (const bad of ['../../etc', '.', '', `${unknown}/..`]) {
      await expect(m.profiles.get(bad)).rejects.toBeInstanceOf(ProfileNotFoundError);
      await expect(m.profiles.delete(bad)).rejects.toBeInstanceOf(ProfileNotFoundError);
    }
    const profile = await m.profiles.create();
    for (const [params, option] of [
      [{ profile: { id: '../x' } }, 'create.profile.id'],
      [{ profile: { id: 42 } }, 'create.profile.id'],
      [{ profile: { id: profile.id, persistChanges: 'yes' } }, 'create.profile.persistChanges'],
      [{ profile: { id: profile.id, extra: 1 } }, 'create.profile.extra'],
      [{ profile: profile.id }, 'create.profile'],
      [{ profile: { id: profile.id }, isolation: 'context' }, 'create.profile'],
      [{ profile: { id: profile.id }, isolation: 'reset' }, 'create.profile'],
    ] as const) {
      await expect(m.create(params as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    }
    await expect(m.profiles.create({ name: 5 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.create.name' });
    await expect(m.profiles.create({ nam: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.create.nam' });
    await expect(m.profiles.list({ perPage: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.list.perPage' });
    expect((await m.profiles.list()).profiles.map((p) => p.id)).toEqual([profile.id]);
    expect(m.list().totalCount).toBe(0);

    // In a manager whose default is 'context', a profile's session gets a Chrome of its own.
    const s = await m.create({ profile: { id: profile.id } });
    expect(s.isolation).toBe('browser');
  });

  it('list: newest first, paged; get and list give the name', async () => {
    const m = manager();
    const made = [];
    for (const name of ['one', 'two', 'three']) {
      made.push(await m.profiles.create({ name }));
      await new Promise((r) => setTimeout(r, 5));
    }
    const first = await m.profiles.list({ perPage: 2 });
    expect(first).toMatchObject({ totalCount: 3, page: 1, perPage: 2 });
    expect(first.profiles.map((p) => p.name)).toEqual(['three', 'two']);
    expect((await m.profiles.list({ page: 2, perPage: 2 })).profiles.map((p) => p.name)).toEqual(['one']);
    expect(await m.profiles.get(made[0]!.id)).toEqual({ ...made[0], inUse: false });
    for (const p of fs.readdirSync(m.profiles.dir)) expect(fs.statSync(path.join(m.profiles.dir, p, 'profile.json')).mode & 0o777).toBe(0o600);
  });

  it('profilesDir: a per-user cache folder by default, a symbolic link refused', async () => {
    expect(defaultProfilesDir({ XDG_CACHE_HOME: '/var/cache/u' })).toBe('/var/cache/u/chrome-sessions/profiles');
    expect(defaultProfilesDir({ XDG_CACHE_HOME: 'relative' })).toBe(path.join(os.homedir(), '.cache', 'chrome-sessions', 'profiles'));
    const plain = new SessionManager({ handleSignals: false });
    managers.push(plain);
    expect(plain.profiles.dir).toBe(defaultProfilesDir());
    const target = path.join(tmp, 'link-target');
    fs.mkdirSync(target);
    const link = path.join(tmp, 'link');
    fs.symlinkSync(target, link);
    const m = manager({ profilesDir: link });
    await expect(m.profiles.create()).rejects.toBeInstanceOf(ProfilesDirError);
    await expect(m.profiles.list()).rejects.toMatchObject({ code: 'ERR_PROFILES_DIR', path: link });
    expect(fs.readdirSync(target)).toEqual([]);
  });
});
