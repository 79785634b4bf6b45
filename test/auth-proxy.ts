/**
 * A real local HTTP proxy for the proxy tests (proxy-chain's server): it asks for Basic
 * credentials (`user` / `secret`) and answers for `proxied.test` itself, so that a page titled
 * "proxied" proves the request went through it; `seen` lists each request's credentials and host.
 */
import { Server } from 'proxy-chain';
import { afterAll, beforeAll } from 'vitest';

export interface SeenByProxy {
  readonly username: string;
  readonly password: string;
  readonly hostname: string;
}

export interface AuthProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** What each request came with, oldest first (tests empty it as they go). */
  readonly seen: SeenByProxy[];
}

/** The proxy for the whole test file: started before its first test, closed after its last. */
export function authProxyForFile(): AuthProxy {
  const seen: SeenByProxy[] = [];
  let server: Server | undefined;
  beforeAll(async () => {
    server = new Server({
      port: 0,
      host: '127.0.0.1',
      prepareRequestFunction: ({ username, password, hostname }) => {
        seen.push({ username, password, hostname });
        if (username !== 'user' || password !== 'secret') return { requestAuthentication: true, failMsg: 'bad credentials' };
        return { customResponseFunction: () => ({ statusCode: 200, headers: { 'Content-Type': 'text/html' }, body: '<!doctype html><title>proxied</title>' }) };
      },
    });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close(true);
  });
  const port = (): number => {
    if (!server) throw new Error('authProxyForFile: the proxy starts in beforeAll');
    return server.port;
  };
  return {
    seen,
    get port() {
      return port();
    },
    get url() {
      return `http://127.0.0.1:${port()}`;
    },
  };
}
