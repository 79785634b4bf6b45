/**
 * Every error this library throws on purpose. Each has a stable `code` a caller can switch on
 * (`err.code === 'ERR_SESSION_NOT_FOUND'`) and keeps the underlying failure as `cause`.
 */

/** Stable codes carried by {@link ChromeSessionsError.code}. */
export type ErrorCode =
  | 'ERR_CHROME_NOT_FOUND'
  | 'ERR_LAUNCH'
  | 'ERR_SESSION_NOT_FOUND'
  | 'ERR_SESSION_CLOSED'
  | 'ERR_MANAGER_CLOSED'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_CREATE_ABORTED'
  | 'ERR_BROWSER_CRASHED'
  | 'ERR_BROWSER_UNRESPONSIVE'
  | 'ERR_CDP'
  | 'ERR_RUNTIME_DIR'
  | 'ERR_PROFILE_NOT_FOUND'
  | 'ERR_PROFILE_BUSY'
  | 'ERR_PROFILES_DIR'
  | 'ERR_FFMPEG_MISSING'
  | 'ERR_NO_RECORDING';

/** Base class of the library's errors. */
export class ChromeSessionsError extends Error {
  /** A stable identifier of the failure, independent of the message text. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No Chrome or Chromium binary could be found. `searched` lists where we looked. */
export class ChromeNotFoundError extends ChromeSessionsError {
  /** Every path or source that was tried, in order. */
  readonly searched: readonly string[];

  constructor(searched: readonly string[]) {
    super(
      'ERR_CHROME_NOT_FOUND',
      `No Chrome/Chromium found. Looked at: ${searched.join(', ') || '(nothing)'}. ` +
        'Install one (Debian/Ubuntu: `apt-get install -y chromium chromium-headless-shell`), ' +
        'or pass `executablePath`, or set CHROME_PATH.',
    );
    this.searched = searched;
  }
}

/** Chrome failed to start, or did not print its DevTools endpoint in time. */
export class LaunchError extends ChromeSessionsError {
  /** The last lines Chrome wrote to stderr, for diagnosis. */
  readonly stderrTail: string;
  /** The binary that was started. */
  readonly executablePath: string;

  constructor(message: string, executablePath: string, stderrTail: string, options?: { cause?: unknown }) {
    super('ERR_LAUNCH', `${message} (${executablePath})${stderrTail ? `\n--- chrome stderr ---\n${stderrTail}` : ''}`, options);
    this.stderrTail = stderrTail;
    this.executablePath = executablePath;
  }
}

/** No session with that id is known to the manager (never existed, or dropped from history). */
export class SessionNotFoundError extends ChromeSessionsError {
  /** The id that was asked for. */
  readonly sessionId: string;

  constructor(sessionId: string) {
    super('ERR_SESSION_NOT_FOUND', `No session with id ${JSON.stringify(sessionId)}`);
    this.sessionId = sessionId;
  }
}

/** The operation needs a live session, and this one has ended. */
export class SessionClosedError extends ChromeSessionsError {
  /** The session's id. */
  readonly sessionId: string;

  constructor(sessionId: string, status: string) {
    super('ERR_SESSION_CLOSED', `Session ${sessionId} is ${status}, not active`);
    this.sessionId = sessionId;
  }
}

/** The manager was closed; it accepts no new work. */
export class ManagerClosedError extends ChromeSessionsError {
  constructor() {
    super('ERR_MANAGER_CLOSED', 'The SessionManager is closed');
  }
}

/** `create()` was called while `maxQueue` creates were already waiting. */
export class QueueFullError extends ChromeSessionsError {
  constructor(maxQueue: number) {
    super('ERR_QUEUE_FULL', `The create queue is full (maxQueue: ${maxQueue})`);
  }
}

/** A queued `create()` waited longer than `queueTimeoutMs` for a free slot (or its profile). */
export class QueueTimeoutError extends ChromeSessionsError {
  constructor(timeoutMs: number, what = 'session slot') {
    super('ERR_QUEUE_TIMEOUT', `No ${what} became free within ${timeoutMs} ms`);
  }
}

/** A `create()` was cancelled: by its `signal`, by `stop(id)` while pending, or by `close()`. */
export class CreateAbortedError extends ChromeSessionsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('ERR_CREATE_ABORTED', `create() was aborted: ${reason}`, options);
  }
}

/** The browser serving a session exited under it (crash, OOM kill, killed from outside). */
export class BrowserCrashedError extends ChromeSessionsError {
  /** Pid of the browser that died. */
  readonly pid: number;
  /** The last lines Chrome wrote to stderr. */
  readonly stderrTail: string;

  constructor(pid: number, detail: string, stderrTail: string) {
    super('ERR_BROWSER_CRASHED', `Browser ${pid} exited unexpectedly (${detail})${stderrTail ? `\n--- chrome stderr ---\n${stderrTail}` : ''}`);
    this.pid = pid;
    this.stderrTail = stderrTail;
  }
}

/** The browser serving a session stopped answering the health check; it was killed. */
export class BrowserUnresponsiveError extends ChromeSessionsError {
  /** Pid of the browser that hung. */
  readonly pid: number;

  constructor(pid: number, timeoutMs: number) {
    super('ERR_BROWSER_UNRESPONSIVE', `Browser ${pid} did not answer Browser.getVersion within ${timeoutMs} ms; it was killed`);
    this.pid = pid;
  }
}

/** A CDP command of the manager's own connection failed, timed out, or lost its connection. */
export class CdpError extends ChromeSessionsError {
  constructor(message: string) {
    super('ERR_CDP', message);
  }
}

/**
 * The runtime folder (or a folder under it) is not a private folder of this process's user: it
 * is a symbolic link, not a folder, owned by another uid, or could not be created. Thrown for an
 * explicit `runtimeDir`; a default one that fails the checks is replaced by a fresh private folder.
 */
export class RuntimeDirError extends ChromeSessionsError {
  /** The folder that failed the checks. */
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super('ERR_RUNTIME_DIR', `Refusing runtimeDir ${JSON.stringify(path)}: ${problem}. It must be a folder (not a symbolic link) owned by this process's uid; nobody else may write to it`, options);
    this.path = path;
  }
}

/** No profile with that id in `profilesDir` (never created, deleted, or not a profile id at all). */
export class ProfileNotFoundError extends ChromeSessionsError {
  /** The id that was asked for. */
  readonly profileId: string;

  constructor(profileId: string) {
    super('ERR_PROFILE_NOT_FOUND', `No profile with id ${JSON.stringify(profileId)}`);
    this.profileId = profileId;
  }
}

/** `profiles.delete()` of a profile a session (of this process or another) is using. */
export class ProfileBusyError extends ChromeSessionsError {
  /** The profile's id. */
  readonly profileId: string;

  constructor(profileId: string, holder: string) {
    super('ERR_PROFILE_BUSY', `Profile ${profileId} is in use (${holder})`);
    this.profileId = profileId;
  }
}

/** `profilesDir` (or a folder in it) is not a private folder of this process's uid, or cannot be created. */
export class ProfilesDirError extends ChromeSessionsError {
  /** The folder that failed the checks. */
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super('ERR_PROFILES_DIR', `Refusing profilesDir ${JSON.stringify(path)}: ${problem}. It must be a folder (not a symbolic link) owned by this process's uid`, options);
    this.path = path;
  }
}

/**
 * A recording cannot be had: `ERR_FFMPEG_MISSING` (a video was asked for and no ffmpeg is on
 * PATH; thrown by `create()`), `ERR_NO_RECORDING` (`getRecording()` of a session created without
 * `recording`).
 */
export class RecordingUnavailableError extends ChromeSessionsError {
  constructor(code: 'ERR_FFMPEG_MISSING' | 'ERR_NO_RECORDING', message: string) {
    super(code, message);
  }
}

/**
 * An option or parameter has the wrong type, range or name. A `TypeError` (as Node and tarn
 * throw for bad arguments) that also carries `code: 'ERR_INVALID_OPTION'` and the option's name.
 */
export class InvalidOptionError extends TypeError {
  /** Always `'ERR_INVALID_OPTION'`. */
  readonly code = 'ERR_INVALID_OPTION' as const;
  /** The option's name, e.g. `maxConcurrent` or `create.timeoutMs`. */
  readonly option: string;

  constructor(option: string, expected: string, received: unknown) {
    super(`Invalid option \`${option}\`: expected ${expected}, received ${describe(received)}`);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
