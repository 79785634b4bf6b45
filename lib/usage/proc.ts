/**
 * CPU time and RSS of whole Chrome process trees, from /proc, for sessions whose Chrome is theirs
 * alone ('reset', 'browser'). One scan of /proc serves every tree asked about at that moment.
 */
import { procStats } from '../proc.js';

/** /proc counts CPU in clock ticks: 100 per second on Linux (USER_HZ). */
const TICKS_PER_S = 100;
const PAGE_BYTES = 4096;

/** A process tree's CPU time so far (live members and the children they have reaped) and its RSS now. */
export interface TreeSample {
  readonly cpuMs: number;
  readonly rssBytes: number;
}

/**
 * Samples of the process groups `pgids` (a Chrome launched by the library leads its own group);
 * a group with no live member is left out. Linux only: elsewhere, nothing.
 */
export function sampleGroups(pgids: ReadonlySet<number>): Map<number, TreeSample> {
  const acc = new Map<number, { ticks: number; pages: number }>();
  for (const { f } of procStats()) {
    const pgrp = Number(f[2]);
    if (!pgids.has(pgrp)) continue;
    const a = acc.get(pgrp) ?? { ticks: 0, pages: 0 };
    a.ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    if (f[0] !== 'Z') a.pages += Number(f[21]);
    acc.set(pgrp, a);
  }
  const out = new Map<number, TreeSample>();
  for (const [pgid, a] of acc) out.set(pgid, { cpuMs: (a.ticks * 1000) / TICKS_PER_S, rssBytes: a.pages * PAGE_BYTES });
  return out;
}

type Listener = (s: TreeSample) => void;

/** Every second, one /proc scan for every group someone watches; no timer while nobody does. */
class GroupSampler {
  readonly #watchers = new Map<number, Set<Listener>>();
  #timer: NodeJS.Timeout | undefined;

  watch(pgid: number, fn: Listener): () => void {
    const set = this.#watchers.get(pgid) ?? new Set();
    this.#watchers.set(pgid, set);
    set.add(fn);
    this.#timer ??= setInterval(() => this.#tick(), 1000).unref();
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#watchers.delete(pgid);
      if (this.#watchers.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #tick(): void {
    const samples = sampleGroups(new Set(this.#watchers.keys()));
    for (const [pgid, s] of samples) for (const fn of this.#watchers.get(pgid) ?? []) fn(s);
  }
}

/** The process's one sampler. */
export const groupSampler = new GroupSampler();
