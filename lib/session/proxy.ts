import { anonymizeProxy, closeAnonymizedProxy } from 'proxy-chain';
import { InvalidOptionError } from '../errors.js';

/** A session's proxy (Playwright's and Hyperbrowser's shape). */
export interface ProxySettings {
  /** `http://host:port`, `https://…`, `socks5://…`, or `host:port` (HTTP). */
  readonly server: string;
  readonly username?: string;
  readonly password?: string;
  /** Hosts that skip the proxy, comma-separated, in Chrome's `--proxy-bypass-list` syntax. */
  readonly bypass?: string;
}

/** What Chrome is given: a proxy URL without credentials, and the bypass list. */
export interface ChromeProxy {
  readonly server: string;
  readonly bypass: string | undefined;
  /** Stops the local forwarding proxy, if one was started for credentials. */
  close(): Promise<void>;
}

const SCHEMES = ['http:', 'https:', 'socks4:', 'socks5:'];

function str(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidOptionError(name, 'a string', value);
  return value;
}

function parseServer(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z0-9]+:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new InvalidOptionError(name, 'a proxy URL such as http://host:port or socks5://host:port', value);
  }
  if (!SCHEMES.includes(url.protocol) || !url.hostname || !url.port || (url.pathname !== '/' && url.pathname !== '')) {
    throw new InvalidOptionError(name, `a proxy URL with a scheme (${SCHEMES.join(' ')}), a host and a port`, value);
  }
  return url;
}

/**
 * Validates a create's `proxy` or Steel's `proxyUrl` (`http://user:pass@host:port`); not both.
 * Returns undefined when neither is given.
 */
export function resolveProxy(proxy: unknown, proxyUrl: unknown): ProxySettings | undefined {
  if (proxy !== undefined && proxyUrl !== undefined) throw new InvalidOptionError('create.proxyUrl', 'either proxy or proxyUrl, not both', proxyUrl);
  if (proxyUrl !== undefined) {
    if (typeof proxyUrl !== 'string') throw new InvalidOptionError('create.proxyUrl', 'a proxy URL string', proxyUrl);
    const url = parseServer('create.proxyUrl', proxyUrl);
    const settings: ProxySettings = { server: `${url.protocol}//${url.host}` };
    return url.username ? { ...settings, username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : settings;
  }
  if (proxy === undefined) return undefined;
  if (proxy === null || typeof proxy !== 'object' || Array.isArray(proxy)) throw new InvalidOptionError('create.proxy', 'an object { server, username?, password?, bypass? }', proxy);
  const p = proxy as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!['server', 'username', 'password', 'bypass'].includes(key)) throw new InvalidOptionError(`create.proxy.${key}`, 'one of server, username, password, bypass', key);
  }
  if (typeof p.server !== 'string') throw new InvalidOptionError('create.proxy.server', 'a proxy URL string', p.server);
  const url = parseServer('create.proxy.server', p.server);
  if (url.username) throw new InvalidOptionError('create.proxy.server', 'a URL without credentials (give username and password apart, or use proxyUrl)', p.server);
  const username = str('create.proxy.username', p.username);
  const password = str('create.proxy.password', p.password);
  if ((username === undefined) !== (password === undefined)) throw new InvalidOptionError('create.proxy.password', 'both username and password, or neither', password);
  const bypass = str('create.proxy.bypass', p.bypass);
  return { server: `${url.protocol}//${url.host}`, ...(username !== undefined ? { username, password } : {}), ...(bypass !== undefined ? { bypass } : {}) };
}

/**
 * The proxy Chrome is pointed at. Chrome takes no credentials in its proxy setting and would ask
 * for them through an auth challenge on every page; a proxy with credentials is instead reached
 * through a local forwarding proxy on 127.0.0.1 that adds them (proxy-chain, as Crawlee and
 * steel-browser do), closed with the session.
 */
export async function openProxy(p: ProxySettings): Promise<ChromeProxy> {
  if (p.username === undefined) return { server: p.server, bypass: p.bypass, close: () => Promise.resolve() };
  const url = new URL(p.server);
  url.username = encodeURIComponent(p.username);
  url.password = encodeURIComponent(p.password ?? '');
  const local = await anonymizeProxy({ url: url.href, port: 0 });
  return {
    server: local,
    bypass: p.bypass,
    close: async () => {
      await closeAnonymizedProxy(local, true).catch(() => false);
    },
  };
}
