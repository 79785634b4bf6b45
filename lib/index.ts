/**
 * chrome-sessions: the session lifecycle of cloud browser services on local Chrome.
 * Everything public is exported here by name.
 */
export { SessionManager } from './manager.js';
export type { ManagerStats } from './manager.js';

export type { SessionManagerOptions, CreateSessionParams, HeadlessMode, IsolationMode, ProxySettings } from './options.js';
export type { PageOverrides } from './session/emulation.js';
export type { ScreenSize } from './session/screen.js';
export type {
  SessionContext,
  FullSessionContext,
  SessionCookie,
  StorageItems,
  IndexedDBDatabase,
  IndexedDBObjectStore,
  IndexedDBIndex,
  IndexedDBRecord,
  IndexedDBKey,
  JsonValue,
} from './session/context-state.js';
export { ProfileStore, defaultProfilesDir } from './profiles/store.js';
export type { ProfileInfo, ProfileList, CreateProfileParams, ListProfilesParams } from './profiles/store.js';
export type { ProfileParams } from './session/profile.js';
export type { LiveViewMode } from './live/mode.js';
export type { RecordingOptions } from './recording/settings.js';
export type { RecordingEvent } from './recording/replay.js';
export type { DownloadInfo } from './downloads/downloads.js';
export type { SessionUsage, UsageTotals } from './usage/usage.js';
export { STEEL_STATUS } from './session/types.js';
export type { Session, SessionInfo, SessionStatus, SteelSessionStatus, StopReason, ListSessionsParams, SessionList } from './session/types.js';

export type {
  SessionManagerEvents,
  ClientConnectedEvent,
  ClientDisconnectedEvent,
  BrowserLaunchedEvent,
  BrowserExitedEvent,
  BrowserResetEvent,
  BrowserRecycledEvent,
  WatchdogRestartEvent,
} from './events.js';
export type { ClientCloseReason } from './endpoint.js';
export type { PoolStats } from './pool/types.js';
export type { Clock } from './clock.js';

export { DiscoveryServer, chromeDiscoverySource, chromeHttpBase } from './discovery.js';
export type { DiscoverySource, DiscoveryTarget, DiscoveryServerOptions } from './discovery.js';
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
  RuntimeDirError,
  InvalidOptionError,
  BrowserCrashedError,
  BrowserUnresponsiveError,
  CdpError,
  ProfileNotFoundError,
  ProfileBusyError,
  ProfilesDirError,
  RecordingUnavailableError,
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

export { localChrome, LocalChromeProvider } from './providers/local.js';
export { seleniumGrid, SeleniumGridProvider } from './providers/grid.js';
export type { SeleniumGridOptions } from './providers/grid.js';
export type { BrowserProvider } from './providers/resolve.js';

export { Hyperbrowser } from './compat/hyperbrowser.js';
export type { HyperbrowserCreateSessionParams, HyperbrowserSessionDetail } from './compat/hyperbrowser.js';
export { Steel } from './compat/steel.js';
export type { SteelCreateSessionParams, SteelSession } from './compat/steel.js';
export type { CompatClient, CompatClientOptions } from './compat/common.js';
