/**
 * ContextScope (lib/scope.ts) on real Chrome with real clients: Puppeteer, Playwright and a raw
 * CDP client connected through ContextScope(A) see only their session's context and the session
 * page, open pages, popups, contexts and cookies in A, and cannot list, attach to or close targets
 * of B or of the default context. The Chrome, contexts and proxy are set up in scope-helpers.ts.
 */
import { describe, expect, it } from 'vitest';
import { allTargets, closers, contextOf, cookieNames, ctxA, ctxB, decoy, pageA, pageB, pp, proxy, pw, raw, RawCdp, server, useScopeChrome, type TargetInfo } from './scope-helpers.js';

useScopeChrome();

describe('Puppeteer through ContextScope(A)', () => {
  it('sees only the session page, opens pages and sets cookies in A, cannot reach B', async () => {
    const browser = await pp('A');
    const scope = proxy.live.at(-1)!;
    const pages = await browser.pages();
    expect(pages).toHaveLength(1);
    const s = await pages[0]!.createCDPSession();
    const { targetInfo } = await s.send('Target.getTargetInfo');
    expect(targetInfo).toMatchObject({ targetId: pageA, browserContextId: ctxA });
    expect(browser.browserContexts()).toHaveLength(1);

    const page = await browser.newPage();
    const newId = (await (await page.createCDPSession()).send('Target.getTargetInfo')).targetInfo.targetId;
    expect(contextOf(await allTargets(), newId)).toBe(ctxA);
    expect(await browser.pages()).toHaveLength(2);
    await page.goto(`${server.origin}/title/pp-a`);

    // Cookies: page.setCookie (Network.setCookies on the page), browser.setCookie
    // (Storage.setCookies at browser level) and Storage.setCookies on a raw page session.
    await page.setCookie({ name: 'pp_page', value: '1', url: server.origin });
    await browser.setCookie({ name: 'pp_browser', value: '1', domain: '127.0.0.1', path: '/' });
    await s.send('Storage.setCookies', { cookies: [{ name: 'pp_raw', value: '1', domain: '127.0.0.1', path: '/' }] });
    expect((await s.send('Storage.getCookies', {})).cookies.map((c) => c.name).sort()).toEqual(['pp_browser', 'pp_page', 'pp_raw']);
    expect(await cookieNames(ctxA)).toEqual(['pp_browser', 'pp_page', 'pp_raw']);
    expect(await cookieNames(ctxB)).toEqual([]);
    expect(await cookieNames()).toEqual([]);

    // B's page by its id: refused without reaching Chrome; the page session cannot list B either.
    await expect(s.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);
    await expect(s.send('Target.activateTarget', { targetId: pageB })).rejects.toThrow(/No target with given id found/);
    await expect(s.send('Target.closeTarget', { targetId: decoy })).rejects.toThrow(/No target with given id found/);
    const listed = (await s.send('Target.getTargets')).targetInfos;
    expect(listed.map((t) => t.browserContextId)).not.toContain(ctxB);
    expect(listed.map((t) => t.targetId)).toEqual(expect.arrayContaining([pageA, newId]));
    expect(listed.map((t) => t.targetId)).not.toContain(decoy);
    expect((await allTargets()).map((t) => t.targetId)).toEqual(expect.arrayContaining([pageB, decoy]));

    // Permissions granted on the default context land in A: a page of B on the same origin still asks.
    await browser.defaultBrowserContext().overridePermissions(server.origin, ['geolocation']);
    const geo = () => navigator.permissions.query({ name: 'geolocation' }).then((p) => p.state);
    expect(await page.evaluate(geo)).toBe('granted');
    const b = await RawCdp.open(proxy.url('B'));
    closers.push(async () => b.close());
    const { sessionId: sb } = await b.send<{ sessionId: string }>('Target.attachToTarget', { targetId: pageB, flatten: true });
    await b.send('Page.navigate', { url: `${server.origin}/title/b-geo` }, sb);
    const inB = await b.send<{ result: { value?: string } }>('Runtime.evaluate', { expression: `(async () => location.href + ' ' + (await (${geo.toString()})()))()`, awaitPromise: true, returnByValue: true }, sb);
    expect(inB.result.value).toBe(`${server.origin}/title/b-geo prompt`);

    // A session to the browser target is filtered like the connection itself.
    const bs = await browser.target().createCDPSession();
    expect((await bs.send('Target.getBrowserContexts')).browserContextIds).toEqual([]);
    expect((await bs.send('Target.getTargets')).targetInfos.map((t) => t.browserContextId)).toEqual([ctxA, ctxA]);
    await expect(bs.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);
    await bs.detach();

    // A popup opened by the session's page is the session's too.
    const popupTarget = browser.waitForTarget((t) => t.opener() === page.target(), { timeout: 5_000 });
    await page.evaluate(() => void window.open('/title/popup'));
    const popup = (await (await popupTarget).page())!;
    expect(contextOf(await allTargets(), (await (await popup.createCDPSession()).send('Target.getTargetInfo')).targetInfo.targetId)).toBe(ctxA);
    await popup.close();

    // A context of its own: created, used, listed, disposed.
    const own = await browser.createBrowserContext();
    expect(own.id).toBeDefined();
    expect([...scope.clientContexts]).toEqual([own.id]);
    const ownPage = await own.newPage();
    await ownPage.goto(`${server.origin}/title/pp-own`);
    expect(await ownPage.title()).toBe('pp-own');
    expect(browser.browserContexts()).toHaveLength(2);
    await own.close();
    expect(scope.clientContexts.size).toBe(0);
    await page.close();
  });
});

describe('Playwright through ContextScope(A)', () => {
  it('sees one context with the session page, opens pages and sets cookies in A', async () => {
    await raw.send('Storage.clearCookies', { browserContextId: ctxA });
    const browser = await pw('A');
    const scope = proxy.live.at(-1)!;
    expect(browser.contexts()).toHaveLength(1);
    const context = browser.contexts()[0]!;
    expect(context.pages()).toHaveLength(1);
    const cdp = await context.newCDPSession(context.pages()[0]!);
    expect((await cdp.send('Target.getTargetInfo')).targetInfo).toMatchObject({ targetId: pageA, browserContextId: ctxA });

    const page = await context.newPage();
    const newId = (await (await context.newCDPSession(page)).send('Target.getTargetInfo')).targetInfo.targetId;
    expect(contextOf(await allTargets(), newId)).toBe(ctxA);
    await page.goto(`${server.origin}/title/pw-a`);
    expect(await page.title()).toBe('pw-a');

    await context.addCookies([{ name: 'pw_ctx', value: '1', url: server.origin }]);
    await cdp.send('Storage.setCookies', { cookies: [{ name: 'pw_raw', value: '1', domain: '127.0.0.1', path: '/' }] });
    expect((await context.cookies()).map((c) => c.name).sort()).toEqual(['pw_ctx', 'pw_raw']);
    expect(await cookieNames(ctxA)).toEqual(['pw_ctx', 'pw_raw']);
    expect(await cookieNames(ctxB)).toEqual([]);
    expect(await cookieNames()).toEqual([]);
    await context.clearCookies();
    expect(await cookieNames(ctxA)).toEqual([]);
    await expect(cdp.send('Target.attachToTarget', { targetId: pageB, flatten: true })).rejects.toThrow(/No target with given id found/);

    // Playwright's browser CDP session (Target.attachToBrowserTarget) is filtered too.
    const bs = await browser.newBrowserCDPSession();
    expect((await bs.send('Target.getBrowserContexts')).browserContextIds).toEqual([]);
    expect((await bs.send('Target.getTargets')).targetInfos.map((t) => t.browserContextId)).toEqual([ctxA, ctxA]);
    await bs.detach();

    const own = await browser.newContext();
    expect(scope.clientContexts.size).toBe(1);
    const ownPage = await own.newPage();
    await ownPage.goto(`${server.origin}/title/pw-own`);
    expect(await ownPage.title()).toBe('pw-own');
    expect(browser.contexts()).toHaveLength(2);
    await own.close();
    expect(scope.clientContexts.size).toBe(0);
    await page.close();
  });
});

describe('a raw client through ContextScope(A)', () => {
  it('lists no context or target of B or the default context, and cannot attach to them', async () => {
    const c = await RawCdp.open(proxy.url('A'));
    closers.push(async () => c.close());
    // Chrome 156 also names its default context: the session's context stands in for it.
    expect(await c.send('Target.getBrowserContexts')).toEqual({ browserContextIds: [], defaultBrowserContextId: ctxA });
    const { targetInfos } = await c.send<{ targetInfos: TargetInfo[] }>('Target.getTargets');
    expect(targetInfos.length).toBeGreaterThan(0);
    for (const t of targetInfos) expect(t.browserContextId).toBe(ctxA);
    for (const targetId of [pageB, decoy]) {
      expect((await c.call('Target.attachToTarget', { targetId, flatten: true })).error).toEqual({ code: -32602, message: 'No target with given id found' });
    }
    expect((await c.call('Target.disposeBrowserContext', { browserContextId: ctxB })).error?.code).toBe(-32602);
    const { sessionId } = await c.send<{ sessionId: string }>('Target.attachToTarget', { targetId: pageA, flatten: true });
    expect(await c.send('Runtime.evaluate', { expression: '6*7', returnByValue: true }, sessionId)).toMatchObject({ result: { value: 42 } });
    const { targetId } = await c.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    expect(contextOf(await allTargets(), targetId)).toBe(ctxA);
    await c.send('Target.closeTarget', { targetId });
  });
});
