import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The CommonJS example under examples/jest, run by Jest itself (its own CommonJS module system,
 * which on Node 20 cannot load ESM-only packages: the CommonJS build must not need them). The
 * example requires the package by name, resolved through its `exports` to dist/cjs, built here.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

beforeAll(async () => {
  await run('npm', ['run', '-s', 'build'], { cwd: root });
}, 60_000);

interface JestReport {
  numPassedTests: number;
  numFailedTests: number;
  numRuntimeErrorTestSuites: number;
  testResults: { message: string }[];
}

describe('examples/jest', () => {
  it('passes under Jest with require()', async () => {
    const { stdout } = await run('npx', ['jest', '-c', 'examples/jest/jest.config.cjs', '--json'], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      maxBuffer: 16 << 20,
    }).catch((e: { stdout?: string; stderr?: string }) => {
      if (!e.stdout) throw new Error(`jest failed to run: ${e.stderr ?? String(e)}`);
      return { stdout: e.stdout };
    });
    const report = JSON.parse(stdout) as JestReport;
    const messages = report.testResults.map((r) => r.message).join('\n');
    expect({ passed: report.numPassedTests, failed: report.numFailedTests, broken: report.numRuntimeErrorTestSuites }, messages).toEqual({
      passed: 2,
      failed: 0,
      broken: 0,
    });
  }, 60_000);
});
