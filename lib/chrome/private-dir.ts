import fs from 'node:fs';
import path from 'node:path';
import { RuntimeDirError } from '../errors.js';
import { runtimeLog } from '../log.js';

/**
 * The runtime folder holds the records that say which processes to kill, so it and every folder
 * under it must be the process owner's alone: a folder another user can write to (or replace by
 * a symbolic link) would let them choose what a manager kills, or read the profiles.
 *
 * Set `DEBUG=chrome-sessions:runtime` to see why a default folder was replaced.
 */

/** The uid whose folders count as ours; `undefined` where there are no uids (Windows). */
function ownUid(): number | undefined {
  return process.getuid?.();
}

/** True when an lstat result is a real folder (no symbolic link) owned by us. */
export function isOwnDir(st: fs.Stats | undefined): st is fs.Stats {
  const uid = ownUid();
  return st !== undefined && st.isDirectory() && !st.isSymbolicLink() && (uid === undefined || st.uid === uid);
}

/** True when an lstat result is a regular file (no symbolic link) owned by us. */
export function isOwnFile(st: fs.Stats | undefined): st is fs.Stats {
  const uid = ownUid();
  return st !== undefined && st.isFile() && (uid === undefined || st.uid === uid);
}

/** `fs.lstatSync` that answers `undefined` for a missing entry or any other failure. */
export function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Why `dir` is not a private folder of ours, or `undefined` when it is. A folder of ours with a
 * looser mode is tightened to 0700. The folder is opened without following a symbolic link and
 * checked and fixed through that descriptor, so it cannot be swapped between check and chmod.
 */
export function privateDirProblem(dir: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'it is a symbolic link';
    if (code === 'ENOTDIR') return lstat(dir)?.isSymbolicLink() ? 'it is a symbolic link' : 'it is not a folder';
    return `it cannot be opened (${code ?? (err as Error).message})`;
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = ownUid();
    if (uid !== undefined && st.uid !== uid) return `it is owned by uid ${st.uid}, not by this process's uid ${uid}`;
    if ((st.mode & 0o777) !== 0o700) fs.fchmodSync(fd, 0o700);
    return undefined;
  } catch (err) {
    return `it cannot be checked (${(err as Error).message})`;
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates `dir` (and missing parents) for our own use, or says why it is not usable. */
function makePrivateDir(dir: string): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // EEXIST (a file, a dangling link) and the like: privateDirProblem says what it is.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return `it cannot be created (${(err as Error).message})`;
  }
  return privateDirProblem(dir);
}

/** The runtime folder a manager will use, and whether it replaces an unsafe default. */
export interface PreparedRuntimeDir {
  /** The folder to use: `requested`, or a private replacement. */
  readonly dir: string;
  /** True when `requested` failed the checks and `dir` was made with `mkdtemp` instead. */
  readonly replaced: boolean;
}

/**
 * Makes sure `requested` is a private folder of ours (created 0700 if missing, mode fixed if
 * ours). When it is not: with `replaceIfUnsafe` (the default location, whose predictable name in
 * a world-writable folder anyone can take first) a fresh `<requested>-XXXXXX` is made with
 * `mkdtemp`; otherwise (a folder the user named) a {@link RuntimeDirError} is thrown.
 */
export function prepareRuntimeDir(requested: string, opts: { replaceIfUnsafe: boolean }): PreparedRuntimeDir {
  const problem = makePrivateDir(requested);
  if (problem === undefined) return { dir: requested, replaced: false };
  if (!opts.replaceIfUnsafe) throw new RuntimeDirError(requested, problem);
  let dir: string;
  try {
    dir = fs.mkdtempSync(`${requested}-`);
  } catch (err) {
    throw new RuntimeDirError(requested, `${problem}, and no private replacement could be made next to it (${(err as Error).message})`, { cause: err });
  }
  const again = privateDirProblem(dir);
  if (again !== undefined) throw new RuntimeDirError(dir, again);
  runtimeLog('default runtime folder %s is not usable (%s); using private folder %s instead', requested, problem, dir);
  return { dir, replaced: true };
}

/**
 * Replacement folders made by {@link prepareRuntimeDir} for `requested` in earlier runs: private
 * folders of ours (checked as the runtime folder is) named `<requested>-XXXXXX`, next to it.
 */
export function replacementDirs(requested: string): string[] {
  const parent = path.dirname(requested);
  const prefix = `${path.basename(requested)}-`;
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(n.slice(prefix.length)))
    .map((n) => path.join(parent, n))
    .filter((p) => isOwnDir(lstat(p)) && privateDirProblem(p) === undefined);
}
