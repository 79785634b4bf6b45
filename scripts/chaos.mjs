#!/usr/bin/env node
// Longer chaos runs by hand: `npm run chaos -- --seed 7 --jobs 500`, or `--seeds 20` for seeds
// 1..20 (each in a fresh vitest process). Prints one row per seed and a JSON line; exits 1 if
// any seed hung, leaked or broke an invariant. See test/chaos.ts for what a run does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, seeds: { type: 'string' }, jobs: { type: 'string', default: '500' } },
  strict: true,
});
const seeds = values.seeds ? Array.from({ length: Number(values.seeds) }, (_, i) => i + 1) : [Number(values.seed ?? 1)];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chaos-reports-'));
const rows = [];
console.log('| seed | jobs | s | created | connected | pages | SIGKILL | SIGSTOP | crashed | unresponsive | hangs | untyped | bad stats | Chrome left | dirs left | result |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const seed of seeds) {
  const report = path.join(dir, `seed-${seed}.json`);
  const run = spawnSync('npx', ['vitest', 'run', 'test/chaos.test.ts'], {
    env: { ...process.env, CHAOS_SEED: String(seed), CHAOS_JOBS: values.jobs, CHAOS_REPORT: report },
    encoding: 'utf8',
  });
  const r = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, 'utf8')) : undefined;
  const ok = run.status === 0 && r !== undefined;
  rows.push({ seed, ok, report: r });
  if (!r) {
    console.log(`| ${seed} | ${values.jobs} | | | | | | | | | | | | | | FAILED (no report; exit ${run.status}) |`);
    console.error(run.stdout.slice(-3000), run.stderr.slice(-3000));
    continue;
  }
  const n = (k) => Object.entries(r.ended).filter(([key]) => key.endsWith(`/${k}`)).reduce((a, [, v]) => a + v, 0);
  console.log(`| ${seed} | ${r.jobs} | ${(r.ms / 1000).toFixed(0)} | ${r.created} | ${r.connected} | ${r.pagesLoaded} | ${r.sigkills} | ${r.sigstops} | ${n('crashed')} | ${n('unresponsive')} | ${r.hangs.length} | ${r.untyped.length} | ${r.badStats.length} | ${r.leftoverChrome} | ${r.leftoverDirs} | ${ok ? 'ok' : 'FAILED'} |`);
  if (!ok) console.error(JSON.stringify({ hangs: r.hangs, untyped: r.untyped, badStats: r.badStats }).slice(0, 3000));
}
console.log(JSON.stringify(rows.map((x) => x.report)));
fs.rmSync(dir, { recursive: true, force: true });
process.exit(rows.every((x) => x.ok) ? 0 : 1);
