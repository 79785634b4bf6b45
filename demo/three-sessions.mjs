// Three sessions at once, driven by Puppeteer against a local page; prints lifecycle events
// and timings. Run with `npm run demo` (after `npm run build`).
import http from 'node:http';
import puppeteer from 'puppeteer-core';
import { SessionManager } from '../dist/index.js';

const t0 = performance.now();
const at = () => `${(performance.now() - t0).toFixed(0).padStart(5)} ms`;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<title>Hello from ${req.url}</title>`);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const manager = new SessionManager({ maxConcurrent: 3, handleSignals: true });
console.log(`${at()}  using ${manager.chrome.executablePath} (headless: ${manager.chrome.headless})`);
manager.on('browserLaunched', (e) => console.log(`${at()}  browserLaunched   pid ${e.pid} in ${e.launchMs.toFixed(0)} ms`));
manager.on('sessionCreated', (s) => console.log(`${at()}  sessionCreated    ${s.id.slice(0, 8)} on pid ${s.browserPid}`));
manager.on('clientConnected', (e) => console.log(`${at()}  clientConnected   ${e.sessionId.slice(0, 8)} (${e.clients} client)`));
manager.on('clientDisconnected', (e) => console.log(`${at()}  clientDisconnected ${e.sessionId.slice(0, 8)} willStop=${e.willStop}`));
manager.on('sessionClosed', (s) => console.log(`${at()}  sessionClosed     ${s.id.slice(0, 8)} (${s.stopReason})`));
manager.on('browserReset', (e) => console.log(`${at()}  browserReset      pid ${e.pid} in ${e.ms.toFixed(0)} ms`));

async function job(name) {
  const started = performance.now();
  const session = await manager.create({ timeoutMs: 60_000 });
  const created = performance.now();
  const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
  const [page] = await browser.pages();
  await page.goto(`${origin}/${name}`);
  const title = await page.title();
  await browser.disconnect(); // the session stops when its last client leaves (no keepAlive)
  return { name, title, createMs: created - started, totalMs: performance.now() - started };
}

try {
  for (const round of [1, 2]) {
    console.log(`\n--- round ${round}: three sessions at once ${round === 1 ? '(cold: browsers launch)' : '(warm: browsers reused after reset)'}`);
    const results = await Promise.all(['alpha', 'beta', 'gamma'].map((n) => job(`${n}-${round}`)));
    await new Promise((r) => setTimeout(r, 300)); // let the resets finish, so round 2 finds warm browsers
    console.table(results.map((r) => ({ job: r.name, title: r.title, 'create ms': r.createMs.toFixed(1), 'total ms': r.totalMs.toFixed(1) })));
  }
  console.log('stats', manager.stats());
} finally {
  await manager.close();
  server.close();
  console.log(`${at()}  manager closed`);
}
