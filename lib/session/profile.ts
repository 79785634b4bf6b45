/**
 * A session on a profile (`create({ profile: { id, persistChanges } })`): its Chrome is launched
 * on the profile's user-data-dir (or a copy of it), is never shared and never reused, and is
 * closed cleanly (`Browser.close`, then SIGKILL after 5 s) before the session counts as ended.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LaunchSpec } from '../chrome/launch.js';
import { removeDir, type RunDir } from '../chrome/runtime.js';
import { userDataDirFree } from '../chrome/user-data-dirs.js';
import type { Clock } from '../clock.js';
import { InvalidOptionError, LaunchError } from '../errors.js';
import { userDataDirOf, waitForLock } from '../profiles/lock.js';
import { PROFILE_ID_RE, type ProfileStore } from '../profiles/store.js';
import { bool, checkKeys } from '../validate.js';
import type { SessionRuntime } from './runtime.js';

/** `create({ profile })`: Hyperbrowser's form. */
export interface ProfileParams {
  /** A profile's id, from `manager.profiles.create()`. */
  readonly id: string;
  /**
   * `true`: the session runs on the profile itself, and what it writes (cookies, storage, cache)
   * is there for the next session; one such session at a time per profile. `false`: it runs on a
   * copy taken at create time and leaves the profile as it was; copies run side by side.
   * @default false
   */
  readonly persistChanges?: boolean;
}

/** `create.profile` validated. */
export interface ResolvedProfile {
  readonly id: string;
  readonly persistChanges: boolean;
}

/**
 * Validates `create.profile`. A profile's session runs in a Chrome of its own, so it takes
 * isolation `'browser'`: asking for another mode in the same create is refused.
 */
export function resolveProfile(value: unknown, isolation: unknown): ResolvedProfile | undefined {
  if (value === undefined) return undefined;
  const p = checkKeys('create.profile', value, ['id', 'persistChanges']);
  if (typeof p.id !== 'string' || !PROFILE_ID_RE.test(p.id)) throw new InvalidOptionError('create.profile.id', 'a profile id from profiles.create()', p.id);
  const persistChanges = bool('create.profile.persistChanges', p.persistChanges, false);
  if (isolation !== undefined && isolation !== 'browser') {
    throw new InvalidOptionError('create.profile', "no isolation, or isolation 'browser' (a profile's session runs in a Chrome of its own)", `isolation ${String(isolation)}`);
  }
  return { id: p.id, persistChanges };
}

/** What {@link openProfile} needs from the manager. */
export interface ProfileHost {
  readonly store: ProfileStore;
  readonly run: RunDir;
  readonly queueTimeoutMs: number;
  readonly clock: Clock;
}

/**
 * The launch spec of a session on `profile`, once the profile is its: it waits (as `pending`,
 * bounded by `queueTimeoutMs`, cancelled with the create) while another session runs on the
 * profile. `persistChanges`: the spec names the profile's folder, held until the session's
 * Chrome has exited. Otherwise: a copy in the run folder, taken under the lock and removed once
 * the session's Chrome has exited.
 */
export async function openProfile(rt: SessionRuntime, host: ProfileHost, spec: LaunchSpec, profile: ResolvedProfile, priority: number, queued: () => void): Promise<LaunchSpec> {
  const folder = host.store.folder(profile.id);
  const lock = await waitForLock(folder, profile.id, { holder: `session ${rt.id}`, priority, signal: rt.abort.signal, timeoutMs: host.queueTimeoutMs, clock: host.clock, onWait: queued });
  const data = userDataDirOf(folder);
  if (profile.persistChanges) {
    rt.onEnd(async () => {
      await userDataDirFree(data);
      lock.release();
    });
    removeSingletons(data);
    return { ...spec, userDataDir: data };
  }
  let copy: string | undefined;
  try {
    copy = host.run.newProfileDir();
    await copyProfile(data, copy);
  } catch (err) {
    if (copy) await removeDir(copy);
    throw new LaunchError(`Could not copy profile ${profile.id}: ${(err as Error).message}`, spec.executablePath, '', { cause: err });
  } finally {
    lock.release();
  }
  const dir = copy;
  rt.onEnd(async () => {
    await userDataDirFree(dir);
    await removeDir(dir);
  });
  return { ...spec, userDataDir: dir };
}

/** Chrome's own per-run lock files; a copy must not carry them, and a crash leaves them behind. */
const SINGLETONS = ['SingletonLock', 'SingletonSocket', 'SingletonCookie', 'DevToolsActivePort'];

/**
 * Removes what a Chrome killed on this profile left of its singleton lock (full Chromium makes
 * one; it points into a temp folder that is gone): the profile lock says no Chrome uses it now.
 */
function removeSingletons(data: string): void {
  for (const name of SINGLETONS) fs.rmSync(path.join(data, name), { force: true });
}

/** Copies a user-data-dir (all of it: cookies, storage, cache), leaving out Chrome's run files. */
async function copyProfile(from: string, to: string): Promise<void> {
  await fs.promises.cp(from, to, {
    recursive: true,
    force: true,
    filter: (src) => !SINGLETONS.includes(path.basename(src)) || path.dirname(src) !== from,
  });
}
