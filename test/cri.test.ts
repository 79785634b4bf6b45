/**
 * chrome-remote-interface against a session's HTTP discovery: its Version, List and Protocol
 * calls read the session's port, and the client it opens drives the session.
 */
import CDP from 'chrome-remote-interface';
import { afterAll, expect, it } from 'vitest';
import { SessionManager } from '../lib/index.js';

const m = new SessionManager({ minIdle: 0, handleSignals: false });
afterAll(() => m.close());

it('chrome-remote-interface finds and drives a session through browserURL', async () => {
  const s = await m.create({ browserURL: true, keepAlive: true });
  const { port } = new URL(s.browserURL!);
  const where = { host: '127.0.0.1', port: Number(port) };
  const version = await CDP.Version(where);
  expect(version.webSocketDebuggerUrl).toBe(s.wsEndpoint);
  const pages = await CDP.List(where);
  expect(pages.filter((t) => t.type === 'page')).toHaveLength(1);
  const protocol = await CDP.Protocol(where);
  expect(protocol.domains.map((d: { domain: string }) => d.domain)).toContain('Target');
  // Given a websocket URL, CRI would fetch the protocol from that URL's host, which is the
  // session endpoint (websocket only): `local` uses the protocol CRI ships instead.
  const client = await CDP({ target: version.webSocketDebuggerUrl, local: true });
  try {
    const { targetInfos } = await client.Target.getTargets();
    expect(targetInfos.map((t) => t.targetId)).toContain(pages[0]!.id);
    const { product } = await client.Browser.getVersion();
    expect(product).toMatch(/Chrome/);
  } finally {
    await client.close();
  }
  expect(m.get(s.id).status).toBe('active');
});
