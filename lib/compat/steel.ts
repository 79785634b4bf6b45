/**
 * `Steel`: the session calls of Steel's Node SDK (`steel-sdk`) on local Chrome, so that code
 * written for it runs by changing its import. Each call maps onto the {@link SessionManager};
 * cloud-only features are refused by name (see `refuseCloudOnly`).
 */
import { InvalidOptionError } from '../errors.js';
import type { RecordingEvent } from '../recording/replay.js';
import type { FullSessionContext, SessionContext } from '../session/context-state.js';
import type { CreateSessionParams } from '../session/params.js';
import type { ScreenSize } from '../session/screen.js';
import { STEEL_STATUS, type SessionInfo, type SessionStatus, type SteelSessionStatus } from '../session/types.js';
import { checkKeys } from '../validate.js';
import { CompatClient, defined, localParams, refuseCloudOnly, type CompatClientOptions } from './common.js';

/** `sessions.create()` parameters: Steel's names for what local Chrome can do. */
export interface SteelCreateSessionParams {
  /** Lifetime in ms. @default the manager's `defaultTimeoutMs` */
  readonly timeout?: number;
  readonly dimensions?: ScreenSize;
  /** Cookies and storage to start from (as `sessions.context()` returns them). */
  readonly sessionContext?: SessionContext;
  /** `http://user:pass@host:port` ('context' or 'browser' isolation). */
  readonly proxyUrl?: string;
  readonly userAgent?: string;
  readonly locale?: string;
  readonly timezone?: string;
  /** Anything else `SessionManager.create()` takes (isolation, keepAlive, recording…). */
  readonly local?: CreateSessionParams;
  /** Cloud-only: refused unless absent or false. */
  readonly useProxy?: boolean;
  readonly solveCaptcha?: boolean;
  readonly blockAds?: boolean;
  readonly isSelenium?: boolean;
  readonly stealthConfig?: unknown;
  readonly region?: unknown;
  readonly sessionId?: unknown;
}

/** A session as Steel's `Session` shows it (the fields local Chrome has). */
export interface SteelSession {
  readonly id: string;
  readonly status: SteelSessionStatus;
  readonly createdAt: string;
  /** Lifetime in ms. */
  readonly timeout: number;
  /** ms since it became live (to its end once released). */
  readonly duration: number;
  readonly websocketUrl: string;
  /** The live view (`liveUrl`). */
  readonly sessionViewerUrl: string;
  /** The live view (`liveUrl`); Steel's debug page is also a live, interactive view. */
  readonly debugUrl: string;
  /** The whole record, with everything Steel's has not. */
  readonly local: SessionInfo;
}

const CLOUD_ONLY = ['useProxy', 'solveCaptcha', 'blockAds', 'isSelenium', 'stealthConfig', 'region', 'sessionId'] as const;
const CREATE_KEYS = ['timeout', 'dimensions', 'sessionContext', 'proxyUrl', 'userAgent', 'locale', 'timezone', 'local', ...CLOUD_ONLY];
const STEEL_TO_OURS: Readonly<Record<string, SessionStatus>> = { queued: 'pending', live: 'active', released: 'closed', failed: 'error' };

/**
 * ```ts
 * import { Steel } from 'chrome-sessions'; // was: import Steel from 'steel-sdk'
 * const client = new Steel(); // steelAPIKey is accepted and unused
 * const session = await client.sessions.create({ timeout: 600_000 });
 * ```
 * Call `close()` (or `await using`) when done: local browsers must be closed.
 */
export class Steel extends CompatClient {
  readonly sessions: {
    create(params?: SteelCreateSessionParams): Promise<SteelSession>;
    retrieve(id: string): Promise<SteelSession>;
    list(params?: { status?: SteelSessionStatus }): Promise<{ sessions: SteelSession[] }>;
    release(id: string): Promise<{ success: boolean; message: string }>;
    releaseAll(): Promise<{ success: boolean; message: string }>;
    context(id: string): Promise<FullSessionContext>;
    events(id: string): Promise<RecordingEvent[]>;
  };

  constructor(options?: CompatClientOptions & { steelAPIKey?: string; baseURL?: string; timeout?: number }) {
    super(options, ['steelAPIKey', 'baseURL', 'timeout']);
    const manager = this.manager;
    this.sessions = {
      create: async (params) => steelSession(await manager.create(toCreate(params))),
      retrieve: async (id) => steelSession(manager.get(id)),
      list: async (params) => {
        const p = checkKeys('list', params, ['status']);
        const status = p.status === undefined ? undefined : STEEL_TO_OURS[p.status as string];
        if (p.status !== undefined && status === undefined) throw new InvalidOptionError('list.status', Object.keys(STEEL_TO_OURS).join(' | '), p.status);
        // Steel pages with a cursor; locally every session this manager remembers is one page.
        const all = manager.list(defined({ status, perPage: 1000 }));
        return { sessions: all.sessions.map(steelSession) };
      },
      release: async (id) => {
        await manager.release(id);
        return { success: true, message: `Session ${id} released successfully` };
      },
      releaseAll: async () => {
        await manager.releaseAll();
        return { success: true, message: 'All sessions released successfully' };
      },
      context: (id) => manager.getContext(id),
      events: (id) => manager.getRecording(id),
    };
  }
}

function toCreate(params: SteelCreateSessionParams | undefined): CreateSessionParams {
  const p = checkKeys('create', params, CREATE_KEYS);
  refuseCloudOnly('create', p, CLOUD_ONLY);
  const local = localParams(p.local);
  return {
    ...local,
    ...defined({
      timeoutMs: p.timeout as number | undefined,
      dimensions: p.dimensions as ScreenSize | undefined,
      sessionContext: p.sessionContext as SessionContext | undefined,
      proxyUrl: p.proxyUrl as string | undefined,
      userAgent: p.userAgent as string | undefined,
      locale: p.locale as string | undefined,
      timezoneId: p.timezone as string | undefined,
    }),
  };
}

function steelSession(s: SessionInfo): SteelSession {
  const start = s.startedAt !== undefined ? Date.parse(s.startedAt) : undefined;
  const end = s.closedAt !== undefined ? Date.parse(s.closedAt) : Date.now();
  return {
    id: s.id,
    status: STEEL_STATUS[s.status],
    createdAt: s.createdAt,
    timeout: s.timeoutMs,
    duration: start === undefined ? 0 : end - start,
    websocketUrl: s.wsEndpoint,
    sessionViewerUrl: s.liveUrl,
    debugUrl: s.liveUrl,
    local: s,
  };
}
