import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChromeNotFoundError,
  InvalidOptionError,
  SessionManager,
  STEEL_STATUS,
  findChrome,
  type SessionManagerOptions,
} from '../lib/index.js';

import { MANAGER_OPTION_NAMES, resolveManagerOptions } from '../lib/options.js';
import { CREATE_PARAM_NAMES } from '../lib/session/params.js';

/** What `fn` throws; fails the test when it throws nothing. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw, and nothing was thrown');
}

const managers: SessionManager[] = [];
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
});

describe('manager options', () => {
  const bad: [string, unknown][] = [
    ['maxConcurrent', 0],
    ['maxConcurrent', 1.5],
    ['maxConcurrent', '2'],
    ['headless', 'old'],
    ['args', '--foo'],
    ['args', [1]],
    ['env', { A: 1 }],
    ['defaultTimeoutMs', -1],
    ['defaultTimeoutMs', 90_000_000],
    ['maxTimeoutMs', 0],
    ['launchTimeoutMs', NaN],
    ['historyLimit', -1],
    ['handleSignals', 'yes'],
    ['minIdle', -1],
    ['reuse', 1],
    ['maxQueue', -1],
    ['queueTimeoutMs', Infinity],
    ['executablePath', ''],
    ['clock', { now: () => 0 }],
    ['noSuchOption', 1],
  ];
  it.each(bad)('%s = %j throws a TypeError naming the option and the value', (name, value) => {
    const err = thrown(() => new SessionManager({ [name]: value } as SessionManagerOptions));
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_OPTION', option: name === 'noSuchOption' ? 'options.noSuchOption' : name });
    expect((err as Error).message).toContain(name);
  });

  it('rejects a non-object', () => {
    expect(() => new SessionManager(42 as unknown as SessionManagerOptions)).toThrow(InvalidOptionError);
  });

  it('accepts Infinity for maxQueue', () => {
    expect(resolveManagerOptions({ maxQueue: Infinity }).maxQueue).toBe(Infinity);
  });

  it('fills in the defaults the README documents', () => {
    const o = resolveManagerOptions(undefined);
    expect(o).toMatchObject({
      maxConcurrent: os.availableParallelism(),
      args: [],
      env: {},
      defaultTimeoutMs: 300_000,
      maxTimeoutMs: 86_400_000,
      launchTimeoutMs: 30_000,
      historyLimit: 1000,
      expiryWarningMs: 10_000,
      idleTimeoutMs: 0,
      disconnectGraceMs: 0,
      clientPingTimeoutMs: 10_000,
      healthCheckIntervalMs: 5_000,
      handleSignals: true,
      minIdle: 1,
      reuse: true,
      maxSessionsPerBrowser: 100,
      maxBrowserAgeMs: 1_800_000,
      maxBrowserRssBytes: 0,
      resetTimeoutMs: 5_000,
      maxQueue: Infinity,
      queueTimeoutMs: 0,
      runtimeDirIsDefault: true,
    });
    expect(o.runtimeDir).toMatch(/chrome-sessions-\d+$/);
    expect(o.executablePath).toBeUndefined();
    expect(o.headless).toBeUndefined();
    // Every option the README's table lists is one the resolver knows, and the other way round.
    const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('### Options'), readme.indexOf('### `create()` parameters'));
    const documented = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual([...MANAGER_OPTION_NAMES].sort());
  });

  it("documents every create() parameter in the README's table, and nothing else", () => {
    const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('### `create()` parameters'), readme.indexOf('### Events'));
    const documented = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual([...CREATE_PARAM_NAMES].sort());
  });
});

describe('create parameters', () => {
  const m = new SessionManager({ maxConcurrent: 1, minIdle: 0, maxTimeoutMs: 60_000 });
  managers.push(m);
  const bad: [string, Record<string, unknown>][] = [
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: 60_001 }],
    ['timeoutMs', { timeoutMs: '1000' }],
    ['timeoutMinutes', { timeoutMinutes: 2 }],
    ['timeoutMinutes', { timeoutMinutes: -1 }],
    ['timeoutMinutes', { timeoutMs: 1000, timeoutMinutes: 1 }],
    ['keepAlive', { keepAlive: 'true' }],
    ['idleTimeoutMs', { idleTimeoutMs: -5 }],
    ['signal', { signal: {} }],
    ['priority', { priority: 0.5 }],
    ['bogus', { bogus: true }],
  ];
  it.each(bad)('%s: %j rejects with a TypeError naming the field, and creates nothing', async (name, params) => {
    const err = await m.create(params).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_OPTION', option: `create.${name}` });
    expect(m.list().totalCount).toBe(0);
  });

  it('list() validates its parameters', () => {
    expect(() => m.list({ status: 'live' as never })).toThrow(InvalidOptionError);
    expect(() => m.list({ page: 0 })).toThrow(InvalidOptionError);
    expect(() => m.list({ perPage: 0 })).toThrow(InvalidOptionError);
  });

  it('ids must be strings', () => {
    expect(() => m.get(42 as unknown as string)).toThrow(InvalidOptionError);
  });
});

describe('finding Chrome', () => {
  it('explains where it looked when the executablePath is wrong', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-find-'));
    try {
      const notExecutable = path.join(dir, 'chrome');
      fs.writeFileSync(notExecutable, '');
      expect(() => new SessionManager({ executablePath: notExecutable })).toThrow(ChromeNotFoundError);
      const err = thrown(() => findChrome({ executablePath: '/nope/chrome' }));
      expect(err).toBeInstanceOf(ChromeNotFoundError);
      expect((err as ChromeNotFoundError).code).toBe('ERR_CHROME_NOT_FOUND');
      expect((err as ChromeNotFoundError).searched[0]).toContain('/nope/chrome');
      expect((err as Error).message).toContain('apt-get install');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prefers headless-shell and finds full Chromium for headless: new', () => {
    expect(findChrome().headless).toBe('shell');
    const full = findChrome({ headless: 'new' });
    expect(full.headless).toBe('new');
    expect(full.executablePath).not.toMatch(/headless-shell/);
  });
});

describe('Steel names', () => {
  it('map our states to Steel states', () => {
    expect(STEEL_STATUS).toEqual({ pending: 'queued', active: 'live', closed: 'released', error: 'failed' });
  });
});
