/**
 * The one job every benchmark runs through the library: a session, a Puppeteer client on its
 * endpoint, its first page loads a local page, the title is checked, the client disconnects
 * (which ends the session: its only client left).
 */
import puppeteer, { type Page } from 'puppeteer-core';
import type { SessionManager } from '../lib/index.js';
import type { PageServer } from './common.js';

/** Loads job `i`'s page and checks its title. */
export async function loadAndCheck(page: Page, pages: PageServer, i: number): Promise<void> {
  await page.goto(pages.url(i), { waitUntil: 'load' });
  const title = await page.title();
  if (title !== pages.title(i)) throw new Error(`job ${i}: title ${JSON.stringify(title)}`);
}

/** Times (ms) of the parts of one session job. */
export interface SessionJobParts {
  create: number;
  connect: number;
  work: number;
  disconnect: number;
}

/** create() + puppeteer.connect + pages()[0] + goto + title + disconnect(). */
export async function sessionJob(manager: SessionManager, pages: PageServer, i: number): Promise<SessionJobParts> {
  const t0 = performance.now();
  const session = await manager.create();
  const t1 = performance.now();
  const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
  const t2 = performance.now();
  let t3 = 0;
  try {
    const page = (await browser.pages())[0];
    if (!page) throw new Error(`session ${session.id} has no page`);
    await loadAndCheck(page, pages, i);
  } finally {
    t3 = performance.now();
    // Disconnecting the only client ends the session; its browser goes back to the pool.
    await browser.disconnect();
  }
  return { create: t1 - t0, connect: t2 - t1, work: t3 - t2, disconnect: performance.now() - t3 };
}

/** Resolves once the manager has no session and its pool no reset or launch in flight. */
export function poolQuiet(manager: SessionManager): boolean {
  const s = manager.stats();
  return s.active === 0 && s.pending === 0 && s.resetting === 0 && s.launching === 0;
}
