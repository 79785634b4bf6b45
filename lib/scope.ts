/**
 * ContextScope: makes one browser context look like a whole browser to a CDP client.
 *
 * In 'context' isolation mode several sessions share one Chrome, each in its own browser context
 * (`Target.createBrowserContext`). The endpoint relays each client's raw CDP text to Chrome's
 * browser websocket (one upstream socket per client) and passes every message through one
 * `ContextScope`, which says what to send on each way. It is synchronous, with no I/O and no
 * timers; it keeps the bookkeeping below, and asks the session which contexts its other clients
 * created.
 *
 * "Owned" contexts are the session's context and the contexts the client created itself
 * ({@link ContextScope.clientContexts}) or another client of the same session created. An "owned" target is one whose `browserContextId` is an
 * owned context, as learnt from every `Target.TargetInfo` seen in events and replies (and from
 * `ownPageTargetIds`).
 *
 * Client → Chrome (only a message whose text matches `"Target.`, `"Storage.`, `"Browser.` or
 * `"Extensions.` is parsed; every other one is passed on untouched):
 * - Rewritten, the session's context filled in when `browserContextId` is missing:
 *   `Target.createTarget`, `Storage.getCookies`, `Storage.setCookies`, `Storage.clearCookies`,
 *   `Browser.setDownloadBehavior`, `Browser.cancelDownload`, `Browser.grantPermissions`,
 *   `Browser.resetPermissions`, `Browser.setPermission`,
 *   `Browser.addPrivacySandboxCoordinatorKeyConfig`. Sent on a page session (where Chrome
 *   applies them to the *default* context and refuses `browserContextId`), they are moved to the
 *   browser session and the reply is handed back on the page session. A `browserContextId` that
 *   is not owned is answered locally with an error.
 * - Answered locally with `No target with given id found` (-32602) when `targetId` is given and
 *   is not an owned target: `Target.attachToTarget` (the browser target is allowed here),
 *   `Target.activateTarget`, `Target.closeTarget`, `Target.getTargetInfo`,
 *   `Target.exposeDevToolsProtocol`, `Target.autoAttachRelated`, `Target.detachFromTarget`,
 *   `Target.sendMessageToTarget`, `Target.openDevTools`, `Target.getDevToolsTarget`,
 *   `Browser.getWindowForTarget`, `Extensions.triggerAction`.
 * - Answered locally with an error: `Target.disposeBrowserContext` of a context no client of the
 *   session created.
 * - Passed on, reply filtered: `Target.createBrowserContext` (the new id joins `clientContexts`;
 *   without a `proxyServer` of the client's it gets the session's proxy, if it has one),
 *   `Target.disposeBrowserContext` (leaves it), `Target.getBrowserContexts` (only the contexts
 *   the session's clients created; `defaultBrowserContextId`, if present, becomes the session's context),
 *   `Target.getTargets` (only owned targets and the browser target), `Target.createTarget` (the
 *   new target is noted as owned). These get an id of the scope's own (negative) on the way to
 *   Chrome; the reply gets the client's id back.
 * - Everything else, `Browser.close` included, is passed on untouched.
 * Every rule holds on every session, so a browser session (`Target.attachToBrowserTarget`, which
 * Playwright's `newCDPSession` uses) is filtered as the client's own connection is.
 *
 * Chrome → client (replies with the client's ids are passed on unread, as bytes: the endpoint asks
 * {@link ContextScope.passesUnread} first; only events starting `{"method":"Target.` are parsed):
 * - `Target.targetCreated`, `Target.targetInfoChanged`, `Target.targetDestroyed`,
 *   `Target.targetCrashed`: only for owned targets and the browser target, on any session.
 * - `Target.attachedToTarget` of a target that is not owned (browser-level
 *   `Target.setAutoAttach` attaches every client to every tab, and with `waitForDebuggerOnStart`
 *   the tab waits for each of them): dropped, and the scope sends Chrome, in its own name,
 *   `Runtime.runIfWaitingForDebugger` on that session (when it waits) and
 *   `Target.detachFromTarget` of it; the replies are dropped. Until Chrome reports it detached,
 *   every message on that "foreign" session is dropped (`Target.detachedFromTarget` included),
 *   found by the `sessionId` Chrome writes last in each message.
 * - Replies to the scope's own ids: handed back under the client's id, filtered as above, or
 *   dropped (the scope's own requests).
 * - `Browser.downloadWillBegin` / `Browser.downloadProgress` (Chrome sends every context's to
 *   every connection with download events on): only for downloads of the client's frames
 *   (lib/scope-downloads.ts; `Page.frameAttached/frameDetached` are read for that).
 *
 * Assumes client ids are not negative (Puppeteer, Playwright and chrome-remote-interface count
 * up from 1). Not covered: browser-wide methods without a context parameter (`Security.*` at
 * browser level, `Browser.crash`, `Browser.setWindowBounds`, `SystemInfo.*`, `Tracing.*`) pass
 * through; non-flat sessions (`flatten: false`); a client that guesses a foreign session's id
 * during its few ms of life could send on it.
 */
import type { ContextProxy } from './browser.js';
import { DOWNLOAD_EVENT, DownloadFilter, FRAME_ATTACHED, FRAME_DETACHED } from './scope-downloads.js';
import { CONTEXT_METHODS, TARGET_METHODS } from './scope-methods.js';
import {
  CLIENT_NEEDLE, DROP, INVALID_PARAMS, NO_TARGET, REPLY_HEAD_NEGATIVE, TARGET_EVENT,
  errorReply, isTargetInfo, negativeReplyId, parseMessage, request, stringParam, toChrome, toClient, trailingSessionId,
  type CdpMessage, type ScopeVerdict, type TargetInfoLike,
} from './scope-wire.js';

export type { ScopeVerdict };
export { HEAD_CHARS, TAIL_CHARS } from './scope-wire.js';

/** What to do with the reply to a request sent under one of the scope's own ids. */
type ReplyKind = 'plain' | 'internal' | 'createBrowserContext' | 'disposeBrowserContext' | 'getBrowserContexts' | 'getTargets' | 'createTarget';

interface Pending {
  readonly kind: ReplyKind;
  /** The client's id for the request (0 for the scope's own requests). */
  readonly clientId: number;
  /** The session the client sent it on, restored on the reply. */
  readonly sessionId: string | undefined;
  /** `createTarget`: the context the target was created in; `disposeBrowserContext`: the context. */
  readonly contextId: string | undefined;
}

interface KnownTarget {
  readonly type: string;
  readonly contextId: string | undefined;
}

/**
 * The per-client filter that shows a CDP client one browser context (plus the contexts it
 * creates) as if it were the whole browser. See the top of lib/scope.ts for the exact rules.
 */
export class ContextScope {
  /** The session's browser context. */
  readonly contextId: string;
  readonly #clientContexts = new Set<string>();
  /** Targets the client may hear of (owned ones and the browser target), by target id. */
  readonly #targets = new Map<string, KnownTarget>();
  /** Sessions Chrome attached this client to for targets it may not see, until detached. */
  readonly #foreign = new Set<string>();
  /** Requests sent under the scope's own ids, by that id. */
  readonly #pending = new Map<number, Pending>();
  readonly #downloads = new DownloadFilter();
  #nextId = -1;
  /** The session's proxy: a context the client creates without one of its own gets it. */
  readonly #proxy: ContextProxy | undefined;
  /** Whether the session's other clients created a context: this client sees and uses it too. */
  readonly #othersCreated: (contextId: string) => boolean;

  /**
   * `contextId`: the session's browser context; `ownPageTargetIds`: targets already in it (its
   * first page), known before Chrome describes them; `proxy`: the session's; `othersCreated`:
   * whether a context is one the session's other clients created (asked as it is needed).
   */
  constructor(contextId: string, ownPageTargetIds: Iterable<string> = [], opts: { proxy?: ContextProxy | undefined; othersCreated?: (contextId: string) => boolean } = {}) {
    this.contextId = contextId;
    this.#proxy = opts.proxy;
    this.#othersCreated = opts.othersCreated ?? (() => false);
    for (const targetId of ownPageTargetIds) this.#targets.set(targetId, { type: 'page', contextId });
  }

  /** Browser contexts the client itself created (the session disposes them at its end). */
  get clientContexts(): ReadonlySet<string> {
    return this.#clientContexts;
  }

  /** Targets the scope keeps track of (for tests and leaks). */
  get knownTargetCount(): number {
    return this.#targets.size;
  }

  /** Requests sent under the scope's own ids whose replies have not come yet (for tests and leaks). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Sessions of other sessions' targets this client is being detached from. */
  get foreignSessionCount(): number {
    return this.#foreign.size;
  }

  /** A text message from the client. */
  fromClient(text: string): ScopeVerdict {
    if (!CLIENT_NEEDLE.test(text)) return toChrome(text);
    const msg = parseMessage(text);
    if (msg === undefined || typeof msg.method !== 'string' || typeof msg.id !== 'number') return toChrome(text);
    const { method, id } = msg;
    const sessionId = typeof msg.sessionId === 'string' ? msg.sessionId : undefined;
    const params = msg.params ?? {};
    if (TARGET_METHODS.has(method)) {
      const targetId = stringParam(params, 'targetId');
      const allowed = targetId === undefined || this.#owns(targetId) || (method === 'Target.attachToTarget' && this.#isBrowser(targetId));
      if (!allowed) return toClient(errorReply(id, sessionId, INVALID_PARAMS, NO_TARGET));
      return toChrome(text);
    }
    if (CONTEXT_METHODS.has(method)) {
      const given = stringParam(params, 'browserContextId');
      if (given !== undefined && !this.#ownsContext(given)) {
        return toClient(errorReply(id, sessionId, INVALID_PARAMS, `Failed to find browser context with id ${given}`));
      }
      const contextId = given ?? this.contextId;
      msg.params = { ...params, browserContextId: contextId };
      // On a page session Chrome applies these to the default context: use the browser session.
      if (method === 'Target.createTarget') return this.#forward(msg, 'createTarget', contextId, true);
      if (sessionId !== undefined) return this.#forward(msg, 'plain', undefined, true);
      return given === undefined ? toChrome(JSON.stringify(msg)) : toChrome(text);
    }
    switch (method) {
      case 'Target.createBrowserContext':
        // The session's traffic goes through its proxy, in the client's own contexts too.
        if (this.#proxy && stringParam(params, 'proxyServer') === undefined) msg.params = { ...params, ...this.#proxy };
        return this.#forward(msg, 'createBrowserContext', undefined, false);
      case 'Target.disposeBrowserContext': {
        const contextId = stringParam(params, 'browserContextId');
        if (contextId === undefined || !this.#created(contextId)) {
          return toClient(errorReply(id, sessionId, INVALID_PARAMS, `Failed to find context with id ${contextId ?? ''}`));
        }
        return this.#forward(msg, 'disposeBrowserContext', contextId, false);
      }
      case 'Target.getBrowserContexts':
        return this.#forward(msg, 'getBrowserContexts', undefined, false);
      case 'Target.getTargets':
        return this.#forward(msg, 'getTargets', undefined, false);
      default:
        return toChrome(text);
    }
  }

  /**
   * True when a message from Chrome goes to the client as it is, judged from its first and last
   * bytes alone (`head`: at least {@link HEAD_CHARS} characters, latin1; `tail()`: the last
   * {@link TAIL_CHARS}): not a reply to the scope's ids, not an event it reads, not on a foreign
   * session. Most messages are: the endpoint then forwards their bytes without decoding them.
   */
  passesUnread(head: string, tail: () => string): boolean {
    if (head.startsWith(REPLY_HEAD_NEGATIVE) || head.startsWith(TARGET_EVENT) || head.startsWith(DOWNLOAD_EVENT)) return false;
    if (head.startsWith(FRAME_ATTACHED) || head.startsWith(FRAME_DETACHED)) return false;
    if (this.#foreign.size === 0) return true;
    const sessionId = trailingSessionId(tail());
    return sessionId === undefined || !this.#foreign.has(sessionId);
  }

  /** A text message from Chrome. */
  fromChrome(text: string): ScopeVerdict {
    const ownId = negativeReplyId(text);
    if (ownId !== undefined) return this.#reply(ownId, text);
    if (text.startsWith(TARGET_EVENT)) return this.#targetEvent(text);
    if (text.startsWith(DOWNLOAD_EVENT)) return this.#downloads.allows(text, (t) => this.#owns(t)) ? toClient(text) : DROP;
    if (this.#foreign.size > 0) {
      const sessionId = trailingSessionId(text);
      if (sessionId !== undefined && this.#foreign.has(sessionId)) return DROP;
    }
    if (text.startsWith(FRAME_ATTACHED)) this.#downloads.frameEvent(text, true);
    else if (text.startsWith(FRAME_DETACHED)) this.#downloads.frameEvent(text, false);
    return toClient(text);
  }

  /**
   * Sends `msg` under a fresh id of the scope's own, remembering how to answer the client.
   * With `toBrowserSession` a request from another session goes to the browser session; the
   * reply is addressed to the client's session either way.
   */
  #forward(msg: CdpMessage, kind: ReplyKind, contextId: string | undefined, toBrowserSession: boolean): ScopeVerdict {
    const sessionId = msg.sessionId;
    const id = this.#newId({ kind, clientId: msg.id ?? 0, sessionId, contextId });
    const out: CdpMessage = { id, method: msg.method, params: msg.params ?? {} };
    if (!toBrowserSession && sessionId !== undefined) out.sessionId = sessionId;
    return toChrome(JSON.stringify(out));
  }

  #newId(pending: Pending): number {
    const id = this.#nextId;
    this.#nextId = id === Number.MIN_SAFE_INTEGER ? -1 : id - 1;
    this.#pending.set(id, pending);
    return id;
  }

  /** A reply to one of the scope's own ids. */
  #reply(id: number, text: string): ScopeVerdict {
    const pending = this.#pending.get(id);
    if (pending === undefined) return DROP;
    this.#pending.delete(id);
    if (pending.kind === 'internal') return DROP;
    const msg = parseMessage(text);
    if (msg === undefined) return DROP;
    msg.id = pending.clientId;
    if (pending.sessionId !== undefined) msg.sessionId = pending.sessionId;
    else delete msg.sessionId;
    const result = msg.result;
    if (result !== undefined) this.#filterResult(pending, result);
    return toClient(JSON.stringify(msg));
  }

  #filterResult(pending: Pending, result: Record<string, unknown>): void {
    switch (pending.kind) {
      case 'createBrowserContext': {
        const contextId = stringParam(result, 'browserContextId');
        if (contextId !== undefined) this.#clientContexts.add(contextId);
        break;
      }
      case 'disposeBrowserContext':
        if (pending.contextId !== undefined) this.#clientContexts.delete(pending.contextId);
        break;
      case 'getBrowserContexts': {
        const ids = result.browserContextIds;
        result.browserContextIds = Array.isArray(ids) ? ids.filter((c): c is string => typeof c === 'string' && this.#created(c)) : [];
        if ('defaultBrowserContextId' in result) result.defaultBrowserContextId = this.contextId;
        break;
      }
      case 'getTargets': {
        const infos = result.targetInfos;
        if (!Array.isArray(infos)) break;
        result.targetInfos = infos.filter((info: unknown) => {
          if (!isTargetInfo(info)) return false;
          this.#note(info);
          return this.#visible(info.targetId);
        });
        break;
      }
      case 'createTarget': {
        const targetId = stringParam(result, 'targetId');
        if (targetId !== undefined && !this.#targets.has(targetId)) this.#targets.set(targetId, { type: 'page', contextId: pending.contextId });
        break;
      }
      default:
        break;
    }
  }

  /** A `Target.*` event from Chrome, on the browser session or a page session. */
  #targetEvent(text: string): ScopeVerdict {
    const msg = parseMessage(text);
    if (msg === undefined) return toClient(text);
    const parent = typeof msg.sessionId === 'string' ? msg.sessionId : undefined;
    if (parent !== undefined && this.#foreign.has(parent)) return DROP;
    const params = msg.params ?? {};
    switch (msg.method) {
      case 'Target.targetCreated':
      case 'Target.targetInfoChanged': {
        const info = params.targetInfo;
        if (!isTargetInfo(info)) return toClient(text);
        this.#note(info);
        return this.#visible(info.targetId) ? toClient(text) : DROP;
      }
      case 'Target.targetDestroyed':
      case 'Target.targetCrashed': {
        const targetId = stringParam(params, 'targetId');
        const visible = targetId !== undefined && this.#visible(targetId);
        if (targetId !== undefined && msg.method === 'Target.targetDestroyed') this.#targets.delete(targetId);
        return visible ? toClient(text) : DROP;
      }
      case 'Target.attachedToTarget': {
        const info = params.targetInfo;
        const sessionId = stringParam(params, 'sessionId');
        if (!isTargetInfo(info) || sessionId === undefined) return toClient(text);
        this.#note(info);
        if (this.#visible(info.targetId)) return toClient(text);
        return this.#detachForeign(sessionId, parent, params.waitingForDebugger === true);
      }
      case 'Target.detachedFromTarget':
      case 'Target.receivedMessageFromTarget': {
        const sessionId = stringParam(params, 'sessionId');
        if (sessionId === undefined || !this.#foreign.has(sessionId)) return toClient(text);
        if (msg.method === 'Target.detachedFromTarget') this.#forgetForeign(sessionId);
        return DROP;
      }
      default:
        return toClient(text);
    }
  }

  /** Lets a tab the client may not see run on, and detaches the client from it, in the client's stead. */
  #detachForeign(sessionId: string, parent: string | undefined, waiting: boolean): ScopeVerdict {
    this.#foreign.add(sessionId);
    const out: string[] = [];
    // `sessionId` here is the session the request is about, to forget it when Chrome detaches it.
    const internal = (): number => this.#newId({ kind: 'internal', clientId: 0, sessionId, contextId: undefined });
    if (waiting) out.push(request(internal(), 'Runtime.runIfWaitingForDebugger', {}, sessionId));
    out.push(request(internal(), 'Target.detachFromTarget', { sessionId }, parent));
    return { toChrome: out, toClient: [] };
  }

  /** Chrome detached a foreign session: requests on it will get no reply. */
  #forgetForeign(sessionId: string): void {
    this.#foreign.delete(sessionId);
    for (const [id, p] of this.#pending) if (p.kind === 'internal' && p.sessionId === sessionId) this.#pending.delete(id);
  }

  /** Notes a target the client may hear of; others are not kept (unknown means not owned). */
  #note(info: TargetInfoLike): void {
    const ctx = info.browserContextId;
    if (info.type === 'browser' || (ctx !== undefined && this.#ownsContext(ctx))) this.#targets.set(info.targetId, { type: info.type, contextId: ctx });
    else this.#targets.delete(info.targetId);
  }

  #ownsContext(contextId: string): boolean {
    return contextId === this.contextId || this.#created(contextId);
  }

  /** A context this client or another client of the session created. */
  #created(contextId: string): boolean {
    return this.#clientContexts.has(contextId) || this.#othersCreated(contextId);
  }

  /** The client may act on this target: it is in an owned context. */
  #owns(targetId: string): boolean {
    const t = this.#targets.get(targetId);
    return t !== undefined && t.type !== 'browser' && t.contextId !== undefined && this.#ownsContext(t.contextId);
  }

  #isBrowser(targetId: string): boolean {
    return this.#targets.get(targetId)?.type === 'browser';
  }

  /** The client may hear of this target: an owned one, or the browser target. */
  #visible(targetId: string): boolean {
    const t = this.#targets.get(targetId);
    return t !== undefined && (t.type === 'browser' || (t.contextId !== undefined && this.#ownsContext(t.contextId)));
  }
}
