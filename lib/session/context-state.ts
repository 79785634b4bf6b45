import { InvalidOptionError } from '../errors.js';
import { checkKeys } from '../validate.js';

/*
 * A session's context (Steel's `sessionContext`): what `getContext()` returns and what
 * `create({ sessionContext })` takes, and its validation. Everything is checked before Chrome is
 * touched, so a malformed context fails the create with the bad field named and nothing applied.
 */

/** A JSON value: what an IndexedDB record's value may be in a session context. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** An IndexedDB key as a session context carries it: a number, a string, or an array of keys. */
export type IndexedDBKey = number | string | readonly IndexedDBKey[];

/** A cookie, as CDP's `Network.Cookie` describes it (what `getContext()` returns). */
export interface SessionCookie {
  readonly name: string;
  readonly value: string;
  /** `example.com` (host-only) or `.example.com` (sent to subdomains too). */
  readonly domain: string;
  /** @default '/' */
  readonly path?: string;
  /** Seconds since the epoch; absent or `-1`: a session cookie. */
  readonly expires?: number;
  readonly httpOnly?: boolean;
  readonly secure?: boolean;
  /** `'None'` needs `secure: true`. */
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
  readonly priority?: 'Low' | 'Medium' | 'High';
  /** True for a session cookie (informative; `expires` decides). */
  readonly session?: boolean;
  /** Informative, as Chrome reports it. */
  readonly size?: number;
  readonly sourceScheme?: 'Unset' | 'NonSecure' | 'Secure';
  readonly sourcePort?: number;
  /** A partitioned (CHIPS) cookie's partition. */
  readonly partitionKey?: { readonly topLevelSite: string; readonly hasCrossSiteAncestor: boolean };
}

/** One IndexedDB index. */
export interface IndexedDBIndex {
  readonly name: string;
  readonly keyPath: string | readonly string[];
  readonly unique: boolean;
  readonly multiEntry: boolean;
}

/** One record: `key` is required for a store without a `keyPath` (unless it has `autoIncrement`). */
export interface IndexedDBRecord {
  readonly key?: IndexedDBKey;
  readonly value: JsonValue;
}

/** One object store with its indexes and records. */
export interface IndexedDBObjectStore {
  readonly name: string;
  /** `null`: keys are out of line (given with each record). */
  readonly keyPath: string | readonly string[] | null;
  readonly autoIncrement: boolean;
  readonly indexes: readonly IndexedDBIndex[];
  readonly records: readonly IndexedDBRecord[];
}

/** One IndexedDB database of an origin. */
export interface IndexedDBDatabase {
  readonly name: string;
  /** An integer >= 1. */
  readonly version: number;
  readonly objectStores: readonly IndexedDBObjectStore[];
}

/** Key → value of one origin's Web Storage. */
export type StorageItems = Readonly<Record<string, string>>;

/**
 * A session's browser state, keyed by origin (`https://example.com`, `http://127.0.0.1:8080`).
 * `getContext()` returns all four fields; `create({ sessionContext })` takes any of them.
 */
export interface SessionContext {
  /** Every cookie of the session's browser context, HttpOnly ones included. */
  readonly cookies?: readonly SessionCookie[];
  readonly localStorage?: Readonly<Record<string, StorageItems>>;
  /** Per tab in Chrome: read from the session's open pages; put in place in its first page. */
  readonly sessionStorage?: Readonly<Record<string, StorageItems>>;
  readonly indexedDB?: Readonly<Record<string, readonly IndexedDBDatabase[]>>;
}

/** A context as `getContext()` returns it: every field present. */
export type FullSessionContext = Required<SessionContext>;

const TOP_KEYS = ['cookies', 'localStorage', 'sessionStorage', 'indexedDB'];
const COOKIE_KEYS = ['name', 'value', 'domain', 'path', 'expires', 'httpOnly', 'secure', 'sameSite', 'priority', 'session', 'size', 'sourceScheme', 'sourcePort', 'partitionKey', 'sameParty', 'partitionKeyOpaque'];
// Characters a cookie's name or value cannot carry (RFC 6265 as Chrome applies it).
const COOKIE_BAD = /[\x00-\x1f\x7f;]/;

/** Throws `InvalidOptionError` naming `where` unless `origin` is an http(s) origin in its canonical form. */
export function checkOrigin(where: string, origin: string): void {
  let ok = false;
  try {
    const u = new URL(origin);
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === origin;
  } catch {
    // not a URL
  }
  if (!ok) throw new InvalidOptionError(where, 'an http(s) origin such as https://example.com (scheme, host and port only)', origin);
}

/** Validates `create({ sessionContext })` fully; returns it unchanged (undefined when absent). */
export function resolveSessionContext(value: unknown): SessionContext | undefined {
  if (value === undefined) return undefined;
  const base = 'create.sessionContext';
  const c = checkKeys(base, value, TOP_KEYS);
  if (c.cookies !== undefined) {
    if (!Array.isArray(c.cookies)) throw new InvalidOptionError(`${base}.cookies`, 'an array of cookies', c.cookies);
    c.cookies.forEach((k, i) => checkCookie(`${base}.cookies[${i}]`, k));
  }
  for (const kind of ['localStorage', 'sessionStorage'] as const) {
    for (const [origin, items] of byOrigin(`${base}.${kind}`, c[kind])) {
      const where = `${base}.${kind}[${JSON.stringify(origin)}]`;
      const o = checkKeys(where, items, Object.keys(items ?? {}));
      for (const [k, v] of Object.entries(o)) if (typeof v !== 'string') throw new InvalidOptionError(`${where}[${JSON.stringify(k)}]`, 'a string', v);
    }
  }
  for (const [origin, dbs] of byOrigin(`${base}.indexedDB`, c.indexedDB)) {
    const where = `${base}.indexedDB[${JSON.stringify(origin)}]`;
    if (!Array.isArray(dbs)) throw new InvalidOptionError(where, 'an array of databases', dbs);
    dbs.forEach((db, i) => checkDatabase(`${where}[${i}]`, db));
  }
  return value as SessionContext;
}

function byOrigin(where: string, value: unknown): [string, unknown][] {
  if (value === undefined) return [];
  const entries = Object.entries(checkKeys(where, value, Object.keys(value ?? {})));
  for (const [origin] of entries) checkOrigin(`${where}[${JSON.stringify(origin)}]`, origin);
  return entries;
}

function checkCookie(where: string, value: unknown): void {
  const k = checkKeys(where, value, COOKIE_KEYS);
  if (value === undefined) throw new InvalidOptionError(where, 'a cookie object', value);
  const string = (key: string, ok: (s: string) => boolean, expected: string) => {
    if (typeof k[key] !== 'string' || !ok(k[key] as string)) throw new InvalidOptionError(`${where}.${key}`, expected, k[key]);
  };
  string('name', (s) => s.length > 0 && !COOKIE_BAD.test(s) && !s.includes('='), 'a non-empty cookie name without =, ; or control characters');
  string('value', (s) => !COOKIE_BAD.test(s), 'a string without ; or control characters');
  string('domain', (s) => /^\.?[a-z0-9.-]+$/i.test(s) && !s.startsWith('..') || /^\[[0-9a-f:.]+\]$/i.test(s), 'a host name such as example.com or .example.com');
  if (k.path !== undefined) string('path', (s) => s.startsWith('/') && !COOKIE_BAD.test(s), 'a path starting with /');
  if (k.expires !== undefined && (typeof k.expires !== 'number' || !Number.isFinite(k.expires) || (k.expires < 0 && k.expires !== -1))) {
    throw new InvalidOptionError(`${where}.expires`, 'seconds since the epoch, or -1 for a session cookie', k.expires);
  }
  for (const key of ['httpOnly', 'secure', 'session', 'sameParty', 'partitionKeyOpaque']) {
    if (k[key] !== undefined && typeof k[key] !== 'boolean') throw new InvalidOptionError(`${where}.${key}`, 'a boolean', k[key]);
  }
  const oneOf = (key: string, values: readonly string[]) => {
    if (k[key] !== undefined && !values.includes(k[key] as string)) throw new InvalidOptionError(`${where}.${key}`, values.map((v) => `'${v}'`).join(' | '), k[key]);
  };
  oneOf('sameSite', ['Strict', 'Lax', 'None']);
  oneOf('priority', ['Low', 'Medium', 'High']);
  oneOf('sourceScheme', ['Unset', 'NonSecure', 'Secure']);
  if (k.sameSite === 'None' && k.secure !== true) throw new InvalidOptionError(`${where}.secure`, "true for a cookie with sameSite 'None' (Chrome refuses it otherwise)", k.secure);
  for (const key of ['size', 'sourcePort']) {
    if (k[key] !== undefined && (typeof k[key] !== 'number' || !Number.isInteger(k[key]) || (k[key] as number) < -1 || (k[key] as number) > 65535 * 1024)) {
      throw new InvalidOptionError(`${where}.${key}`, 'an integer', k[key]);
    }
  }
  if (k.partitionKey !== undefined) {
    const p = checkKeys(`${where}.partitionKey`, k.partitionKey, ['topLevelSite', 'hasCrossSiteAncestor']);
    if (typeof p.topLevelSite !== 'string' || typeof p.hasCrossSiteAncestor !== 'boolean') {
      throw new InvalidOptionError(`${where}.partitionKey`, '{ topLevelSite: string, hasCrossSiteAncestor: boolean }', k.partitionKey);
    }
  }
}

function checkDatabase(where: string, value: unknown): void {
  const d = checkKeys(where, value, ['name', 'version', 'objectStores']);
  if (typeof d.name !== 'string') throw new InvalidOptionError(`${where}.name`, 'a string', d.name);
  if (typeof d.version !== 'number' || !Number.isSafeInteger(d.version) || d.version < 1) throw new InvalidOptionError(`${where}.version`, 'an integer >= 1', d.version);
  if (!Array.isArray(d.objectStores)) throw new InvalidOptionError(`${where}.objectStores`, 'an array of object stores', d.objectStores);
  const names = new Set<string>();
  d.objectStores.forEach((s: unknown, i: number) => {
    const sw = `${where}.objectStores[${i}]`;
    const o = checkKeys(sw, s, ['name', 'keyPath', 'autoIncrement', 'indexes', 'records']);
    if (typeof o.name !== 'string' || names.has(o.name)) throw new InvalidOptionError(`${sw}.name`, 'a string, unique in its database', o.name);
    names.add(o.name);
    if (o.keyPath !== null && !isKeyPath(o.keyPath)) throw new InvalidOptionError(`${sw}.keyPath`, 'null, a key path string, or an array of them', o.keyPath);
    if (typeof o.autoIncrement !== 'boolean') throw new InvalidOptionError(`${sw}.autoIncrement`, 'a boolean', o.autoIncrement);
    if (o.autoIncrement && (Array.isArray(o.keyPath) || o.keyPath === '')) throw new InvalidOptionError(`${sw}.keyPath`, 'a non-empty string or null with autoIncrement', o.keyPath);
    if (!Array.isArray(o.indexes)) throw new InvalidOptionError(`${sw}.indexes`, 'an array of indexes', o.indexes);
    o.indexes.forEach((x: unknown, j: number) => {
      const iw = `${sw}.indexes[${j}]`;
      const ix = checkKeys(iw, x, ['name', 'keyPath', 'unique', 'multiEntry']);
      if (typeof ix.name !== 'string') throw new InvalidOptionError(`${iw}.name`, 'a string', ix.name);
      if (!isKeyPath(ix.keyPath)) throw new InvalidOptionError(`${iw}.keyPath`, 'a key path string or an array of them', ix.keyPath);
      for (const b of ['unique', 'multiEntry']) if (typeof ix[b] !== 'boolean') throw new InvalidOptionError(`${iw}.${b}`, 'a boolean', ix[b]);
    });
    if (!Array.isArray(o.records)) throw new InvalidOptionError(`${sw}.records`, 'an array of { key?, value }', o.records);
    o.records.forEach((r: unknown, j: number) => {
      const rw = `${sw}.records[${j}]`;
      const rec = checkKeys(rw, r, ['key', 'value']);
      if (!('value' in rec) || !isJson(rec.value, 0)) throw new InvalidOptionError(`${rw}.value`, 'a JSON value (null, boolean, finite number, string, array, plain object)', rec.value);
      if (o.keyPath === null) {
        if (rec.key === undefined ? !o.autoIncrement : !isKey(rec.key, 0)) throw new InvalidOptionError(`${rw}.key`, 'a key (number, string or array of keys) for a store without keyPath', rec.key);
      } else if (!inlineKeyOk(rec.value, o.keyPath as string | string[], o.autoIncrement as boolean)) {
        throw new InvalidOptionError(`${rw}.value`, `an object holding a valid key at ${JSON.stringify(o.keyPath)}`, rec.value);
      }
    });
  });
}

function isKeyPath(v: unknown): boolean {
  const one = (s: unknown) => typeof s === 'string' && (s === '' || s.split('.').every((p) => /^[A-Za-z_$][\w$]*$/.test(p)));
  return one(v) || (Array.isArray(v) && v.length > 0 && v.every((s) => one(s) && s !== ''));
}

function isKey(v: unknown, depth: number): boolean {
  if (typeof v === 'number') return !Number.isNaN(v);
  if (typeof v === 'string') return true;
  return depth < 32 && Array.isArray(v) && v.every((x) => isKey(x, depth + 1));
}

function isJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (depth > 64 || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.every((x) => isJson(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && Object.values(v).every((x) => isJson(x, depth + 1));
}

/** The value has a valid key at `keyPath`, or may get one generated (a missing key with autoIncrement). */
function inlineKeyOk(value: unknown, keyPath: string | string[], autoIncrement: boolean): boolean {
  const at = (path: string): { found: boolean; v?: unknown } => {
    if (path === '') return { found: true, v: value };
    let cur: unknown = value;
    for (const part of path.split('.')) {
      if (cur === null || typeof cur !== 'object' || !(part in (cur as object))) return { found: false };
      cur = (cur as Record<string, unknown>)[part];
    }
    return { found: true, v: cur };
  };
  const paths = Array.isArray(keyPath) ? keyPath : [keyPath];
  return paths.every((p) => {
    const r = at(p);
    if (r.found) return isKey(r.v, 0);
    return autoIncrement && !Array.isArray(keyPath) && value !== null && typeof value === 'object' && !Array.isArray(value);
  });
}
