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

  it('queueTimeoutMs rejects a create that waited too long with QueueTimeoutError', async () => {
    const { m } = await busyManager({ queueTimeoutMs: 200 });
    const t0 = Date.now();
    await expect(m.create()).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(m.list({ status: 'closed' }).sessions[0]).toMatchObject({ stopReason: 'cancelled' });
  });

  it('an AbortSignal cancels a waiting create; an aborted signal rejects at once', async () => {
    const { m } = await busyManager();
    const ac = new AbortController();
    const create = m.create({ signal: ac.signal });
    await nextEvent(m, 'sessionQueued');
    ac.abort(new Error('user gave up'));
    await expect(create).rejects.toMatchObject({ code: 'ERR_CREATE_ABORTED' });
    await expect(m.create({ signal: AbortSignal.abort() })).rejects.toThrow();
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
