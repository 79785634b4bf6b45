import type { Protocol } from 'devtools-protocol';
import { CdpConnection } from '../cdp.js';

/** Bound on each of the bridge's own CDP commands (attach, screencast, input). */
const COMMAND_TIMEOUT_MS = 5_000;

/** The browser a live view watches: Chrome's own endpoint, and the session's context ('context' isolation). */
export interface LiveTarget {
  readonly wsEndpoint: string;
  /** Whether a page of browser context `contextId` is the session's (all of a Chrome of its own). */
  owns(contextId: string | undefined): boolean;
  /** The session's pages, oldest first (Chrome lists them in no such order). */
  readonly pages: readonly string[];
}

/** Where the bridge sends what viewers see: messages already serialised for the viewer page. */
export interface BridgeSink {
  /** A screencast frame (`{"type":"frame",…}`); resolves once viewers have taken it (bounded). */
  frame(message: string): Promise<void>;
  /** The followed tab changed, navigated or closed (`{"type":"tab",…}`). */
  tab(message: string): void;
  /** The connection to Chrome closed (browser gone or {@link LiveBridge.close}). */
  closed(): void;
}

/** Input from a viewer, positions as fractions (0..1) of the frame it saw. */
export type ViewerInput =
  | { type: 'mouse'; kind: 'move' | 'down' | 'up' | 'click'; x: number; y: number; button: 'left' | 'middle' | 'right' | 'none'; buttons: number; clickCount: number; modifiers: number }
  | { type: 'wheel'; x: number; y: number; deltaX: number; deltaY: number; modifiers: number }
  | { type: 'key'; kind: 'down' | 'up' | 'char'; key: string; code: string; keyCode: number; text: string; location: number; modifiers: number }
  | { type: 'text'; text: string };

/** At most ~25 frames a second: plenty to watch, and a screencast costs Chrome CPU per frame. */
const MIN_FRAME_MS = 40;

const MOUSE_TYPES = { move: 'mouseMoved', down: 'mousePressed', up: 'mouseReleased' } as const;

/**
 * One session's screencast and input, over a CDP connection of the manager's own, straight to
 * Chrome: it is no client of the session (no client count, no traffic, no disconnect rule). It
 * follows the session's active tab, the page created or brought to the front last, attached
 * (flat) to that page alone, and runs only while the live view has viewers.
 */
export class LiveBridge {
  readonly #cdp: CdpConnection;
  readonly #owns: LiveTarget['owns'];
  readonly #sink: BridgeSink;
  /** The session's pages, the most recently created or activated last. */
  readonly #pages: string[] = [];
  readonly #info = new Map<string, { url: string; title: string }>();
  #active: { targetId: string; sessionId: string } | undefined;
  /** The page being followed (may not be attached yet). */
  #wanted: string | undefined;
  #switching = Promise.resolve();
  #viewport = { width: 0, height: 0 };
  #lastFrame: string | undefined;
  #ready = false;
  #closed = false;

  private constructor(cdp: CdpConnection, owns: LiveTarget['owns'], sink: BridgeSink) {
    this.#cdp = cdp;
    this.#owns = owns;
    this.#sink = sink;
    cdp.on('event', (e) => {
      if (e.method === 'Page.screencastFrame') this.#onFrame(e.params, e.sessionId);
      else if (e.method === 'Target.targetCreated') this.#onCreated(e.params.targetInfo);
      else if (e.method === 'Target.targetInfoChanged') this.#onChanged(e.params.targetInfo);
      else if (e.method === 'Target.targetDestroyed') this.#onDestroyed(e.params.targetId);
    });
    cdp.once('close', () => {
      this.#closed = true;
      sink.closed();
    });
  }

  /**
   * Connects to Chrome and starts the screencast of the session's active tab: `active`, or else
   * the page created last. Bounded by `timeoutMs`.
   */
  static async open(target: LiveTarget, sink: BridgeSink, timeoutMs: number, active?: string): Promise<LiveBridge> {
    const cdp = await CdpConnection.connect(target.wsEndpoint, timeoutMs);
    const bridge = new LiveBridge(cdp, (id) => target.owns(id), sink);
    try {
      // targetCreated arrives for every existing target before this answers.
      await cdp.send('Target.setDiscoverTargets', { discover: true }, { timeoutMs });
    } catch (err) {
      cdp.close();
      throw err;
    }
    bridge.#ready = true;
    // Oldest first as the manager saw them created (pages created since then last), the active one last.
    const rank = (id: string) => (id === active ? Infinity : target.pages.includes(id) ? target.pages.indexOf(id) : target.pages.length);
    bridge.#pages.sort((a, b) => rank(a) - rank(b));
    bridge.#follow(bridge.#pages.at(-1));
    return bridge;
  }

  /** The last frame sent, for a viewer that joins a page that is not repainting. */
  get lastFrame(): string | undefined {
    return this.#lastFrame;
  }

  /** The followed tab as a `tab` message. */
  get tab(): string {
    const info = this.#wanted === undefined ? undefined : this.#info.get(this.#wanted);
    return JSON.stringify({ type: 'tab', url: info?.url ?? '', title: info?.title ?? '' });
  }

  /** A client brought `targetId` to the front: follow it, if it is one of the session's pages. */
  activate(targetId: string): void {
    const i = this.#pages.indexOf(targetId);
    if (i < 0) return;
    this.#pages.splice(i, 1);
    this.#pages.push(targetId);
    this.#follow(targetId);
  }

  /** Dispatches a viewer's input to the followed page, scaled from the frame to its viewport. */
  input(m: ViewerInput): void {
    const a = this.#active;
    if (!a || this.#closed) return;
    const { width, height } = this.#viewport;
    const opts = { sessionId: a.sessionId, timeoutMs: COMMAND_TIMEOUT_MS };
    const ignore = () => {};
    if (m.type === 'mouse' || m.type === 'wheel') {
      if (width === 0) return;
      const x = m.x * width;
      const y = m.y * height;
      if (m.type === 'wheel') {
        void this.#cdp.send('Input.dispatchMouseEvent', { type: 'mouseWheel', x, y, deltaX: m.deltaX, deltaY: m.deltaY, modifiers: m.modifiers }, opts).catch(ignore);
        return;
      }
      const base = { x, y, modifiers: m.modifiers, button: m.button, buttons: m.buttons, clickCount: m.clickCount };
      const kinds = m.kind === 'click' ? (['down', 'up'] as const) : [m.kind];
      for (const kind of kinds) {
        void this.#cdp.send('Input.dispatchMouseEvent', { ...base, type: MOUSE_TYPES[kind], ...(kind === 'move' ? { button: 'none' as const } : {}) }, opts).catch(ignore);
      }
    } else if (m.type === 'key') {
      const type = m.kind === 'up' ? 'keyUp' : m.kind === 'char' ? 'char' : m.text ? 'keyDown' : 'rawKeyDown';
      const text = m.kind === 'up' ? {} : { text: m.text, unmodifiedText: m.text };
      void this.#cdp
        .send('Input.dispatchKeyEvent', { type, key: m.key, code: m.code, windowsVirtualKeyCode: m.keyCode, nativeVirtualKeyCode: m.keyCode, location: m.location, modifiers: m.modifiers, ...text }, opts)
        .catch(ignore);
    } else {
      void this.#cdp.send('Input.insertText', { text: m.text }, opts).catch(ignore);
    }
  }

  /** Ends the screencast: closing the connection detaches from the page, which stops it. */
  close(): void {
    this.#closed = true;
    this.#cdp.close();
  }

  #mine(t: Protocol.Target.TargetInfo): boolean {
    return t.type === 'page' && this.#owns(t.browserContextId);
  }

  #onCreated(t: Protocol.Target.TargetInfo): void {
    if (!this.#mine(t)) return;
    this.#pages.push(t.targetId);
    this.#info.set(t.targetId, { url: t.url, title: t.title });
    if (this.#ready) this.#follow(t.targetId);
  }

  #onChanged(t: Protocol.Target.TargetInfo): void {
    if (!this.#info.has(t.targetId)) return;
    this.#info.set(t.targetId, { url: t.url, title: t.title });
    if (t.targetId === this.#wanted) this.#sink.tab(this.tab);
  }

  #onDestroyed(targetId: string): void {
    const i = this.#pages.indexOf(targetId);
    if (i < 0) return;
    this.#pages.splice(i, 1);
    this.#info.delete(targetId);
    if (targetId === this.#wanted) this.#follow(this.#pages.at(-1));
  }

  /** Switches the screencast to `targetId` (none: no page left); switches run one at a time. */
  #follow(targetId: string | undefined): void {
    this.#wanted = targetId;
    this.#sink.tab(this.tab);
    if (targetId === undefined) this.#lastFrame = undefined;
    this.#switching = this.#switching.then(() => this.#attach(targetId)).catch(() => {});
  }

  async #attach(targetId: string | undefined): Promise<void> {
    if (this.#closed || targetId !== this.#wanted || this.#active?.targetId === targetId) return;
    const old = this.#active;
    this.#active = undefined;
    const opts = { timeoutMs: COMMAND_TIMEOUT_MS };
    if (old) void this.#cdp.send('Target.detachFromTarget', { sessionId: old.sessionId }, opts).catch(() => {});
    if (targetId === undefined) return;
    const { sessionId } = await this.#cdp.send('Target.attachToTarget', { targetId, flatten: true }, opts);
    if (this.#closed || targetId !== this.#wanted) {
      void this.#cdp.send('Target.detachFromTarget', { sessionId }, opts).catch(() => {});
      return;
    }
    this.#active = { targetId, sessionId };
    await this.#cdp.send('Page.startScreencast', { format: 'jpeg', quality: 80, everyNthFrame: 1 }, { sessionId, timeoutMs: COMMAND_TIMEOUT_MS });
  }

  #onFrame(p: Protocol.Page.ScreencastFrameEvent, sessionId: string | undefined): void {
    if (sessionId === undefined || sessionId !== this.#active?.sessionId) return;
    this.#viewport = { width: p.metadata.deviceWidth, height: p.metadata.deviceHeight };
    this.#lastFrame = JSON.stringify({ type: 'frame', data: p.data, width: p.metadata.deviceWidth, height: p.metadata.deviceHeight });
    // Acked once the viewers have it, and not before MIN_FRAME_MS: Chrome sends the next frame
    // only then. (everyNthFrame would lose the one frame a page that does not repaint sends.)
    const minimum = new Promise((resolve) => setTimeout(resolve, MIN_FRAME_MS).unref());
    void Promise.all([this.#sink.frame(this.#lastFrame), minimum]).then(() => {
      if (!this.#closed) void this.#cdp.send('Page.screencastFrameAck', { sessionId: p.sessionId }, { sessionId, timeoutMs: COMMAND_TIMEOUT_MS }).catch(() => {});
    });
  }
}
