import createDebug from 'debug';

/**
 * Debug logs, off unless the `DEBUG` environment variable names them (the `debug` package):
 * `DEBUG=chrome-sessions:*` shows every lifecycle step with its duration on stderr.
 *
 * - `chrome-sessions:manager`: sessions created (ms from `create()` to active), ended, and
 *   creates that failed;
 * - `chrome-sessions:pool`: creates queued, browser launches, grants, resets and retirements;
 * - `chrome-sessions:endpoint`: clients connected and disconnected, upgrades refused, a browser
 *   that could not be reached;
 * - `chrome-sessions:reset`: each reset's duration, and kept pages that had to be replaced;
 * - `chrome-sessions:runtime`: the runtime folder and the watchdog.
 *
 * Disabled, a call costs one check of `enabled`: callers pass printf-style arguments (`%s`,
 * `%d`) rather than building strings, and guard anything costlier with `log.enabled`. Nothing
 * logged may hold a session token or a session's `wsEndpoint` (which carries the token).
 */
export interface Logger {
  (format: string, ...args: unknown[]): void;
  /** True when `DEBUG` enables this namespace. */
  readonly enabled: boolean;
}

const logger = (name: string): Logger => createDebug(`chrome-sessions:${name}`);

export const managerLog = logger('manager');
export const poolLog = logger('pool');
export const endpointLog = logger('endpoint');
export const resetLog = logger('reset');
export const runtimeLog = logger('runtime');

/** Milliseconds since `t0` (a `performance.now()`), rounded for logs. */
export function since(t0: number): number {
  return Math.round(performance.now() - t0);
}
