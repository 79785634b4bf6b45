/**
 * Servers for test/network-isolation-tls-dns.test.ts: one port that speaks both TLS and plain
 * HTTP (HSTS upgrades keep a non-default port), a self-signed certificate made with openssl, and
 * a small DNS server that counts the queries it gets per name.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';

/** A self-signed certificate for `host` and the base64 SHA-256 of its SPKI (what `--ignore-certificate-errors-spki-list` takes). */
export function selfSignedCert(dir: string, host: string): { key: string; cert: string; spkiHash: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`, '-days', '2',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore', timeout: 20_000 });
  const cert = fs.readFileSync(certFile, 'utf8');
  const spki = new crypto.X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert, spkiHash: crypto.createHash('sha256').update(spki).digest('base64') };
}

/** A server answering TLS and plain HTTP on one port. */
export interface DualServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1: a connection whose first byte is 0x16 (a TLS handshake record) goes to
 * an https server, any other to an http server; both run `handler` (`req.socket` has
 * `encrypted: true` on the TLS side).
 */
export async function startDualServer(tlsOpts: { key: string; cert: string }, handler: http.RequestListener): Promise<DualServer> {
  const plain = http.createServer(handler);
  const secure = https.createServer(tlsOpts, handler);
  const sockets = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    port: (front.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => front.close(resolve));
    },
  };
}

/** A DNS server on `host`:53 (UDP) that knows one name. */
export interface TestDns {
  readonly host: string;
  /** Queries received per lower-cased name, of any type. */
  readonly queries: Map<string, number>;
  close(): Promise<void>;
}

const TYPE_A = 1;

/**
 * Answers A queries for `name` with 127.0.0.1 (TTL `ttl` s), other types of `name` with NOERROR
 * and no answer (AAAA, HTTPS), any other name with NXDOMAIN. Binds `host`:53 (root only).
 */
export async function startDns(host: string, name: string, ttl = 300): Promise<TestDns> {
  const queries = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    if (msg.length < 12) return;
    // The question: labels from byte 12, then QTYPE and QCLASS.
    const labels: string[] = [];
    let i = 12;
    while (i < msg.length && msg[i] !== 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]!).toString('latin1'));
      i += 1 + msg[i]!;
    }
    if (i + 5 > msg.length) return;
    const qname = labels.join('.').toLowerCase();
    const qtype = msg.readUInt16BE(i + 1);
    const question = msg.subarray(12, i + 5);
    queries.set(qname, (queries.get(qname) ?? 0) + 1);
    const known = qname === name;
    const answer = known && qtype === TYPE_A;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // QR, RD, RA; NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer ? 1 : 0, 6);
    // Name pointer to the question, type A, class IN, TTL, 4 bytes of 127.0.0.1.
    const rr = Buffer.from([0xc0, 0x0c, 0, TYPE_A, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    rr.writeUInt32BE(ttl, 6);
    socket.send(Buffer.concat(answer ? [header, question, rr] : [header, question]), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return { host, queries, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}
