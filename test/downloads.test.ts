/**
 * Downloads: each session's files land in a folder of its own under their suggested names, in
 * every isolation mode; concurrent 'context' sessions never see each other's; a client's own
 * download behaviour works and is gone for the next session; files outlive the session until
 * deleteDownloads() or the manager's close().
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { startServer, waitUntil, type TestServer } from './helpers.js';

declare const document: { getElementById(id: string): { click(): void } };

let server: TestServer;
let root: string;
const PAGE = `<!doctype html><title>files</title>
<a id="attach" href="/attach">report</a> <a id="dl" download="notes.txt" href="/raw">notes</a>`;
beforeAll(async () => {
  server = await startServer({
    '/files': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE),
    '/attach': (req, res) => {
      const name = new URL(req.url!, 'http://x').searchParams.get('name') ?? 'report.csv';
      res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Disposition': `attachment; filename="${name}"` }).end('a,b\n1,2\n');
    },
    '/raw': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('some notes\n'),
  });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-dl-test-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
});
const managers: SessionManager[] = [];
const browsers: Browser[] = [];
afterEach(async () => {
  await Promise.all(browsers.splice(0).map((b) => b.disconnect()));
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

async function open(wsEndpoint: string): Promise<Page> {
  const b = await puppeteer.connect({ browserWSEndpoint: wsEndpoint });
  browsers.push(b);
  const [page] = await b.pages();
  await page!.goto(`${server.origin}/files`);
  return page!;
}

const completed = (m: SessionManager, id: string, n: number) => waitUntil(() => m.downloads(id).filter((d) => d.state === 'completed').length >= n, 15_000, `${n} completed downloads`);

describe.each(['reset', 'context', 'browser'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('an attachment and an <a download> land in the session folder under their names; they outlive the session until deleteDownloads', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, downloadsDir: root });
    managers.push(m);
    const s = await m.create();
    expect(s.downloadsPath).toBe(path.join(root, s.id));
    const page = await open(s.wsEndpoint);
    await page.evaluate(() => document.getElementById('attach').click());
    await page.evaluate(() => document.getElementById('dl').click());
    await completed(m, s.id, 2);
    const list = m.downloads(s.id).sort((a, b) => a.name.localeCompare(b.name));
    expect(list).toEqual([
      { name: 'notes.txt', path: path.join(s.downloadsPath!, 'notes.txt'), size: 11, state: 'completed' },
      { name: 'report.csv', path: path.join(s.downloadsPath!, 'report.csv'), size: 8, state: 'completed' },
    ]);
    expect(fs.readFileSync(path.join(s.downloadsPath!, 'report.csv'), 'utf8')).toBe('a,b\n1,2\n');
    expect(fs.readdirSync(s.downloadsPath!).sort()).toEqual(['notes.txt', 'report.csv']);
    // The same name again: made unique, not overwritten.
    await page.evaluate(() => document.getElementById('attach').click());
    await completed(m, s.id, 3);
    expect(fs.readdirSync(s.downloadsPath!).sort()).toEqual(['notes.txt', 'report (1).csv', 'report.csv']);
    await m.stop(s.id);
    expect(m.downloads(s.id)).toHaveLength(3);
    expect(fs.existsSync(path.join(s.downloadsPath!, 'notes.txt'))).toBe(true);
    await m.deleteDownloads(s.id);
    expect(fs.existsSync(s.downloadsPath!)).toBe(false);
    expect(m.downloads(s.id)).toEqual([]);
  }, 60_000);
});

it("two concurrent 'context' sessions on one Chrome never see each other's files", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', maxConcurrent: 2, downloadsDir: root });
  managers.push(m);
  const [a, b] = await Promise.all([m.create(), m.create()]);
  expect(a.browserPid).toBe(b.browserPid);
  const [pa, pb] = await Promise.all([open(a.wsEndpoint), open(b.wsEndpoint)]);
  await Promise.all([
    pa.evaluate((u: string) => void (location.href = u), `${server.origin}/attach?name=a.csv`),
    pb.evaluate((u: string) => void (location.href = u), `${server.origin}/attach?name=b.csv`),
  ]);
  await Promise.all([completed(m, a.id, 1), completed(m, b.id, 1)]);
  await new Promise((r) => setTimeout(r, 300));
  expect(m.downloads(a.id).map((d) => d.name)).toEqual(['a.csv']);
  expect(m.downloads(b.id).map((d) => d.name)).toEqual(['b.csv']);
  expect(fs.readdirSync(a.downloadsPath!)).toEqual(['a.csv']);
  expect(fs.readdirSync(b.downloadsPath!)).toEqual(['b.csv']);
}, 60_000);

declare const location: { href: string };

describe.each(['reset', 'context'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it("a client's own Browser.setDownloadBehavior works, and the next session on the same Chrome downloads to its own folder again", async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, maxConcurrent: 1, downloadsDir: root });
    managers.push(m);
    const own = fs.mkdtempSync(path.join(root, 'client-'));
    const s1 = await m.create();
    const b1 = await puppeteer.connect({ browserWSEndpoint: s1.wsEndpoint });
    const cdp = await b1.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: own });
    const [p1] = await b1.pages();
    await p1!.goto(`${server.origin}/files`);
    await p1!.evaluate(() => document.getElementById('dl').click());
    await waitUntil(() => fs.readdirSync(own).includes('notes.txt'), 15_000, 'the client folder download');
    // The client has its file where it asked; the session's folder has a copy.
    await completed(m, s1.id, 1);
    expect(m.downloads(s1.id)).toEqual([{ name: 'notes.txt', path: path.join(s1.downloadsPath!, 'notes.txt'), size: 11, state: 'completed' }]);
    await b1.disconnect();
    await m.stop(s1.id);

    const s2 = await m.create();
    expect(s2.browserPid).toBe(s1.browserPid);
    const p2 = await open(s2.wsEndpoint);
    await p2.evaluate(() => document.getElementById('dl').click());
    await completed(m, s2.id, 1);
    expect(fs.readdirSync(s2.downloadsPath!)).toEqual(['notes.txt']);
    expect(fs.readdirSync(own)).toEqual(['notes.txt']);
  }, 60_000);
});

it("Playwright's connectOverCDP (which sets its own download folder): its Download works and the session folder gets the file", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', downloadsDir: root });
  managers.push(m);
  const s = await m.create();
  const b = await chromium.connectOverCDP(s.wsEndpoint);
  try {
    const page = b.contexts()[0]!.pages()[0]!;
    await page.goto(`${server.origin}/files`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#attach')]);
    expect(download.suggestedFilename()).toBe('report.csv');
    expect(fs.readFileSync((await download.path())!, 'utf8')).toBe('a,b\n1,2\n');
    await completed(m, s.id, 1);
    expect(m.downloads(s.id)).toEqual([{ name: 'report.csv', path: path.join(s.downloadsPath!, 'report.csv'), size: 8, state: 'completed' }]);
  } finally {
    await b.close();
  }
}, 60_000);

it('close() removes the sessions\' downloads unless keepDownloads', async () => {
  for (const keepDownloads of [false, true]) {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, downloadsDir: root, keepDownloads });
    const s = await m.create();
    const page = await open(s.wsEndpoint);
    await page.evaluate(() => document.getElementById('dl').click());
    await completed(m, s.id, 1);
    await browsers.pop()!.disconnect();
    await m.close();
    expect(fs.existsSync(path.join(s.downloadsPath!, 'notes.txt'))).toBe(keepDownloads);
  }
}, 60_000);
