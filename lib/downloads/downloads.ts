/**
 * Each session's downloads go to a folder of its own, `<downloadsDir>/<sessionId>/`: the manager
 * sends `Browser.setDownloadBehavior({ behavior: 'allowAndName', downloadPath, browserContextId,
 * eventsEnabled })` on its own connection for the session's browser context ('context') or the
 * whole browser ('reset', 'browser') before the session starts. Chrome writes each download to
 * `<folder>/<guid>`; when it completes, the file is renamed to the name the page suggested
 * (`report (1).csv` when that name is taken). A download a client sent elsewhere (its own
 * `Browser.setDownloadBehavior`, as Playwright's connectOverCDP does) is copied into the folder
 * once complete. The events say which download is whose: a
 * download of a page of the session's context (or, for a browser that is the session's alone,
 * any download), else the folder Chrome wrote it to.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PooledBrowser } from '../browser.js';
import type { CdpEvent } from '../cdp.js';
import { managerLog } from '../log.js';
import type { SessionRuntime } from '../session/runtime.js';

/** One file a session downloaded, as {@link SessionManager.downloads} lists it. */
export interface DownloadInfo {
  /** The file name the page suggested (made unique in the folder once complete). */
  readonly name: string;
  /** Where the file is: `<folder>/<guid>` while in progress, `<folder>/<name>` once completed. */
  readonly path: string;
  /** Bytes on disk now (received so far while in progress). */
  readonly size: number;
  readonly state: 'inProgress' | 'completed' | 'canceled';
}

/** A manager's downloads: where they go, and the sessions that have a folder. */
export interface DownloadSettings {
  readonly root: string;
  readonly keep: boolean;
  readonly sessions: Map<string, SessionDownloads>;
}

interface Entry {
  readonly guid: string;
  name: string;
  path: string;
  received: number;
  state: DownloadInfo['state'];
}

/** One session's folder and its downloads. */
export class SessionDownloads {
  readonly folder: string;
  readonly contextId: string | undefined;
  /** While the session is active (a browser of its own then takes its downloads). */
  active = true;
  readonly entries = new Map<string, Entry>();

  constructor(folder: string, contextId: string | undefined) {
    this.folder = folder;
    this.contextId = contextId;
  }

  list(): DownloadInfo[] {
    return [...this.entries.values()].map((e) => {
      let size = e.received;
      try {
        size = fs.statSync(e.path).size;
      } catch {
        // canceled (removed) or not written yet
      }
      return { name: e.name, path: e.path, size, state: e.state };
    });
  }
}

const registries = new WeakMap<object, DownloadSettings>();

/** The download settings of the manager whose resolved options are `o` (one per manager). */
export function downloadSettings(o: { readonly downloadsDir: string; readonly keepDownloads: boolean }): DownloadSettings {
  let s = registries.get(o);
  if (!s) registries.set(o, (s = { root: o.downloadsDir, keep: o.keepDownloads, sessions: new Map() }));
  return s;
}

/** Attributes a browser's download events to the sessions that have a folder on it. */
class BrowserDownloads {
  readonly #b: PooledBrowser;
  readonly sessions = new Set<SessionDownloads>();
  readonly #byGuid = new Map<string, { entry: Entry; owner: SessionDownloads | undefined }>();

  constructor(b: PooledBrowser) {
    this.#b = b;
    b.cdp.on('event', (e) => this.#onEvent(e));
  }

  #onEvent(e: CdpEvent): void {
    if (e.sessionId !== undefined) return;
    if (e.method === 'Browser.downloadWillBegin') {
      const { guid, suggestedFilename, frameId } = e.params;
      const owner = [...this.sessions].find((s) => s.active && (s.contextId === undefined || this.#b.sessionPageIds(s.contextId).includes(frameId)));
      const entry: Entry = { guid, name: safeName(suggestedFilename, guid), path: owner ? path.join(owner.folder, guid) : guid, received: 0, state: 'inProgress' };
      this.#byGuid.set(guid, { entry, owner });
      owner?.entries.set(guid, entry);
    } else if (e.method === 'Browser.downloadProgress') {
      const known = this.#byGuid.get(e.params.guid);
      if (!known) return;
      const { entry } = known;
      entry.received = e.params.receivedBytes;
      if (e.params.state === 'inProgress') return;
      this.#byGuid.delete(entry.guid);
      const file = e.params.filePath;
      // A subframe's download is known by the folder Chrome wrote it to.
      const owner = known.owner ?? (file ? [...this.sessions].find((s) => path.dirname(file) === s.folder) : undefined);
      if (!owner) return;
      owner.entries.set(entry.guid, entry);
      if (e.params.state === 'canceled') {
        entry.state = 'canceled';
        return;
      }
      const from = file ?? path.join(owner.folder, entry.guid);
      if (path.dirname(from) === owner.folder) {
        try {
          const to = reserve(owner.folder, entry.name);
          fs.renameSync(from, to);
          entry.path = to;
          entry.name = path.basename(to);
        } catch {
          entry.path = from;
        }
        entry.state = 'completed';
        return;
      }
      // Saved where a client asked (its own Browser.setDownloadBehavior, as Playwright sends):
      // the client keeps its file, the session's folder gets a copy.
      void copyInto(owner.folder, entry, from);
    }
  }
}

/** Copies a completed download into the session's folder; it counts as completed once there. */
async function copyInto(folder: string, entry: Entry, from: string): Promise<void> {
  try {
    const to = reserve(folder, entry.name);
    entry.path = to;
    entry.name = path.basename(to);
    await fs.promises.copyFile(from, to);
    entry.state = 'completed';
  } catch {
    entry.state = 'canceled';
  }
}

const trackers = new WeakMap<PooledBrowser, BrowserDownloads>();

/** A file name Chrome suggested, as a plain name in the folder (never a path, never empty). */
function safeName(suggested: string, guid: string): string {
  const base = path.basename(suggested.replace(/\\/g, '/')).replace(/^\.+/, '');
  return base === '' ? guid : base;
}

/** Creates (empty) and returns `<folder>/<name>`, or `<folder>/<stem> (n)<ext>` for the first n free. */
function reserve(folder: string, name: string): string {
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = path.join(folder, n === 0 ? name : `${stem} (${n})${ext}`);
    try {
      fs.closeSync(fs.openSync(candidate, 'wx', 0o600));
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n > 10_000) throw err;
    }
  }
}

/**
 * Gives the session its download folder, before it starts. Files stay until `deleteDownloads(id)` or the manager's `close()`
 * (unless `keepDownloads`).
 */
export function setupDownloads(rt: SessionRuntime, b: PooledBrowser, contextId: string | undefined, s: DownloadSettings, timeoutMs: number): void {
  // Chrome makes the folder (and its parents) at the first download: a session that downloads nothing leaves none.
  const folder = path.join(s.root, rt.id);
  const tracker = trackers.get(b) ?? new BrowserDownloads(b);
  trackers.set(b, tracker);
  const mine = new SessionDownloads(folder, contextId);
  tracker.sessions.add(mine);
  s.sessions.set(rt.id, mine);
  rt.record.downloadsPath = folder;
  rt.onEnd(async () => {
    mine.active = false;
    // Nothing downloaded: nothing to keep track of (a long-running manager would pile these up).
    if (mine.entries.size === 0) {
      tracker.sessions.delete(mine);
      s.sessions.delete(rt.id);
    }
    await fs.promises.rmdir(folder).catch(() => {});
  });
  // Sent, not awaited: create() does not wait for its round trip (~0.4 ms of a 1.2 ms create()
  // with an idle browser). Chrome runs DevTools commands in the order they arrive, and this one is
  // on the manager's open connection before the session's clients can even connect. A failure
  // means a browser that is gone or hung, which ends the session by its own rules.
  const applyTo = (browserContextId: string | undefined) =>
    void b.cdp
      .send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: folder, eventsEnabled: true, ...(browserContextId !== undefined ? { browserContextId } : {}) }, { timeoutMs })
      .catch((err: unknown) => managerLog('session %s: download folder not set: %s', rt.id, (err as Error).message));
  const apply = () => applyTo(contextId);
  apply();
  // A context a client creates downloads to the session's folder too (until the client sets its own).
  rt.onClientContext(applyTo);
  // A client that set its own folder and left took the setting with it (Chrome falls back to its
  // default, which refuses downloads in headless): a keepAlive session's next client gets the
  // session's folder again. Sent as it connects, before its own first command can be.
  rt.onNextClient(apply);
  // The same for the clients that stay when one that had set its own folder leaves. Chrome undoes
  // that client's setting as it sees its connection close, which must come before the folder is set
  // again: a round trip on the manager's connection first makes sure (sent at once, it also came
  // after in 12 runs of 12; the round trip is insurance, paid only when a client leaves others).
  rt.onClientLeftOthersStay(() => void b.cdp.send('Browser.getVersion', {}, { timeoutMs }).then(apply, () => {}));
}

/** The downloads of session `id` (none when it had no folder). */
export function listDownloads(s: DownloadSettings, id: string): DownloadInfo[] {
  return s.sessions.get(id)?.list() ?? [];
}

/** Removes session `id`'s downloaded files (and its folder once it has ended). */
export async function deleteDownloads(s: DownloadSettings, id: string): Promise<void> {
  const mine = s.sessions.get(id);
  if (!mine) return;
  if (mine.active) {
    for (const e of mine.entries.values()) if (e.state !== 'inProgress') await fs.promises.rm(e.path, { force: true });
    for (const [guid, e] of mine.entries) if (e.state !== 'inProgress') mine.entries.delete(guid);
    return;
  }
  await fs.promises.rm(mine.folder, { recursive: true, force: true, maxRetries: 3 });
  s.sessions.delete(id);
}

/** At the manager's close: every session folder goes, unless `keepDownloads`. */
export async function closeDownloads(s: DownloadSettings): Promise<void> {
  if (s.keep) return;
  await Promise.all([...s.sessions.keys()].map((id) => deleteDownloads(s, id)));
}
