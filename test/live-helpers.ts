/** Helpers of test/live-view.test.ts: polling, a client's page the same for Puppeteer and Playwright, Chrome's view of attachments. */
import { chromium, type Page as PwPage } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import WebSocket from 'ws';
import type { Session } from '../lib/index.js';
import { chromeEndpoint } from './helpers.js';

/** Polls `fn` every 100 ms until its value passes `ok`; returns the last value (the caller asserts it). */
export async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

/** What the tests need of a client's page, the same for Puppeteer and Playwright. */
export interface ClientPage {
  goto(url: string): Promise<unknown>;
  evaluate<T>(fn: () => T): Promise<T>;
  bringToFront(): Promise<void>;
  close(): Promise<void>;
}
export interface Client {
  readonly page: ClientPage;
  newPage(): Promise<ClientPage>;
  disconnect(): Promise<void>;
}

export async function connect(kind: 'puppeteer' | 'playwright', s: Session): Promise<Client> {
  if (kind === 'puppeteer') {
    const b = await puppeteer.connect({ browserWSEndpoint: s.wsEndpoint, defaultViewport: null });
    const [page] = await b.pages();
    return { page: page!, newPage: () => b.newPage(), disconnect: () => b.disconnect() };
  }
  const b = await chromium.connectOverCDP(s.wsEndpoint);
  const ctx = b.contexts()[0]!;
  const wrap = (p: PwPage): ClientPage => ({ goto: (u) => p.goto(u), evaluate: (fn) => p.evaluate(fn), bringToFront: () => p.bringToFront(), close: () => p.close() });
  return { page: wrap(ctx.pages()[0]!), newPage: async () => wrap(await ctx.newPage()), disconnect: () => b.close() };
}

/** Whether the manager's live view connection is attached to the session's page (Chrome's own view). */
export async function pageAttached(pid: number): Promise<boolean> {
  const ws = new WebSocket(chromeEndpoint(pid));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  try {
    ws.send(JSON.stringify({ id: 1, method: 'Target.getTargets' }));
    const reply = await new Promise<{ result: { targetInfos: { type: string; attached: boolean }[] } }>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
    return reply.result.targetInfos.some((t) => t.type === 'page' && t.attached);
  } finally {
    ws.close();
  }
}
