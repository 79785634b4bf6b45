/**
 * Profiles (issue 11): what a session on a profile writes (cookies, HttpOnly too, localStorage,
 * IndexedDB, HTTP cache) is there for the next one, in this process and in another one after it
 * exited; `persistChanges: false` leaves the profile as it was; one session at a time on a
 * profile, the next one waiting as a queued create; Chrome closed before the session counts as
 * ended; bad input. Real Chrome, Puppeteer and Playwright; profiles live in a temporary
 * profilesDir removed at the end. Crashes and dead owners: test/profiles-faults.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { userDataDirInUse } from '../lib/chrome/user-data-dirs.js';
import { CreateAbortedError, ProfileBusyError, ProfileNotFoundError, ProfilesDirError, QueueTimeoutError, defaultProfilesDir, type SessionInfo } from '../lib/index.js';
import { buildLibrary, groupGone, nextEvent, runFixture, withDeadline } from './helpers.js';
import { tagged, useProfileTests, userDataDirOfPid, withPuppeteer } from './profiles-helpers.js';

const t = useProfileTests();
const { manager, write, read } = t;

describe('a profile with persistChanges: true', () => {
  it('keeps cookies, localStorage, IndexedDB and the HTTP cache for the next session; Chrome exits before sessionClosed (Puppeteer)', async () => {
    const m = manager();
    const profile = await m.profiles.create({ name: 'shop' });
    expect(profile).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'shop', createdAt: expect.any(String), inUse: false });
    const folder = path.join(m.profiles.dir, profile.id);
    expect(fs.statSync(m.profiles.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700);

    let pid: number | undefined;
    let atClose: { pid: number; alive: boolean; inUse: boolean } | undefined;
    m.on('sessionClosed', () => {
      if (atClose === undefined && pid !== undefined) atClose = { pid, alive: !groupGone(pid), inUse: userDataDirInUse(path.join(folder, 'data')) };
    });
    const hitsBefore = t.cachedHits;
    await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, async (page, s) => {
      pid = s.browserPid!;
      expect(s.isolation).toBe('browser');
      expect(userDataDirOfPid(pid)).toBe(path.join(folder, 'data'));
      expect((await m.profiles.get(profile.id)).inUse).toBe(true);
      await write(page, 'a');
    });
    // The session counted as ended only once its Chrome had flushed the profile and exited.
    expect(atClose).toEqual({ pid, alive: false, inUse: false });
    expect(t.cachedHits).toBe(hitsBefore + 1);
    expect((await m.profiles.get(profile.id)).inUse).toBe(false);

    const state = await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, async (page, s) => {
      expect(s.browserPid).not.toBe(pid);
      const st = await read(page);
      await write(page, 'b');
      return st;
    });
    expect(state).toEqual(tagged(['a']));
    // The script came from the profile's disk cache, not from the server.
    expect(t.cachedHits).toBe(hitsBefore + 1);
    expect(await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => read(page))).toEqual(tagged(['a', 'b']));

    // The manager's close leaves profiles alone.
    await m.close();
    expect(fs.existsSync(path.join(folder, 'data', 'Default'))).toBe(true);
  });

  it('is there for a session in another process, after that process has exited (Playwright)', async () => {
    const lib = await buildLibrary();
    const m = manager();
    const profile = await m.profiles.create();
    const child = runFixture('profile-owner.mjs', [lib, m.profiles.dir, path.join(t.tmp, 'rt-child'), t.origin, profile.id, 'write']);
    t.fixtures.push(child);
    await child.line((l) => l.includes('"done"'), 60_000);
    expect(await withDeadline(child.exited, 10_000, 'the child to exit')).toEqual({ code: 0, signal: null });

    const s = await m.create({ profile: { id: profile.id, persistChanges: true } });
    const browser = await chromium.connectOverCDP(s.wsEndpoint);
    try {
      const page = browser.contexts()[0]!.pages()[0]!;
      const st = await read(page);
      expect(st.server).toEqual(['js_child=1', 'srv_child=1']);
      expect(st.ls).toEqual(['ls_child']);
    } finally {
      await browser.close();
    }
  });
});

describe('a profile with persistChanges: false (the default)', () => {
  it('starts each session from a copy, side by side, and leaves the profile as it was (Playwright)', async () => {
    const m = manager();
    const profile = await m.profiles.create();
    const folder = path.join(m.profiles.dir, profile.id);
    await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => write(page, 'base'));

    // Two sessions on copies of the profile at once: each sees the profile, writes its own.
    const [s1, s2] = await Promise.all([m.create({ profile: { id: profile.id } }), m.create({ profile: { id: profile.id, persistChanges: false } })]);
    const copies = [userDataDirOfPid(s1!.browserPid!), userDataDirOfPid(s2!.browserPid!)];
    expect(copies[0]).not.toBe(copies[1]);
    for (const c of copies) expect(c.startsWith(folder)).toBe(false);
    for (const [i, s] of [s1!, s2!].entries()) {
      const browser = await chromium.connectOverCDP(s.wsEndpoint);
      try {
        const page = browser.contexts()[0]!.pages()[0]!;
        expect(await read(page)).toEqual(tagged(['base']));
        await write(page, `copy${i}`);
        expect(await read(page)).toEqual(tagged(['base', `copy${i}`]));
      } finally {
        await browser.close();
      }
    }
    await Promise.all([m.stop(s1!.id), m.stop(s2!.id)]);
    // The copies are gone with their sessions; the profile has none of their writes.
    for (const c of copies) expect(fs.existsSync(c)).toBe(false);
    expect(await withPuppeteer(m, { profile: { id: profile.id, persistChanges: true } }, (page) => read(page))).toEqual(tagged(['base']));
  });
});

describe('one session at a time on a profile', () => {
  it('a second create waits as pending (listed, cancellable, bounded by queueTimeoutMs), and runs once the first Chrome has exited', async () => {
    const m = manager();
    const profile = await m.profiles.create();
    const id = { id: profile.id, persistChanges: true };
    const first = await m.create({ profile: id });

    // Cancelled by stop() while pending.
    const queued = nextEvent<[SessionInfo]>(m, 'sessionQueued');
    const waiting = m.create({ profile: id });
    const [info] = await queued;
    expect(info.status).toBe('pending');
    expect(m.list({ status: 'pending' }).sessions.map((s) => s.id)).toEqual([info.id]);
    await m.stop(info.id);
    await expect(waiting).rejects.toBeInstanceOf(CreateAbortedError);
    expect(m.get(info.id)).toMatchObject({ status: 'closed', stopReason: 'cancelled' });

    // Cancelled by its signal.
    const ac = new AbortController();
    const aborted = m.create({ profile: id, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(CreateAbortedError);

    // Bounded by queueTimeoutMs (a second manager on the same profiles: the lock is the profile's).
    const other = manager({ profilesDir: m.profiles.dir, queueTimeoutMs: 300 });
    await expect(other.create({ profile: id })).rejects.toBeInstanceOf(QueueTimeoutError);
    await expect(other.create({ profile: id })).rejects.toThrow(`No profile ${profile.id} became free within 300 ms`);

    // Deleting it while in use is refused.
    await expect(m.profiles.delete(profile.id)).rejects.toBeInstanceOf(ProfileBusyError);
    await expect(m.profiles.delete(profile.id)).rejects.toMatchObject({ code: 'ERR_PROFILE_BUSY' });

    // The next one runs once the first has ended and its Chrome has exited.
    const next = m.create({ profile: id });
    await new Promise((r) => setTimeout(r, 300));
    expect(m.stats().pending).toBe(1);
    const firstPid = first.browserPid!;
    await m.stop(first.id);
    const s = await next;
    expect(groupGone(firstPid)).toBe(true);
    expect(s.status).toBe('active');
    expect(s.browserPid).not.toBe(firstPid);
    await m.stop(s.id);

    // Free again: deleted, with everything in it.
    await m.profiles.delete(profile.id);
    expect(fs.existsSync(path.join(m.profiles.dir, profile.id))).toBe(false);
    await expect(m.profiles.get(profile.id)).rejects.toBeInstanceOf(ProfileNotFoundError);
    expect((await m.profiles.list()).profiles).toEqual([]);
  });
});


describe('bad input', () => {
  it('unknown or malformed ids, isolation other than browser, bad parameters: typed errors, nothing left behind', async () => {
    const m = manager({ isolation: 'context' });
    const unknown = '00000000-0000-4000-8000-000000000000';
    await expect(m.create({ profile: { id: unknown } })).rejects.toMatchObject({ code: 'ERR_PROFILE_NOT_FOUND', profileId: unknown });
    expect(m.list().totalCount).toBe(0);
    await expect(m.profiles.get(unknown)).rejects.toBeInstanceOf(ProfileNotFoundError);
    await expect(m.profiles.delete(unknown)).rejects.toBeInstanceOf(ProfileNotFoundError);
    for (const bad of ['../../etc', '.', '', `${unknown}/..`]) {
      await expect(m.profiles.get(bad)).rejects.toBeInstanceOf(ProfileNotFoundError);
      await expect(m.profiles.delete(bad)).rejects.toBeInstanceOf(ProfileNotFoundError);
    }
    const profile = await m.profiles.create();
    for (const [params, option] of [
      [{ profile: { id: '../x' } }, 'create.profile.id'],
      [{ profile: { id: 42 } }, 'create.profile.id'],
      [{ profile: { id: profile.id, persistChanges: 'yes' } }, 'create.profile.persistChanges'],
      [{ profile: { id: profile.id, extra: 1 } }, 'create.profile.extra'],
      [{ profile: profile.id }, 'create.profile'],
      [{ profile: { id: profile.id }, isolation: 'context' }, 'create.profile'],
      [{ profile: { id: profile.id }, isolation: 'reset' }, 'create.profile'],
    ] as const) {
      await expect(m.create(params as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    }
    await expect(m.profiles.create({ name: 5 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.create.name' });
    await expect(m.profiles.create({ nam: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.create.nam' });
    await expect(m.profiles.list({ perPage: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'profiles.list.perPage' });
    expect((await m.profiles.list()).profiles.map((p) => p.id)).toEqual([profile.id]);
    expect(m.list().totalCount).toBe(0);

    // In a manager whose default is 'context', a profile's session gets a Chrome of its own,
    // and the per-session settings of 'browser' isolation.
    const tz = await withPuppeteer(m, { profile: { id: profile.id }, timezoneId: 'Asia/Tokyo' }, async (page, s) => {
      expect(s.isolation).toBe('browser');
      return page.evaluate('Intl.DateTimeFormat().resolvedOptions().timeZone');
    });
    expect(tz).toBe('Asia/Tokyo');
  });

  it('list: newest first, paged; get and list give the name', async () => {
    const m = manager();
    const made = [];
    for (const name of ['one', 'two', 'three']) {
      made.push(await m.profiles.create({ name }));
      await new Promise((r) => setTimeout(r, 5));
    }
    const first = await m.profiles.list({ perPage: 2 });
    expect(first).toMatchObject({ totalCount: 3, page: 1, perPage: 2 });
    expect(first.profiles.map((p) => p.name)).toEqual(['three', 'two']);
    expect((await m.profiles.list({ page: 2, perPage: 2 })).profiles.map((p) => p.name)).toEqual(['one']);
    expect(await m.profiles.get(made[0]!.id)).toEqual({ ...made[0], inUse: false });
    for (const p of fs.readdirSync(m.profiles.dir)) expect(fs.statSync(path.join(m.profiles.dir, p, 'profile.json')).mode & 0o777).toBe(0o600);
  });

  it('profilesDir: a per-user cache folder by default, a symbolic link refused', async () => {
    expect(defaultProfilesDir({ XDG_CACHE_HOME: '/var/cache/u' })).toBe('/var/cache/u/chrome-sessions/profiles');
    expect(defaultProfilesDir({ XDG_CACHE_HOME: 'relative' })).toBe(path.join(os.homedir(), '.cache', 'chrome-sessions', 'profiles'));
    const plain = manager({ profilesDir: undefined });
    expect(plain.profiles.dir).toBe(defaultProfilesDir());
    const target = path.join(t.tmp, 'link-target');
    fs.mkdirSync(target);
    const link = path.join(t.tmp, 'link');
    fs.symlinkSync(target, link);
    const m = manager({ profilesDir: link });
    await expect(m.profiles.create()).rejects.toBeInstanceOf(ProfilesDirError);
    await expect(m.profiles.list()).rejects.toMatchObject({ code: 'ERR_PROFILES_DIR', path: link });
    expect(fs.readdirSync(target)).toEqual([]);
  });
});
