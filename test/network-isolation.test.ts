/**
 * What a site can tell about two sessions in a row on one Chrome, in each isolation mode: does
 * session N+1 reuse N's keep-alive connection (the server sees the same client port), send N's
 * HTTP Basic credentials unasked, or carry N's Client Hints opt-in on its first request? A cloud
 * session is a fresh browser; 'context' and 'browser' isolation give that, 'reset' does not (its
 * documented limits, pinned here so that a change in Chrome shows).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twoSessions } from './two-sessions.js';

let server: http.Server;
let origin: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const html = (body: string, headers: Record<string, string> = {}) => res.writeHead(200, { 'Content-Type': 'text/html', ...headers }).end(`<!doctype html><title>t</title>${body}`);
    if (url.pathname === '/port') return html(`<p id=port>${req.socket.remotePort}</p>`);
    if (url.pathname === '/auth/login') {
      if (req.headers.authorization) return html('welcome');
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      return;
    }
    if (url.pathname === '/auth/echo') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.headers.authorization ?? '');
    if (url.pathname === '/hints/opt-in') return html('opted in', { 'Accept-CH': 'Sec-CH-UA-Platform-Version', 'Critical-CH': 'Sec-CH-UA-Platform-Version' });
    if (url.pathname === '/hints/echo') return html(`<p id=hint>${req.headers['sec-ch-ua-platform-version'] ?? 'none'}</p>`);
    html('ok');
  });
  // Long keep-alive: a connection left by session N is still there for N+1 to reuse.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const text = (page: Page, sel: string) => page.$eval(sel, (el) => (el as unknown as { textContent: string }).textContent);

const port = async (page: Page) => {
  await page.goto(`${origin}/port`);
  return text(page, '#port');
};

const login = async (page: Page) => {
  await page.authenticate({ username: 'user', password: 'secret' });
  await page.goto(`${origin}/auth/login`);
  await page.authenticate(null);
  return page.evaluate(async () => (await fetch('/auth/echo')).text());
};
const sentAuth = async (page: Page) => {
  await page.goto(`${origin}/port`);
  return page.evaluate(async () => (await fetch('/auth/echo')).text());
};

const optIn = async (page: Page) => {
  await page.goto(`${origin}/hints/opt-in`);
  await page.goto(`${origin}/hints/echo`);
  return text(page, '#hint');
};
const firstHint = async (page: Page) => {
  await page.goto(`${origin}/hints/echo`);
  return text(page, '#hint');
};

const BASIC = `Basic ${Buffer.from('user:secret').toString('base64')}`;

describe.each(['context', 'browser'] as const)("'%s' isolation: session N+1 is a fresh browser to every site", (mode) => {
  it("opens its own connections (the server sees another client port)", async () => {
    const [a, b] = await twoSessions(mode, port, port);
    expect(b).not.toBe(a);
  });

  it("does not send N's HTTP Basic credentials", async () => {
    const [a, b] = await twoSessions(mode, login, sentAuth);
    expect(a).toBe(BASIC);
    expect(b).toBe('');
  });

  it("does not carry N's Client Hints opt-in", async () => {
    const [a, b] = await twoSessions(mode, optIn, firstHint);
    expect(a).not.toBe('none');
    expect(b).toBe('none');
  });
});

describe("'reset' isolation: what a CDP reset cannot clear (documented)", () => {
  it('reuses the keep-alive connection, sends the credentials, carries the hints opt-in', async () => {
    const [p1, p2] = await twoSessions('reset', port, port);
    expect(p2).toBe(p1);
    const [, auth] = await twoSessions('reset', login, sentAuth);
    expect(auth).toBe(BASIC);
    const [, hint] = await twoSessions('reset', optIn, firstHint);
    expect(hint).not.toBe('none');
  });
});
