/**
 * A recorded session ended by a signal (`handleSignals`): the process exits at once, with no time
 * for the asynchronous end of the session, yet the replay page of the events that reached the
 * disk is written next to them. The owner runs in a child Node process
 * (test/fixtures/recording-owner.mjs) on the library compiled from lib/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildLibrary, isAlive, runFixture, waitUntil, withDeadline, type Fixture } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-rec-signal-'));
const started: Fixture[] = [];
afterAll(async () => {
  for (const f of started) await f.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('SIGTERM leaves the events file and its replay page, and no Chrome', async () => {
  const lib = await buildLibrary();
  const text = `signal-${Date.now()}`;
  const owner = runFixture('recording-owner.mjs', [lib, path.join(tmp, 'rec'), path.join(tmp, 'rt'), text]);
  started.push(owner);
  const info = JSON.parse(await owner.line((l) => l.startsWith('{'), 60_000)) as { recordingPath: string; browserPid: number };
  expect(fs.readFileSync(info.recordingPath, 'utf8')).toContain(text);
  const replay = info.recordingPath.replace(/\.jsonl$/, '.html');
  expect(fs.existsSync(replay)).toBe(false);

  process.kill(owner.pid, 'SIGTERM');
  const exit = await withDeadline(owner.exited, 20_000, 'the owner to exit');
  expect(exit.signal).toBe('SIGTERM');
  const html = fs.readFileSync(replay, 'utf8');
  expect(html).toContain('rrwebPlayer');
  expect(html).toContain(text);
  await waitUntil(() => !isAlive(info.browserPid), 10_000, 'Chrome to be gone');
});
