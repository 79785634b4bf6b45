/**
 * Recordings: rrweb events of every document of a session, as they come, the replay page (opened
 * from disk in a real headless Chrome), the optional video, and the typed error without ffmpeg.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingUnavailableError, SessionManager, type IsolationMode, type RecordingEvent } from '../lib/index.js';
import { CdpConnection } from '../lib/cdp.js';
import { chromeEndpoint, closedAfterEach, startServer, type TestServer, waitUntil } from './helpers.js';

declare const document: { body: { innerText: string }; images: unknown; createElement(n: string): any };

const PAGE = `<!doctype html><title>form</title>
<style>#block{width:600px;height:300px;background:rgb(255,0,128)}</style>
<h1>Recorded page</h1><div id="block"></div>
<input id="name"><button id="go" onclick="document.getElementById('out').textContent='clicked'">Go</button><p id="out"></p>`;

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer({
    '/form': (_req, res) => void res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE),
    // A cross-site iframe (localhost vs 127.0.0.1): an out-of-process iframe, a target of its own.
    '/outer': (req, res) => {
      const port = req.headers.host!.split(':')[1];
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>outer</title><p>Outer page</p><iframe src="http://localhost:${port}/title/Inner%20frame%20text"></iframe>`);
    },
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-rec-test-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
const managers = closedAfterEach<SessionManager>();

/** Full snapshots in the events file now (each line a batch). */
const snapshotsInFile = (file: string) =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).flatMap((l) => JSON.parse(l) as RecordingEvent[]).filter((e) => e.type === 2).length : 0;
const fullSnapshots = (events: RecordingEvent[]) => events.filter((e) => e.type === 2);
const incremental = (events: RecordingEvent[], source: number) => events.filter((e) => e.type === 3 && (e.data as { source?: number }).source === source);

describe.each(['reset', 'context', 'browser'] as IsolationMode[])("'%s' isolation", (isolation) => {
  it('records every document and the interactions; the replay page shows the page from file://', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, recordingsDir: dir });
    managers.push(m);
    const s = await m.create({ recording: true });
    expect(s.recordingPath).toBe(path.join(dir, `${s.id}.jsonl`));
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const [page] = await b.pages();
    await page!.goto(`${server.origin}/form`);
    await page!.click('#go');
    await page!.type('#name', 'hello rrweb');
    // Appended as they come: the file has the first document's snapshot before the session ends.
    await waitUntil(() => snapshotsInFile(s.recordingPath!) === 1, 10_000, 'a full snapshot in the file');
    await page!.goto(`${server.origin}/title/second`);
    await waitUntil(() => snapshotsInFile(s.recordingPath!) === 2, 10_000, 'the second document');
    const live = await m.getRecording(s.id);
    expect(fullSnapshots(live).length).toBeGreaterThanOrEqual(2);
    await b.disconnect();
    await m.stop(s.id);

    const events = await m.getRecording(s.id);
    expect(fullSnapshots(events).length).toBe(2);
    expect(incremental(events, 2).length).toBeGreaterThan(0); // MouseInteraction (the click)
    const inputs = incremental(events, 5); // Input
    expect(inputs.some((e) => (e.data as { text?: string }).text === 'hello rrweb')).toBe(true);
    expect(JSON.stringify(events)).toContain('Recorded page');

    const html = path.join(dir, `${s.id}.html`);
    expect(fs.existsSync(html)).toBe(true);
    const viewer = await puppeteer.launch({ executablePath: m.chrome.executablePath, headless: 'shell', args: ['--no-sandbox'] });
    try {
      const p = await viewer.newPage();
      await p.setViewport({ width: 1100, height: 700 });
      await p.goto(pathToFileURL(html).href);
      let frameText = '';
      await waitUntil(() => p.frames().length > 1, 10_000, 'the player iframe');
      const deadline = Date.now() + 10_000;
      while (!frameText.includes('Recorded page') && Date.now() < deadline) {
        frameText = await p.frames()[1]!.evaluate(() => document.body?.innerText ?? '').catch(() => '');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(frameText).toContain('Recorded page');
      // The screenshot shows the recorded page's magenta block: count its pixels with a canvas.
      const shot = await p.screenshot({ encoding: 'base64' });
      const magenta = await p.evaluate(async (b64: string) => {
        const img = new (globalThis as any).Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, img.width, img.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 230 && d[i + 1] < 30 && d[i + 2] > 100 && d[i + 2] < 160) n++;
        return n;
      }, shot);
      expect(magenta).toBeGreaterThan(10_000);
    } finally {
      await viewer.close();
    }
  }, 90_000);
});

it('records out-of-process iframes and pages opened later', async () => {
  // headless-shell keeps cross-site iframes in process unless told otherwise.
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation: 'context', recordingsDir: dir, args: ['--site-per-process'] });
  managers.push(m);
  const s = await m.create({ recording: true });
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
  try {
    const later = await b.newPage();
    await later.goto(`${server.origin}/outer`);
    await waitUntil(() => later.frames().length === 2, 10_000, 'the iframe');
    const text = async () => JSON.stringify(await m.getRecording(s.id));
    const deadline = Date.now() + 10_000;
    let seen = '';
    while (!(seen.includes('Outer page') && seen.includes('Inner frame text')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await text();
    }
    expect(seen).toContain('Outer page');
    expect(seen).toContain('Inner frame text');
  } finally {
    await b.disconnect();
  }
}, 60_000);

it.each(['reset', 'context'] as IsolationMode[])("'%s': what a page has not sent yet when the session stops is flushed into the recording", async (isolation) => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, isolation, recordingsDir: dir });
  managers.push(m);
  const s = await m.create({ recording: true });
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
  const [page] = await b.pages();
  await page!.goto(`${server.origin}/form`);
  await page!.type('#name', 'last words');
  await b.disconnect();
  await m.stop(s.id);
  const inputs = incremental(await m.getRecording(s.id), 5);
  expect(inputs.some((e) => (e.data as { text?: string }).text === 'last words')).toBe(true);
}, 60_000);

it("Hyperbrowser's enableWebRecording; getRecording of an unrecorded session is a typed error; recording off leaves no file and no hook", async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, recordingsDir: dir, maxConcurrent: 1 });
  managers.push(m);
  const s = await m.create({ enableWebRecording: true });
  expect(s.recordingPath).toBeDefined();
  await m.stop(s.id);
  const plain = await m.create();
  expect(plain.recordingPath).toBeUndefined();
  // Recording off costs nothing: no connection of the manager's is attached to its page, on the
  // Chrome the recorded session used before it (that session's attachments are gone).
  expect(plain.browserPid).toBe(s.browserPid);
  const chrome = await CdpConnection.connect(chromeEndpoint(plain.browserPid!), 10_000);
  try {
    const { targetInfos } = await chrome.send('Target.getTargets', {}, { timeoutMs: 10_000 });
    expect(targetInfos.filter((t) => t.type === 'page' && t.attached)).toEqual([]);
  } finally {
    chrome.close();
  }
  await expect(m.getRecording(plain.id)).rejects.toMatchObject({ code: 'ERR_NO_RECORDING' });
  expect(fs.readdirSync(dir).filter((f) => f.startsWith(plain.id))).toEqual([]);
  await expect(m.create({ recording: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.recording' });
  await expect(m.create({ recording: { video: 1 as never } })).rejects.toMatchObject({ option: 'create.recording.video' });
}, 60_000);

it('video: an MP4 from screencast frames with ffmpeg; without ffmpeg on PATH, create() refuses with ERR_FFMPEG_MISSING', async () => {
  const m = new SessionManager({ minIdle: 0, handleSignals: false, recordingsDir: dir });
  managers.push(m);
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const err = await m.create({ recording: { video: true } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordingUnavailableError);
    expect(err).toMatchObject({ code: 'ERR_FFMPEG_MISSING' });
    expect(m.list().sessions).toHaveLength(0);
  } finally {
    process.env.PATH = saved;
  }
  const s = await m.create({ recording: { video: true } });
  const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
  const [page] = await b.pages();
  await page!.goto(`${server.origin}/form`);
  await page!.type('#name', 'video');
  await new Promise((r) => setTimeout(r, 1500));
  await b.disconnect();
  await m.stop(s.id);
  const mp4 = path.join(dir, `${s.id}.mp4`);
  const head = fs.readFileSync(mp4);
  expect(head.length).toBeGreaterThan(1000);
  expect(head.subarray(4, 8).toString()).toBe('ftyp');
}, 60_000);
