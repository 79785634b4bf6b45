/**
 * The dispatcher under seeded random interleavings of creates, aborts, launches that succeed or
 * fail, resets that fail or hang, releases, crashes and clock moves (fake browsers): every create
 * settles, the bounds hold at every step, and close() leaves nothing. A failing seed replays.
 */
import { describe, expect, it } from 'vitest';
import { SPEC, fakeDispatcher, flush } from './fakes.js';

/** A small seeded generator (mulberry32), so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('random interleavings (seeded)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: every create settles, the bounds hold, close leaves nothing', async (seed) => {
    const rand = rng(seed);
    const maxConcurrent = 1 + Math.floor(rand() * 3);
    const minIdle = Math.floor(rand() * 2);
    const { d, factory, clock } = fakeDispatcher({ maxConcurrent, minIdle, queueTimeoutMs: rand() < 0.5 ? 50 : 0, launchTimeoutMs: 200, resetTimeoutMs: 100, maxSessionsPerBrowser: 3 });
    const creates: Promise<unknown>[] = [];
    const leases: { browser: { die(): void }; release: () => void }[] = [];
    for (let step = 0; step < 300; step++) {
      const r = rand();
      if (r < 0.3) {
        const ac = new AbortController();
        const p = d.acquire(SPEC, { signal: ac.signal, priority: Math.floor(rand() * 3), capacity: rand() < 0.4 ? 3 : 1 });
        creates.push(p.then((l) => leases.push({ browser: l.browser, release: () => d.release(l, rand() < 0.1 ? 'unresponsive' : undefined) }), () => {}));
        if (rand() < 0.2) setTimeout(() => ac.abort(), Math.floor(rand() * 5));
      } else if (r < 0.5) {
        const open = factory.launches.filter((l) => !settledLaunches.has(l));
        const l = open[Math.floor(rand() * open.length)];
        if (l) {
          settledLaunches.add(l);
          if (rand() < 0.8) {
            const b = l.succeed();
            if (rand() < 0.2) b.resetWith = () => (rand() < 0.5 ? Promise.reject(new Error('reset failed')) : new Promise(() => {}));
          } else l.result.reject(new Error('attach failed'));
        }
      } else if (r < 0.75) {
        leases.splice(Math.floor(rand() * leases.length), 1)[0]?.release();
      } else if (r < 0.85) {
        leases[Math.floor(rand() * leases.length)]?.browser.die();
      } else {
        clock.advance(Math.floor(rand() * 30));
      }
      await flush(1);
      const s = d.stats();
      expect(s.busy).toBeLessThanOrEqual(maxConcurrent);
      expect(s.busy + s.idle + s.resetting + s.launching).toBeLessThanOrEqual(maxConcurrent + minIdle);
    }
    // Let every launch come back, free every lease: every create settles.
    factory.auto = true;
    for (const l of factory.launches) if (!settledLaunches.has(l)) l.succeed();
    for (const l of leases.splice(0)) l.release();
    await d.close();
    await Promise.race([Promise.all(creates), new Promise((_, rej) => setTimeout(() => rej(new Error('a create never settled')), 2_000))]);
    expect(d.pending).toBe(0);
    expect(d.stats()).toMatchObject({ busy: 0, idle: 0, resetting: 0, launching: 0 });
  });
});

const settledLaunches = new WeakSet<object>();
