/**
 * HSTS entries and the DNS cache: does session N+1 inherit what session N's Chrome learnt, in each
 * isolation mode? Measured on real Chrome, each with a control showing the test can tell:
 * - HSTS: session N loads https://hsts.test:P/set (`Strict-Transport-Security`), session N+1 loads
 *   http://hsts.test:P/probe; one port speaks TLS and plain HTTP, so the server sees whether
 *   Chrome upgraded the request. Controls: the probe arrives plain at first, over TLS after /set.
 * - DNS: Chrome resolves dns.test through a test DNS server (its own /etc/resolv.conf, bound in
 *   a mount namespace by a wrapper executable; root only); session N+1 loading the page without a
 *   query means N's cache entry was used. Control: a second request in session N asks no query.
 * Measured on Chromium 156, headless-shell and full Chromium alike: 'reset' clears HSTS (its
 * Network.clearBrowserCache does) but keeps the DNS cache (no CDP command reaches it); 'context'
 * and 'browser' sessions start with neither.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChrome } from '../lib/index.js';
import { selfSignedCert, startDns, startDualServer, type DualServer, type TestDns } from './net-servers.js';
import { startServer, type TestServer } from './helpers.js';
import { twoSessions } from './two-sessions.js';

const MODES = ['reset', 'context', 'browser'] as const;
const text = (page: Page, sel: string) => page.$eval(sel, (el) => (el as unknown as { textContent: string }).textContent);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netiso-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HSTS', () => {
  let server: DualServer;
  let args: string[];
  beforeAll(async () => {
    const { key, cert, spkiHash } = selfSignedCert(dir, 'hsts.test');
    const handler: http.RequestListener = (req, res) => {
      const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
      const html = (body: string, headers: Record<string, string> = {}) => res.writeHead(200, { 'Content-Type': 'text/html', ...headers }).end(`<!doctype html><title>t</title>${body}`);
      if (req.url === '/set') return html('set', tls ? { 'Strict-Transport-Security': 'max-age=600' } : {});
      if (req.url === '/probe') return html(`<p id=via>${tls ? 'tls' : 'plain'}</p>`);
      res.writeHead(404).end();
    };
    server = await startDualServer({ key, cert }, handler);
    // Chrome records HSTS only from a certificate without errors, and never for an IP address.
    args = [`--ignore-certificate-errors-spki-list=${spkiHash}`, '--host-resolver-rules=MAP hsts.test 127.0.0.1'];
  });
  afterAll(() => server?.close());

  const probe = async (page: Page) => {
    await page.goto(`http://hsts.test:${server.port}/probe`);
    return text(page, '#via');
  };
  /** The probe before and after an HSTS header from the site (the controls). */
  const learn = async (page: Page) => {
    const before = await probe(page);
    const res = await page.goto(`https://hsts.test:${server.port}/set`);
    expect(res?.headers()['strict-transport-security']).toBe('max-age=600');
    return [before, await probe(page)];
  };
  const probeOnly = async (page: Page) => [await probe(page)];

  it.each(MODES)("'%s': session N+1's plain request to the site stays plain", async (mode) => {
    const [[before, after], [next]] = await twoSessions(mode, learn, probeOnly, { args });
    expect(before, 'a fresh Chrome asks over plain HTTP').toBe('plain');
    expect(after, 'the HSTS header upgrades the next request').toBe('tls');
    expect(next).toBe('plain');
  }, 90_000);

  // Why 'reset' passes: the entry is the browser's (a new page has it too), and of the reset's
  // CDP calls Network.clearBrowserCache is the one that drops it (full Chromium alike).
  it("'reset': the entry outlives the page until Network.clearBrowserCache", async () => {
    const clears = async (page: Page) => {
      await learn(page);
      const fresh = await page.browser().newPage();
      const cdp = await fresh.createCDPSession();
      const seen = [await probe(fresh)];
      await cdp.send('Storage.clearDataForOrigin', { origin: '*', storageTypes: 'all' });
      await cdp.send('Storage.clearCookies', {});
      seen.push(await probe(fresh));
      await cdp.send('Network.clearBrowserCache');
      seen.push(await probe(fresh));
      await fresh.close();
      return seen;
    };
    const [seen] = await twoSessions('reset', clears, probeOnly, { args });
    expect(seen).toEqual(['tls', 'tls', 'plain']);
  }, 90_000);
});

/** Why the DNS tests cannot run here, or '' when they can. */
function whyNoDns(): string {
  if (process.getuid?.() !== 0) return 'needs root (binds port 53, mounts over /etc/resolv.conf)';
  const r = spawnSync('unshare', ['-m', 'true'], { timeout: 10_000 });
  if (r.error) return `unshare is missing (${r.error.message}); install util-linux`;
  if (r.status !== 0) return `unshare -m fails here: ${r.stderr.toString().trim()}`;
  return '';
}
const noDns = whyNoDns();

describe.skipIf(noDns !== '')(`DNS cache${noDns ? ` (skipped: ${noDns})` : ''}`, () => {
  let dns: TestDns;
  let page: TestServer;
  let executablePath: string;
  beforeAll(async () => {
    // A loopback address of this run's own (resolv.conf takes no port, so it must be 53).
    dns = await startDns(`127.${crypto.randomInt(1, 255)}.${crypto.randomInt(1, 255)}.${crypto.randomInt(2, 255)}`, 'dns.test');
    page = await startServer({
      // A new connection for every request, so each one needs the name resolved (from the cache or by a query).
      '/': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html', Connection: 'close' }).end('<!doctype html><title>dns</title>'),
    });
    const resolv = path.join(dir, 'resolv.conf');
    fs.writeFileSync(resolv, `nameserver ${dns.host}\n`);
    const chrome = findChrome({ headless: 'shell' }).executablePath;
    executablePath = path.join(dir, 'chrome-test-dns');
    // Chrome in a mount namespace of its own where /etc/resolv.conf names the test DNS server;
    // `exec` all the way keeps the spawned pid (the process group the manager kills).
    fs.writeFileSync(executablePath, `#!/bin/sh\nexec unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh '${resolv}' '${chrome}' "$@"\n`, { mode: 0o755 });
  });
  afterAll(async () => {
    await page?.close();
    await dns?.close();
  });

  const queries = () => dns.queries.get('dns.test') ?? 0;
  /** The DNS queries a page load of dns.test caused, then those of a second request to it. */
  const load = async (p: Page) => {
    const origin = page.origin.replace('127.0.0.1', 'dns.test');
    const q0 = queries();
    await p.goto(`${origin}/`);
    const q1 = queries();
    await p.evaluate(async () => (await fetch('/')).text());
    return { load: q1 - q0, again: queries() - q1 };
  };

  it.each(MODES)("'%s': does session N+1 resolve the name again?", async (mode) => {
    const [n, next] = await twoSessions(mode, load, load, { executablePath, headless: 'shell' });
    expect(n.load, 'Chrome asks the test DNS server').toBeGreaterThan(0);
    expect(n.again, "Chrome's cache answers a second request").toBe(0);
    // 'reset' keeps the browser's network context, and with it the host cache.
    if (mode === 'reset') expect(next.load, "N's cache entry answers").toBe(0);
    else expect(next.load, 'a new network context asks again').toBeGreaterThan(0);
  }, 90_000);
});
