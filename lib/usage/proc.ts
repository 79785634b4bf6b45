/**
 * CPU time and RSS of whole Chrome process trees, from /proc, for sessions whose Chrome is theirs
 * alone ('reset', 'browser'). One scan of /proc serves every tree asked about at that moment.
 */
import { procPids, procStat } from '../proc.js';

/** /proc counts CPU in clock ticks: 100 per second on Linux (USER_HZ). */
const TICKS_PER_S = 100;
const PAGE_BYTES = 4096;

/** A process tree's CPU time so far (live members and the children they have reaped) and its RSS now. */
export interface TreeSample {
  readonly cpuMs: number;
  readonly rssBytes: number;
}

/**
 * Process group of every pid seen by a scan. A process's group does not change once Chrome has
 * started it, so a scan reads the stat file only of members of the groups asked about and of pids
 * it has not seen before: a few files instead of every process on the machine (each read costs
 * tens of µs, and a session is sampled at its start and end). Pids that are gone are forgotten;
 * after a pause longer than {@link GROUPS_FRESH_MS} (pids may have been reused since) all are.
 */
const groupOf = new Map<number, number>();
const GROUPS_FRESH_MS = 2_000;
let lastScan = 0;

/**
 * Samples of the process groups `pgids` (a Chrome launched by the library leads its own group);
 * a group with no live member is left out. Linux only: elsewhere, nothing.
 */
export function sampleGroups(pgids: ReadonlySet<number>): Map<number, TreeSample> {
  const acc = new Map<number, { ticks: number; pages: number }>();
  const now = Date.now();
  if (now - lastScan > GROUPS_FRESH_MS) groupOf.clear();
  lastScan = now;
  const live = new Set<number>();
  for (const pid of procPids()) {
    live.add(pid);
    const known = groupOf.get(pid);
    if (known !== undefined && !pgids.has(known)) continue;
    const f = procStat(pid);
    if (!f) continue;
    const pgrp = Number(f[2]);
    groupOf.set(pid, pgrp);
    if (!pgids.has(pgrp)) continue;
    const a = acc.get(pgrp) ?? { ticks: 0, pages: 0 };
    a.ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    if (f[0] !== 'Z') a.pages += Number(f[21]);
    acc.set(pgrp, a);
  }
  if (groupOf.size > live.size) for (const pid of groupOf.keys()) if (!live.has(pid)) groupOf.delete(pid);
  const out = new Map<number, TreeSample>();
  for (const [pgid, a] of acc) out.set(pgid, { cpuMs: (a.ticks * 1000) / TICKS_PER_S, rssBytes: a.pages * PAGE_BYTES });
  return out;
}

type Listener = (s: TreeSample) => void;

const PERIOD_MS = 1000;

/** Every second, one /proc scan for every group someone watches; no timer while nobody does. */
class GroupSampler {
  readonly #watchers = new Map<number, Set<Listener>>();
  /** The last samples taken, by group (at most one period old ones are used). */
  readonly #last = new Map<number, { at: number; sample: TreeSample }>();
  #timer: NodeJS.Timeout | undefined;

  watch(pgid: number, fn: Listener): () => void {
    const set = this.#watchers.get(pgid) ?? new Set();
    this.#watchers.set(pgid, set);
    set.add(fn);
    this.#timer ??= setInterval(() => this.#tick(), PERIOD_MS).unref();
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#watchers.delete(pgid);
      if (this.#watchers.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /**
   * A sample of group `pgid` no older than the sampler's period: the last one taken (by a tick
   * or by this), else a scan now. For figures that are not exact anyway (a shared Chrome's RSS).
   */
  recent(pgid: number): TreeSample | undefined {
    const last = this.#last.get(pgid);
    if (last && Date.now() - last.at <= PERIOD_MS) return last.sample;
    const s = sampleGroups(new Set([pgid])).get(pgid);
    const at = Date.now();
    for (const [g, l] of this.#last) if (at - l.at > PERIOD_MS) this.#last.delete(g);
    if (s) this.#last.set(pgid, { at, sample: s });
    return s;
  }

  #tick(): void {
    const samples = sampleGroups(new Set(this.#watchers.keys()));
    const at = Date.now();
    this.#last.clear();
    for (const [pgid, s] of samples) {
      this.#last.set(pgid, { at, sample: s });
      for (const fn of this.#watchers.get(pgid) ?? []) fn(s);
    }
  }
}

/** The process's one sampler. */
export const groupSampler = new GroupSampler();
