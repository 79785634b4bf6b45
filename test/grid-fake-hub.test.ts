/**
 * What a real Grid does not do on demand, played by a fake hub (node:http); the rules of the real
 * one are in grid.test.ts.
 * - A create cancelled while the hub holds its request may still get a session from a node a
 *   moment later; the provider watches the hub for it (by the request's tag) and deletes it.
 *   `close()` waits for that watch: a process that closes its manager and exits leaves no Grid
 *   session behind.
 * - Credentials in the Grid URL go as Basic auth on every HTTP call (new session, status, delete).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CreateAbortedError, SessionManager, seleniumGrid } from '../lib/index.js';
import { REQUEST_TAG } from '../lib/providers/grid-session.js';

let hub: http.Server;
let url: string;
const requests: string[] = [];
const deleted: string[] = [];
const auth: (string | undefined)[] = [];
let lateTag: string | undefined;

beforeAll(async () => {
  hub = http.createServer((req, res) => {
    auth.push(req.headers.authorization);
    const json = (value: unknown) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value }));
    if (req.method === 'POST' && req.url === '/session') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => requests.push(JSON.parse(body).capabilities.alwaysMatch[REQUEST_TAG]));
      // Queued: no answer; once the client gives up, a node creates the session 1.5 s later.
      res.on('close', () => setTimeout(() => (lateTag = requests.at(-1)), 1_500).unref());
      return;
    }
    if (req.method === 'GET' && req.url === '/status') {
      const session = lateTag && !deleted.includes(lateTag) ? { sessionId: `late-${lateTag}`, capabilities: { [REQUEST_TAG]: lateTag } } : null;
      return json({ ready: true, nodes: [{ uri: 'http://node', slots: [{ session }] }] });
    }
    if (req.method === 'DELETE' && req.url?.startsWith('/session/late-')) {
      deleted.push(req.url.slice('/session/late-'.length));
      return json(null);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
});
afterAll(async () => {
  hub.closeAllConnections();
  await new Promise((r) => hub.close(r));
});

/** Cancels a create while the hub holds it, then closes the manager; returns the request's tag. */
async function cancelThenClose(gridUrl: string): Promise<string> {
  const m = new SessionManager({ provider: seleniumGrid({ url: gridUrl, heartbeatIntervalMs: 0 }), handleSignals: false });
  const before = requests.length;
  const ac = new AbortController();
  const create = m.create({ signal: ac.signal });
  const deadline = Date.now() + 10_000;
  while (requests.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(requests).toHaveLength(before + 1);
  ac.abort();
  await expect(create).rejects.toBeInstanceOf(CreateAbortedError);
  const tag = requests.at(-1)!;
  // Nothing to delete yet: the node has not answered.
  expect(deleted).not.toContain(tag);
  await m.close();
  return tag;
}

it('close() waits until the session a cancelled request got late is found and deleted', async () => {
  const tag = await cancelThenClose(url);
  expect(lateTag).toBe(tag);
  expect(deleted).toContain(tag);
});

it('credentials in the Grid URL go as Basic auth on every call: new session, status, delete', async () => {
  auth.length = 0;
  const tag = await cancelThenClose(url.replace('http://', 'http://alice:p%40ss@'));
  expect(deleted).toContain(tag);
  expect(auth.length).toBeGreaterThanOrEqual(3);
  expect(new Set(auth)).toEqual(new Set([`Basic ${Buffer.from('alice:p@ss').toString('base64')}`]));
});
