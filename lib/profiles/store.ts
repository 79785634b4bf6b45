/**
 * Profiles (Hyperbrowser's `profiles`, Browserbase's contexts): Chrome user-data-dirs that keep
 * cookies, storage and cache from one session to the next, also across restarts.
 *
 * Layout: `<profilesDir>/<id>/profile.json` (id, name, creation time), `<id>/data/` (Chrome's
 * user-data-dir), `<id>/.lock` while a session uses it (lib/profiles/lock.ts). Every folder is
 * 0700 and every file 0600; `profilesDir` must be a folder of this process's uid, not a symbolic
 * link. It lives outside the runtime folder: nothing that reaps runs ever touches it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOwnDir, isOwnFile, lstat, privateDirProblem } from '../chrome/private-dir.js';
import { InvalidOptionError, ProfileBusyError, ProfileNotFoundError, ProfilesDirError } from '../errors.js';
import { checkKeys, int } from '../validate.js';
import { lockHolder, tryLock, userDataDirOf, type LockAttempt } from './lock.js';

/** A profile id: a UUID as `profiles.create()` makes them (nothing else is ever a path here). */
export const PROFILE_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Where profiles live by default: a per-user cache folder that survives reboots
 * (`$XDG_CACHE_HOME/chrome-sessions/profiles`, else `~/.cache/chrome-sessions/profiles`), never
 * the RAM-backed runtime folder.
 */
export function defaultProfilesDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const cache = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(cache, 'chrome-sessions', 'profiles');
}

/** A profile as `profiles.get()` and `list()` describe it. */
export interface ProfileInfo {
  readonly id: string;
  /** The name given to `profiles.create()`, if any. */
  readonly name?: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** True while a `persistChanges: true` session (of this process or another) runs on it, or a copy of it is being taken. */
  readonly inUse: boolean;
}

/** Parameters of {@link ProfileStore.create}. */
export interface CreateProfileParams {
  /** A label for your own use (1..200 characters). @default none */
  readonly name?: string;
}

/** Parameters of {@link ProfileStore.list}. */
export interface ListProfilesParams {
  /** @default 1 */
  readonly page?: number;
  /** @default 20 */
  readonly perPage?: number;
}

/** What {@link ProfileStore.list} returns: newest first. */
export interface ProfileList {
  profiles: ProfileInfo[];
  totalCount: number;
  page: number;
  perPage: number;
}

interface ProfileMeta {
  readonly id: string;
  readonly name?: string;
  readonly createdAt: string;
}

/** The profiles of one `profilesDir`: `manager.profiles`. Nothing is created on disk before the first call. */
export class ProfileStore {
  /** The folder that holds the profiles (absolute). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates an empty profile; its first session starts from a fresh Chrome profile. */
  async create(params?: CreateProfileParams): Promise<ProfileInfo> {
    const p = checkKeys('profiles.create', params, ['name']);
    const name = p.name;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 200 || /[\p{Cc}]/u.test(name))) {
      throw new InvalidOptionError('profiles.create.name', 'a string of 1..200 characters without control characters', name);
    }
    this.#root();
    const id = crypto.randomUUID();
    const folder = path.join(this.dir, id);
    const meta: ProfileMeta = { id, ...(name !== undefined ? { name } : {}), createdAt: new Date().toISOString() };
    try {
      await fs.promises.mkdir(folder, { mode: 0o700 });
      await fs.promises.mkdir(userDataDirOf(folder), { mode: 0o700 });
      // Written aside and renamed: a profile is listed only once complete.
      const tmp = path.join(folder, 'profile.json.tmp');
      await fs.promises.writeFile(tmp, JSON.stringify(meta), { mode: 0o600, flag: 'wx' });
      await fs.promises.rename(tmp, path.join(folder, 'profile.json'));
    } catch (err) {
      await fs.promises.rm(folder, { recursive: true, force: true }).catch(() => {});
      throw new ProfilesDirError(this.dir, `a profile could not be written (${(err as Error).message})`, { cause: err });
    }
    return { ...meta, inUse: false };
  }

  /** The profile `id`. Throws {@link ProfileNotFoundError} for an unknown or malformed id. */
  async get(id: string): Promise<ProfileInfo> {
    const folder = this.folder(id);
    const meta = readMeta(folder);
    if (!meta) throw new ProfileNotFoundError(id);
    return { ...meta, inUse: lockHolder(folder) !== undefined };
  }

  /** Profiles newest first, one page at a time. */
  async list(params?: ListProfilesParams): Promise<ProfileList> {
    const p = checkKeys('profiles.list', params, ['page', 'perPage']);
    const page = int('profiles.list.page', p.page, 1, 1);
    const perPage = int('profiles.list.perPage', p.perPage, 20, 1, 1000);
    this.#root();
    const names = await fs.promises.readdir(this.dir);
    // Leftovers of a delete that could not finish.
    for (const n of names) if (n.startsWith('.trash-')) void fs.promises.rm(path.join(this.dir, n), { recursive: true, force: true }).catch(() => {});
    const all: ProfileInfo[] = [];
    for (const n of names) {
      if (!PROFILE_ID_RE.test(n)) continue;
      const folder = path.join(this.dir, n);
      const meta = readMeta(folder);
      if (meta) all.push({ ...meta, inUse: lockHolder(folder) !== undefined });
    }
    all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return { profiles: all.slice((page - 1) * perPage, page * perPage), totalCount: all.length, page, perPage };
  }

  /**
   * Deletes a profile and everything in it. Throws {@link ProfileBusyError} while a
   * `persistChanges: true` session runs on it (or a copy is being taken; sessions on copies
   * taken earlier do not hold it), {@link ProfileNotFoundError} for an unknown id.
   */
  async delete(id: string): Promise<void> {
    const folder = this.folder(id);
    let r: LockAttempt;
    try {
      r = tryLock(folder, id, 'delete');
    } catch (err) {
      throw new ProfilesDirError(this.dir, `profile ${id} could not be locked (${(err as Error).message})`, { cause: err });
    }
    if ('heldBy' in r) throw new ProfileBusyError(id, r.heldBy);
    if ('gone' in r) throw new ProfileNotFoundError(id);
    // Moved aside first (atomic): from here on nobody finds it, even if the removal is slow.
    const trash = path.join(this.dir, `.trash-${id}-${crypto.randomBytes(3).toString('hex')}`);
    try {
      fs.renameSync(folder, trash);
    } catch (err) {
      r.lock.release();
      throw new ProfilesDirError(this.dir, `profile ${id} could not be removed (${(err as Error).message})`, { cause: err });
    }
    r.lock.release();
    await fs.promises.rm(trash, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => {});
  }

  /**
   * The folder of profile `id`, checked: a well-formed id of a profile that exists, in a folder
   * of ours. Throws {@link ProfileNotFoundError} otherwise (or `ProfilesDirError`).
   * @internal
   */
  folder(id: string): string {
    if (typeof id !== 'string') throw new InvalidOptionError('id', 'a profile id string', id);
    if (!PROFILE_ID_RE.test(id)) throw new ProfileNotFoundError(id);
    this.#root();
    const folder = path.join(this.dir, id);
    if (!isOwnDir(lstat(folder)) || !isOwnDir(lstat(userDataDirOf(folder))) || !isOwnFile(lstat(path.join(folder, 'profile.json')))) {
      throw new ProfileNotFoundError(id);
    }
    return folder;
  }

  /** Creates `dir` (0700) if missing and checks it is ours alone. */
  #root(): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ProfilesDirError(this.dir, `it cannot be created (${(err as Error).message})`, { cause: err });
    }
    const problem = privateDirProblem(this.dir);
    if (problem !== undefined) throw new ProfilesDirError(this.dir, problem);
  }
}

function readMeta(folder: string): ProfileMeta | undefined {
  const file = path.join(folder, 'profile.json');
  if (!isOwnFile(lstat(file))) return undefined;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as ProfileMeta;
    return typeof m.id === 'string' && typeof m.createdAt === 'string' ? { id: m.id, ...(typeof m.name === 'string' ? { name: m.name } : {}), createdAt: m.createdAt } : undefined;
  } catch {
    return undefined;
  }
}
