import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as npm publishes it: `npm pack` (its `prepack` builds dist/), then a consumer
 * project that installs the tarball and loads it with `require` and `import`, and type-checks a
 * .cts and a .mts file against it.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

let tmp: string;
let consumer: string;
let withPeers: string;
let packed: { filename: string; files: { path: string }[] };

/**
 * The environment without what `npm test` exports to its children (`npm_config_local_prefix`
 * and the like), so the npm commands here act on the folder they run in and nothing else.
 */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/** Runs a command, failing with its output. */
async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: { ...cleanEnv, ...env }, maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/**
 * The registry is not needed: the consumer's node_modules first gets links to the package's
 * runtime dependencies as the repository installed them, and npm then accepts them as they are
 * and installs only the tarball (`--offline` fails on anything it would have to fetch). `extras`
 * (@types/node for tsc) are linked afterwards.
 */
async function installTarball(dir: string, tgz: string, deps: readonly string[], extras: readonly string[]): Promise<void> {
  const link = (name: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, 'node_modules', name)), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules', name), path.join(dir, 'node_modules', name), 'dir');
  };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  deps.forEach(link);
  // --ignore-scripts: a linked dependency with a prepack script (rrweb's calls yarn) would be built again.
  await sh('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tgz], dir);
  // After the install, which prunes what the consumer does not depend on.
  extras.forEach(link);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chrome-sessions-pack-'));
  const out = await sh('npm', ['pack', '--json', '--pack-destination', tmp], root, { npm_config_loglevel: 'error' });
  // `prepack` prints the build's output before the JSON.
  packed = (JSON.parse(out.slice(out.indexOf('[\n'))) as (typeof packed)[])[0]!;
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const deps = Object.keys(manifest.dependencies ?? {});
  // One consumer without the optional peers, one with them.
  consumer = path.join(tmp, 'consumer');
  withPeers = path.join(tmp, 'with-peers');
  for (const dir of [consumer, withPeers]) fs.mkdirSync(dir);
  await installTarball(consumer, path.join(tmp, packed.filename), deps, ['@types/node']);
  await installTarball(withPeers, path.join(tmp, packed.filename), deps, ['@types/node', 'puppeteer-core', 'playwright-core', '@playwright/test']);
}, 60_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds dist (ESM, CommonJS, types), README.md, LICENSE and package.json, and nothing of the sources or tests', () => {
    const files = packed.files.map((f) => f.path);
    const entries = ['index', 'fixtures/vitest', 'fixtures/playwright-test'].flatMap((e) => [`dist/${e}.js`, `dist/${e}.d.ts`, `dist/cjs/${e}.js`, `dist/cjs/${e}.d.ts`]);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/cjs/package.json', 'dist/cjs/THIRD-PARTY-LICENSES.txt', ...entries]) {
      expect(files, f).toContain(f);
    }
    const outside = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f));
    expect(outside).toEqual([]);
    expect(files.filter((f) => /^(lib|test|benchmarks|demo|dist\/bench)\//.test(f))).toEqual([]);
  });

  it('passes publint (strict) and arethetypeswrong (node16 profile), as npm run lint:package does', async () => {
    const tgz = path.join(tmp, packed.filename);
    const [lint, types] = await Promise.all([
      sh('npx', ['publint', 'run', tgz, '--strict'], root),
      sh('npx', ['attw', tgz, '--profile', 'node16', '--format', 'ascii'], root),
    ]);
    expect(lint).toContain('All good!');
    // attw exits non-zero on a problem its profile counts; and every entry point resolves for both module systems.
    const verdicts = types.split('\n').filter((l) => /^(node16 \(from (CJS|ESM)\)|bundler):/.test(l));
    expect(verdicts).toHaveLength(4 * 3);
    expect(verdicts.filter((l) => !l.includes('🟢'))).toEqual([]);
  }, 30_000);

  it('depends at runtime only on what lib/ imports; the browser clients are optional peers', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules', 'chrome-sessions', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    // devtools-protocol: types only, which the public .d.ts files reach; rrweb and rrweb-player: browser builds read from disk (recordings).
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['chrome-launcher', 'debug', 'devtools-protocol', 'eventemitter3', 'proxy-chain', 'rrweb', 'rrweb-player', 'ws']);
    for (const peer of ['puppeteer-core', 'playwright-core']) {
      expect(manifest.peerDependencies[peer], peer).toBeDefined();
      expect(manifest.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
    // The consumer installed without them.
    expect(fs.existsSync(path.join(consumer, 'node_modules', 'puppeteer-core'))).toBe(false);
  });

  it('loads with require() without require(esm): the CommonJS build bundles its ESM-only dependencies', async () => {
    const out = await sh(process.execPath, ['--no-experimental-require-module', '-e', `
      console.log(typeof require('chrome-sessions').SessionManager);
    `], consumer);
    expect(out.trim()).toBe('function');
  });

  it('loads the Playwright Test subpath with require() and import, and the vitest one with import', async () => {
    const cjs = await sh(process.execPath, ['-e', `
      const pw = require('chrome-sessions/playwright-test');
      console.log(JSON.stringify([typeof pw.test, typeof pw.expect, require.resolve('chrome-sessions/playwright-test').replace(/.*node_modules./, '')]));
    `], withPeers);
    expect(JSON.parse(cjs)).toEqual(['function', 'function', 'chrome-sessions/dist/cjs/fixtures/playwright-test.js']);
    const esm = await sh(process.execPath, ['--input-type=module', '-e', `
      const pw = await import('chrome-sessions/playwright-test');
      console.log(JSON.stringify([typeof pw.test, import.meta.resolve('chrome-sessions/vitest').replace(/.*node_modules./, '')]));
    `], withPeers);
    expect(JSON.parse(esm)).toEqual(['function', 'chrome-sessions/dist/fixtures/vitest.js']);
  });

  it('loads with require() from CommonJS', async () => {
    const out = await sh(process.execPath, ['-e', `
      const m = require('chrome-sessions');
      console.log(JSON.stringify({ manager: typeof m.SessionManager, error: typeof m.ChromeSessionsError, file: require.resolve('chrome-sessions') }));
    `], consumer);
    const r = JSON.parse(out) as { manager: string; error: string; file: string };
    expect(r).toMatchObject({ manager: 'function', error: 'function' });
    expect(r.file).toMatch(/node_modules\/chrome-sessions\/dist\/cjs\/index\.js$/);
  });

  it('loads with import from ESM', async () => {
    const out = await sh(process.execPath, ['--input-type=module', '-e', `
      import { SessionManager, ChromeSessionsError } from 'chrome-sessions';
      console.log(JSON.stringify({ manager: typeof SessionManager, error: typeof ChromeSessionsError, file: import.meta.resolve('chrome-sessions') }));
    `], consumer);
    const r = JSON.parse(out) as { manager: string; error: string; file: string };
    expect(r).toMatchObject({ manager: 'function', error: 'function' });
    expect(r.file).toMatch(/node_modules\/chrome-sessions\/dist\/index\.js$/);
  });

  it('without the peers, the connect helpers reject with ERR_PEER_MISSING, from require and import', async () => {
    const cjs = await sh(process.execPath, ['-e', `
      require('chrome-sessions').connectPuppeteer('ws://127.0.0.1:9/x').catch((e) => console.log(JSON.stringify([e.name, e.code, e.peer])));
    `], consumer);
    expect(JSON.parse(cjs)).toEqual(['PeerDependencyMissingError', 'ERR_PEER_MISSING', 'puppeteer-core']);
    const esm = await sh(process.execPath, ['--input-type=module', '-e', `
      import { connectPlaywright } from 'chrome-sessions';
      await connectPlaywright('ws://127.0.0.1:9/x').catch((e) => console.log(JSON.stringify([e.name, e.code, e.peer])));
    `], consumer);
    expect(JSON.parse(esm)).toEqual(['PeerDependencyMissingError', 'ERR_PEER_MISSING', 'playwright-core']);
  });

  it('type-checks a .cts and a .mts consumer without the peers (skipLibCheck) and with them (full check)', async () => {
    const core = `
      const manager = new SessionManager({ maxConcurrent: 1 });
      // @ts-expect-error maxConcurrent is a number: the types are real, not any
      new SessionManager({ maxConcurrent: 'two' });
      export async function main(): Promise<string> {
        const session = await manager.create({ timeoutMs: 1000 });
        const url: string = session.wsEndpoint;
        await manager.stop(session.id);
        const err: ChromeSessionsError | undefined = undefined;
        void err;
        return withSession(manager, { keepAlive: true }, async (s) => {
          const { page } = await connectPuppeteer(s);
          return url + (await page.title());
        });
      }
    `;
    // Only with the peers installed are their types there to be wrong about.
    const peers = `
      export async function peers(session: Session): Promise<string> {
        const { page } = await connectPuppeteer(session, { defaultViewport: null });
        // @ts-expect-error not a Puppeteer Page method: the peer's types are real
        page.noSuchMethod();
        const pw = await connectPlaywright(session);
        const origin: string = pw.context.pages()[0]!.url();
        // @ts-expect-error not a Playwright Page method
        pw.page.noSuchMethod();
        return (await page.title()) + origin;
      }
    `;
    const head = `import { SessionManager, ChromeSessionsError, connectPuppeteer, connectPlaywright, withSession, type Session } from 'chrome-sessions';\n`;
    const check = async (dir: string, body: string, skipLibCheck: boolean) => {
      fs.writeFileSync(path.join(dir, 'cjs.cts'), head + body);
      fs.writeFileSync(path.join(dir, 'esm.mts'), head + body);
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2023', 'dom'], strict: true, noEmit: true, types: ['node'], skipLibCheck },
        files: ['cjs.cts', 'esm.mts'],
      }));
      return sh(process.execPath, [tsc, '-p', 'tsconfig.json', '--traceResolution'], dir);
    };
    const [bare, full] = await Promise.all([
      check(consumer, core + 'export type _S = Session;\n', true),
      check(withPeers, core + peers, false),
    ]);
    for (const out of [bare, full]) {
      // Each file got the declarations of its own format.
      expect(out).toMatch(/Module name 'chrome-sessions' was successfully resolved to '[^']*\/dist\/cjs\/index\.d\.ts'/);
      expect(out).toMatch(/Module name 'chrome-sessions' was successfully resolved to '[^']*chrome-sessions\/dist\/index\.d\.ts'/);
    }
  });
});
