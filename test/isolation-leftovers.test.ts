/**
 * What a session leaves running when it ends does not reach the next, in every isolation mode:
 * state a closing page writes after the session ended (timers, `pagehide`), a page left hung in
 * an endless loop, and the browser contexts of a client SIGKILLed mid-session. The pattern (two
 * sessions on one browser, or a new one in 'browser' mode) is in isolation-helpers.ts; in 'reset'
 * mode each test fails when `resetBrowser` does nothing.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CdpConnection } from '../lib/cdp.js';
import type { SessionManager } from '../lib/index.js';
import { chromeEndpoint, waitUntil } from './helpers.js';
import { at, isolationSuite, MODES } from './isolation-helpers.js';

// Browser globals, used only inside page.evaluate (the project compiles without the DOM lib).
declare const window: any;
declare const document: any;
declare const localStorage: any;

describe.each(MODES)("isolation '%s': a session leaks nothing to the next", (mode) => {
  const suite = isolationSuite(mode);
  const { create, open, ended, end, twoSessions } = suite;
  let manager: SessionManager;
  let A: string;
  let B: string;
  beforeAll(() => {
    ({ manager, A, B } = suite);
  });

  it('state a closing page writes (timers, pagehide) after the session ended', async () => {
    await twoSessions(
      async ({ browser, page }) => {
        for (const [p, origin] of [[page, A], [await browser.newPage(), B]] as const) {
          await p.goto(`${origin}/title/writer`);
          await p.evaluate(() => {
            const write = () => {
              localStorage.setItem('late', String(Date.now()));
              document.cookie = `late=${Date.now()}; path=/; max-age=3600`;
            };
            setInterval(write, 0);
            window.addEventListener('pagehide', write);
          });
        }
      },
      async ({ browser }) => {
        const page = await browser.newPage();
        for (const origin of [A, B]) {
          expect(await at(page, origin, () => ({ keys: localStorage.length, cookie: document.cookie }))).toEqual({ keys: 0, cookie: '' });
        }
        expect(await browser.cookies()).toEqual([]);
      },
    );
  });

  it('a page left hung in an endless loop is gone before the next session', async () => {
    await twoSessions(
      async ({ page }) => {
        await page.goto(`${A}/title/hung`);
        await page.evaluate(() => {
          setTimeout(() => {
            for (;;);
          }, 0);
        });
      },
      async ({ browser }) => {
        expect((await browser.pages()).map((p) => p.url())).toEqual(['about:blank']);
        expect(browser.targets().filter((t) => t.type() === 'page')).toHaveLength(1);
      },
    );
  });

  it('a client killed mid-session: the contexts it left behind are disposed', async () => {
    const n = await create();
    const reset = ended(n);
    // A separate process creates a context with a page, then is SIGKILLed: no clean disconnect.
    const script = `
      import puppeteer from 'puppeteer-core';
      const browser = await puppeteer.connect({ browserWSEndpoint: process.env.WS, defaultViewport: null });
      const context = await browser.createBrowserContext();
      await (await context.newPage()).goto(process.env.URL);
      console.log('ready ' + browser.browserContexts().length);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, WS: n.wsEndpoint, URL: `${A}/set-cookie` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitUntil(() => out.includes('ready'), 20_000, 'the child client');
      expect(out.trim()).toBe('ready 2');
      child.kill('SIGKILL');
      await reset;
    } finally {
      child.kill('SIGKILL');
    }
    expect(manager.get(n.id).stopReason).toBe('client_disconnected');
    const next = await open();
    try {
      expect(next.browser.browserContexts()).toHaveLength(1);
      expect((await next.browser.pages()).map((p) => p.url())).toEqual(['about:blank']);
      if (mode === 'context') {
        // What Chrome itself holds: the next session's context only, the killed client's is gone.
        const probe = await CdpConnection.connect(chromeEndpoint(next.pid), 5_000);
        try {
          expect((await probe.send('Target.getBrowserContexts', {}, { timeoutMs: 5_000 })).browserContextIds).toHaveLength(1);
        } finally {
          probe.close();
        }
      }
    } finally {
      await end(next);
    }
  });
});
