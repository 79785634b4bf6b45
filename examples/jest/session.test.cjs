// A Jest suite in CommonJS: the package loads with require(), as in any CommonJS project.
const http = require('node:http');
const { SessionManager, connectPuppeteer, withSession } = require('chrome-sessions');

let manager;
let server;
let origin;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>from jest</title>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  manager = new SessionManager({ maxConcurrent: 1, minIdle: 0 });
});

afterAll(async () => {
  await manager.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('resolves to the CommonJS build', () => {
  expect(require.resolve('chrome-sessions')).toMatch(/dist\/cjs\/index\.js$/);
});

test('a session drives a page through Puppeteer and is stopped afterwards', async () => {
  let id;
  const title = await withSession(manager, {}, async (session) => {
    id = session.id;
    const { browser, page } = await connectPuppeteer(session);
    await page.goto(`${origin}/`);
    const text = await page.title();
    await browser.disconnect();
    return text;
  });
  expect(title).toBe('from jest');
  expect(manager.get(id).status).toBe('closed');
});
