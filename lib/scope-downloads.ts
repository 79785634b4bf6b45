import { parseMessage, stringParam } from './scope-wire.js';

/** Chrome sends `Browser.downloadWillBegin/downloadProgress` to every connection that enabled them. */
export const DOWNLOAD_EVENT = '{"method":"Browser.download';
/** Frame events that tell which frames belong to the client's pages. */
export const FRAME_ATTACHED = '{"method":"Page.frameAttached"';
export const FRAME_DETACHED = '{"method":"Page.frameDetached"';

/**
 * Keeps another session's downloads from a client (part of {@link ContextScope}).
 *
 * Chrome sends the browser-level download events of *every* context to every connection that
 * called `Browser.setDownloadBehavior` with `eventsEnabled` (Playwright does on connect): the
 * URL, the suggested file name and the saved path of another session's downloads. A download is
 * the client's when its `frameId` is one of the client's frames: a main frame (its id is the
 * page's target id), an out-of-process iframe (a target too), or a frame that Chrome announced
 * with `Page.frameAttached` on one of the client's sessions. Progress events carry only the
 * download's guid: they pass for guids whose `downloadWillBegin` passed.
 */
export class DownloadFilter {
  readonly #frames = new Set<string>();
  readonly #guids = new Set<string>();

  /** Notes a `Page.frameAttached` / `Page.frameDetached` event on one of the client's sessions. */
  frameEvent(text: string, attached: boolean): void {
    const frameId = stringParam(parseMessage(text)?.params, 'frameId');
    if (frameId === undefined) return;
    if (attached) this.#frames.add(frameId);
    else this.#frames.delete(frameId);
  }

  /** True when a `Browser.download*` event is about one of the client's downloads. */
  allows(text: string, ownsTarget: (targetId: string) => boolean): boolean {
    const msg = parseMessage(text);
    const params = msg?.params;
    const guid = stringParam(params, 'guid');
    if (guid === undefined) return false;
    if (msg?.method === 'Browser.downloadWillBegin') {
      const frameId = stringParam(params, 'frameId');
      if (frameId === undefined || !(this.#frames.has(frameId) || ownsTarget(frameId))) return false;
      this.#guids.add(guid);
      return true;
    }
    if (!this.#guids.has(guid)) return false;
    const state = stringParam(params, 'state');
    if (state === 'completed' || state === 'canceled') this.#guids.delete(guid);
    return true;
  }
}
