import { test, expect } from 'chrome-sessions/playwright-test';

let firstContext: unknown;

test('the page loads a local page through baseURL, in a browser served by a session', async ({ page, context, browser, workerSession, sessionManager }) => {
  await page.goto('/title/from-playwright-test');
  await expect(page).toHaveTitle('from-playwright-test');
  // The project's `use` options still apply to the context Playwright makes per test.
  expect(page.viewportSize()).toEqual({ width: 800, height: 600 });
  expect(browser.contexts()).toContain(context);
  expect(sessionManager.get(workerSession.id)).toMatchObject({ status: 'active', keepAlive: true, timeoutMs: 86_400_000 });
  firstContext = context;
});

test('the next test gets the same session and browser but a fresh context', async ({ context, browser, workerSession, sessionManager }) => {
  expect(context).not.toBe(firstContext);
  expect(browser.isConnected()).toBe(true);
  expect(sessionManager.list({ status: 'active' }).totalCount).toBe(1);
  expect(sessionManager.get(workerSession.id).status).toBe('active');
});
