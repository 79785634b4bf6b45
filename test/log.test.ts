import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLibrary } from './helpers.js';

/**
 * The debug logs (lib/log.ts), as a user sees them: a child Node process runs the built library
 * through one session's life (test/fixtures/debug-session.mjs), once with
 * `DEBUG=chrome-sessions:*` and once without DEBUG.
 */

const fixture = fileURLToPath(new URL('./fixtures/debug-session.mjs', import.meta.url));
let lib: string;
let tmp: string;

beforeAll(async () => {
  lib = await buildLibrary();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-sessions-log-'));
}, 60_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  readonly id: string;
  readonly token: string;
  readonly stderr: string;
}

/** Runs the fixture with `debug` as DEBUG (none when undefined); fails with its output if it fails. */
function runSession(name: string, debug: string | undefined): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^DEBUG/.test(k)));
  if (debug !== undefined) env.DEBUG = debug;
  const runtimeDir = path.join(tmp, name);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture, lib, runtimeDir], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`debug-session.mjs failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      const { id, token } = JSON.parse(stdout.trim().split('\n').pop()!) as { id: string; token: string };
      resolve({ id, token, stderr });
    });
  });
}

describe('debug logs', () => {
  it('with DEBUG=chrome-sessions:*, show the session, pool and endpoint lifecycle with timings, and never the token', async () => {
    const { id, token, stderr } = await runSession('on', 'chrome-sessions:*');
    expect(token.length).toBeGreaterThan(20);
    expect(stderr).toMatch(new RegExp(`chrome-sessions:manager session ${id} created: isolation \\w+, browser pid \\d+, \\d+ ms`));
    expect(stderr).toMatch(new RegExp(`chrome-sessions:manager session ${id} ended: status closed, stopReason stopped, lifetime \\d+ ms`));
    expect(stderr).toMatch(/chrome-sessions:pool launch started/);
    expect(stderr).toMatch(/chrome-sessions:pool launch finished: pid \d+, \d+ ms/);
    expect(stderr).toMatch(/chrome-sessions:pool browser granted: pid \d+/);
    expect(stderr).toMatch(new RegExp(`chrome-sessions:endpoint client c-1 connected to session ${id}: keepAlive true`));
    expect(stderr).toMatch(new RegExp(`chrome-sessions:endpoint refused upgrade: 401 wrong or missing token, session ${id}`));
    expect(stderr).toMatch(/chrome-sessions:runtime run folder /);
    expect(stderr).not.toContain(token);
    expect(stderr).not.toContain('token=');
  }, 90_000);

  it('without DEBUG, print nothing', async () => {
    const { stderr } = await runSession('off', undefined);
    expect(stderr).not.toContain('chrome-sessions:');
    expect(stderr).toBe('');
  }, 90_000);
});
