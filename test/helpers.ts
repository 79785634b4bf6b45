import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EventEmitter } from 'eventemitter3';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** A local http server whose pages the tests load; counts hits per path. */
export interface TestServer {
  readonly origin: string;
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Serves `/title/<text>` (a page titled <text>), `/cookie` (sets an HttpOnly cookie), and any route in `routes`. */
export async function startServer(routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> = {}): Promise<TestServer> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const route = routes[url.pathname];
    if (route) return route(req, res);
    if (url.pathname.startsWith('/title/')) {
      const title = decodeURIComponent(url.pathname.slice('/title/'.length));
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>${title}</title><p>${title}</p>`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>ok</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.keepAliveTimeout = 100;
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * A {@link startServer} server for the whole test file: started before its first test, closed after
 * its last. Call it at the top level of the file; read `origin` and `hits` inside tests.
 */
export function serverForFile(routes: Parameters<typeof startServer>[0] = {}): TestServer {
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startServer(routes);
  });
  afterAll(async () => {
    await started?.close();
  });
  const get = (): TestServer => {
    if (!started) throw new Error('serverForFile: the server starts in beforeAll');
    return started;
  };
  return {
    get origin() {
      return get().origin;
    },
    get hits() {
      return get().hits;
    },
    close: () => get().close(),
  };
}

/**
 * A list whose members (managers, browsers…) are closed after each test of the file:
 * `const managers = closedAfterEach<SessionManager>()`, then `managers.push(m)`.
 */
export function closedAfterEach<T extends { close(): Promise<unknown> }>(): T[] {
  const list: T[] = [];
  afterEach(async () => {
    await Promise.all(list.splice(0).map((x) => x.close()));
  });
  return list;
}

/** Pids of running Chrome processes (read from /proc, zombies excluded). */
export function chromePids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (/chrom/.test(name) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone while reading
    }
  }
  return pids;
}

/** True while /proc has a live (non-zombie) process with that pid. */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `predicate()` holds, polling every 20 ms, or throws after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the next `event` whose payload passes `filter`, or rejects after `timeoutMs`. */
export function nextEvent<A extends unknown[]>(
  emitter: EventEmitter<any>,
  event: string,
  filter: (...args: A) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: A) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

// ---- Processes, fixtures and the library build (fault and orphan tests) ----

/** State letter and process group of a pid, from /proc/PID/stat; undefined when gone. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) members of process group `pgid`. Only ask about groups your test started. */
export function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(Number(entry));
    if (s && s.pgrp === pgid && s.state !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

/** True once neither `pid` nor any member of its process group is alive. */
export function groupGone(pid: number): boolean {
  return !isAlive(pid) && groupMembers(pid).length === 0;
}

/** Live pids (other than this process) whose argv passes `match`. */
export function pidsWhereArgv(match: (argv: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (match(argv) && isAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone while reading
    }
  }
  return pids;
}

/** Live pids whose command line has an argument containing `needle` (e.g. a folder of ours). */
export function pidsWithArg(needle: string): number[] {
  return pidsWhereArgv((argv) => argv.some((a) => a.includes(needle)));
}

/** The watchdog shell of one run folder (see lib/chrome/watchdog.ts), if it is running. */
export function watchdogPids(runDir: string): number[] {
  return pidsWhereArgv((argv) => argv.includes('chrome-sessions-watchdog') && argv.includes(runDir));
}

/** Rejects with a clear message when `promise` does not settle within `timeoutMs`. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The run folders (`run-*`) under a manager's runtimeDir. */
export function runDirs(runtimeDir: string): string[] {
  try {
    return fs.readdirSync(runtimeDir).filter((n) => n.startsWith('run-')).map((n) => path.join(runtimeDir, n));
  } catch {
    return [];
  }
}

/** The profile folder of the browser with `pid`, found through the launch records under `runtimeDir`. */
export function profileDirOf(runtimeDir: string, pid: number): string | undefined {
  for (const run of runDirs(runtimeDir)) {
    for (const name of fs.readdirSync(run)) {
      if (!/^b-.*\.json$/.test(name)) continue;
      try {
        if (JSON.parse(fs.readFileSync(path.join(run, name), 'utf8')).pid === pid) return path.join(run, name.slice(0, -'.json'.length));
      } catch {
        // being written or removed
      }
    }
  }
  return undefined;
}

/** A Node child process running a script under test/fixtures, with its stdout read line by line. */
export interface Fixture {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with how the child ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first stdout line (past or future) that passes `match`; rejects on exit or after `timeoutMs`. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGCONT then SIGKILL, unless it has already exited; waits for the exit. */
  dispose(): Promise<void>;
}

/** Starts `node test/fixtures/<script> ...args`. */
export function runFixture(script: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Fixture {
  const file = fileURLToPath(new URL(`./fixtures/${script}`, import.meta.url));
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const lines: string[] = [];
  let stderr = '';
  let ended = false;
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      ended = true;
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    });
  });
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    line(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found !== undefined) done(() => resolve(found));
          else if (ended) done(() => reject(new Error(`${script} exited before printing the expected line; stdout: ${lines.join('\n')}\nstderr: ${stderr}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for a line from ${script}; stderr: ${stderr}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

let built: Promise<string> | undefined;

/**
 * Compiles lib/ for fixtures that run the library in a child Node process, and returns the path
 * of its index.js. The output goes to a private folder named by a hash of the sources, so a
 * fresh checkout builds once, a changed lib/ rebuilds, and nothing touches the package's dist/.
 */
export function buildLibrary(): Promise<string> {
  built ??= (async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const hash = crypto.createHash('sha256');
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) hash.update(p).update(fs.readFileSync(p));
      }
    };
    walk(path.join(root, 'lib'));
    const cache = path.join(root, 'node_modules', '.cache', 'chrome-sessions-test');
    const out = path.join(cache, `lib-${hash.digest('hex').slice(0, 16)}`);
    const index = path.join(out, 'index.js');
    if (fs.existsSync(index)) return index;
    fs.mkdirSync(cache, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(cache, 'tmp-'));
    // Under node_modules Node does not look further up for "type": "module".
    fs.writeFileSync(path.join(tmp, 'package.json'), '{ "type": "module" }\n');
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const c = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', tmp, '--declaration', 'false', '--sourceMap', 'false'], { cwd: root });
      let output = '';
      c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      c.on('exit', (code) => resolve({ code, output }));
    });
    // tsc emits despite type errors; a type error elsewhere in lib/ need not stop these tests.
    if (!fs.existsSync(path.join(tmp, 'index.js'))) throw new Error(`Building lib/ failed (tsc exit ${result.code}):\n${result.output}`);
    try {
      fs.renameSync(tmp, out);
    } catch {
      // Another run built the same sources first.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // Builds of older sources pile up while lib/ changes; drop those unused for an hour.
    for (const name of fs.readdirSync(cache)) {
      const dir = path.join(cache, name);
      const age = Date.now() - (fs.statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (dir !== out && age > 3_600_000) fs.rmSync(dir, { recursive: true, force: true });
    }
    return index;
  })();
  return built;
}

/** Chrome's own DevTools endpoint (unscoped, no token), from the DevToolsActivePort file in the profile of browser `pid`. */
export function chromeEndpoint(pid: number): string {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const profile = argv.find((a) => a.startsWith('--user-data-dir='))!.slice('--user-data-dir='.length);
  const [port, p] = fs.readFileSync(`${profile}/DevToolsActivePort`, 'utf8').trim().split('\n');
  return `ws://127.0.0.1:${port}${p}`;
}
