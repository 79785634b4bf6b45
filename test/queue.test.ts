import { afterEach, describe, expect, it } from 'vitest';
import {
  CreateAbortedError,
  ManagerClosedError,
  QueueFullError,
  QueueTimeoutError,
  SessionManager,
  type SessionInfo,
  type SessionManagerOptions,
} from '../lib/index.js';
import { FakeClock } from './fakes.js';
import { nextEvent } from './helpers.js';

let managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.map((m) => m.close()));
  managers = [];
});

/** A manager with one slot already taken, so the next creates queue. */
async function busyManager(opts: SessionManagerOptions = {}): Promise<{ m: SessionManager; first: SessionInfo }> {
  const m = new SessionManager({ maxConcurrent: 1, minIdle: 0, ...opts });
  managers.push(m);
  const first = await m.create();
  return { m, first };
}

describe('queueing', () => {
  it('a queued create is visible: sessionQueued, list pending, and stop(id) cancels it', async () => {
    const { m } = await busyManager();
    const queued = nextEvent<[SessionInfo]>(m, 'sessionQueued');
    const create = m.create();
    const [info] = await queued;
    expect(info.status).toBe('pending');
    expect(m.list({ status: 'pending' }).sessions.map((s) => s.id)).toEqual([info.id]);
    await m.stop(info.id);
    await expect(create).rejects.toBeInstanceOf(CreateAbortedError);
    expect(m.get(info.id)).toMatchObject({ status: 'closed', stopReason: 'cancelled' });
    expect(m.stats()).toMatchObject({ active: 1, pending: 0 });
  });

  it('maxQueue: one more create rejects with QueueFullError and loses nothing', async () => {
    const { m, first } = await busyManager({ maxQueue: 1 });
    const waiting = m.create();
    await expect(m.create()).rejects.toBeInstanceOf(QueueFullError);
    await m.stop(first.id);
    const s = await waiting;
    expect(s.status).toBe('active');
    expect(m.list().totalCount).toBe(2);
  });

  it('queueTimeoutMs rejects a create that waited too long with QueueTimeoutError (injected clock)', async () => {
    const clock = new FakeClock();
    const { m } = await busyManager({ queueTimeoutMs: 200, clock });
    const create = m.create();
    const [queued] = await nextEvent<[SessionInfo]>(m, 'sessionQueued');
    clock.advance(199);
    expect(m.get(queued.id).status).toBe('pending');
    clock.advance(1);
    const err = await create.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(QueueTimeoutError);
    expect(err).toMatchObject({ code: 'ERR_QUEUE_TIMEOUT' });
    expect(m.get(queued.id)).toMatchObject({ status: 'closed', stopReason: 'cancelled' });
  });

  it('an AbortSignal cancels a waiting create; an aborted signal rejects at once', async () => {
    const { m } = await busyManager();
    const ac = new AbortController();
    const create = m.create({ signal: ac.signal });
    await nextEvent(m, 'sessionQueued');
    ac.abort(new Error('user gave up'));
    const aborted = await create.then(() => undefined, (e: unknown) => e);
    expect(aborted).toBeInstanceOf(CreateAbortedError);
    expect(aborted).toMatchObject({ code: 'ERR_CREATE_ABORTED', cause: new Error('user gave up') });
    // Already aborted: the same typed error at once, not a DOMException, and nothing recorded.
    const before = m.list().totalCount;
    const early = await m.create({ signal: AbortSignal.abort() }).then(() => undefined, (e: unknown) => e);
    expect(early).toBeInstanceOf(CreateAbortedError);
    expect(m.list().totalCount).toBe(before);
    expect(m.stats().pending).toBe(0);
  });

  it('higher priority runs first; equal priorities are FIFO', async () => {
    const { m, first } = await busyManager();
    const order: string[] = [];
    const make = (name: string, priority: number) =>
      m.create({ priority }).then(async (s) => {
        order.push(name);
        await m.stop(s.id);
      });
    const all = [make('low-1', 0), make('low-2', 0), make('high', 5)];
    await m.stop(first.id);
    await Promise.all(all);
    expect(order).toEqual(['high', 'low-1', 'low-2']);
  });

  it('close() rejects queued creates with ManagerClosedError', async () => {
    const { m } = await busyManager();
    const create = m.create();
    await nextEvent(m, 'sessionQueued');
    const rejected = expect(create).rejects.toBeInstanceOf(ManagerClosedError);
    await m.close();
    await rejected;
    expect(m.list({ status: 'closed' }).sessions.map((s) => s.stopReason).sort()).toEqual(['shutdown', 'shutdown']);
  });
});
