import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidOptionError } from './errors.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { MAX_TIMER_MS } from './deadline.js';
import { resolveOverrides, type PageOverrides } from './session/emulation.js';
import { resolveProxy, type ProxySettings } from './session/proxy.js';

export type { ProxySettings };

/** Which Chrome build a manager drives. */
export type HeadlessMode = 'shell' | 'new';

/**
 * How sessions are kept apart (see the README's table of what each isolates).
 * - `'reset'`: a Chrome of its own per session, reset over CDP and reused after it.
 * - `'context'`: a fresh browser context per session in a shared Chrome, disposed after it.
 * - `'browser'`: a fresh Chrome per session, closed after it (`reuse: false`).
 */
export type IsolationMode = 'reset' | 'context' | 'browser';

const ISOLATION_MODES: readonly IsolationMode[] = ['reset', 'context', 'browser'];

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
  /** Warm browsers kept launched and waiting beyond the active ones. @default 1 */
  readonly minIdle?: number;
  /** How sessions are kept apart: `'reset'`, `'context'` or `'browser'` ({@link IsolationMode}). @default 'reset' */
  readonly isolation?: IsolationMode;
  /** In `'context'` isolation, most sessions sharing one Chrome at once (a crash of that Chrome ends them all). @default 32 */
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
  /** Time source for timeouts; tests inject a fake. @default the system clock */
  readonly clock?: Clock;
}

/** Options with every default filled in. */
export type ResolvedManagerOptions = Required<Omit<SessionManagerOptions, 'executablePath' | 'headless'>> & {
  readonly executablePath: string | undefined;
  readonly headless: HeadlessMode | undefined;
  /** `runtimeDir` is the default, not the user's: one that fails the checks is replaced, not refused. */
  readonly runtimeDirIsDefault: boolean;
};

/** Parameters of {@link SessionManager.create}. */
export interface CreateSessionParams {
  /** Lifetime in milliseconds (Steel's name). @default the manager's `defaultTimeoutMs` */
  readonly timeoutMs?: number;
  /** Lifetime in minutes (Hyperbrowser's name); give this or `timeoutMs`, not both. */
  readonly timeoutMinutes?: number;
  /** Survive client disconnects until the timeout or a stop. @default false */
  readonly keepAlive?: boolean;
  /** Stop after this long without CDP traffic from any client. `0`: off. @default the manager's `idleTimeoutMs` */
  readonly idleTimeoutMs?: number;
  /** Cancels the create while it waits or launches. */
  readonly signal?: AbortSignal;
  /** Higher runs first among waiting creates. @default 0 */
  readonly priority?: number;
  /** This session's isolation, overriding the manager's. @default the manager's `isolation` */
  readonly isolation?: IsolationMode;
  /**
   * A proxy for this session's traffic, with credentials if it needs them ('context' and
   * 'browser' isolation: a reset Chrome keeps the proxy it was launched with). @default none
   */
  readonly proxy?: ProxySettings;
  /** Steel's form of `proxy`: `http://user:pass@host:port`. Not with `proxy`. @default none */
  readonly proxyUrl?: string;
  /**
   * Also serve the session over HTTP discovery (`/json/version`, `/json/list`, `/json/protocol`)
   * on a loopback port of its own, given as `session.browserURL`, for clients that find a browser
   * that way (`puppeteer.connect({ browserURL })`, `connectOverCDP('http://…')`). Any local
   * process that reaches the port can read the session's token there, as with Chrome's own
   * debugging port: hence opt-in. @default false
   */
  readonly browserURL?: boolean;
  /** `navigator.userAgent` and the `User-Agent` header of every page of the session ('context' and 'browser' isolation). @default Chrome's */
  readonly userAgent?: string;
  /** The session's language: `navigator.language`, `Intl` defaults, `Accept-Language` (e.g. `fr-FR`). @default Chrome's */
  readonly locale?: string;
  /** The IANA time zone every page of the session sees (e.g. `Asia/Tokyo`). @default the machine's */
  readonly timezoneId?: string;
}

/** Throws unless `value` is a plain object whose keys are all in `allowed`. */
function checkKeys(where: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(where, 'an object', value);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(`${where}.${key}`, `one of the known options (${allowed.join(', ')})`, key);
    }
  }
  return value as Record<string, unknown>;
}

/** A duration in ms that Node's timers can honour (2^31-1, ~24.8 days); a longer one fires at once. */
function ms(name: string, value: unknown, fallback: number, min: number, max = MAX_TIMER_MS): number {
  return int(name, value, fallback, min, Math.min(max, MAX_TIMER_MS));
}

/** An integer (or `Infinity` when allowed) within [min, max]. */
function int(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, allowInfinity = false): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min && value <= max));
  if (!ok) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new InvalidOptionError(name, `an integer ${range}${allowInfinity ? ' or Infinity' : ''}`, value);
  }
  return value;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'a boolean', value);
  return value;
}

function str(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, 'a non-empty string', value);
  return value;
}

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
  minIdle: (o) => int('minIdle', o.minIdle, 1, 0),
  reuse: (o) => bool('reuse', o.reuse, true),
  isolation: (o) => {
    const reuse = MANAGER_OPTIONS.reuse(o);
    if (o.isolation === undefined) return reuse ? 'reset' : 'browser';
    if (!ISOLATION_MODES.includes(o.isolation as IsolationMode)) throw new InvalidOptionError('isolation', ISOLATION_MODES.map((m) => `'${m}'`).join(' | '), o.isolation);
    if (!reuse && o.isolation !== 'browser') throw new InvalidOptionError('reuse', `true or absent with isolation '${String(o.isolation)}' (reuse: false means isolation 'browser')`, o.reuse);
    return o.isolation as IsolationMode;
  },
  sessionsPerBrowser: (o) => int('sessionsPerBrowser', o.sessionsPerBrowser, 32, 1, 1000),
  maxSessionsPerBrowser: (o) => int('maxSessionsPerBrowser', o.maxSessionsPerBrowser, 100, 0),
  maxBrowserAgeMs: (o) => ms('maxBrowserAgeMs', o.maxBrowserAgeMs, 1_800_000, 0),
  maxBrowserRssBytes: (o) => int('maxBrowserRssBytes', o.maxBrowserRssBytes, 0, 0),
  resetTimeoutMs: (o) => ms('resetTimeoutMs', o.resetTimeoutMs, 5_000, 1),
  maxQueue: (o) => int('maxQueue', o.maxQueue, Infinity, 0, Number.MAX_SAFE_INTEGER, true),
  queueTimeoutMs: (o) => ms('queueTimeoutMs', o.queueTimeoutMs, 0, 0),
  runtimeDir: (o) => str('runtimeDir', o.runtimeDir) ?? defaultRuntimeDir(),
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

/** The create parameters with defaults applied. */
export interface ResolvedCreateParams {
  readonly timeoutMs: number;
  readonly keepAlive: boolean;
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly priority: number;
  readonly isolation: IsolationMode;
  readonly proxy: ProxySettings | undefined;
  readonly browserURL: boolean;
  readonly overrides: PageOverrides | undefined;
}

const CREATE_PARAM_NAMES = ['timeoutMs', 'timeoutMinutes', 'keepAlive', 'idleTimeoutMs', 'signal', 'priority', 'isolation', 'proxy', 'proxyUrl', 'browserURL', 'userAgent', 'locale', 'timezoneId'] as const satisfies readonly (keyof CreateSessionParams)[];
// The list above names every parameter: a parameter added to the interface and not here fails to compile.
type MissingCreateParam = Exclude<keyof CreateSessionParams, (typeof CREATE_PARAM_NAMES)[number]>;
const allCreateParamsNamed: MissingCreateParam extends never ? true : never = true;
void allCreateParamsNamed;

/** Validates `create()` parameters against the manager's limits. */
export function resolveCreateParams(input: CreateSessionParams | undefined, manager: ResolvedManagerOptions): ResolvedCreateParams {
  const p = checkKeys('create', input, CREATE_PARAM_NAMES);
  if (p.timeoutMs !== undefined && p.timeoutMinutes !== undefined) {
    throw new InvalidOptionError('create.timeoutMinutes', 'either timeoutMs or timeoutMinutes, not both', p.timeoutMinutes);
  }
  let timeoutMs = manager.defaultTimeoutMs;
  if (p.timeoutMinutes !== undefined) {
    const max = manager.maxTimeoutMs / 60_000;
    const m = p.timeoutMinutes;
    if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0 || m > max) {
      throw new InvalidOptionError('create.timeoutMinutes', `a number of minutes > 0 and <= ${max}`, m);
    }
    timeoutMs = Math.max(1, Math.round(m * 60_000));
  } else if (p.timeoutMs !== undefined) {
    timeoutMs = ms('create.timeoutMs', p.timeoutMs, manager.defaultTimeoutMs, 1, manager.maxTimeoutMs);
  }
  const signal = p.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionError('create.signal', 'an AbortSignal', signal);
  }
  const mode = isolation(p.isolation, manager.isolation);
  const proxy = resolveProxy(p.proxy, p.proxyUrl);
  if (proxy && mode === 'reset') {
    throw new InvalidOptionError(p.proxy !== undefined ? 'create.proxy' : 'create.proxyUrl', "isolation 'context' or 'browser' (a reset Chrome keeps the proxy it was launched with)", p.proxy ?? p.proxyUrl);
  }
  const overrides = resolveOverrides(p);
  if (overrides && mode === 'reset') {
    const name = Object.keys(overrides)[0]!;
    throw new InvalidOptionError(`create.${name}`, "isolation 'context' or 'browser' (a reset Chrome's pages outlive the session)", p[name]);
  }
  return {
    timeoutMs,
    keepAlive: bool('create.keepAlive', p.keepAlive, false),
    idleTimeoutMs: ms('create.idleTimeoutMs', p.idleTimeoutMs, manager.idleTimeoutMs, 0),
    signal,
    priority: int('create.priority', p.priority, 0, Number.MIN_SAFE_INTEGER),
    isolation: mode,
    proxy,
    browserURL: bool('create.browserURL', p.browserURL, false),
    overrides,
  };
}

function isolation(value: unknown, fallback: IsolationMode): IsolationMode {
  if (value === undefined) return fallback;
  if (!ISOLATION_MODES.includes(value as IsolationMode)) throw new InvalidOptionError('create.isolation', ISOLATION_MODES.map((m) => `'${m}'`).join(' | '), value);
  return value as IsolationMode;
}

/** Validates the `extend()` amount. */
export function checkExtendMs(value: unknown): number {
  return ms('extend.ms', value, 0, 1);
}
