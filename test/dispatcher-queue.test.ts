/**
 * The dispatcher's waiting creates with fake browsers, in milliseconds: aborts at every stage
 * (before, while waiting for a slot, a reset or a launch), queueTimeoutMs (on a fake clock),
 * maxQueue, and priority order. The real-Chrome versions are in faults.test.ts and queue.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CreateAbortedError, QueueFullError, QueueTimeoutError, SessionNotFoundError } from '../lib/index.js';
import { SPEC, deferred, fakeDispatcher, flush, outcome } from './fakes.js';

describe('aborts at every stage', () => {
  it('an already aborted signal rejects with CreateAbortedError, not a DOMException', async () => {
    const { d, factory } = fakeDispatcher();
    const err = await d.acquire(SPEC, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CreateAbortedError);
    expect(factory.launches).toHaveLength(0);
  });

  it('while waiting for a slot: rejects, and leaves nothing pending', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    await d.acquire(SPEC);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    expect(d.pending).toBe(1);
    ac.abort(new Error('user gave up'));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CreateAbortedError);
    expect((err as CreateAbortedError).cause).toEqual(new Error('user gave up'));
    expect(d.pending).toBe(0);
  });

  it('while waiting for a reset: rejects; the reset browser goes idle', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const reset = deferred<void>();
    lease.browser.resetWith = () => reset.promise;
    d.release(lease);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(CreateAbortedError);
    reset.resolve();
    await flush();
    expect(d.stats()).toMatchObject({ idle: 1, resetting: 0, busy: 0 });
  });

  it('while its browser launches: rejects at once; the launch becomes a spare the next create takes', async () => {
    const { d, factory } = fakeDispatcher();
    const ac = new AbortController();
    const first = d.acquire(SPEC, { signal: ac.signal });
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(CreateAbortedError);
    const b = factory.launches[0]!.succeed();
    await flush();
    expect(d.stats()).toMatchObject({ idle: 1, launching: 0 });
    expect((await d.acquire(SPEC)).browser).toBe(b);
    expect(factory.launches).toHaveLength(1);
  });

  it("a signal whose reason is one of our errors rejects with that error", async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    await d.acquire(SPEC);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    const reason = new SessionNotFoundError('x');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });
});

describe('the queue', () => {
  it('queueTimeoutMs: a create waiting for a slot rejects with QueueTimeoutError (fake clock)', async () => {
    const { d, factory, clock } = fakeDispatcher({ queueTimeoutMs: 1_000 });
    factory.auto = true;
    await d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    clock.advance(999);
    expect((await outcome(waiting)).state).toBe('pending');
    clock.advance(1);
    await expect(waiting).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(d.pending).toBe(0);
  });

  it('the queue deadline stops once the create launches (launchTimeoutMs applies then)', async () => {
    const { d, factory, clock } = fakeDispatcher({ queueTimeoutMs: 100 });
    const create = d.acquire(SPEC);
    clock.advance(1_000);
    factory.launches[0]!.succeed();
    expect((await outcome(create)).state).toBe('fulfilled');
  });

  it('maxQueue: a create beyond it rejects with QueueFullError; one served at once never counts', async () => {
    const { d, factory } = fakeDispatcher({ maxQueue: 1 });
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    await expect(d.acquire(SPEC)).rejects.toBeInstanceOf(QueueFullError);
    d.release(lease);
    await expect(waiting).resolves.toMatchObject({ browser: lease.browser });
  });

  it('serves higher priority first, FIFO within a priority, and reports a wait for a slot', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const order: string[] = [];
    const queued: string[] = [];
    const take = (name: string, priority: number) =>
      d.acquire(SPEC, { priority }, () => queued.push(name)).then((l) => {
        order.push(name);
        d.release(l);
      });
    const all = [take('low-1', 0), take('low-2', 0), take('high', 5), take('low-3', 0)];
    expect(queued).toEqual(['low-1', 'low-2', 'high', 'low-3']);
    d.release(lease);
    await Promise.all(all);
    expect(order).toEqual(['high', 'low-1', 'low-2', 'low-3']);
  });
});
