/**
 * A process that owns Grid sessions and is ended by a signal (`handleSignals`) deletes them before
 * it exits, instead of leaving their Chrome on the node until Grid's `--session-timeout`. The
 * owner runs in a child Node process (test/fixtures/grid-owner.mjs) on the library compiled from
 * lib/, against a real hub and node whose `--session-timeout` (120 s) is far longer than the test
 * waits, so only the owner's own DELETE can remove the session in time.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHROMIUM, startGrid, type GridCluster } from './grid-cluster.js';
import { buildLibrary, runFixture, withDeadline, type Fixture } from './helpers.js';

let grid: GridCluster;
const started: Fixture[] = [];
beforeAll(async () => {
  grid = await startGrid({ nodeHosts: ['127.0.0.4'], sessionTimeoutS: 120 });
}, 120_000);
afterAll(async () => {
  for (const f of started) await f.dispose();
  await grid?.stop();
}, 30_000);

it('SIGTERM deletes the Grid sessions of the process before it exits', async () => {
  const lib = await buildLibrary();
  const owner = runFixture('grid-owner.mjs', [lib, grid.url, CHROMIUM]);
  started.push(owner);
  const { gridSessionId } = JSON.parse(await owner.line((l) => l.startsWith('{'), 90_000)) as { gridSessionId: string };
  expect((await grid.sessions()).map((s) => s.sessionId)).toContain(gridSessionId);

  process.kill(owner.pid, 'SIGTERM');
  expect((await withDeadline(owner.exited, 15_000, 'the owner to exit')).signal).toBe('SIGTERM');
  // Gone within seconds (the hub hears of the node's slot being freed over its event bus), where
  // Grid itself would wait 120 s of inactivity.
  const deadline = Date.now() + 5_000;
  while ((await grid.sessions()).some((s) => s.sessionId === gridSessionId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect((await grid.sessions()).map((s) => s.sessionId)).not.toContain(gridSessionId);
}, 150_000);
