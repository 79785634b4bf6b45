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
    const attempt = () => new SessionManager({ [name]: value } as SessionManagerOptions);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(InvalidOptionError);
    try {
      attempt();
    } catch (err) {
      expect((err as InvalidOptionError).code).toBe('ERR_INVALID_OPTION');
      expect((err as InvalidOptionError).option).toContain(name);
      expect((err as Error).message).toContain(name);
    }
  });

  it('rejects a non-object', () => {
    expect(() => new SessionManager(42 as unknown as SessionManagerOptions)).toThrow(InvalidOptionError);
  });

  it('accepts Infinity for maxQueue and fills in documented defaults', () => {
    expect(() => managers.push(new SessionManager({ maxQueue: Infinity }))).not.toThrow();
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
    await expect(m.create(params)).rejects.toThrow(InvalidOptionError);
    await expect(m.create(params)).rejects.toThrow(name);
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
      try {
        findChrome({ executablePath: '/nope/chrome' });
      } catch (err) {
        expect(err).toBeInstanceOf(ChromeNotFoundError);
        expect((err as ChromeNotFoundError).code).toBe('ERR_CHROME_NOT_FOUND');
        expect((err as ChromeNotFoundError).searched[0]).toContain('/nope/chrome');
        expect((err as Error).message).toContain('apt-get install');
      }
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
