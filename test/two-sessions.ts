import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { expect } from 'vitest';
import { SessionManager, type IsolationMode, type SessionManagerOptions } from '../lib/index.js';
import { closedAfterEach } from './helpers.js';

const managers = closedAfterEach<SessionManager>();

/**
 * Session N runs `first`, ends, and session N+1 (on the same Chrome unless 'browser') runs
 * `second`, on a manager of its own (so session N is the first of a fresh Chrome). `options` are
 * extra manager options (Chrome flags, another executable).
 */
export async function twoSessions<T>(
  isolation: IsolationMode,
  first: (page: Page) => Promise<T>,
  second: (page: Page) => Promise<T>,
  options: SessionManagerOptions = {},
): Promise<[T, T]> {
  const m = new SessionManager({ ...options, isolation, maxConcurrent: 1, minIdle: 0, sessionsPerBrowser: 2, handleSignals: false });
  managers.push(m);
  const run = async (fn: (page: Page) => Promise<T>) => {
    const s = await m.create();
    const browser: Browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    try {
      return { pid: s.browserPid, value: await fn((await browser.pages())[0]!) };
    } finally {
      await m.stop(s.id);
      await browser.disconnect();
    }
  };
  const a = await run(first);
  const b = await run(second);
  if (isolation === 'browser') expect(b.pid).not.toBe(a.pid);
  else expect(b.pid, 'the same Chrome').toBe(a.pid);
  return [a.value, b.value];
}
