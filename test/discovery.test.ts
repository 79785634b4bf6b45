import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { chromeDiscoverySource, chromeHttpBase, DiscoveryServer, type DiscoverySource, type DiscoveryTarget } from '../lib/discovery.js';
import { SessionManager, type Session } from '../lib/index.js';
import { startServer, waitUntil, type TestServer } from './helpers.js';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request on a fresh connection (no agent), with full control of method and headers. */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function parse(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body) as Record<string, unknown>;
}

const FAKE_VERSION = {
  Browser: 'HeadlessChrome/999.0.0.0',
  'Protocol-Version': '1.3',
  'User-Agent': 'Mozilla/5.0 fake',
  'V8-Version': '99.9',
  'WebKit-Version': '537.36 (@fake)',
  webSocketDebuggerUrl: 'ws://127.0.0.1:1/devtools/browser/chromes-own',
  Extra: 'dropped',
};

function fakeSource(overrides: Partial<DiscoverySource> = {}): DiscoverySource & { calls: Record<string, number> } {
  const calls: Record<string, number> = { version: 0, targets: 0, protocol: 0 };
  return {
    calls,
    wsEndpoint: 'ws://127.0.0.1:9/devtools/browser/s-1?token=secret',
    version: async () => {
      calls.version!++;
      return { ...FAKE_VERSION };
    },
    targets: async () => {
      calls.targets!++;
      return [{ id: 'T1', type: 'page', title: 'one', url: 'about:blank' }];
    },
    protocol: async () => {
      calls.protocol!++;
      return { version: { major: '1', minor: '3' }, domains: [{ domain: 'Page' }] };
    },
    ...overrides,
  };
}

describe('DiscoveryServer with a fake source', () => {
  const servers: DiscoveryServer[] = [];
  const start = async (source: DiscoverySource, opts?: { sourceTimeoutMs?: number }) => {
    const s = await DiscoveryServer.start(source, opts);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('listens on loopback and serves /json/version with the session endpoint and only the version fields, asked once', async () => {
    const source = fakeSource();
    const server = await start(source);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const p of ['/json/version', '/json/version/', '/json/version?x=1']) {
      const reply = await request(server.url + p);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toBe('application/json; charset=UTF-8');
      expect(reply.headers['access-control-allow-origin']).toBeUndefined();
      const { webSocketDebuggerUrl, Extra, ...fields } = FAKE_VERSION;
      expect(parse(reply)).toEqual({ ...fields, webSocketDebuggerUrl: source.wsEndpoint });
      expect(webSocketDebuggerUrl).not.toBe(source.wsEndpoint);
      expect(Extra).toBe('dropped');
    }
    expect(source.calls.version).toBe(1);
  });

  it('serves the targets at /json and /json/list, the four fields plus an empty description', async () => {
    const server = await start(fakeSource());
    for (const p of ['/json', '/json/', '/json/list', '/json/list/']) {
      const reply = await request(server.url + p);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toBe('application/json; charset=UTF-8');
      expect(JSON.parse(reply.body)).toEqual([{ description: '', id: 'T1', type: 'page', title: 'one', url: 'about:blank' }]);
    }
  });

  it('serves /json/protocol, fetched once on first request', async () => {
    const source = fakeSource();
    const server = await start(source);
    expect(source.calls.protocol).toBe(0);
    const reply = await request(`${server.url}/json/protocol`);
    expect(reply.status).toBe(200);
    expect(parse(reply).domains).toEqual([{ domain: 'Page' }]);
    await request(`${server.url}/json/protocol`);
    expect(source.calls.protocol).toBe(1);
  });

  it('answers 404 JSON for unknown paths, 405 for /json/new and for other methods', async () => {
    const server = await start(fakeSource());
    for (const p of ['/', '/json/activate/T1', '/devtools/browser/x', '/json/versions']) {
      const reply = await request(server.url + p);
      expect(reply.status, p).toBe(404);
      expect(reply.headers['content-type']).toBe('application/json; charset=UTF-8');
      expect(parse(reply).error).toMatch(/Unknown path/);
    }
    for (const method of ['PUT', 'GET', 'POST']) {
      const reply = await request(`${server.url}/json/new?about:blank`, { method });
      expect(reply.status, method).toBe(405);
      expect(parse(reply).error).toMatch(/over CDP/);
    }
    const post = await request(`${server.url}/json/version`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('refuses a Host header that is not an IP address or localhost (DNS rebinding)', async () => {
    const server = await start(fakeSource());
    const port = new URL(server.url).port;
    expect((await request(`${server.url}/json/version`, { headers: { Host: `evil.example:${port}` } })).status).toBe(403);
    expect((await request(`${server.url}/json/version`, { headers: { Host: `localhost:${port}` } })).status).toBe(200);
  });

  it('answers 502 when the source fails, and asks again on the next request', async () => {
    let fail = true;
    const source = fakeSource({
      version: async () => {
        if (fail) throw new Error('chrome said no');
        return { Browser: 'B' };
      },
    });
    const server = await start(source);
    const first = await request(`${server.url}/json/version`);
    expect(first.status).toBe(502);
    expect(parse(first).error).toMatch(/chrome said no/);
    fail = false;
    const second = await request(`${server.url}/json/version`);
    expect(second.status).toBe(200);
    expect(parse(second)).toEqual({ Browser: 'B', webSocketDebuggerUrl: source.wsEndpoint });
  });

  it('answers 504 when the source hangs, within the bound, and aborts the call', async () => {
    let signal: AbortSignal | undefined;
    const server = await start(
      fakeSource({
        targets: (s) => {
          signal = s;
          return new Promise<never>(() => {});
        },
      }),
      { sourceTimeoutMs: 300 },
    );
    const t0 = Date.now();
    const reply = await request(`${server.url}/json/list`);
    const took = Date.now() - t0;
    expect(reply.status).toBe(504);
    expect(parse(reply).error).toMatch(/did not answer within 300 ms/);
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2_000);
    expect(signal?.aborted).toBe(true);
  });

  it('bounds a hanging source by 5 s by default', async () => {
    const server = await start(fakeSource({ version: () => new Promise<never>(() => {}) }));
    const t0 = Date.now();
    const reply = await request(`${server.url}/json/version`);
    const took = Date.now() - t0;
    expect(reply.status).toBe(504);
    expect(took).toBeGreaterThanOrEqual(4_900);
    expect(took).toBeLessThan(7_000);
  });

  it('close() is bounded with a keep-alive connection and a request in flight, and frees the port', async () => {
    const server = await start(fakeSource({ protocol: () => new Promise<never>(() => {}) }));
    const agent = new http.Agent({ keepAlive: true });
    expect((await request(`${server.url}/json/version`, { agent })).status).toBe(200);
    const inFlight = request(`${server.url}/json/protocol`).then(
      (r) => r.status,
      (err: NodeJS.ErrnoException) => err.code,
    );
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(await inFlight).toMatch(/^(ECONNRESET|503)$/);
    await expect(request(`${server.url}/json/version`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(request(`${server.url}/json/version`, { agent })).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNREFUSED|ECONNRESET)$/) });
    agent.destroy();
    await server.close(); // idempotent
  });

  it('chromeDiscoverySource: an unreachable Chrome gives 502, a hanging one 504 and its request is dropped', async () => {
    const unreachable = await start(chromeDiscoverySource('http://127.0.0.1:1', 'ws://x/devtools/browser/s?token=t', async () => []));
    const refused = await request(`${unreachable.url}/json/version`);
    expect(refused.status).toBe(502);
    let dropped = false;
    const hanging = http.createServer((req) => req.socket.once('close', () => (dropped = true)));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
      const server = await start(chromeDiscoverySource(base, 'ws://x/devtools/browser/s?token=t', async () => []), { sourceTimeoutMs: 300 });
      expect((await request(`${server.url}/json/protocol`)).status).toBe(504);
      await waitUntil(() => dropped, 2_000, 'the fetch to Chrome to be aborted');
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });

  it('chromeHttpBase turns Chrome’s browser endpoint into its HTTP base', () => {
    expect(chromeHttpBase('ws://127.0.0.1:36123/devtools/browser/0a1b-2c')).toBe('http://127.0.0.1:36123');
    expect(() => chromeHttpBase('http://127.0.0.1:1/')).toThrow(TypeError);
  });
});

/** Chrome's own HTTP debugging base for a browser pid: its profile's DevToolsActivePort (first line is the port). */
async function chromeBaseOf(pid: number): Promise<string> {
  const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const dir = args.find((a) => a.startsWith('--user-data-dir='))?.slice('--user-data-dir='.length);
  if (!dir) throw new Error(`no --user-data-dir in the command line of ${pid}`);
  const file = path.join(dir, 'DevToolsActivePort');
  await waitUntil(() => fs.existsSync(file), 5_000, 'DevToolsActivePort');
  const [port] = fs.readFileSync(file, 'utf8').split('\n');
  return `http://127.0.0.1:${Number(port)}`;
}

/** A raw CDP call over a websocket. */
function cdp(ws: WebSocket, id: number, method: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      if (msg.id !== id) return;
      ws.off('message', onMessage);
      if (msg.error) reject(new Error(msg.error.message));
      else resolve(msg.result ?? {});
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, method }));
  });
}

describe('DiscoveryServer for a real session', () => {
  let manager: SessionManager;
  let pages: TestServer;
  let session: Session;
  let server: DiscoveryServer;

  beforeAll(async () => {
    pages = await startServer();
    manager = new SessionManager({ minIdle: 0, handleSignals: false });
    // keepAlive: each client below disconnects, and the session must outlive them.
    session = await manager.create({ keepAlive: true });
    const chromeBase = await chromeBaseOf(manager.get(session.id).browserPid!);
    // The pool gives a session a browser of its own: Chrome's pages are the session's pages.
    const listPages = async (signal?: AbortSignal): Promise<DiscoveryTarget[]> => {
      const res = await fetch(`${chromeBase}/json/list`, { signal: signal ?? null });
      const list = (await res.json()) as DiscoveryTarget[];
      return list.filter((t) => t.type === 'page').map(({ id, type, title, url }) => ({ id, type, title, url }));
    };
    server = await DiscoveryServer.start(chromeDiscoverySource(chromeBase, session.wsEndpoint, listPages));
  });

  afterAll(async () => {
    await server?.close();
    await manager?.close();
    await pages?.close();
  });

  it('serves Chrome’s version fields with the session endpoint, never Chrome’s own', async () => {
    const body = parse(await request(`${server.url}/json/version`));
    expect(Object.keys(body).sort()).toEqual(['Browser', 'Protocol-Version', 'User-Agent', 'V8-Version', 'WebKit-Version', 'webSocketDebuggerUrl']);
    expect(body.Browser).toMatch(/Chrome\//);
    expect(body.webSocketDebuggerUrl).toBe(session.wsEndpoint);
  });

  it('serves Chrome’s protocol description', async () => {
    const reply = await request(`${server.url}/json/protocol`);
    expect(reply.status).toBe(200);
    const domains = (parse(reply).domains as { domain: string }[]).map((d) => d.domain);
    expect(domains).toEqual(expect.arrayContaining(['Page', 'Target', 'Runtime']));
  });

  it('puppeteer.connect({ browserURL }) drives the session’s page', async () => {
    const browser = await puppeteer.connect({ browserURL: server.url, defaultViewport: null });
    try {
      const [page] = await browser.pages();
      await page!.goto(`${pages.origin}/title/via-browserURL`);
      expect(await page!.title()).toBe('via-browserURL');
      expect(manager.get(session.id).clients).toBe(1);
      const list = JSON.parse((await request(`${server.url}/json/list`)).body) as DiscoveryTarget[];
      expect(list).toEqual([expect.objectContaining({ type: 'page', title: 'via-browserURL', url: `${pages.origin}/title/via-browserURL` })]);
      expect(list[0]).not.toHaveProperty('webSocketDebuggerUrl');
    } finally {
      await browser.disconnect();
    }
    await waitUntil(() => manager.get(session.id).clients === 0, 5_000, 'puppeteer to disconnect');
    expect(manager.get(session.id).status).toBe('active');
  });

  it('chromium.connectOverCDP(http URL) drives the session’s page', async () => {
    const browser = await chromium.connectOverCDP(server.url);
    try {
      const page = browser.contexts()[0]!.pages()[0]!;
      await page.goto(`${pages.origin}/title/via-connectOverCDP`);
      expect(await page.title()).toBe('via-connectOverCDP');
      expect(manager.get(session.id).clients).toBe(1);
    } finally {
      await browser.close();
    }
    await waitUntil(() => manager.get(session.id).clients === 0, 5_000, 'playwright to disconnect');
  });

  it('a generic CDP client: fetch /json/version, connect to webSocketDebuggerUrl, and get the same version', async () => {
    const res = await fetch(`${server.url}/json/version`);
    expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    const version = (await res.json()) as Record<string, string>;
    const ws = new WebSocket(version.webSocketDebuggerUrl!);
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const got = await cdp(ws, 1, 'Browser.getVersion');
      expect(got).toMatchObject({
        product: version.Browser,
        protocolVersion: version['Protocol-Version'],
        userAgent: version['User-Agent'],
        jsVersion: version['V8-Version'],
      });
      const { targetInfos } = (await cdp(ws, 2, 'Target.getTargets')) as { targetInfos: { targetId: string; type: string }[] };
      const list = JSON.parse((await request(`${server.url}/json/list`)).body) as DiscoveryTarget[];
      expect(list.map((t) => t.id).sort()).toEqual(targetInfos.filter((t) => t.type === 'page').map((t) => t.targetId).sort());
    } finally {
      ws.close();
    }
  });

  it('close() frees the port while the session lives on', async () => {
    const second = await DiscoveryServer.start(chromeDiscoverySource('http://127.0.0.1:1', session.wsEndpoint, async () => []));
    expect((await request(`${second.url}/json/list`)).body).toMatch(/^\[\]/);
    await second.close();
    await expect(request(`${second.url}/json/version`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(manager.get(session.id).status).toBe('active');
  });
});
