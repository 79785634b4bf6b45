/**
 * What the cloud SDK look-alikes (`Hyperbrowser`, `Steel`) share: the manager they drive, and
 * the check that refuses a cloud-only feature by name instead of ignoring it.
 */
import { InvalidOptionError } from '../errors.js';
import { SessionManager } from '../manager.js';
import type { SessionManagerOptions } from '../options.js';
import type { CreateSessionParams } from '../session/params.js';

/** Options of a cloud SDK look-alike: its own key options are accepted and unused. */
export interface CompatClientOptions {
  /** The manager to drive; else one is made from `options` and closed by `close()`. */
  readonly manager?: SessionManager;
  /**
   * Options for the manager made here (not with `manager`).
   * @default the manager's defaults, but `isolation: 'context'` (a cloud session is a fresh browser)
   */
  readonly options?: SessionManagerOptions;
}

/** The manager a look-alike drives, and whether it made it (and so closes it). */
function compatManager(o: CompatClientOptions | undefined, known: readonly string[]): { manager: SessionManager; owned: boolean } {
  if (o !== undefined && (o === null || typeof o !== 'object' || Array.isArray(o))) throw new InvalidOptionError('options', 'an object', o);
  for (const key of Object.keys(o ?? {})) {
    if (!['manager', 'options', ...known].includes(key)) throw new InvalidOptionError(`options.${key}`, `one of manager, options, ${known.join(', ')}`, key);
  }
  if (o?.manager !== undefined) {
    if (!(o.manager instanceof SessionManager)) throw new InvalidOptionError('options.manager', 'a SessionManager', o.manager);
    if (o.options !== undefined) throw new InvalidOptionError('options.options', 'absent when a manager is given', o.options);
    return { manager: o.manager, owned: false };
  }
  // A cloud session is a fresh browser, and the SDKs' userAgent, locale, timezone and proxy need
  // one: 'context' isolation, unless the options choose (or a Grid provider has its own default).
  const isolation = o?.options?.provider === undefined ? { isolation: 'context' as const } : {};
  return { manager: new SessionManager({ ...isolation, ...o?.options }), owned: true };
}

/**
 * Throws `InvalidOptionError` for a cloud feature the caller turned on that local Chrome does
 * not have (a stealth build, CAPTCHA solving, a provider's proxy pool): refused by name, never
 * silently ignored. Turned off (`false`, absent) is fine.
 */
export function refuseCloudOnly(where: string, p: Record<string, unknown>, names: readonly string[]): void {
  for (const name of names) {
    const v = p[name];
    if (v !== undefined && v !== false && v !== null) {
      throw new InvalidOptionError(`${where}.${name}`, 'absent or false: a feature of the cloud service that local Chrome does not have', v);
    }
  }
}

/**
 * The `local` parameters of a look-alike's create: any `SessionManager.create()` parameters, which
 * that call validates under its own names; here only that it is an object.
 */
export function localParams(value: unknown): CreateSessionParams {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidOptionError('create.local', 'an object of SessionManager.create() parameters', value);
  return value as CreateSessionParams;
}

/** Keeps only the keys whose value is defined (for `exactOptionalPropertyTypes`-clean params). */
export function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The manager a look-alike drives, and its `close()`. */
export abstract class CompatClient {
  /** The manager behind the SDK calls: everything `SessionManager` has beyond them is here. */
  readonly manager: SessionManager;
  readonly #owned: boolean;

  protected constructor(options: CompatClientOptions | undefined, ownKeys: readonly string[]) {
    const { manager, owned } = compatManager(options, ownKeys);
    this.manager = manager;
    this.#owned = owned;
  }

  /** Closes the manager made here (one given in `options.manager` is left to its owner). */
  async close(): Promise<void> {
    if (this.#owned) await this.manager.close();
  }

  /** `await using client = new …()` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
