import puppeteer from 'puppeteer-core';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, SessionClosedError, SessionManager, type SessionInfo, type SessionManagerOptions } from '../lib/index.js';
import { FakeClock } from './fakes.js';
import { isAlive, nextEvent } from './helpers.js';

let managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
});

function manager(opts: SessionManagerOptions = {}): SessionManager {
  const m = new SessionManager({ maxConcurrent: 2, minIdle: 0, ...opts });
  managers.push(m);
  return m;
}

/** Resolves with the session's record when it closes. */
function closedEvent(m: SessionManager, id: string, timeoutMs = 10_000): Promise<SessionInfo> {
  return nextEvent<[SessionInfo]>(m, 'sessionClosed', (s) => s.id === id, timeoutMs).then(([s]) => s);
}

describe('timeouts (on an injected clock: the rules are about time, the test need not wait for it)', () => {
  it('closes a session at its timeoutMs with stopReason timeout, after a sessionExpiring warning', async () => {
    const clock = new FakeClock();
    const m = manager({ expiryWarningMs: 200, clock });
    const s = await m.create({ timeoutMs: 600 });
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const warned = nextEvent<[{ sessionId: string; inMs: number; expiresAt: string }]>(m, 'sessionExpiring', (e) => e.sessionId === s.id);
    clock.advance(399);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    const [warning] = await warned;
    expect(warning).toEqual({ sessionId: s.id, expiresAt: s.expiresAt, inMs: 200 });
    const closed = closedEvent(m, s.id);
    clock.advance(199);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    expect(await closed).toMatchObject({ status: 'closed', stopReason: 'timeout' });
    expect(browser.connected).toBe(false);
  });

  it('accepts Hyperbrowser timeoutMinutes', async () => {
    const clock = new FakeClock();
    const m = manager({ clock });
    const s = await m.create({ timeoutMinutes: 0.5 });
    expect(s.timeoutMs).toBe(30_000);
    const closed = closedEvent(m, s.id);
    clock.advance(29_999);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    expect((await closed).stopReason).toBe('timeout');
  });

  it('extend() moves the expiry; extending an ended session throws SessionClosedError', async () => {
    const clock = new FakeClock();
    const m = manager({ clock });
    const s = await m.create({ timeoutMs: 400 });
    const extended = m.extend(s.id, 600);
    expect(Date.parse(extended.expiresAt!) - Date.parse(s.expiresAt!)).toBe(600);
    const closed = closedEvent(m, s.id);
    clock.advance(999);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    expect(await closed).toMatchObject({ stopReason: 'timeout', closedAt: extended.expiresAt });
    expect(() => m.extend(s.id, 1000)).toThrow(SessionClosedError);
    expect(() => m.extend(s.id, 0)).toThrow(InvalidOptionError);
  });

  it('idleTimeoutMs stops a session without client traffic, and traffic keeps it alive', async () => {
    const clock = new FakeClock();
    const m = manager({ clock });
    const s = await m.create({ idleTimeoutMs: 500 });
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const page = (await browser.pages())[0]!;
    // Traffic every 400 ms for 2 s: four times the idle timeout, and the session must survive it.
    for (let i = 0; i < 5; i++) {
      clock.advance(400);
      await page.evaluate(() => 1);
    }
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    clock.advance(499);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    expect((await closed).stopReason).toBe('idle');
  });

  it('caps timeouts and extensions at maxTimeoutMs (24 h by default)', async () => {
    const clock = new FakeClock();
    const m = manager({ clock, healthCheckIntervalMs: 0 });
    await expect(m.create({ timeoutMs: 24 * 3600_000 + 1 })).rejects.toThrow(InvalidOptionError);
    await expect(m.create({ timeoutMinutes: 24 * 60 + 1 })).rejects.toThrow(InvalidOptionError);
    const s = await m.create({ timeoutMinutes: 23 * 60 });
    expect(() => m.extend(s.id, 3600_000 + 1)).toThrow(/at most 3600000/);
    m.extend(s.id, 3600_000);
    clock.advance(24 * 3600_000 - 1);
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    clock.advance(1);
    expect((await closed).stopReason).toBe('timeout');
  });

  it('refuses durations Node cannot time (over 2^31-1 ms), which would otherwise fire at once', async () => {
    const big = 2 ** 31;
    for (const option of ['maxTimeoutMs', 'defaultTimeoutMs', 'idleTimeoutMs', 'launchTimeoutMs', 'queueTimeoutMs', 'disconnectGraceMs', 'healthCheckIntervalMs']) {
      expect(() => new SessionManager({ [option]: big })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }));
    }
    const m = manager({ maxTimeoutMs: 2 ** 31 - 1 });
    await expect(m.create({ timeoutMs: 30 * 24 * 3600_000 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.timeoutMs' });
    await expect(m.create({ idleTimeoutMs: big })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'create.idleTimeoutMs' });
    const s = await m.create({ timeoutMs: 60_000 });
    expect(() => m.extend(s.id, big)).toThrow(expect.objectContaining({ option: 'extend.ms' }));
    expect(m.get(s.id).status).toBe('active');
  });
});

describe('disconnects and keepAlive', () => {
  it('stops when the last client disconnects, not before; an unconnected session is left alone', async () => {
    const m = manager();
    const untouched = await m.create();
    const s = await m.create();
    const a = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const b = await chromium.connectOverCDP(s.wsEndpoint);
    const firstGone = nextEvent<[{ clients: number; willStop: boolean }]>(m, 'clientDisconnected');
    await a.disconnect();
    expect((await firstGone)[0]).toMatchObject({ clients: 1, willStop: false });
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    await b.close();
    expect((await closed).stopReason).toBe('client_disconnected');
    expect(m.get(untouched.id).status).toBe('active');
  });

  it('disconnectGraceMs lets a client reconnect first', async () => {
    const clock = new FakeClock();
    const m = manager({ disconnectGraceMs: 400, clock });
    const s = await m.create();
    const first = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    await Promise.all([nextEvent(m, 'clientDisconnected'), first.disconnect()]);
    clock.advance(399);
    const second = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    clock.advance(600);
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    await Promise.all([nextEvent(m, 'clientDisconnected'), second.disconnect()]);
    clock.advance(399);
    expect(m.get(s.id).status).toBe('active');
    clock.advance(1);
    expect((await closed).stopReason).toBe('client_disconnected');
  });

  it('create({ keepAlive: true }) survives disconnects until its timeout', async () => {
    const clock = new FakeClock();
    const m = manager({ clock });
    const s = await m.create({ keepAlive: true, timeoutMs: 1500 });
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const [[ev]] = await Promise.all([nextEvent<[{ willStop: boolean }]>(m, 'clientDisconnected'), browser.disconnect()]);
    expect(ev.willStop).toBe(false);
    const again = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    expect((await again.pages()).length).toBe(1);
    await Promise.all([nextEvent(m, 'clientDisconnected'), again.disconnect()]);
    clock.advance(1499);
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    clock.advance(1);
    expect((await closed).stopReason).toBe('timeout');
  });

  it.each([
    ['puppeteer', async (url: string) => (await puppeteer.connect({ browserWSEndpoint: url })).disconnect()],
    ['playwright', async (url: string) => (await chromium.connectOverCDP(url)).close()],
  ])('&keepAlive=true on the endpoint (as Hyperbrowser writes it) keeps the session, with %s', async (_name, connectAndLeave) => {
    const m = manager();
    const s = await m.create();
    const [connected, left] = await Promise.all([
      nextEvent<[{ keepAlive: boolean }]>(m, 'clientConnected'),
      nextEvent<[{ willStop: boolean; clients: number }]>(m, 'clientDisconnected'),
      connectAndLeave(`${s.wsEndpoint}&keepAlive=true`),
    ]);
    expect(connected[0].keepAlive).toBe(true);
    expect(left[0]).toMatchObject({ willStop: false, clients: 0 });
    expect(m.get(s.id)).toMatchObject({ status: 'active', keepAlive: true, clients: 0 });
    await m.stop(s.id);
  });

  it('stops when its last page closes, even with keepAlive', async () => {
    const m = manager();
    const s = await m.create({ keepAlive: true });
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const extra = await browser.newPage();
    const [first] = await browser.pages();
    await first!.close();
    expect(m.get(s.id).status).toBe('active');
    const closed = closedEvent(m, s.id);
    await extra.close().catch(() => {});
    expect((await closed).stopReason).toBe('all_pages_closed');
  });

  it('stops on the last page closed through Playwright too', async () => {
    const m = manager();
    const s = await m.create();
    const browser = await chromium.connectOverCDP(s.wsEndpoint);
    const closed = closedEvent(m, s.id);
    await browser.contexts()[0]!.pages()[0]!.close();
    expect((await closed).stopReason).toBe('all_pages_closed');
  });

  it("Puppeteer's browser.close() ends the session but not the pooled browser", async () => {
    const m = manager();
    const s = await m.create();
    const browser = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint });
    const closed = closedEvent(m, s.id);
    await browser.close();
    expect((await closed).stopReason).toBe('browser_closed');
    expect(isAlive(s.browserPid!)).toBe(true);
    const next = await m.create();
    expect(next.browserPid).toBe(s.browserPid);
  });
});
