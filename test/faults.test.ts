/**
 * Fault rules on real Chrome: a browser that dies or hangs under a session, CDP clients that die
 * or freeze, browsers that cannot be launched, and `close()`. Every wait has a deadline; only
 * processes these tests started are checked or killed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserCrashedError,
  BrowserUnresponsiveError,
  ChromeNotFoundError,
  LaunchError,
  SessionManager,
  findChrome,
  type BrowserExitedEvent,
  type BrowserRecycledEvent,
  type ClientDisconnectedEvent,
  type SessionInfo,
  type SessionManagerOptions,
} from '../lib/index.js';
import { groupGone, nextEvent, pidsWithArg, profileDirOf, runDirs, runFixture, waitUntil, withDeadline, type Fixture } from './helpers.js';

let tmp: string;
let runtimeDir: string;
/** The real headless-shell, for scripts that pretend to be Chrome and then become it. */
let shellPath: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-faults-'));
  runtimeDir = path.join(tmp, 'runtime');
  shellPath = findChrome({ headless: 'shell' }).executablePath;
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Short timeouts, no warm browsers, no surprise health checks or pings unless a test asks. */
function manager(opts: SessionManagerOptions = {}): SessionManager {
  return new SessionManager({
    runtimeDir,
    minIdle: 0,
    handleSignals: false,
    healthCheckIntervalMs: 0,
    clientPingTimeoutMs: 0,
    launchTimeoutMs: 20_000,
    ...opts,
  });
}

/** Kills a process group this test started, if anything of it is left (after a failed assert). */
function killGroupIfLeft(pid: number | undefined): void {
  if (pid === undefined || groupGone(pid)) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** An executable shell script under the test's temp folder. */
function script(name: string, body: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'bin-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

describe('a browser that dies under a session', () => {
  it('ends the session as crashed, drops its client, frees the slot and leaves nothing behind', async () => {
    const m = manager({ maxConcurrent: 1 });
    const exits: BrowserExitedEvent[] = [];
    const recycles: BrowserRecycledEvent[] = [];
    m.on('browserExited', (e) => exits.push(e));
    m.on('browserRecycled', (e) => recycles.push(e));
    let client: Browser | undefined;
    let pid: number | undefined;
    try {
      const s = await m.create();
      pid = s.browserPid!;
      const profile = profileDirOf(runtimeDir, pid);
      expect(profile && fs.existsSync(profile)).toBe(true);
      client = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      const disconnected = new Promise<void>((resolve) => client!.once('disconnected', () => resolve()));

      const queued = nextEvent(m, 'sessionQueued');
      const waiting = m.create();
      await queued;

      const errored = nextEvent<[SessionInfo, Error]>(m, 'sessionError', (info) => info.id === s.id);
      process.kill(-pid, 'SIGKILL');

      const [info, error] = await errored;
      expect(info).toMatchObject({ status: 'error', stopReason: 'crashed' });
      expect(error).toBeInstanceOf(BrowserCrashedError);
      expect(error).toMatchObject({ code: 'ERR_BROWSER_CRASHED', pid });
      expect(m.get(s.id)).toMatchObject({ status: 'error', stopReason: 'crashed' });
      await withDeadline(disconnected, 10_000, "the puppeteer client's 'disconnected'");

      const next = await withDeadline(waiting, 20_000, 'the queued create to get the freed slot');
      expect(next.status).toBe('active');
      expect(next.browserPid).not.toBe(pid);
      expect(exits.filter((e) => e.pid === pid)).toEqual([expect.objectContaining({ expected: false })]);
      expect(recycles.filter((e) => e.pid === pid)).toEqual([{ pid, reason: 'crashed' }]);

      await waitUntil(() => groupGone(pid!), 10_000, 'the crashed browser group to be gone');
      await waitUntil(() => !fs.existsSync(profile!), 10_000, 'the crashed profile to be removed');
    } finally {
      await client?.disconnect().catch(() => {});
      await m.close();
      killGroupIfLeft(pid);
    }
  });
});

describe('a browser that hangs under a session', () => {
  it('is found by the health check: the session ends unresponsive, the group is killed, the slot freed', async () => {
    const m = manager({ maxConcurrent: 1, healthCheckIntervalMs: 300 });
    let pid: number | undefined;
    try {
      const s = await m.create();
      pid = s.browserPid!;
      const queued = nextEvent(m, 'sessionQueued');
      const waiting = m.create();
      await queued;

      const errored = nextEvent<[SessionInfo, Error]>(m, 'sessionError', (info) => info.id === s.id, 10_000);
      process.kill(-pid, 'SIGSTOP');

      const [info, error] = await errored;
      expect(info).toMatchObject({ status: 'error', stopReason: 'unresponsive' });
      expect(error).toBeInstanceOf(BrowserUnresponsiveError);
      expect(error).toMatchObject({ code: 'ERR_BROWSER_UNRESPONSIVE', pid });
      await waitUntil(() => groupGone(pid!), 10_000, 'the hung browser group to be killed');
      const next = await withDeadline(waiting, 20_000, 'the queued create to get the freed slot');
      expect(next.status).toBe('active');
      expect(next.browserPid).not.toBe(pid);
    } finally {
      if (pid !== undefined && !groupGone(pid)) {
        try {
          process.kill(-pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
      await m.close();
      killGroupIfLeft(pid);
    }
  });
});

describe('a client process that is killed', () => {
  it('counts as a disconnect: the session stops with client_disconnected', async () => {
    const m = manager();
    let client: Fixture | undefined;
    try {
      const s = await m.create();
      client = runFixture('client.mjs', [s.wsEndpoint]);
      await client.line((l) => l === 'connected');
      expect(m.get(s.id).clients).toBe(1);

      const dropped = nextEvent<[ClientDisconnectedEvent]>(m, 'clientDisconnected', (e) => e.sessionId === s.id);
      const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (info) => info.id === s.id);
      client.child.kill('SIGKILL');

      const [event] = await dropped;
      expect(event).toMatchObject({ reason: 'client_closed', clients: 0, willStop: true });
      const [info] = await closed;
      expect(info).toMatchObject({ status: 'closed', stopReason: 'client_disconnected' });
    } finally {
      await client?.dispose();
      await m.close();
    }
  });

  it('does not stop a keepAlive session, which a new client can still drive', async () => {
    const m = manager();
    let client: Fixture | undefined;
    let again: Browser | undefined;
    try {
      const s = await m.create({ keepAlive: true });
      client = runFixture('client.mjs', [s.wsEndpoint]);
      await client.line((l) => l === 'connected');

      const dropped = nextEvent<[ClientDisconnectedEvent]>(m, 'clientDisconnected', (e) => e.sessionId === s.id);
      client.child.kill('SIGKILL');
      const [event] = await dropped;
      expect(event).toMatchObject({ reason: 'client_closed', clients: 0, willStop: false });
      expect(m.get(s.id)).toMatchObject({ status: 'active', clients: 0 });

      again = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
      expect(await again.version()).toMatch(/Chrome/);
      expect(m.get(s.id).status).toBe('active');
    } finally {
      await again?.disconnect().catch(() => {});
      await client?.dispose();
      await m.close();
    }
  });
});

describe('a frozen client process', () => {
  it('is dropped by the websocket heartbeat (ping_timeout) and the session stops', async () => {
    const m = manager({ clientPingTimeoutMs: 300 });
    let client: Fixture | undefined;
    try {
      const s = await m.create();
      client = runFixture('client.mjs', [s.wsEndpoint]);
      await client.line((l) => l === 'connected');

      const dropped = nextEvent<[ClientDisconnectedEvent]>(m, 'clientDisconnected', (e) => e.sessionId === s.id);
      const closed = nextEvent<[SessionInfo]>(m, 'sessionClosed', (info) => info.id === s.id);
      client.child.kill('SIGSTOP');

      const [event] = await dropped;
      expect(event).toMatchObject({ reason: 'ping_timeout', clients: 0, willStop: true });
      const [info] = await closed;
      expect(info).toMatchObject({ status: 'closed', stopReason: 'client_disconnected' });
    } finally {
      await client?.dispose(); // SIGCONT, then SIGKILL
      await m.close();
    }
  });
});

describe('launch failures', () => {
  /** The manager's run folder holds no profile and no launch record. */
  function noProfilesLeft(): boolean {
    return runDirs(runtimeDir).every((run) => fs.readdirSync(run).every((n) => !n.startsWith('b-')));
  }

  it('a missing or non-executable binary is refused by the constructor (ChromeNotFoundError)', () => {
    expect(() => manager({ executablePath: path.join(tmp, 'no-such-chrome') })).toThrow(ChromeNotFoundError);
    const plain = path.join(tmp, 'not-executable');
    fs.writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expect(() => manager({ executablePath: plain })).toThrow(ChromeNotFoundError);
  });

  it('a binary gone by create() time rejects with LaunchError and frees the slot', async () => {
    const bin = script('chrome', `exec ${shellPath} "$@"`);
    const m = manager({ executablePath: bin, headless: 'shell', maxConcurrent: 1 });
    try {
      fs.rmSync(bin);
      const failed = await m.create().then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(LaunchError);
      expect(m.list({ status: 'error' }).sessions[0]).toMatchObject({ stopReason: 'launch_failed' });

      fs.writeFileSync(bin, `#!/bin/sh\nexec ${shellPath} "$@"\n`, { mode: 0o755 });
      const s = await withDeadline(m.create(), 20_000, 'a create after the failed one');
      expect(s.status).toBe('active');
    } finally {
      await m.close();
    }
  });

  it('a Chrome that exits at once (bad flag) rejects with LaunchError carrying its stderr', async () => {
    const m = manager({ args: ['--user-data-dir=/proc/forbidden'], maxConcurrent: 1 });
    const launched: number[] = [];
    m.on('browserLaunched', (e) => launched.push(e.pid));
    try {
      const failed = await m.create().then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(LaunchError);
      expect((failed as LaunchError).message).toMatch(/exited during launch/);
      expect((failed as LaunchError).stderrTail).toMatch(/proc\/forbidden/);
      expect(launched).toEqual([]);
      const [info] = m.list({ status: 'error' }).sessions;
      expect(info).toMatchObject({ status: 'error', stopReason: 'launch_failed' });
      expect(info!.error).toMatch(/exited during launch/);
      await waitUntil(noProfilesLeft, 5_000, 'the failed profile to be removed');
      // The failure gave its slot back: the next create launches (and fails) instead of waiting.
      const again = await withDeadline(m.create().then(() => undefined, (e: unknown) => e), 20_000, 'a second create');
      expect(again).toBeInstanceOf(LaunchError);
    } finally {
      await m.close();
    }
  });

  it('a binary that exits 1 rejects with LaunchError; once fixed, the same manager creates', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'flaky-'));
    const bin = path.join(dir, 'chrome');
    fs.writeFileSync(bin, `#!/bin/sh\n[ -f "${dir}/fixed" ] && exec ${shellPath} "$@"\necho "fake chrome: refusing to start" >&2\nexit 1\n`, { mode: 0o755 });
    const m = manager({ executablePath: bin, headless: 'shell', maxConcurrent: 1 });
    try {
      const failed = await m.create().then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(LaunchError);
      expect((failed as LaunchError).message).toMatch(/code 1/);
      expect((failed as LaunchError).stderrTail).toMatch(/refusing to start/);
      expect(m.list({ status: 'error' }).sessions[0]).toMatchObject({ status: 'error', stopReason: 'launch_failed' });

      fs.writeFileSync(path.join(dir, 'fixed'), '');
      const s = await withDeadline(m.create(), 20_000, 'a create after the failed one');
      expect(s.status).toBe('active');
    } finally {
      await m.close();
    }
  });

  it('a binary that never prints its endpoint hits launchTimeoutMs; its process group is killed', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'slow-'));
    const bin = path.join(dir, 'chrome');
    // `sleep` runs as a child of the script, so the group has two processes to kill.
    fs.writeFileSync(bin, `#!/bin/sh\necho $$ >> "${dir}/pids"\nsleep 60\n`, { mode: 0o755 });
    const m = manager({ executablePath: bin, headless: 'shell', maxConcurrent: 1, launchTimeoutMs: 300 });
    const pids = () => (fs.existsSync(path.join(dir, 'pids')) ? fs.readFileSync(path.join(dir, 'pids'), 'utf8').trim().split('\n').map(Number) : []);
    const good = manager();
    try {
      const failed = await m.create().then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(LaunchError);
      expect((failed as LaunchError).message).toMatch(/within 300 ms/);
      expect(m.list({ status: 'error' }).sessions[0]).toMatchObject({ status: 'error', stopReason: 'launch_failed' });
      expect(pids()).toHaveLength(1);
      await waitUntil(() => groupGone(pids()[0]!), 5_000, 'the timed-out launch to be killed');
      expect(pidsWithArg(dir)).toEqual([]);

      // Its slot was freed: a second create runs into the same timeout instead of waiting.
      const again = await withDeadline(m.create().then(() => undefined, (e: unknown) => e), 20_000, 'a second create');
      expect(again).toBeInstanceOf(LaunchError);
      await waitUntil(() => pids().length === 2 && groupGone(pids()[1]!), 5_000, 'the second timed-out launch to be killed');

      const s = await good.create();
      expect(s.status).toBe('active');
    } finally {
      await m.close();
      await good.close();
      for (const pid of pids()) killGroupIfLeft(pid);
    }
  });
});

describe('close()', () => {
  it('stops every session with shutdown, kills every browser it launched and removes its run folder', async () => {
    const m = manager({ maxConcurrent: 2, minIdle: 1 });
    const launched: number[] = [];
    m.on('browserLaunched', (e) => launched.push(e.pid));
    let runDir: string | undefined;
    try {
      const sessions = await Promise.all([m.create(), m.create()]);
      // The run folder is the one holding this manager's launch records.
      runDir = path.dirname(profileDirOf(runtimeDir, sessions[0]!.browserPid!)!);
      expect(launched.length).toBeGreaterThanOrEqual(2);
      const closedEvents: SessionInfo[] = [];
      m.on('sessionClosed', (info) => closedEvents.push(info));

      await m.close();

      for (const s of sessions) expect(m.get(s.id)).toMatchObject({ status: 'closed', stopReason: 'shutdown' });
      expect(closedEvents.map((i) => i.stopReason)).toEqual(['shutdown', 'shutdown']);
      expect(fs.existsSync(runDir)).toBe(false);
      await waitUntil(() => launched.every(groupGone), 5_000, 'every launched browser group to be gone');
      // Also a warm browser still launching when close() was called: its argv names the run folder.
      await waitUntil(() => pidsWithArg(runDir!).length === 0, 5_000, 'no process using the run folder');
    } finally {
      await m.close();
      for (const pid of launched) killGroupIfLeft(pid);
    }
  });
});
