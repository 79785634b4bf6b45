/**
 * The per-page hooks' connection (lib/page-hooks.ts) on a real shared Chrome: each page of a
 * hooked context is handed to its hook exactly once, whether it was open when the hook came (then
 * `existing`) or opened later (paused until the hook has run), and a page of another context is
 * never handed to it. Two sessions share the Chrome, so the second hook finds the connection
 * already open: the case where the explicit attach used to be handed over twice (its own event,
 * then its reply), which ran a recording's script twice in the page.
 */
import puppeteer from 'puppeteer-core';
import { expect, it } from 'vitest';
import type { PooledBrowser } from '../lib/browser.js';
import { CdpConnection } from '../lib/cdp.js';
import { SessionManager } from '../lib/index.js';
import { addPageHook, type HookedTarget, type PageHook } from '../lib/page-hooks.js';
import { chromeEndpoint, closedAfterEach, waitUntil } from './helpers.js';

const managers = closedAfterEach<SessionManager>();

/** A hook that records what it is handed. */
function counting(): PageHook & { seen: { targetId: string; existing: boolean }[] } {
  const seen: { targetId: string; existing: boolean }[] = [];
  return {
    seen,
    attached: async (t: HookedTarget) => {
      if (t.type === 'page') seen.push({ targetId: t.targetId, existing: t.existing });
    },
  };
}

it('hands each page of its context to a hook once, open or opened later, and none of another context', async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', sessionsPerBrowser: 2, maxConcurrent: 2 });
  managers.push(m);
  const [s1, s2] = [await m.create(), await m.create()];
  expect(s2.browserPid).toBe(s1.browserPid);
  const wsEndpoint = chromeEndpoint(s1.browserPid!);
  const raw = await CdpConnection.connect(wsEndpoint, 5_000);
  const { targetInfos } = await raw.send('Target.getTargets', {}, { timeoutMs: 5_000 });
  const { browserContextIds } = await raw.send('Target.getBrowserContexts', {}, { timeoutMs: 5_000 });
  raw.close();
  // The sessions' pages (not the launch page of the default context, which may still be closing).
  const pages = targetInfos.filter((t) => t.type === 'page' && browserContextIds.includes(t.browserContextId!));
  expect(pages).toHaveLength(2);
  const [p1, p2] = pages as [(typeof pages)[0], (typeof pages)[0]];
  // The hooks need these of a pooled browser; the Chrome is the manager's real one.
  const host = { process: { wsEndpoint }, exited: new Promise(() => {}), sessionContextOf: (id: string | undefined) => id ?? '' } as unknown as PooledBrowser;
  const h1 = counting();
  const h2 = counting();
  const remove1 = await addPageHook(host, p1.browserContextId, h1, 5_000);
  const remove2 = await addPageHook(host, p2.browserContextId, h2, 5_000);
  try {
    expect(h1.seen).toEqual([{ targetId: p1.targetId, existing: true }]);
    expect(h2.seen).toEqual([{ targetId: p2.targetId, existing: true }]);
    // A page opened later in the second session: handed over once, before it runs.
    const b = await puppeteer.connect({ browserWSEndpoint: s2.wsEndpoint, defaultViewport: null });
    try {
      const page = await b.newPage();
      await page.goto('data:text/html,<title>later</title>');
      await waitUntil(() => h2.seen.length === 2, 5_000, 'the new page to be handed over');
      expect(h2.seen[1]).toMatchObject({ existing: false });
      expect(new Set(h2.seen.map((s) => s.targetId)).size).toBe(2);
      expect(h1.seen).toHaveLength(1);
    } finally {
      await b.disconnect();
    }
  } finally {
    await remove2();
    await remove1();
  }
});
