/**
 * A session's recording ('recording: true'): rrweb in every document of every page and frame of
 * the session (lib/page-hooks.ts hands each one over before it runs), its events appended to
 * `<recordingsDir>/<sessionId>.jsonl` as the pages send them (every 250 ms at most), and, once the
 * session has ended, `<sessionId>.html` (the replay page) and, with `video`, `<sessionId>.mp4`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PooledBrowser } from '../browser.js';
import type { CdpConnection } from '../cdp.js';
import { LaunchError, RecordingUnavailableError } from '../errors.js';
import { addPageHook, HOOK_TIMEOUT_MS, type PageHook } from '../page-hooks.js';
import type { SessionRuntime } from '../session/runtime.js';
import { recorderScript } from './assets.js';
import { readEvents, readEventsSync, replayHtml, type RecordingEvent } from './replay.js';
import type { RecordingSettings } from './settings.js';
import { VideoEncoder } from './video.js';

/** Starts recording the session's pages; everything is finished and closed with the session. */
export async function startRecording(rt: SessionRuntime, b: PooledBrowser, contextId: string | undefined, s: RecordingSettings, timeoutMs: number): Promise<void> {
  await fs.promises.mkdir(s.dir, { recursive: true, mode: 0o700 });
  const base = path.join(s.dir, rt.id);
  const title = `Recording of session ${rt.id}`;
  const file = `${base}.jsonl`;
  const out = fs.createWriteStream(file, { flags: 'a', mode: 0o600 });
  // A full disk loses events; it must not take the process down.
  out.on('error', () => {});
  rt.record.recordingPath = file;
  const binding = `__cs${crypto.randomBytes(6).toString('hex')}`;
  const source = recorderScript(binding);
  const video = s.ffmpeg ? new VideoEncoder(s.ffmpeg, `${base}.mp4`) : undefined;
  let conn: CdpConnection | undefined;
  /** Sessions of the top-level pages, whose recorder the end flushes. */
  const pages = new Set<string>();
  const hook: PageHook = {
    async attached(t) {
      conn = t.c;
      if (t.type === 'page') pages.add(t.sessionId);
      const o = { sessionId: t.sessionId, timeoutMs: HOOK_TIMEOUT_MS };
      await Promise.all([
        t.type === 'page' ? t.c.send('Runtime.enable', {}, o) : undefined,
        t.type === 'page' ? t.c.send('Runtime.addBinding', { name: binding }, o) : undefined,
        // Without Page.enable, Chrome keeps the script and never runs it.
        t.c.send('Page.enable', {}, o),
        t.c.send('Page.addScriptToEvaluateOnNewDocument', { source }, o),
        video?.attached(t),
      ]);
    },
    detached(sessionId) {
      pages.delete(sessionId);
    },
    event(e) {
      if (e.method === 'Runtime.bindingCalled') {
        // One batch per line; a page can only send what JSON.stringify made (no raw newline).
        const line = e.params.payload;
        if (e.params.name === binding && line.startsWith('[') && !line.includes('\n')) out.write(`${line}\n`);
      } else if (video && conn) {
        video.event(conn, e);
      }
    },
  };
  let remove: () => Promise<void>;
  try {
    remove = await addPageHook(b, contextId, hook, timeoutMs);
  } catch (err) {
    out.end();
    await video?.stop();
    throw new LaunchError(`Could not start the session's recording: ${(err as Error).message}`, b.process.executablePath, '', { cause: err });
  }
  // The moment the session ends, before its pages go (the browser is given back after this): each
  // page hands over what it has not sent yet.
  let flushed: Promise<unknown> = Promise.resolve();
  rt.onFinish(() => {
    const c = conn;
    const expression = `dispatchEvent(new Event(${JSON.stringify(`${binding}:flush`)}))`;
    if (c) flushed = Promise.all([...pages].map((sessionId) => c.send('Runtime.evaluate', { expression }, { sessionId, timeoutMs: 1000 }).catch(() => {})));
    return flushed;
  });
  rt.onEnd(async () => {
    await flushed;
    await remove();
    await Promise.all([new Promise<void>((resolve) => out.end(resolve)), video?.stop()]);
    const events = await readEvents(file).catch(() => []);
    await fs.promises.writeFile(`${base}.html`, replayHtml(title, events), { mode: 0o600 });
  });
  // A signal exit (handleSignals): no time for the pages' last batches, but the replay page of
  // what reached the disk is written before the process goes.
  rt.onEndSync(() => fs.writeFileSync(`${base}.html`, replayHtml(title, readEventsSync(file)), { mode: 0o600 }));
}

/** The events of a recorded session so far (all of them once it has ended). */
export async function getRecording(id: string, recordingPath: string | undefined): Promise<RecordingEvent[]> {
  if (recordingPath === undefined) throw new RecordingUnavailableError('ERR_NO_RECORDING', `Session ${id} was not created with recording`);
  return readEvents(recordingPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}
