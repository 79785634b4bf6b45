import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

/**
 * chrome-sessions/playwright-test, run the way a user runs it: `npx playwright test` on the
 * suite under examples/playwright-test, whose spec imports the package by name (resolved through
 * its own `exports`, so against dist/, built here first).
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  server = await startServer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-sessions-pw-'));
  await run('npm', ['run', '-s', 'build'], { cwd: root });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface JsonReport {
  stats: { expected: number; unexpected: number; flaky: number; skipped: number };
  errors: unknown[];
}

describe('chrome-sessions/playwright-test', () => {
  it('runs an existing Playwright suite on sessions, without any browser of its own', async () => {
    // An empty browsers folder: were Playwright to launch a browser itself, it would fail.
    const browsers = path.join(tmp, 'no-browsers');
    fs.mkdirSync(browsers);
    const env = {
      ...process.env,
      PLAYWRIGHT_BROWSERS_PATH: browsers,
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
      EXAMPLE_BASE_URL: server.origin,
      EXAMPLE_OUTPUT_DIR: path.join(tmp, 'results'),
      // Not a TTY, not CI: keep Playwright's output plain.
      FORCE_COLOR: '0',
    };
    const { stdout } = await run('npx', ['playwright', 'test', '-c', 'examples/playwright-test/playwright.config.ts', '--reporter=json'], {
      cwd: root,
      env,
      maxBuffer: 16 << 20,
    }).catch((e: { stdout?: string; stderr?: string }) => {
      // A failing test exits non-zero; the report says which.
      if (!e.stdout) throw new Error(`playwright test failed to run: ${e.stderr ?? String(e)}`);
      return { stdout: e.stdout };
    });
    const report = JSON.parse(stdout) as JsonReport;
    expect(report.errors, JSON.stringify(report.errors)).toEqual([]);
    expect(report.stats, stdout.slice(0, 4000)).toMatchObject({ expected: 3, unexpected: 0, flaky: 0 });
    // The page came from our server, through the config's baseURL.
    expect(server.hits.get('/title/from-playwright-test')).toBe(1);
  }, 60_000);
});
