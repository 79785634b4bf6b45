/**
 * ContextScope (lib/scope.ts) on real Chrome with sessions side by side: a session's new tabs
 * (and tabs of the default context) are not held paused by the other sessions' clients, which
 * auto-attach with waitForDebuggerOnStart, and a download reaches the session that started it and
 * no other. The Chrome, contexts and proxy are set up in scope-helpers.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitUntil, withDeadline } from './helpers.js';
import { allTargets, closers, ctxB, pp, proxy, pw, raw, RawCdp, server, tmp, useScopeChrome } from './scope-helpers.js';

useScopeChrome();

describe('the catch: auto-attach with waitForDebuggerOnStart', () => {
  it('new tabs of B and of the default context run while A clients are connected', async () => {
    const ppA = await pp('A');
    const pwA = await pw('A');
    const scopesA = proxy.live.slice(-2);
    // Session B's client opens and loads pages: neither A client may hold them paused.
    const ppB = await pp('B');
    const pageB1 = await withDeadline(ppB.newPage(), 5_000, 'Puppeteer newPage in B');
    await withDeadline(pageB1.goto(`${server.origin}/title/b-pp`), 5_000, 'B page.goto (Puppeteer)');
    expect(await pageB1.title()).toBe('b-pp');
    const pwB = await pw('B');
    const pageB2 = await withDeadline(pwB.contexts()[0]!.newPage(), 5_000, 'Playwright newPage in B');
    await withDeadline(pageB2.goto(`${server.origin}/title/b-pw`), 5_000, 'B page.goto (Playwright)');
    // A tab in the default context, opened outside any session, loads too.
    await raw.send('Target.createTarget', { url: `${server.origin}/title/decoy-new` });
    await waitUntil(() => server.hits.has('/title/decoy-new'), 5_000, 'the default-context tab to load');

    // The A clients saw none of it.
    expect(await ppA.pages()).toHaveLength(1);
    expect(pwA.contexts()).toHaveLength(1);
    expect(pwA.contexts()[0]!.pages()).toHaveLength(1);
    // And B's clients see only B.
    expect(await ppB.pages()).toHaveLength(3);
    expect(pwB.contexts()[0]!.pages()).toHaveLength(3);
    for (const scope of scopesA) await waitUntil(() => scope.foreignSessionCount === 0 && scope.pendingCount === 0, 2_000, 'foreign sessions detached');
    const b = (await allTargets()).filter((t) => t.browserContextId === ctxB);
    expect(b).toHaveLength(3);
  });
});

describe('downloads', () => {
  it('reach the session that started them and no other', async () => {
    const browser = await pw('A');
    const page = await browser.contexts()[0]!.newPage();
    const b = await RawCdp.open(proxy.url('B'));
    closers.push(async () => b.close());
    await b.send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: path.join(tmp, 'dl-b'), eventsEnabled: true });
    await page.goto(`${server.origin}/title/dl`);
    // From the main frame and from a same-process iframe.
    for (const where of ['main', 'iframe']) {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 5_000 }),
        page.evaluate(async (where) => {
          let doc = document;
          if (where === 'iframe') {
            const f = document.createElement('iframe');
            f.src = '/title/frame';
            await new Promise((r) => {
              f.onload = r;
              document.body.append(f);
            });
            doc = f.contentDocument!;
          }
          const a = doc.createElement('a');
          a.href = '/dl';
          doc.body.append(a);
          a.click();
        }, where),
      ]);
      expect(fs.readFileSync((await download.path())!, 'utf8')).toBe('session A');
    }
    expect(b.received.filter((m) => m.includes('"Browser.download'))).toEqual([]);
  });
});
