/**
 * Chaos on real Chrome (see test/chaos.ts): Chrome main processes SIGKILLed and SIGSTOPped at
 * random under four workers, stops racing connects. Nothing may hang, every session ends
 * `closed` or `error`, stats add up, and nothing is left behind. Once with 'reset' sessions, and
 * once with 'context' sessions sharing Chromes with the session features on (a user agent,
 * recordings, contexts of the client's own). `npm run chaos -- --seed N --jobs 500` runs longer
 * versions by hand; CHAOS_SEED, CHAOS_JOBS and CHAOS_ISOLATION (`reset,context`) set this one.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { runChaos } from './chaos.js';

const seed = Number(process.env.CHAOS_SEED ?? 20261126);
const jobs = Number(process.env.CHAOS_JOBS ?? 80);
const budgetMs = Math.max(120_000, jobs * 2_000);

const isolations = (process.env.CHAOS_ISOLATION ?? 'reset,context').split(',') as ('reset' | 'context')[];

it.each(isolations)(`chaos in '%s' isolation, seed ${seed}, ${jobs} jobs: no hang, typed errors, stats add up, nothing left behind`, { timeout: budgetMs }, async (isolation) => {
  const report = await runChaos({ seed, jobs, isolation });
  if (process.env.CHAOS_REPORT) fs.writeFileSync(process.env.CHAOS_REPORT, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report));
  expect(report.hangs).toEqual([]);
  expect(report.untyped).toEqual([]);
  expect(report.badStats).toEqual([]);
  expect(report.leftoverChrome).toBe(0);
  expect(report.leftoverDirs).toBe(0);
  // The run did what it is for: sessions were made and used, and Chrome was hurt along the way.
  expect(report.created).toBeGreaterThan(jobs / 4);
  expect(report.pagesLoaded).toBeGreaterThan(0);
  expect(report.sigkills + report.sigstops).toBeGreaterThan(0);
});
