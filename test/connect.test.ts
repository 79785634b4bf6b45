import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPlaywright, connectPuppeteer, PeerDependencyMissingError, SessionManager, withSession, type Session } from '../lib/index.js';
import { importPeer } from '../lib/connect.js';
import { startServer, waitUntil, type TestServer } from './helpers.js';

let server: TestServer;
let manager: SessionManager;

beforeAll(async () => {
  server = await startServer();
  manager = new SessionManager({ maxConcurrent: 1, minIdle: 0 });
});

afterAll(async () => {
  await manager?.close();
  await server?.close();
});

describe('connectPuppeteer', () => {
  it('gives a browser and the session page, which loads a local page', async () => {
    const session = await manager.create();
    const { browser, page } = await connectPuppeteer(session);
    expect(await browser.pages()).toHaveLength(1);
    expect(page.url()).toBe('about:blank');
    await page.goto(`${server.origin}/title/puppeteer-helper`);
    expect(await page.title()).toBe('puppeteer-helper');
    expect(manager.get(session.id).clients).toBe(1);
    await browser.disconnect();
    // Its only client left: the session ends by the disconnect rule.
    await waitUntil(() => manager.get(session.id).status === 'closed', 5_000, 'the session to stop');
    expect(manager.get(session.id).stopReason).toBe('client_disconnected');
  });

  it('accepts the endpoint URL and Puppeteer options', async () => {
    const session = await manager.create();
    const { browser, page } = await connectPuppeteer(session.wsEndpoint, { defaultViewport: { width: 640, height: 480 } });
    expect(page.viewport()).toMatchObject({ width: 640, height: 480 });
    await browser.disconnect();
    await session.stop();
  });
});

describe('connectPlaywright', () => {
  it('gives a browser, its default context and the session page, which loads a local page', async () => {
    const session = await manager.create();
    const { browser, context, page } = await connectPlaywright(session);
    expect(browser.contexts()).toEqual([context]);
    expect(context.pages()).toEqual([page]);
    await page.goto(`${server.origin}/title/playwright-helper`);
    expect(await page.title()).toBe('playwright-helper');
    await browser.close();
    await waitUntil(() => manager.get(session.id).status === 'closed', 5_000, 'the session to stop');
  });
});

describe('withSession', () => {
  it('returns what the function returns and stops the session', async () => {
    let seen: Session | undefined;
    const title = await withSession(manager, { keepAlive: true }, async (session) => {
      seen = session;
      expect(manager.get(session.id).status).toBe('active');
      const { browser, page } = await connectPuppeteer(session);
      await page.goto(`${server.origin}/title/with-session`);
      const t = await page.title();
      await browser.disconnect();
      return t;
    });
    expect(title).toBe('with-session');
    expect(manager.get(seen!.id)).toMatchObject({ status: 'closed', stopReason: 'stopped' });
  });

  it('stops the session when the function throws, and rejects with that error', async () => {
    let id = '';
    const boom = new Error('boom');
    await expect(
      withSession(manager, { keepAlive: true }, (session) => {
        id = session.id;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(manager.get(id)).toMatchObject({ status: 'closed', stopReason: 'stopped' });
  });

  it("keeps the function's error when stopping the session fails too", async () => {
    const boom = new Error('boom');
    const failingStop = {
      create: (params?: Parameters<SessionManager['create']>[0]) => manager.create(params),
      stop: async (sessionId: string) => {
        await manager.stop(sessionId);
        throw new Error('stop failed');
      },
    };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      await expect(withSession(failingStop, undefined, () => Promise.reject(boom))).rejects.toBe(boom);
      await waitUntil(() => warnings.length > 0, 2_000, 'the warning');
      expect(warnings[0]).toMatch(/stop failed/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a missing peer', () => {
  it('is a PeerDependencyMissingError with code ERR_PEER_MISSING naming the package', async () => {
    const err = await importPeer('no-such-peer-xyz', () => import('no-such-peer-xyz' as string)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerDependencyMissingError);
    expect(err).toMatchObject({ code: 'ERR_PEER_MISSING', peer: 'no-such-peer-xyz', name: 'PeerDependencyMissingError' });
    expect((err as Error).message).toMatch(/npm install no-such-peer-xyz/);
  });

  it('does not hide other load failures', async () => {
    const broken = new Error('syntax error inside the package');
    await expect(importPeer('puppeteer-core', () => Promise.reject(broken))).rejects.toBe(broken);
  });
});
