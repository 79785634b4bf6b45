/**
 * What each session used (`session.usage`), measured while it runs and frozen when it ends:
 * - `durationMs`: from `startedAt` to now, or to its end.
 * - `cpuMs`: 'reset' and 'browser' (a Chrome of its own): CPU time of the whole Chrome process tree
 *   (browser, GPU, network, renderers, reaped children) from /proc, between the start and the end
 *   of the session: exact to the 10 ms tick, the reset after it excluded. 'context' (a shared
 *   Chrome): CPU time of the renderer processes of the session's pages and out-of-process iframes
 *   (CDP `Performance.getMetrics` `ProcessTime`; Chrome never shares a renderer between browser
 *   contexts), polled every second: the browser, GPU and network processes are not counted, a
 *   renderer shared by two of its pages counts twice, and at most the last second of a page that
 *   closes is lost.
 * - `peakRssBytes`: highest RSS sum of the process tree seen (every second, at the start and the
 *   end; in 'context' isolation those come from a sample at most a second old). In
 *   'context' isolation, that of the whole shared Chrome: an upper bound.
 * - `networkBytesReceived` (with the manager's `pageUsage` only): `Network.loadingFinished` `encodedDataLength` (bytes on the wire,
 *   headers included) of every request of the session's pages and frames, plus WebSocket frames
 *   received; requests still running or failed, and workers' own requests, are not counted.
 * - `pagesOpened`: pages created during the session (popups and `newPage()`; the first page,
 *   there before it starts, is not counted).
 */
import type { PooledBrowser } from '../browser.js';
import type { CdpConnection, CdpEvent } from '../cdp.js';
import { addPageHook, HOOK_TIMEOUT_MS } from '../page-hooks.js';
import type { SessionRuntime } from '../session/runtime.js';
import { groupSampler, sampleGroups } from './proc.js';

/** What a session used; see the README's Usage section for how exact each figure is per isolation mode. */
export interface SessionUsage {
  readonly durationMs: number;
  /** Absent in 'context' isolation without the manager's `pageUsage`, and on a Grid node (not in this machine's /proc) unless 'context' with `pageUsage`. */
  readonly cpuMs?: number;
  /** Absent on a Grid node (not in this machine's /proc). */
  readonly peakRssBytes?: number;
  /** With the manager's `pageUsage` only. */
  readonly networkBytesReceived?: number;
  readonly pagesOpened: number;
}

/** Sums over a manager's sessions: those ended and those running now. */
export interface UsageTotals {
  readonly sessions: number;
  readonly durationMs: number;
  readonly cpuMs: number;
  readonly networkBytesReceived: number;
  readonly pagesOpened: number;
}

/** A manager's usage accounts. */
export class UsageLedger {
  /** Measure per page too (network bytes, renderer CPU in 'context' isolation). */
  readonly pages: boolean;
  readonly #live = new Set<() => SessionUsage>();
  #ended: Omit<UsageTotals, 'sessions'> & { sessions: number } = { sessions: 0, durationMs: 0, cpuMs: 0, networkBytesReceived: 0, pagesOpened: 0 };

  constructor(pages: boolean) {
    this.pages = pages;
  }

  /** Totals over every session this manager has run. */
  totals(): UsageTotals {
    const t = { ...this.#ended };
    for (const probe of this.#live) add(t, probe());
    return t;
  }

  live(probe: () => SessionUsage): void {
    this.#live.add(probe);
  }

  ended(probe: () => SessionUsage, final: SessionUsage, ran: boolean): void {
    this.#live.delete(probe);
    if (ran) add(this.#ended, final);
  }
}

function add(t: { sessions: number; durationMs: number; cpuMs: number; networkBytesReceived: number; pagesOpened: number }, u: SessionUsage): void {
  t.sessions++;
  t.durationMs += u.durationMs;
  t.cpuMs += u.cpuMs ?? 0;
  t.networkBytesReceived += u.networkBytesReceived ?? 0;
  t.pagesOpened += u.pagesOpened;
}

const ledgers = new WeakMap<object, UsageLedger>();

/** The ledger of the manager whose resolved options are `o`. */
export function usageLedger(o: { readonly pageUsage: boolean }): UsageLedger {
  let l = ledgers.get(o);
  if (!l) ledgers.set(o, (l = new UsageLedger(o.pageUsage)));
  return l;
}

/** Renderer CPU of one attached target ('context' isolation), across its process swaps. */
interface TargetCpu {
  base: number;
  last: number;
  banked: number;
}

/**
 * Starts measuring a session that is about to start; `rt.record.usage` reads it, live, until the
 * session ends, then holds the final figures.
 */
export async function startUsage(rt: SessionRuntime, b: PooledBrowser, contextId: string | undefined, ledger: UsageLedger, timeoutMs: number): Promise<void> {
  const shared = contextId !== undefined;
  // A Grid node's Chrome is not in this machine's /proc: its tree's CPU and RSS are unknown here.
  const local = b.process.remote !== true;
  const t0 = Date.now();
  let cpuStart: number | undefined;
  let cpuNow = 0;
  let peakRss = 0;
  let network = 0;
  let pages = 0;
  let ended: number | undefined;
  const targets = new Map<string, TargetCpu>();
  let conn: CdpConnection | undefined;

  const onTree = (s: { cpuMs: number; rssBytes: number }) => {
    if (!shared) {
      cpuStart ??= s.cpuMs;
      cpuNow = s.cpuMs;
    }
    peakRss = Math.max(peakRss, s.rssBytes);
  };
  // A Chrome of its own: its CPU is read exactly at the start and the end. A shared one's RSS,
  // an upper bound anyway, from the last second's sample (no /proc scan per session).
  const sampleNow = () => {
    const s = shared ? groupSampler.recent(b.pid) : sampleGroups(new Set([b.pid])).get(b.pid);
    if (s) onTree(s);
  };
  // Right after the create returns (its /proc scan is not on the create's path): within the
  // 10 ms tick the CPU figure is exact to, the same start.
  const first = setImmediate(() => {
    if (ended === undefined && local) sampleNow();
  });
  const unwatch = local ? groupSampler.watch(b.pid, onTree) : () => {};

  const onTarget = (e: CdpEvent) => {
    if (e.method !== 'Target.targetCreated' || e.sessionId !== undefined || e.params.targetInfo.type !== 'page') return;
    // In a shared Chrome: the session's context and those its clients created.
    if (!shared || b.sessionContextOf(e.params.targetInfo.browserContextId) === contextId) pages++;
  };
  b.cdp.on('event', onTarget);

  const renderersMs = () => [...targets.values()].reduce((sum, t) => sum + t.banked + (t.last - t.base), 0);
  const poll = async () => {
    const c = conn;
    if (!c) return;
    await Promise.all(
      [...targets].map(async ([sessionId, t]) => {
        const { metrics } = await c.send('Performance.getMetrics', {}, { sessionId, timeoutMs: HOOK_TIMEOUT_MS }).catch(() => ({ metrics: [] }));
        const v = metrics.find((m) => m.name === 'ProcessTime')?.value;
        if (v === undefined) return;
        const ms = v * 1000;
        // A lower reading is a new renderer (a cross-site navigation swapped processes).
        if (ms < t.last) {
          t.banked += t.last - t.base;
          t.base = 0;
        }
        t.last = ms;
      }),
    );
  };
  const pollTimer = shared && ledger.pages ? setInterval(() => void poll(), 1000).unref() : undefined;

  const noHook = async () => {};
  const removeHook = !ledger.pages ? noHook : await addPageHook(
    b,
    contextId,
    {
      async attached(t) {
        conn = t.c;
        const o = { sessionId: t.sessionId, timeoutMs: HOOK_TIMEOUT_MS };
        await Promise.all([
          // No response bodies kept for this session: it only counts bytes.
          t.c.send('Network.enable', { maxTotalBufferSize: 0, maxResourceBufferSize: 0 }, o),
          shared ? t.c.send('Performance.enable', {}, o) : undefined,
        ]);
        if (!shared) return;
        // A new target counts from its renderer's start (and, paused until this returns, would
        // not answer now); one there before the session counts from now.
        if (!t.existing) {
          targets.set(t.sessionId, { base: 0, last: 0, banked: 0 });
          return;
        }
        const { metrics } = await t.c.send('Performance.getMetrics', {}, o);
        const v = (metrics.find((m) => m.name === 'ProcessTime')?.value ?? 0) * 1000;
        targets.set(t.sessionId, { base: v, last: v, banked: 0 });
      },
      event(e) {
        if (e.method === 'Network.loadingFinished') network += e.params.encodedDataLength;
        else if (e.method === 'Network.webSocketFrameReceived') network += e.params.response.payloadData.length;
      },
    },
    timeoutMs,
  ).catch((err: unknown) => {
    clearImmediate(first);
    unwatch();
    b.cdp.off('event', onTarget);
    clearInterval(pollTimer);
    throw err;
  });

  const probe = (): SessionUsage => ({
    durationMs: (ended ?? Date.now()) - t0,
    ...((shared ? !ledger.pages : !local) ? {} : { cpuMs: Math.round(shared ? renderersMs() : cpuNow - (cpuStart ?? cpuNow)) }),
    ...(local ? { peakRssBytes: peakRss } : {}),
    ...(ledger.pages ? { networkBytesReceived: network } : {}),
    pagesOpened: pages,
  });
  rt.record.usage = probe;
  ledger.live(probe);
  // At the end, before the browser is given back (reset, closed): the last readings.
  let last: Promise<void> = Promise.resolve();
  rt.onFinish(() => {
    clearImmediate(first);
    ended = Date.now();
    unwatch();
    b.cdp.off('event', onTarget);
    clearInterval(pollTimer);
    if (b.process.alive) sampleNow();
    last = shared && ledger.pages ? poll() : Promise.resolve();
    return last;
  });
  rt.onEnd(async () => {
    await last.catch(() => {});
    await removeHook();
    const final = probe();
    rt.record.usage = final;
    ledger.ended(probe, final, rt.record.startedAt !== undefined);
  });
}
