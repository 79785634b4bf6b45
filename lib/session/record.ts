import crypto from 'node:crypto';
import type { LiveViewMode } from '../live/mode.js';
import type { IsolationMode } from '../options.js';
import type { ResolvedCreateParams } from './params.js';
import type { SessionInfo, SessionStatus, StopReason } from './types.js';
import type { SessionUsage } from '../usage/usage.js';

/**
 * What the manager knows of one session: plain data, changed only by its {@link SessionRuntime}.
 * Users only ever see {@link SessionRecord.snapshot} copies.
 */
export class SessionRecord {
  readonly id = crypto.randomUUID();
  /** The endpoint secret: 24 random bytes, URL-safe. */
  readonly token = crypto.randomBytes(24).toString('base64url');
  /** The live view's secret, apart from `token`: a viewer's URL gives no CDP access. */
  readonly liveToken = crypto.randomBytes(24).toString('base64url');
  /** What live viewers may do. */
  readonly liveView: LiveViewMode;
  readonly createdAt: number;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly isolation: IsolationMode;
  status: SessionStatus = 'pending';
  keepAlive: boolean;
  wsEndpoint = '';
  /** The live view page, with `liveToken`. */
  liveUrl = '';
  /** HTTP discovery URL, when the create asked for one. */
  browserURL: string | undefined;
  startedAt: number | undefined;
  expiresAt: number | undefined;
  closedAt: number | undefined;
  stopReason: StopReason | undefined;
  error: Error | undefined;
  /** Pid of the browser serving it, while active. */
  browserPid: number | undefined;
  /** The Selenium Grid session serving it (`seleniumGrid` provider). */
  gridSessionId: string | undefined;
  /** Clients connected now, as the endpoint last reported. */
  clients = 0;
  /** What it used: read live while it runs, the final figures once it has ended. */
  usage: (() => SessionUsage) | SessionUsage | undefined;
  /** The session's download folder. */
  downloadsPath: string | undefined;
  /** The recording's events file (`create({ recording })`). */
  recordingPath: string | undefined;
  /** Last CDP message from any client (drives the idle timeout). */
  lastTraffic = 0;

  constructor(params: ResolvedCreateParams, now: number) {
    this.createdAt = now;
    this.timeoutMs = params.timeoutMs;
    this.idleTimeoutMs = params.idleTimeoutMs;
    this.keepAlive = params.keepAlive;
    this.isolation = params.isolation;
    this.liveView = params.liveView;
  }

  /** True once the session is `closed` or `error`. */
  get ended(): boolean {
    return this.status === 'closed' || this.status === 'error';
  }

  /** A frozen copy for users; times as ISO 8601 strings, absent fields left out. */
  snapshot(): SessionInfo {
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const info: Record<string, unknown> = {
      id: this.id,
      status: this.status,
      createdAt: iso(this.createdAt),
      startedAt: iso(this.startedAt),
      wsEndpoint: this.wsEndpoint,
      liveUrl: this.liveUrl,
      browserURL: this.status === 'active' ? this.browserURL : undefined,
      timeoutMs: this.timeoutMs,
      expiresAt: iso(this.expiresAt),
      keepAlive: this.keepAlive,
      idleTimeoutMs: this.idleTimeoutMs,
      isolation: this.isolation,
      clients: this.clients,
      browserPid: this.status === 'active' ? this.browserPid : undefined,
      gridSessionId: this.status === 'active' ? this.gridSessionId : undefined,
      closedAt: iso(this.closedAt),
      stopReason: this.stopReason,
      error: this.error?.message,
      recordingPath: this.recordingPath,
      downloadsPath: this.downloadsPath,
      usage: typeof this.usage === 'function' ? this.usage() : this.usage,
    };
    for (const k of Object.keys(info)) if (info[k] === undefined) delete info[k];
    return Object.freeze(info) as unknown as SessionInfo;
  }
}
