/**
 * `create({ browserURL: true })`: clients that find a browser over HTTP reach the session (and
 * only it) through its own discovery port, which closes with the session.
 */
import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';
import { SessionManager } from '../lib/index.js';
import { closedAfterEach, serverForFile } from './helpers.js';

const server = serverForFile();
const managers = closedAfterEach<SessionManager>();

it('puppeteer.connect({ browserURL }) and connectOverCDP(browserURL) drive the session; the port closes with it', async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2 });
  managers.push(m);
  const s = await m.create({ browserURL: true, keepAlive: true });
  expect(s.browserURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  await expect(m.create({ browserURL: 'yes' as never })).rejects.toMatchObject({ option: 'create.browserURL' });
  const version = (await (await fetch(`${s.browserURL}/json/version`)).json()) as Record<string, string>;
  expect(version.webSocketDebuggerUrl).toBe(s.wsEndpoint);
  expect(version.Browser).toMatch(/Chrome/);

  const p = await puppeteer.connect({ browserURL: s.browserURL!, defaultViewport: null });
  const [page] = await p.pages();
  await page!.goto(`${server.origin}/title/found`);
  expect(await page!.title()).toBe('found');
  await p.disconnect();

  const pw = await chromium.connectOverCDP(s.browserURL!);
  expect(await pw.contexts()[0]!.pages()[0]!.title()).toBe('found');
  await pw.close();

  await m.stop(s.id);
  expect(m.get(s.id).browserURL).toBeUndefined();
  await expect(fetch(`${s.browserURL}/json/version`)).rejects.toThrow();
});

it("in 'context' isolation, /json/list shows the session's pages only", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, maxConcurrent: 2, isolation: 'context' });
  managers.push(m);
  const [a, b] = await Promise.all([m.create({ browserURL: true }), m.create()]);
  expect(a!.browserPid).toBe(b!.browserPid);
  const list = (await (await fetch(`${a!.browserURL}/json/list`)).json()) as { id: string; type: string }[];
  expect(list.filter((t) => t.type === 'page')).toHaveLength(1);
});
