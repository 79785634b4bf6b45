/**
 * Per-page hooks for session features (recording, usage): every page and out-of-process iframe of
 * a browser context is handed to the hooks registered for that context before it runs, through an
 * auto-attaching CDP connection of the manager's own, one per browser (apart from the manager's
 * main connection, the reset's and the overrides'). The connection opens with the first hook of a
 * browser: a browser whose sessions use no such feature has none.
 */
import type { PooledBrowser } from './browser.js';
import { AutoAttachConnection, autoAttach } from './auto-attach.js';
import type { CdpConnection, CdpEvent } from './cdp.js';

/** Bound on each command the hooks' connection sends. */
export const HOOK_TIMEOUT_MS = 5_000;

/** One attached page (`type: 'page'`) or out-of-process iframe (`'iframe'`). */
export interface HookedTarget {
  readonly c: CdpConnection;
  readonly sessionId: string;
  readonly targetId: string;
  readonly type: 'page' | 'iframe';
  /** True when it was open before the hook was added (its document is already running). */
  readonly existing: boolean;
}

/** What a feature does with each target of its context. */
export interface PageHook {
  /** Prepares a target before it runs (it waits for this, bounded). */
  attached(t: HookedTarget): Promise<void>;
  /** An event on the session of a target this hook was given. */
  event?(e: CdpEvent & { sessionId: string }): void;
  /** The target went away (closed, crashed, or its session detached). */
  detached?(sessionId: string): void;
}

interface Attached {
  readonly type: 'page' | 'iframe';
  readonly targetId: string;
  readonly hooks: Set<PageHook>;
  /** Settles once the hooks it was attached with have run (at once for one attached by `add()`). */
  ready: Promise<void>;
}

/** The hooks of one browser and their connection. */
class BrowserHooks {
  readonly #b: PooledBrowser;
  /** Hooks by browser context id (`'*'`: every context). */
  readonly #byContext = new Map<string, Set<PageHook>>();
  readonly #sessions = new Map<string, Attached>();
  /** Session of each attached page, by target id. */
  readonly #pageSessions = new Map<string, string>();
  readonly #conn: AutoAttachConnection;

  constructor(b: PooledBrowser) {
    this.#b = b;
    this.#conn = new AutoAttachConnection(b.process.wsEndpoint, b.exited, (c, e) => this.#onEvent(c, e));
  }

  /**
   * Adds `hook` for the pages of `contextId` (`'*'`: all): those open now are attached and handed
   * over, later ones as they appear. Resolves with a function that removes it (and detaches the
   * targets no other hook wants).
   */
  async add(contextId: string, hook: PageHook, timeoutMs: number): Promise<() => Promise<void>> {
    const set = this.#byContext.get(contextId) ?? new Set();
    this.#byContext.set(contextId, set);
    set.add(hook);
    const remove = () => this.#remove(contextId, hook);
    try {
      const c = await this.#conn.get(timeoutMs);
      const { targetInfos } = await c.send('Target.getTargets', {}, { timeoutMs });
      const existing = targetInfos.filter((t) => t.type === 'page' && (contextId === '*' || this.#b.sessionContextOf(t.browserContextId) === contextId));
      await Promise.all(
        existing.map(async ({ targetId }) => {
          // Auto-attach has attached the pages open when the connection opened: hand those over.
          const known = this.#pageSessions.get(targetId);
          const a = known !== undefined ? this.#sessions.get(known) : undefined;
          if (known !== undefined && a) {
            // Handed over by the connection's own auto-attach: add() resolves once it has run.
            if (a.hooks.has(hook)) return a.ready;
            a.hooks.add(hook);
            await hook.attached({ c, sessionId: known, targetId, type: 'page', existing: true });
            return;
          }
          const sessionId = await this.#conn.attach(c, targetId, timeoutMs);
          this.#sessions.set(sessionId, { type: 'page', targetId, hooks: new Set([hook]), ready: Promise.resolve() });
          this.#pageSessions.set(targetId, sessionId);
          await autoAttach(c, sessionId, timeoutMs).catch(() => {});
          await hook.attached({ c, sessionId, targetId, type: 'page', existing: true });
        }),
      );
    } catch (err) {
      await remove();
      throw err;
    }
    return remove;
  }

  async #remove(contextId: string, hook: PageHook): Promise<void> {
    const set = this.#byContext.get(contextId);
    set?.delete(hook);
    if (set?.size === 0) this.#byContext.delete(contextId);
    const c = await this.#conn.current();
    if (c && this.#byContext.size === 0) {
      // No hook left on this browser: the connection goes, and with it every attachment (a
      // reused Chrome's later sessions that need no hook pay nothing).
      this.#sessions.clear();
      this.#pageSessions.clear();
      await this.#conn.close();
      return;
    }
    const detaches: Promise<unknown>[] = [];
    for (const [sessionId, a] of this.#sessions) {
      if (!a.hooks.delete(hook) || a.hooks.size > 0) continue;
      this.#forget(sessionId, a);
      if (c) detaches.push(c.send('Target.detachFromTarget', { sessionId }, { timeoutMs: HOOK_TIMEOUT_MS }).catch(() => {}));
    }
    await Promise.all(detaches);
  }

  #forget(sessionId: string, a: Attached): void {
    this.#sessions.delete(sessionId);
    if (this.#pageSessions.get(a.targetId) === sessionId) this.#pageSessions.delete(a.targetId);
  }

  #hooksFor(contextId: string | undefined): Set<PageHook> {
    const out = new Set<PageHook>();
    // A context a session's client created has that session's hooks.
    for (const h of this.#byContext.get(this.#b.sessionContextOf(contextId)) ?? []) out.add(h);
    for (const h of this.#byContext.get('*') ?? []) out.add(h);
    return out;
  }

  #onEvent(c: CdpConnection, e: CdpEvent): void {
    if (c.closed) return;
    if (e.method === 'Target.attachedToTarget') {
      void this.#onAttached(c, e.params, e.sessionId);
      return;
    }
    if (e.method === 'Target.detachedFromTarget') {
      const a = this.#sessions.get(e.params.sessionId);
      if (!a) return;
      this.#forget(e.params.sessionId, a);
      for (const h of a.hooks) h.detached?.(e.params.sessionId);
      return;
    }
    if (e.sessionId === undefined) return;
    const a = this.#sessions.get(e.sessionId);
    if (a) for (const h of a.hooks) h.event?.(e as CdpEvent & { sessionId: string });
  }

  async #onAttached(c: CdpConnection, p: Extract<CdpEvent, { method: 'Target.attachedToTarget' }>['params'], parent: string | undefined): Promise<void> {
    const { sessionId, targetInfo, waitingForDebugger } = p;
    const type = targetInfo.type === 'page' || targetInfo.type === 'iframe' ? targetInfo.type : undefined;
    // An iframe belongs to its page's hooks; a page to its context's.
    const parentHooks = parent !== undefined ? this.#sessions.get(parent)?.hooks : undefined;
    const hooks = type === undefined ? new Set<PageHook>() : parentHooks ? new Set(parentHooks) : parent === undefined ? this.#hooksFor(targetInfo.browserContextId) : new Set<PageHook>();
    const opts = { sessionId, timeoutMs: HOOK_TIMEOUT_MS };
    try {
      if (hooks.size === 0 || type === undefined) return;
      // A page not waiting was running before the connection's auto-attach reached it.
      const existing = !waitingForDebugger;
      const ready = (async () => {
        await autoAttach(c, sessionId, HOOK_TIMEOUT_MS).catch(() => {});
        await Promise.all([...hooks].map((h) => h.attached({ c, sessionId, targetId: targetInfo.targetId, type, existing }).catch(() => {})));
      })();
      this.#sessions.set(sessionId, { type, targetId: targetInfo.targetId, hooks, ready });
      if (type === 'page') this.#pageSessions.set(targetInfo.targetId, sessionId);
      await ready;
    } finally {
      if (waitingForDebugger) void c.send('Runtime.runIfWaitingForDebugger', {}, opts).catch(() => {});
      if (hooks.size === 0 || type === undefined) void c.send('Target.detachFromTarget', { sessionId }, { timeoutMs: HOOK_TIMEOUT_MS }).catch(() => {});
    }
  }
}

const registry = new WeakMap<PooledBrowser, BrowserHooks>();

/**
 * Adds `hook` for every page and out-of-process iframe of browser context `contextId` of `b`
 * (`undefined`: every context, for a browser that is the session's alone). Resolves with its removal.
 */
export function addPageHook(b: PooledBrowser, contextId: string | undefined, hook: PageHook, timeoutMs: number): Promise<() => Promise<void>> {
  let hooks = registry.get(b);
  if (!hooks) registry.set(b, (hooks = new BrowserHooks(b)));
  return hooks.add(contextId ?? '*', hook, timeoutMs);
}
