import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidOptionError } from './errors.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { bool, checkKeys, int, ms, str } from './validate.js';
import { defaultProfilesDir } from './profiles/store.js';
import { resolveProvider, type BrowserProvider } from './providers/resolve.js';
import { defaultCacheDir } from './recording/settings.js';

export type { ProxySettings } from './session/proxy.js';
export type { CreateSessionParams } from './session/params.js';

/** Which Chrome build a manager drives. */
export type HeadlessMode = 'shell' | 'new';

/**
 * How sessions are kept apart (see the README's table of what each isolates).
 * - `'reset'`: a Chrome of its own per session, reset over CDP and reused after it.
 * - `'context'`: a fresh browser context per session in a shared Chrome, disposed after it.
 * - `'browser'`: a fresh Chrome per session, closed after it (`reuse: false`).
 */
export type IsolationMode = 'reset' | 'context' | 'browser';

export const ISOLATION_MODES: readonly IsolationMode[] = ['reset', 'context', 'browser'];

/** Options of {@link SessionManager}. Every field is optional; defaults are listed per field. */
export interface SessionManagerOptions {
  /**
   * Most sessions active at once. Further `create()` calls wait, FIFO within a priority.
   * @default os.availableParallelism()
   */
  readonly maxConcurrent?: number;
  /**
   * Which build to run: `'shell'` is chrome-headless-shell (about 4x cheaper), `'new'` is full
   * Chromium in its new headless mode.
   * @default 'shell' when a headless-shell binary is found, else 'new'
   */
  readonly headless?: HeadlessMode;
  /** Path to the Chrome binary; wins over `CHROME_PATH` and the search. @default found (see README) */
  readonly executablePath?: string;
  /**
   * Extra Chrome command-line flags, appended after ours (a later flag wins). `--disable-features`
   * and `--enable-features` lists are merged with the library's instead (see `lib/chrome/flags.ts`).
   * @default []
   */
  readonly args?: readonly string[];
  /** Extra environment variables for Chrome. @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /** A session's lifetime when `create()` names none. @default 300_000 (5 min) */
  readonly defaultTimeoutMs?: number;
  /** Upper bound for any session's timeout, including after `extend()`. @default 86_400_000 (24 h) */
  readonly maxTimeoutMs?: number;
  /** How long Chrome may take to print its DevTools endpoint. @default 30_000 */
  readonly launchTimeoutMs?: number;
  /** How many ended sessions `get`/`list` still show; older ones are forgotten. @default 1000 */
  readonly historyLimit?: number;
  /** `sessionExpiring` fires this long before a session's timeout. `0`: never. @default 10_000 */
  readonly expiryWarningMs?: number;
  /** Default idle timeout: no CDP traffic from any client for this long stops the session. `0`: off. @default 0 */
  readonly idleTimeoutMs?: number;
  /** After the last client disconnects, wait this long for a reconnect before stopping. @default 0 */
  readonly disconnectGraceMs?: number;
  /**
   * A connected client that answers no websocket ping for this long counts as disconnected.
   * Pings go out at this interval. `0`: no heartbeat. @default 10_000
   */
  readonly clientPingTimeoutMs?: number;
  /**
   * Each active browser is asked `Browser.getVersion` this often; no answer within the same
   * time marks the session `error` with `stopReason: 'unresponsive'`. `0`: off. @default 5_000
   */
  readonly healthCheckIntervalMs?: number;
  /**
   * On SIGINT, SIGTERM and SIGHUP, kill every browser and remove its profile before the process
   * exits (as Puppeteer's `handleSIGINT` does). Browsers are killed on `exit` regardless.
   * @default true
   */
  readonly handleSignals?: boolean;
  /** Warm browsers kept launched and waiting beyond the active ones. @default 1 (0 with a `seleniumGrid` provider: a spare holds a Grid slot) */
  readonly minIdle?: number;
  /** How sessions are kept apart: `'reset'`, `'context'` or `'browser'` ({@link IsolationMode}). @default 'reset' ('browser' with a `seleniumGrid` provider) */
  readonly isolation?: IsolationMode;
  /** In `'context'` isolation, most sessions sharing one Chrome at once (a crash of that Chrome ends them all). @default 200 */
  readonly sessionsPerBrowser?: number;
  /** `false` is `isolation: 'browser'` (a fresh browser per session); kept for compatibility. @default true */
  readonly reuse?: boolean;
  /** Recycle a browser after it has served this many sessions. `0`: no limit. @default 100 */
  readonly maxSessionsPerBrowser?: number;
  /** Recycle a browser older than this. `0`: no limit. @default 1_800_000 (30 min) */
  readonly maxBrowserAgeMs?: number;
  /** Recycle a browser whose process tree's RSS is above this. `0`: no limit. @default 0 */
  readonly maxBrowserRssBytes?: number;
  /** A reset that takes longer kills the browser instead. @default 5_000 */
  readonly resetTimeoutMs?: number;
  /** Most creates waiting for a slot; one more rejects with `QueueFullError`. @default Infinity */
  readonly maxQueue?: number;
  /** A queued create waits at most this long (`QueueTimeoutError`). `0`: no limit. @default 0 */
  readonly queueTimeoutMs?: number;
  /**
   * Folder for profiles, Chrome's temp files and the launch records used to reap orphans. It must
   * be a folder of this process's uid, not a symbolic link (its mode is set to 0700); otherwise
   * `create()` rejects with `RuntimeDirError`. A default folder that fails these checks is
   * replaced by a private `mkdtemp` folder next to it.
   * @default `/dev/shm/chrome-sessions-${uid}` when /dev/shm has 1 GiB free, else `${os.tmpdir()}/chrome-sessions-${uid}`
   */
  readonly runtimeDir?: string;
  /**
   * Folder for `manager.profiles` (Chrome profiles kept between sessions and restarts). Created
   * 0700; it must be a folder of this process's uid, not a symbolic link (`ProfilesDirError`).
   * @default `$XDG_CACHE_HOME/chrome-sessions/profiles`, else `~/.cache/chrome-sessions/profiles`
   */
  readonly profilesDir?: string;
  /**
   * Folder of session recordings (`create({ recording })`): `<id>.jsonl` events, `<id>.html`
   * replay page, `<id>.mp4` video. Kept after the manager closes.
   * @default `$XDG_CACHE_HOME/chrome-sessions/recordings`, else `~/.cache/chrome-sessions/recordings`
   */
  readonly recordingsDir?: string;
  /**
   * Folder of sessions' downloads: each session downloads into `<downloadsDir>/<id>/`.
   * @default `$XDG_CACHE_HOME/chrome-sessions/downloads`, else `~/.cache/chrome-sessions/downloads`
   */
  readonly downloadsDir?: string;
  /** Keep the sessions' downloaded files when the manager closes (else `close()` removes them). @default false */
  readonly keepDownloads?: boolean;
  /**
   * Also measure each session's usage page by page: `networkBytesReceived` (every isolation mode)
   * and `cpuMs` in 'context' isolation, through a CDP attach to every page of every session
   * (`Network.enable`, `Performance.enable`). Costs CPU on every job (see the README's Usage).
   * @default false
   */
  readonly pageUsage?: boolean;
  /** Time source for timeouts; tests inject a fake. @default the system clock */
  readonly clock?: Clock;
  /** Where sessions' browsers come from: `localChrome()` or `seleniumGrid({ url })` (README, "Past one machine"). @default localChrome() */
  readonly provider?: BrowserProvider;
}

/** Options with every default filled in. */
export type ResolvedManagerOptions = Required<Omit<SessionManagerOptions, 'executablePath' | 'headless'>> & {
  readonly executablePath: string | undefined;
  readonly headless: HeadlessMode | undefined;
  /** `runtimeDir` is the default, not the user's: one that fails the checks is replaced, not refused. */
  readonly runtimeDirIsDefault: boolean;
};

/** Free space a RAM-backed folder needs before we put profiles there. */
const MIN_SHM_FREE_BYTES = 1024 ** 3;

/**
 * Profiles live in RAM when the machine has a roomy /dev/shm: the reset's storage and cache
 * clears then touch no disk (measured: reset wall -30 %, create p50 -50 % under load).
 * A small /dev/shm (Docker's default is 64 MiB) falls back to the temp dir.
 *
 * `base` names the parent folder instead (tests use it to leave the real default alone). The
 * name is predictable in a world-writable folder, so whoever comes first may own it: a manager
 * checks it and uses a private `mkdtemp` folder next to it when it is not ours alone.
 */
export function defaultRuntimeDir(base?: string): string {
  const name = `chrome-sessions-${process.getuid?.() ?? 'user'}`;
  if (base !== undefined) return path.join(base, name);
  try {
    const st = fs.statfsSync('/dev/shm');
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    if (st.bavail * st.bsize >= MIN_SHM_FREE_BYTES) return path.join('/dev/shm', name);
  } catch {
    // no /dev/shm (macOS) or not writable
  }
  return path.join(os.tmpdir(), name);
}

/** One resolver per option: the key list below is derived from it, so they cannot drift apart. */
type Resolvers<In, Out> = { readonly [K in keyof Required<In>]: (o: Record<string, unknown>) => K extends keyof Out ? Out[K] : never };

const MANAGER_OPTIONS: Resolvers<SessionManagerOptions, ResolvedManagerOptions> = {
  maxConcurrent: (o) => int('maxConcurrent', o.maxConcurrent, Math.max(1, os.availableParallelism()), 1),
  headless: (o) => {
    if (o.headless !== undefined && o.headless !== 'shell' && o.headless !== 'new') throw new InvalidOptionError('headless', "'shell' or 'new'", o.headless);
    return o.headless as HeadlessMode | undefined;
  },
  executablePath: (o) => str('executablePath', o.executablePath),
  args: (o) => {
    const args = o.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new InvalidOptionError('args', 'an array of strings', args);
    return [...(args as string[])];
  },
  env: (o) => {
    const env = o.env ?? {};
    if (env === null || typeof env !== 'object' || Array.isArray(env) || Object.values(env).some((v) => typeof v !== 'string')) {
      throw new InvalidOptionError('env', 'an object of strings', env);
    }
    return { ...(env as Record<string, string>) };
  },
  defaultTimeoutMs: (o) => {
    const max = MANAGER_OPTIONS.maxTimeoutMs(o);
    return ms('defaultTimeoutMs', o.defaultTimeoutMs, Math.min(300_000, max), 1, max);
  },
  maxTimeoutMs: (o) => ms('maxTimeoutMs', o.maxTimeoutMs, 86_400_000, 1),
  launchTimeoutMs: (o) => ms('launchTimeoutMs', o.launchTimeoutMs, 30_000, 1),
  historyLimit: (o) => int('historyLimit', o.historyLimit, 1000, 0),
  expiryWarningMs: (o) => ms('expiryWarningMs', o.expiryWarningMs, 10_000, 0),
  idleTimeoutMs: (o) => ms('idleTimeoutMs', o.idleTimeoutMs, 0, 0),
  disconnectGraceMs: (o) => ms('disconnectGraceMs', o.disconnectGraceMs, 0, 0),
  clientPingTimeoutMs: (o) => ms('clientPingTimeoutMs', o.clientPingTimeoutMs, 10_000, 0),
  healthCheckIntervalMs: (o) => ms('healthCheckIntervalMs', o.healthCheckIntervalMs, 5_000, 0),
  handleSignals: (o) => bool('handleSignals', o.handleSignals, true),
  minIdle: (o) => int('minIdle', o.minIdle, MANAGER_OPTIONS.provider(o).kind === 'selenium-grid' ? 0 : 1, 0),
  reuse: (o) => bool('reuse', o.reuse, true),
  isolation: (o) => {
    const reuse = MANAGER_OPTIONS.reuse(o);
    // A Grid session kept for reuse holds a Grid slot: with a Grid, reuse is asked for by name.
    if (o.isolation === undefined) return reuse && !(o.reuse === undefined && MANAGER_OPTIONS.provider(o).kind === 'selenium-grid') ? 'reset' : 'browser';
    if (!ISOLATION_MODES.includes(o.isolation as IsolationMode)) throw new InvalidOptionError('isolation', ISOLATION_MODES.map((m) => `'${m}'`).join(' | '), o.isolation);
    if (!reuse && o.isolation !== 'browser') throw new InvalidOptionError('reuse', `true or absent with isolation '${String(o.isolation)}' (reuse: false means isolation 'browser')`, o.reuse);
    return o.isolation as IsolationMode;
  },
  sessionsPerBrowser: (o) => int('sessionsPerBrowser', o.sessionsPerBrowser, 200, 1, 1000),
  maxSessionsPerBrowser: (o) => int('maxSessionsPerBrowser', o.maxSessionsPerBrowser, 100, 0),
  maxBrowserAgeMs: (o) => ms('maxBrowserAgeMs', o.maxBrowserAgeMs, 1_800_000, 0),
  maxBrowserRssBytes: (o) => int('maxBrowserRssBytes', o.maxBrowserRssBytes, 0, 0),
  resetTimeoutMs: (o) => ms('resetTimeoutMs', o.resetTimeoutMs, 5_000, 1),
  maxQueue: (o) => int('maxQueue', o.maxQueue, Infinity, 0, Number.MAX_SAFE_INTEGER, true),
  queueTimeoutMs: (o) => ms('queueTimeoutMs', o.queueTimeoutMs, 0, 0),
  runtimeDir: (o) => str('runtimeDir', o.runtimeDir) ?? defaultRuntimeDir(),
  profilesDir: (o) => path.resolve(str('profilesDir', o.profilesDir) ?? defaultProfilesDir()),
  provider: (o) => resolveProvider(o.provider),
  downloadsDir: (o) => path.resolve(str('downloadsDir', o.downloadsDir) ?? defaultCacheDir('downloads')),
  pageUsage: (o) => bool('pageUsage', o.pageUsage, false),
  keepDownloads: (o) => bool('keepDownloads', o.keepDownloads, false),
  recordingsDir: (o) => path.resolve(str('recordingsDir', o.recordingsDir) ?? defaultCacheDir('recordings')),
  clock: (o) => {
    const clock = (o.clock ?? systemClock) as Clock;
    if (typeof clock?.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
      throw new InvalidOptionError('clock', 'an object with now(), setTimeout() and clearTimeout()', o.clock);
    }
    return clock;
  },
};

/** Every option's name. */
export const MANAGER_OPTION_NAMES = Object.keys(MANAGER_OPTIONS) as readonly (keyof SessionManagerOptions)[];

/** Validates manager options and fills in every default, in one place. */
export function resolveManagerOptions(input: SessionManagerOptions | undefined): ResolvedManagerOptions {
  const o = checkKeys('options', input, MANAGER_OPTION_NAMES);
  const resolved: Record<string, unknown> = { runtimeDirIsDefault: o.runtimeDir === undefined };
  for (const name of MANAGER_OPTION_NAMES) resolved[name] = MANAGER_OPTIONS[name](o);
  return resolved as ResolvedManagerOptions;
}
