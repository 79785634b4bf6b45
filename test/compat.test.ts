/**
 * The cloud SDK look-alikes: code written for Hyperbrowser's and Steel's Node SDKs runs on local
 * Chrome by changing its import. The seeds' examples, through puppeteer-core and playwright-core;
 * cloud-only features are refused by name and create nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hyperbrowser, SessionManager, Steel } from '../lib/index.js';
import { startServer, type TestServer } from './helpers.js';

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer({
    '/login': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Set-Cookie': 'sid=s3cret; HttpOnly; Path=/; Max-Age=3600' }).end('<!doctype html><title>in</title>');
    },
    '/whoami': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>${req.headers.cookie ?? 'nobody'}</title>`);
    },
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const local = () => ({ minIdle: 0, handleSignals: false, profilesDir: path.join(dir, 'profiles'), recordingsDir: path.join(dir, 'recordings'), downloadsDir: path.join(dir, 'downloads') });

describe('Hyperbrowser', () => {
  it("runs the seed's example: a 1920x1080 session with a wsEndpoint Puppeteer drives and a live view; get, list, stop", async () => {
    await using client = new Hyperbrowser({ apiKey: 'unused', options: local() });
    const session = await client.sessions.create({ screen: { width: 1920, height: 1080 } });
    expect(session.status).toBe('active');
    expect(session.liveUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/live\//);
    expect((await fetch(session.liveUrl)).status).toBe(200);
    const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
    const [page] = await browser.pages();
    await page!.goto(`${server.origin}/title/hb`);
    expect(await page!.evaluate(() => [innerWidth, innerHeight, screen.width, screen.height])).toEqual([1920, 1080, 1920, 1080]);
    expect((await client.sessions.get(session.id)).status).toBe('active');
    expect((await client.sessions.list({ status: 'active' })).sessions.map((s) => s.id)).toEqual([session.id]);
    await browser.disconnect();
    expect(await client.sessions.stop(session.id)).toEqual({ success: true });
    const ended = await client.sessions.get(session.id);
    expect(ended.status).toBe('closed');
    expect(ended.endTime).toBeGreaterThanOrEqual(ended.startTime!);
  });

  it('records with enableWebRecording, runs on a profile, and passes locales and local parameters through', async () => {
    await using client = new Hyperbrowser({ options: local() });
    const profile = await client.profiles.create({ name: 'shop' });
    expect((await client.profiles.list()).profiles.map((p) => p.id)).toContain(profile.id);
    const first = await client.sessions.create({ profile: { id: profile.id, persistChanges: true }, enableWebRecording: true, locales: ['fr-FR'] });
    const pw = await chromium.connectOverCDP(first.wsEndpoint);
    const page = pw.contexts()[0]!.pages()[0]!;
    await page.goto(`${server.origin}/login`);
    expect(await page.evaluate(() => navigator.language)).toBe('fr-FR');
    await pw.close();
    await client.sessions.stop(first.id);
    const events = await client.sessions.getRecording(first.id);
    expect(events.some((e) => e.type === 2)).toBe(true); // a full snapshot
    // The next session on the profile is logged in; `local` reaches SessionManager.create().
    const next = await client.sessions.create({ profile: { id: profile.id }, local: { keepAlive: true } });
    expect(next.local.keepAlive).toBe(true);
    const b = await puppeteer.connect({ browserWSEndpoint: next.wsEndpoint });
    const [p2] = await b.pages();
    await p2!.goto(`${server.origin}/whoami`);
    expect(await p2!.title()).toBe('sid=s3cret');
    await b.disconnect();
    await client.sessions.stop(next.id);
    expect(await client.profiles.delete(profile.id)).toEqual({ success: true });
  });

  it('refuses cloud-only features and bad input by name, creating nothing', async () => {
    await using client = new Hyperbrowser({ options: local() });
    await expect(client.sessions.create({ useStealth: true })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.useStealth' });
    await expect(client.sessions.create({ solveCaptchas: true })).rejects.toMatchObject({ option: 'create.solveCaptchas' });
    await expect(client.sessions.create({ locales: [] })).rejects.toMatchObject({ option: 'create.locales' });
    await expect(client.sessions.create({ proxyServerUsername: 'u' })).rejects.toMatchObject({ option: 'create.proxyServer' });
    await expect(client.sessions.create({ nope: 1 } as never)).rejects.toMatchObject({ option: 'create.nope' });
    await expect(client.sessions.create({ screen: { width: 0, height: 10 } })).rejects.toMatchObject({ option: 'create.screen.width' });
    await expect(client.sessions.get('unknown')).rejects.toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
    expect((await client.sessions.list()).totalCount).toBe(0);
    expect(client.manager.stats()).toMatchObject({ launches: 0 });
    expect(() => new Hyperbrowser({ manager: {} as SessionManager })).toThrow(expect.objectContaining({ option: 'options.manager' }));
    expect(() => new Hyperbrowser({ apiKey: 'k', bogus: 1 } as never)).toThrow(expect.objectContaining({ option: 'options.bogus' }));
  });
});

describe('switching by the import alone', () => {
  it("a look-alike's sessions are fresh browser contexts, so the SDKs' userAgent, timezone and locales work as written", async () => {
    await using steel = new Steel({ options: local() });
    const s = await steel.sessions.create({ userAgent: 'steel-user/1.0', timezone: 'Asia/Tokyo' });
    expect(s.local.isolation).toBe('context');
    const pw = await chromium.connectOverCDP(s.websocketUrl);
    const page = pw.contexts()[0]!.pages()[0]!;
    await page.goto(`${server.origin}/whoami`);
    expect(await page.evaluate(() => [navigator.userAgent, Intl.DateTimeFormat().resolvedOptions().timeZone])).toEqual(['steel-user/1.0', 'Asia/Tokyo']);
    await pw.close();
    await using hb = new Hyperbrowser({ options: local() });
    const h = await hb.sessions.create({ locales: ['de-DE'] });
    expect(h.local.isolation).toBe('context');
    // The options still choose.
    await using chosen = new Steel({ options: { ...local(), isolation: 'reset' } });
    expect((await chosen.sessions.create()).local.isolation).toBe('reset');
    await expect(chosen.sessions.create({ userAgent: 'x/1' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.userAgent' });
  });
});

describe('Steel', () => {
  it("runs the seed's example: a 10-minute session Playwright drives; context, release, retrieve, list, releaseAll", async () => {
    const manager = new SessionManager(local());
    try {
      const client = new Steel({ steelAPIKey: 'unused', manager });
      const session = await client.sessions.create({ timeout: 600_000, dimensions: { width: 1280, height: 800 } });
      expect(session).toMatchObject({ status: 'live', timeout: 600_000 });
      expect(session.sessionViewerUrl).toBe(session.local.liveUrl);
      const pw = await chromium.connectOverCDP(`${session.websocketUrl}&keepAlive=true`);
      const page = pw.contexts()[0]!.pages()[0]!;
      await page.goto(`${server.origin}/login`);
      await page.evaluate(() => localStorage.setItem('cart', '3'));
      expect(await page.evaluate(() => [innerWidth, innerHeight])).toEqual([1280, 800]);
      const context = await client.sessions.context(session.id);
      expect(context.cookies.map((c) => c.name)).toContain('sid');
      expect(context.localStorage[server.origin]).toEqual({ cart: '3' });
      await pw.close();
      expect(await client.sessions.release(session.id)).toMatchObject({ success: true });
      expect((await client.sessions.retrieve(session.id)).status).toBe('released');
      // The exported context starts the next session, on another Chrome.
      const next = await client.sessions.create({ sessionContext: context, local: { isolation: 'browser' } });
      const b = await puppeteer.connect({ browserWSEndpoint: next.websocketUrl });
      const [p2] = await b.pages();
      await p2!.goto(`${server.origin}/whoami`);
      expect(await p2!.title()).toBe('sid=s3cret');
      expect(await p2!.evaluate(() => localStorage.getItem('cart'))).toBe('3');
      await b.disconnect();
      await client.sessions.create({ local: { keepAlive: true } });
      expect((await client.sessions.list({ status: 'released' })).sessions.map((s) => s.id)).toContain(session.id);
      expect(await client.sessions.releaseAll()).toEqual({ success: true, message: 'All sessions released successfully' });
      expect((await client.sessions.list({ status: 'live' })).sessions).toEqual([]);
      await client.close(); // a manager given to it is left to its owner
      expect(manager.closed).toBe(false);
    } finally {
      await manager.close();
    }
  });

  it('refuses cloud-only features and bad input by name, creating nothing', async () => {
    await using client = new Steel({ options: local() });
    await expect(client.sessions.create({ solveCaptcha: true })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.solveCaptcha' });
    await expect(client.sessions.create({ useProxy: true })).rejects.toMatchObject({ option: 'create.useProxy' });
    await expect(client.sessions.create({ timeout: -1 })).rejects.toMatchObject({ option: 'create.timeoutMs' });
    await expect(client.sessions.list({ status: 'nope' as never })).rejects.toMatchObject({ option: 'list.status' });
    await expect(client.sessions.release('unknown')).rejects.toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
    expect((await client.sessions.list()).sessions).toEqual([]);
    expect(client.manager.stats()).toMatchObject({ launches: 0 });
  });
});
