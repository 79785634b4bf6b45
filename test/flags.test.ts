/**
 * Chrome reads `--disable-features` / `--enable-features` from their last occurrence only, so a
 * user's own list would silently drop the features the library disables for isolation
 * (BackForwardCache) and cost (RenderDocument). The lists are merged instead.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import puppeteer from 'puppeteer-core';
import { chromeArgs, DISABLED_FEATURES, IN_PROCESS_GPU } from '../lib/chrome/flags.js';
import { SessionManager, seleniumGrid } from '../lib/index.js';
import { decodePng } from './png.js';

const base = { headless: 'shell' as const, userDataDir: '/tmp/x' };
const listOf = (args: readonly string[], sw: string) => {
  const all = args.filter((a) => a.startsWith(`${sw}=`));
  expect(all.length, `${sw} appears once`).toBeLessThanOrEqual(1);
  return all[0]?.slice(sw.length + 1).split(',') ?? [];
};

describe('chromeArgs', () => {
  it('disables the library features when the user passes none', () => {
    const args = chromeArgs({ ...base, userArgs: [] });
    expect(listOf(args, '--disable-features')).toEqual([...DISABLED_FEATURES]);
    expect(listOf(args, '--enable-features')).toEqual([]);
    expect(args.at(-1)).toBe('about:blank');
  });

  it("merges the user's --disable-features with the library's instead of replacing them", () => {
    const args = chromeArgs({ ...base, userArgs: ['--disable-features=Foo,Bar', '--disable-features=Baz', '--window-size=800,600'] });
    expect(listOf(args, '--disable-features')).toEqual([...DISABLED_FEATURES, 'Foo', 'Bar', 'Baz']);
    expect(args).toContain('--window-size=800,600');
  });

  it('a feature the user enables is taken off the disabled list', () => {
    const args = chromeArgs({ ...base, userArgs: ['--enable-features=RenderDocument,Qux'] });
    expect(listOf(args, '--disable-features')).not.toContain('RenderDocument');
    expect(listOf(args, '--disable-features')).toContain('BackForwardCache');
    expect(listOf(args, '--enable-features')).toEqual(['RenderDocument', 'Qux']);
  });
});

describe('a real browser launched with user feature lists', () => {
  const manager = new SessionManager({ minIdle: 0, args: ['--disable-features=Foo', '--enable-features=Bar'] });
  afterAll(() => manager.close());

  it('runs with one merged --disable-features and the user --enable-features (read from /proc)', async () => {
    const session = await manager.create();
    const pid = manager.get(session.id).browserPid!;
    // Chrome rewrites its process title: arguments may be joined by spaces instead of NULs.
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
    const disabled = cmdline.filter((a) => a.startsWith('--disable-features='));
    expect(disabled).toHaveLength(1);
    expect(disabled[0]!.split('=')[1]!.split(',')).toEqual(expect.arrayContaining(['BackForwardCache', 'RenderDocument', 'Foo']));
    expect(cmdline).toContain('--enable-features=Bar');
    await manager.stop(session.id);
  });
});

describe('the GPU service without the sandbox', () => {
  it('runs in the browser process only when the sandbox is off (as root, or --no-sandbox in args)', () => {
    expect(chromeArgs({ ...base, userArgs: [], asRoot: true })).toContain(IN_PROCESS_GPU);
    expect(chromeArgs({ ...base, userArgs: [], asRoot: false })).not.toContain(IN_PROCESS_GPU);
    expect(chromeArgs({ ...base, userArgs: ['--no-sandbox'], asRoot: false })).toContain(IN_PROCESS_GPU);
    const twice = chromeArgs({ ...base, userArgs: [IN_PROCESS_GPU], asRoot: true });
    expect(twice.filter((a) => a === IN_PROCESS_GPU)).toHaveLength(1);
  });

  it('a Grid node gets neither unless the args ask (this host being root says nothing of the node)', () => {
    const plain = seleniumGrid({ url: 'http://127.0.0.1:1' });
    const spec = (args: string[]) => ({ args }) as unknown as Parameters<typeof plain.capabilitiesFor>[0];
    const argsOf = (caps: Record<string, unknown>) => (caps['goog:chromeOptions'] as { args: string[] }).args;
    expect(argsOf(plain.capabilitiesFor(spec([])))).not.toContain('--no-sandbox');
    expect(argsOf(plain.capabilitiesFor(spec([])))).not.toContain(IN_PROCESS_GPU);
    expect(argsOf(plain.capabilitiesFor(spec(['--no-sandbox'])))).toEqual(expect.arrayContaining(['--no-sandbox', IN_PROCESS_GPU]));
  });

  it.runIf(process.getuid?.() === 0)('a real Chrome started as root has no GPU process and still paints (screenshot, screencast)', async () => {
    const m = new SessionManager({ minIdle: 0, handleSignals: false });
    try {
      const session = await m.create();
      const pid = m.get(session.id).browserPid!;
      const browser = await puppeteer.connect({ browserWSEndpoint: session.wsEndpoint, defaultViewport: null });
      const page = (await browser.pages())[0]!;
      await page.setContent('<body style="margin:0;background:rgb(0,128,255)">');
      const types = procTypes(pid);
      expect(types).not.toContain('gpu-process');
      expect(types).toContain('renderer');
      const shot = await page.screenshot({ encoding: 'binary', type: 'png' });
      const center = (png: Uint8Array) => {
        const px = decodePng(png);
        return px.at(px.width >> 1, px.height >> 1);
      };
      expect(center(shot)).toEqual([0, 128, 255]);
      const cdp = await page.createCDPSession();
      const frame = new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no screencast frame in 10 s')), 10_000);
        cdp.once('Page.screencastFrame', (f: { data: string }) => (clearTimeout(t), resolve(f.data)));
      });
      await cdp.send('Page.startScreencast', { format: 'png' });
      expect(center(Buffer.from(await frame, 'base64'))).toEqual([0, 128, 255]);
      await browser.disconnect();
    } finally {
      await m.close();
    }
  });
});

/** The `--type=` of every process below `pid` (the browser's renderers, utilities, zygotes). */
function procTypes(pid: number): string[] {
  const types: string[] = [];
  for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pid) continue;
      const type = /--type=([\w-]+)/.exec(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'));
      if (type) types.push(type[1]!);
    } catch {
      // gone meanwhile
    }
  }
  return types;
}
