/**
 * The endpoint corks each socket for the rest of a tick when it relays a message, so a burst of
 * CDP messages leaves in one write (lib/write-batch.ts). Checked here: a held socket hands its
 * writes to the kernel once, in order; and a burst through a real endpoint to a real Chrome comes
 * back whole and in order, in both isolation modes the relay runs differently ('context' filters).
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SessionManager, type IsolationMode } from '../lib/index.js';
import { WriteBatch } from '../lib/write-batch.js';

describe('WriteBatch', () => {
  it('turns the writes of one tick into one writev, in order, and lets go at the end of the tick', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const received: Buffer[] = [];
    const got = new Promise<void>((resolve) =>
      server.once('connection', (s) =>
        s.on('data', (d) => {
          received.push(d);
          if (Buffer.concat(received).length >= 9) resolve();
        }),
      ),
    );
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const calls: string[] = [];
    const origWrite = client._write.bind(client);
    const origWritev = client._writev!.bind(client);
    client._write = (chunk, enc, cb) => (calls.push('write'), origWrite(chunk, enc, cb));
    client._writev = (chunks, cb) => (calls.push(`writev:${chunks.length}`), origWritev(chunks, cb));

    const batch = new WriteBatch(client);
    batch.hold();
    batch.hold(); // a second hold in the same tick changes nothing
    expect(client.writableCorked).toBe(1);
    for (const part of ['abc', 'def', 'ghi']) client.write(part);
    expect(calls).toEqual([]);
    await new Promise((r) => process.nextTick(r));
    expect(client.writableCorked).toBe(0);
    expect(calls).toEqual(['writev:3']);
    await got;
    expect(Buffer.concat(received).toString()).toBe('abcdefghi');

    // Without a hold, the same writes reach the socket one by one.
    calls.length = 0;
    for (const part of ['j', 'k', 'l']) client.write(part);
    expect(calls[0]).toBe('write');
    client.destroy();
    server.close();
  });

  it('does nothing on a socket that is gone', () => {
    const s = new net.Socket();
    s.destroy();
    new WriteBatch(s).hold();
    expect(s.writableCorked).toBe(0);
    new WriteBatch().hold();
  });
});

describe.each<IsolationMode>(['reset', 'context'])('a burst of CDP messages through the endpoint (%s)', (isolation) => {
  const manager = new SessionManager({ isolation, minIdle: 0, handleSignals: false });
  afterAll(() => manager.close());

  it('300 requests sent in one tick all get their replies, whole and in order', async () => {
    const session = await manager.create();
    const ws = new WebSocket(session.wsEndpoint, { perMessageDeflate: false });
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const ids: number[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${ids.length} replies in 30 s`)), 30_000);
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { id?: number; result?: { product?: string } };
        if (msg.id === undefined) return;
        expect(msg.result?.product).toMatch(/Chrome/);
        ids.push(msg.id);
        if (ids.length === 300) (clearTimeout(t), resolve());
      });
    });
    for (let id = 1; id <= 300; id++) ws.send(JSON.stringify({ id, method: 'Browser.getVersion' }));
    await done;
    expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    ws.close();
    await manager.stop(session.id);
  });
});
