import { defineConfig } from '@playwright/test';

/**
 * An ordinary Playwright Test config: nothing here knows about chrome-sessions. The specs import
 * `test` from 'chrome-sessions/playwright-test' instead of '@playwright/test', and that is the
 * whole switch. EXAMPLE_BASE_URL and EXAMPLE_OUTPUT_DIR are set by test/fixture-playwright.test.ts.
 */
export default defineConfig({
  testDir: '.',
  outputDir: process.env.EXAMPLE_OUTPUT_DIR ?? 'test-results',
  workers: 1,
  timeout: 30_000,
  use: {
    baseURL: process.env.EXAMPLE_BASE_URL ?? 'http://127.0.0.1:8080',
    viewport: { width: 800, height: 600 },
  },
});
