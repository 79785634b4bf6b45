/**
 * chrome-sessions: the session lifecycle of cloud browser services on local Chrome.
 * Everything public is exported here by name.
 */
export { SessionManager } from './manager.js';
export type { ManagerStats } from './manager.js';

export type { SessionManagerOptions, CreateSessionParams, HeadlessMode } from './options.js';
export { STEEL_STATUS } from './session.js';
export type { Session, SessionInfo, SessionStatus, SteelSessionStatus, StopReason, ListSessionsParams, SessionList } from './session.js';

export type {
  SessionManagerEvents,
  ClientConnectedEvent,
  ClientDisconnectedEvent,
  BrowserLaunchedEvent,
  BrowserExitedEvent,
  BrowserResetEvent,
  BrowserRecycledEvent,
} from './events.js';
export type { ClientCloseReason } from './endpoint.js';
export type { PoolStats } from './pool.js';
export type { Clock } from './clock.js';

export { findChrome } from './chrome/find.js';
export type { FoundChrome } from './chrome/find.js';

export {
  ChromeSessionsError,
  ChromeNotFoundError,
  LaunchError,
  SessionNotFoundError,
  SessionClosedError,
  ManagerClosedError,
  QueueFullError,
  QueueTimeoutError,
  CreateAbortedError,
  InvalidOptionError,
} from './errors.js';
export type { ErrorCode } from './errors.js';

export { connectPuppeteer, connectPlaywright, PeerDependencyMissingError } from './connect.js';
export type {
  SessionEndpoint,
  PuppeteerConnectOptions,
  PuppeteerConnection,
  PlaywrightConnectOptions,
  PlaywrightConnection,
} from './connect.js';
export { withSession } from './with-session.js';
