import { describe } from 'vitest';
import { SessionManager } from '../lib/index.js';
import { createTest, expect, test } from '../lib/fixtures/vitest.js';
import { serverForFile } from './helpers.js';

const server = serverForFile();

// The tests of this describe run in order and look at what the one before left behind.
describe('chrome-sessions/vitest', () => {
  let firstManager: SessionManager | undefined;
  let previousSession = '';

  test('page is the session page, driven by Puppeteer, and loads a local page', async ({ page, session, sessionManager }) => {
    expect(sessionManager).toBeInstanceOf(SessionManager);
    firstManager = sessionManager;
    previousSession = session.id;
    expect(sessionManager.get(session.id)).toMatchObject({ status: 'active', clients: 1 });
    expect(page.url()).toBe('about:blank');
    await page.goto(`${server.origin}/title/vitest-fixture`);
    expect(await page.title()).toBe('vitest-fixture');
  });

  test('the session of the previous test was stopped; the manager is the same (worker scope)', async ({ session, sessionManager }) => {
    expect(sessionManager).toBe(firstManager);
    expect(sessionManager.get(previousSession).status).toBe('closed');
    expect(session.id).not.toBe(previousSession);
    // Only `session` was asked for: nobody connected.
    expect(sessionManager.get(session.id)).toMatchObject({ status: 'active', clients: 0 });
    previousSession = session.id;
  });

  test('a test that does not ask for a session creates none', ({ sessionManager }) => {
    expect(sessionManager.get(previousSession).status).toBe('closed');
    expect(sessionManager.list({ status: 'active' }).totalCount).toBe(0);
  });
});

const keepAliveTest = createTest({ manager: { maxConcurrent: 1 }, session: { keepAlive: true, timeoutMs: 20_000 }, puppeteer: { defaultViewport: null } });

describe('createTest', () => {
  keepAliveTest('passes its options to the manager, the session and puppeteer.connect', async ({ page, session, sessionManager }) => {
    expect(session).toMatchObject({ keepAlive: true, timeoutMs: 20_000 });
    expect(page.viewport()).toBeNull();
    expect(sessionManager.stats().active).toBe(1);
    await page.browser().disconnect();
    // keepAlive: the session outlives its client.
    expect(sessionManager.get(session.id).status).toBe('active');
  });
});
