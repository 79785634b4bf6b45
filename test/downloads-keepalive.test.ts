/**
 * Chrome undoes a client's own Browser.setDownloadBehavior when that client disconnects, back to
 * its default (headless: downloads refused). In a session that outlives its client (keepAlive),
 * the manager gives the session's folder back, so the next client's downloads still land there;
 * a next client that sets its own (Playwright's connectOverCDP) still gets its Download. The same
 * for a client that stays connected while another, which had set its own folder, leaves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type IsolationMode, type Session } from '../lib/index.js';
import { startServer, waitUntil, type TestServer } from './helpers.js';

declare const document: { getElementById(id: string): { click(): void } };

let server: TestServer;
let root: string;
beforeAll(async () => {
  server = await startServer({
    '/files': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>files</title><a id="dl" download="notes.txt" href="/raw">notes</a>'),
    '/raw': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('some notes\n'),
  });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-dl-keep-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** `client`'s first page downloads a file: it lands in the session's folder, none in `own` (the folder the other client had set). */
async function downloadsIntoSessionFolder(m: SessionManager, s: Session, client: Browser, own: string): Promise<void> {
  const [page] = await client.pages();
  await page!.goto(`${server.origin}/files`);
  await page!.evaluate(() => document.getElementById('dl').click());
  await waitUntil(() => m.downloads(s.id).some((d) => d.state === 'completed'), 15_000, 'a completed download in the session folder');
  expect(fs.readdirSync(s.downloadsPath!)).toEqual(['notes.txt']);
  expect(fs.readdirSync(own)).toEqual([]);
}

describe.each(['reset', 'context'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('after a client that set its own download folder leaves a keepAlive session, the next client downloads into the session folder', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, downloadsDir: root });
    try {
      const own = fs.mkdtempSync(path.join(root, 'client-'));
      const s = await m.create({ keepAlive: true });
      const b1 = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
      const cdp = await b1.target().createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: own });
      await b1.disconnect();
      await waitUntil(() => m.get(s.id).clients === 0, 10_000, 'the first client to be gone');

      const b2 = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
      try {
        await downloadsIntoSessionFolder(m, s, b2, own);
      } finally {
        await b2.disconnect();
      }
    } finally {
      await m.close();
    }
  }, 60_000);
});

describe.each(['reset', 'context'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('after a client that set its own download folder leaves, a client still connected downloads into the session folder', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, downloadsDir: root });
    try {
      const own = fs.mkdtempSync(path.join(root, 'client-'));
      const s = await m.create();
      const stays = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
      try {
        const leaves = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
        const cdp = await leaves.target().createCDPSession();
        await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: own });
        await leaves.disconnect();
        await waitUntil(() => m.get(s.id).clients === 1, 10_000, 'the second client to be gone');
        await downloadsIntoSessionFolder(m, s, stays, own);
      } finally {
        await stays.disconnect();
      }
    } finally {
      await m.close();
    }
  }, 60_000);
});

it("a keepAlive session's next client that sets its own folder (Playwright) still gets its Download, and the session folder a copy", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', downloadsDir: root });
  try {
    const s = await m.create({ keepAlive: true });
    const b1 = await chromium.connectOverCDP(s.wsEndpoint);
    await b1.close();
    await waitUntil(() => m.get(s.id).clients === 0, 10_000, 'the first client to be gone');
    const b2 = await chromium.connectOverCDP(s.wsEndpoint);
    try {
      const page = b2.contexts()[0]!.pages()[0]!;
      await page.goto(`${server.origin}/files`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl')]);
      expect(fs.readFileSync((await download.path())!, 'utf8')).toBe('some notes\n');
      await waitUntil(() => m.downloads(s.id).some((d) => d.state === 'completed'), 15_000, 'the copy in the session folder');
      expect(fs.readdirSync(s.downloadsPath!)).toEqual(['notes.txt']);
    } finally {
      await b2.close();
    }
  } finally {
    await m.close();
  }
}, 60_000);
