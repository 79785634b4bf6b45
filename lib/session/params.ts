import { InvalidOptionError } from '../errors.js';
import { ISOLATION_MODES, type IsolationMode, type ResolvedManagerOptions } from '../options.js';
import { bool, checkKeys, int, ms } from '../validate.js';
import { resolveOverrides, type PageOverrides } from './emulation.js';
import { resolveProfile, type ProfileParams, type ResolvedProfile } from './profile.js';
import { resolveProxy, type ProxySettings } from './proxy.js';
import { resolveScreen, type ScreenSize } from './screen.js';
import { resolveSessionContext, type SessionContext } from './context-state.js';
import { resolveLiveView, type LiveViewMode } from '../live/mode.js';
import { downloadSettings, type DownloadSettings } from '../downloads/downloads.js';
import { usageLedger, type UsageLedger } from '../usage/usage.js';
import { resolveRecording, type RecordingOptions, type RecordingSettings } from '../recording/settings.js';

/*
 * A create's parameters: the public interface, the resolved form, and their validation.
 * A new parameter gets its field here, its name in CREATE_PARAM_NAMES (the compiler checks),
 * and its resolver in a file of its own next to this one (as emulation.ts and proxy.ts).
 */

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
  /**
   * The viewport (`innerWidth`/`innerHeight`) and screen (`screen.width`/`height`) of every page
   * of the session, in CSS pixels, 1..10000 each (Hyperbrowser's name); any isolation. @default the launch size
   */
  readonly screen?: ScreenSize;
  /** Steel's name for `screen`; give one of them, not both. @default the launch size */
  readonly dimensions?: ScreenSize;
  /**
   * Cookies, localStorage, sessionStorage and IndexedDB to put in place before the session goes
   * active, as `getContext()` returns them (Steel's `sessionContext`). @default none
   */
  readonly sessionContext?: SessionContext;
  /** Keep the session's final context when it ends, for `getContext(id)` on the ended session. @default false */
  readonly saveContext?: boolean;
  /**
   * Run the session on a profile from `manager.profiles` (Hyperbrowser's `profile`), in a Chrome
   * of its own ('browser' isolation; another mode given with it is refused). @default none
   */
  readonly profile?: ProfileParams;
  /**
   * What viewers of `session.liveUrl` may do: `'interactive'` forwards their mouse, wheel and
   * keyboard to the session's page, `'readonly'` only shows it. @default 'interactive'
   */
  readonly liveView?: LiveViewMode;
  /**
   * Record the session with rrweb (every page and frame, pages opened later and after each
   * navigation): events in `<recordingsDir>/<id>.jsonl` as they come, a replay page `<id>.html`
   * when it ends; `{ video: true }` also encodes `<id>.mp4` with ffmpeg. @default false
   */
  readonly recording?: boolean | RecordingOptions;
  /** Hyperbrowser's name for `recording: true`. @default false */
  readonly enableWebRecording?: boolean;
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
  readonly screen: ScreenSize | undefined;
  readonly sessionContext: SessionContext | undefined;
  readonly saveContext: boolean;
  readonly profile: ResolvedProfile | undefined;
  readonly liveView: LiveViewMode;
  readonly recording: RecordingSettings | undefined;
  /** The manager's downloads (every session gets a folder there). */
  readonly downloads: DownloadSettings;
  /** The manager's usage accounts. */
  readonly usage: UsageLedger;
}

export const CREATE_PARAM_NAMES = [
  'timeoutMs', 'timeoutMinutes', 'keepAlive', 'idleTimeoutMs', 'signal', 'priority', 'isolation',
  'proxy', 'proxyUrl', 'browserURL', 'userAgent', 'locale', 'timezoneId',
  'screen', 'dimensions', 'sessionContext', 'saveContext',
  'profile',
  'liveView',
  'recording', 'enableWebRecording',
] as const satisfies readonly (keyof CreateSessionParams)[];
// The list above names every parameter: a parameter added to the interface and not here fails to compile.
// (exported for the README check in test/options.test.ts)
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
  const asked = isolation(p.isolation, manager.isolation);
  const profile = resolveProfile(p.profile, p.isolation);
  const mode = profile ? 'browser' : asked;
  const proxy = resolveProxy(p.proxy, p.proxyUrl);
  if (proxy && mode === 'reset') {
    throw new InvalidOptionError(p.proxy !== undefined ? 'create.proxy' : 'create.proxyUrl', "isolation 'context' or 'browser' (a reset Chrome keeps the proxy it was launched with)", p.proxy ?? p.proxyUrl);
  }
  const overrides = resolveOverrides(p);
  if (overrides && mode === 'reset') {
    const name = Object.keys(overrides)[0]!;
    throw new InvalidOptionError(`create.${name}`, "isolation 'context' or 'browser' (a reset Chrome's pages outlive the session)", p[name]);
  }
  const browserURL = bool('create.browserURL', p.browserURL, false);
  manager.provider.checkCreate({ proxy, browserURL, profile: profile !== undefined });
  return {
    timeoutMs,
    keepAlive: bool('create.keepAlive', p.keepAlive, false),
    idleTimeoutMs: ms('create.idleTimeoutMs', p.idleTimeoutMs, manager.idleTimeoutMs, 0),
    signal,
    priority: int('create.priority', p.priority, 0, Number.MIN_SAFE_INTEGER),
    isolation: mode,
    proxy,
    browserURL,
    overrides,
    screen: resolveScreen(p),
    sessionContext: resolveSessionContext(p.sessionContext),
    saveContext: bool('create.saveContext', p.saveContext, false),
    profile,
    liveView: resolveLiveView(p.liveView),
    recording: resolveRecording(p.recording, p.enableWebRecording, manager.recordingsDir),
    downloads: downloadSettings(manager),
    usage: usageLedger(manager),
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
