import { test, expect } from 'chrome-sessions/playwright-test';

// Worker options, as a config's `use` or a file's test.use() gives them.
test.use({ sessionManagerOptions: { maxConcurrent: 1 }, sessionParams: { timeoutMs: 60_000 } });

test('sessionParams reach the worker session, which stays keepAlive', async ({ workerSession, browser }) => {
  expect(workerSession).toMatchObject({ keepAlive: true, timeoutMs: 60_000 });
  expect(browser.isConnected()).toBe(true);
});
