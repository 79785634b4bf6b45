/**
 * Chrome reads `--disable-features` / `--enable-features` from their last occurrence only, so a
 * user's own list would silently drop the features the library disables for isolation
 * (BackForwardCache) and cost (RenderDocument). The lists are merged instead.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { chromeArgs, DISABLED_FEATURES } from '../lib/chrome/flags.js';
import { SessionManager } from '../lib/index.js';

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
