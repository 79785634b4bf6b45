/**
 * `Hyperbrowser`: the session and profile calls of Hyperbrowser's Node SDK (`@hyperbrowser/sdk`)
 * on local Chrome, so that code written for it runs by changing its import. Each call maps onto
 * the {@link SessionManager}; cloud-only features are refused by name (see `refuseCloudOnly`).
 */
import { InvalidOptionError } from '../errors.js';
import type { ProfileInfo, ProfileList } from '../profiles/store.js';
import type { RecordingEvent } from '../recording/replay.js';
import type { CreateSessionParams } from '../session/params.js';
import type { ProfileParams } from '../session/profile.js';
import type { ScreenSize } from '../session/screen.js';
import type { SessionInfo, SessionStatus } from '../session/types.js';
import { checkKeys } from '../validate.js';
import { CompatClient, defined, localParams, refuseCloudOnly, type CompatClientOptions } from './common.js';

/** `sessions.create()` parameters: Hyperbrowser's names for what local Chrome can do. */
export interface HyperbrowserCreateSessionParams {
  /** @default the manager's `defaultTimeoutMs` */
  readonly timeoutMinutes?: number;
  readonly screen?: ScreenSize;
  /** The first is the session's `locale`. */
  readonly locales?: readonly string[];
  /** `http://host:port` of your own proxy ('context' or 'browser' isolation). */
  readonly proxyServer?: string;
  readonly proxyServerUsername?: string;
  readonly proxyServerPassword?: string;
  readonly profile?: ProfileParams;
  /** An rrweb recording (`getRecording`). */
  readonly enableWebRecording?: boolean;
  /** Also an MP4 from screencast frames (needs ffmpeg). */
  readonly enableVideoWebRecording?: boolean;
  /** Downloads are always kept here (`manager.downloads(id)`); `false` is accepted too. */
  readonly saveDownloads?: boolean;
  /** Anything else `SessionManager.create()` takes (isolation, userAgent, keepAlive…). */
  readonly local?: CreateSessionParams;
  /** Cloud-only: refused unless absent or false. */
  readonly useStealth?: boolean;
  readonly useUltraStealth?: boolean;
  readonly useProxy?: boolean;
  readonly solveCaptchas?: boolean;
  readonly adblock?: boolean;
  readonly trackers?: boolean;
  readonly annoyances?: boolean;
}

/** A session as Hyperbrowser's `SessionDetail` shows it (the fields local Chrome has). */
export interface HyperbrowserSessionDetail {
  readonly id: string;
  readonly status: SessionStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startTime?: number;
  readonly endTime?: number;
  readonly duration?: number;
  readonly wsEndpoint: string;
  readonly liveUrl: string;
  /** The whole record, with everything Hyperbrowser's has not. */
  readonly local: SessionInfo;
}

const CLOUD_ONLY = ['useStealth', 'useUltraStealth', 'useProxy', 'solveCaptchas', 'adblock', 'trackers', 'annoyances'] as const;
const CREATE_KEYS = ['timeoutMinutes', 'screen', 'locales', 'proxyServer', 'proxyServerUsername', 'proxyServerPassword', 'profile', 'enableWebRecording', 'enableVideoWebRecording', 'saveDownloads', 'local', ...CLOUD_ONLY];

/**
 * ```ts
 * import { Hyperbrowser } from 'chrome-sessions'; // was: from '@hyperbrowser/sdk'
 * const client = new Hyperbrowser({ apiKey: process.env.HYPERBROWSER_API_KEY }); // the key is unused
 * const session = await client.sessions.create({ screen: { width: 1920, height: 1080 } });
 * ```
 * Call `close()` (or `await using`) when done: local browsers must be closed.
 */
export class Hyperbrowser extends CompatClient {
  readonly sessions: {
    create(params?: HyperbrowserCreateSessionParams): Promise<HyperbrowserSessionDetail>;
    get(id: string): Promise<HyperbrowserSessionDetail>;
    stop(id: string): Promise<{ success: boolean }>;
    list(params?: { status?: SessionStatus; page?: number; perPage?: number }): Promise<{ sessions: HyperbrowserSessionDetail[]; totalCount: number; page: number; perPage: number }>;
    getRecording(id: string): Promise<RecordingEvent[]>;
  };
  readonly profiles: {
    create(params?: { name?: string }): Promise<ProfileInfo>;
    get(id: string): Promise<ProfileInfo>;
    delete(id: string): Promise<{ success: boolean }>;
    list(params?: { page?: number; limit?: number }): Promise<ProfileList>;
  };

  constructor(options?: CompatClientOptions & { apiKey?: string; baseUrl?: string; timeout?: number }) {
    super(options, ['apiKey', 'baseUrl', 'timeout']);
    const manager = this.manager;
    this.sessions = {
      create: async (params) => detail(await manager.create(toCreate(params))),
      get: async (id) => detail(manager.get(id)),
      stop: async (id) => {
        await manager.stop(id);
        return { success: true };
      },
      list: async (params) => {
        const l = manager.list(params);
        return { sessions: l.sessions.map(detail), totalCount: l.totalCount, page: l.page, perPage: l.perPage };
      },
      getRecording: (id) => manager.getRecording(id),
    };
    this.profiles = {
      create: (params) => manager.profiles.create(params),
      get: (id) => manager.profiles.get(id),
      delete: async (id) => {
        await manager.profiles.delete(id);
        return { success: true };
      },
      list: (params) => manager.profiles.list(defined({ page: params?.page, perPage: params?.limit })),
    };
  }
}

function toCreate(params: HyperbrowserCreateSessionParams | undefined): CreateSessionParams {
  const p = checkKeys('create', params, CREATE_KEYS);
  refuseCloudOnly('create', p, CLOUD_ONLY);
  const local = localParams(p.local);
  const locales = p.locales;
  if (locales !== undefined && (!Array.isArray(locales) || locales.length === 0 || typeof locales[0] !== 'string')) {
    throw new InvalidOptionError('create.locales', 'a non-empty array of language tags', locales);
  }
  if (p.proxyServer === undefined && (p.proxyServerUsername !== undefined || p.proxyServerPassword !== undefined)) {
    throw new InvalidOptionError('create.proxyServer', 'a proxy URL when proxyServerUsername or proxyServerPassword is given', undefined);
  }
  if (p.enableVideoWebRecording !== undefined && typeof p.enableVideoWebRecording !== 'boolean') {
    throw new InvalidOptionError('create.enableVideoWebRecording', 'a boolean', p.enableVideoWebRecording);
  }
  if (p.saveDownloads !== undefined && typeof p.saveDownloads !== 'boolean') throw new InvalidOptionError('create.saveDownloads', 'a boolean', p.saveDownloads);
  const proxy = typeof p.proxyServer === 'string' ? defined({ server: p.proxyServer, username: p.proxyServerUsername as string | undefined, password: p.proxyServerPassword as string | undefined }) : p.proxyServer;
  return {
    ...local,
    ...defined({
      timeoutMinutes: p.timeoutMinutes as number | undefined,
      screen: p.screen as ScreenSize | undefined,
      locale: locales?.[0] as string | undefined,
      proxy: proxy as CreateSessionParams['proxy'],
      profile: p.profile as ProfileParams | undefined,
      recording: p.enableVideoWebRecording === true ? { video: true } : (p.enableWebRecording as boolean | undefined),
    }),
  };
}

function detail(s: SessionInfo): HyperbrowserSessionDetail {
  const start = s.startedAt !== undefined ? Date.parse(s.startedAt) : undefined;
  const end = s.closedAt !== undefined ? Date.parse(s.closedAt) : undefined;
  return {
    id: s.id,
    status: s.status,
    createdAt: s.createdAt,
    updatedAt: s.closedAt ?? s.startedAt ?? s.createdAt,
    ...defined({ startTime: start, endTime: end, duration: start !== undefined ? (end ?? Date.now()) - start : undefined }),
    wsEndpoint: s.wsEndpoint,
    liveUrl: s.liveUrl,
    local: s,
  };
}
