/**
 * What a manager starts at its first `create()`: the private runtime folder (with the orphan
 * reaper and watchdog), the websocket endpoint, and the pool's dispatcher.
 */
import type { PooledBrowser } from './browser.js';
import { RunDir } from './chrome/runtime.js';
import { SessionEndpoint } from './endpoint.js';
import { LiveViews } from './live/server.js';
import type { SessionManagerEvents } from './events.js';
import type { ResolvedManagerOptions } from './options.js';
import { Dispatcher } from './pool/dispatcher.js';
import type { SessionRuntime } from './session/runtime.js';

/** A manager's running services. */
export interface Started {
  readonly run: RunDir;
  readonly endpoint: SessionEndpoint;
  readonly dispatcher: Dispatcher<PooledBrowser>;
  readonly live: LiveViews;
}

/** What the services need from their manager. */
export interface ServiceHost {
  /** A session by id, while the manager remembers it. */
  session(id: string): SessionRuntime | undefined;
  emit<K extends keyof SessionManagerEvents>(event: K, ...args: SessionManagerEvents[K]): void;
}

/** Starts the services; nothing is left behind when it fails. */
export async function startServices(o: ResolvedManagerOptions, host: ServiceHost): Promise<Started> {
  const run = new RunDir(o.runtimeDir, {
    replaceIfUnsafe: o.runtimeDirIsDefault,
    onWatchdogRestart: (e) => host.emit('watchdogRestarted', e),
  });
  run.reapOrphans();
  const live = new LiveViews({
    route: (id) => {
      const rt = host.session(id);
      if (!rt) return undefined;
      const target = () => {
        const b = rt.browser;
        const contextId = rt.contextId;
        if (!b?.usable) return undefined;
        if (contextId === undefined) return { wsEndpoint: b.process.wsEndpoint, owns: () => true, pages: b.pageIds() };
        // The session's context and the contexts its clients created.
        return { wsEndpoint: b.process.wsEndpoint, owns: (id: string | undefined) => b.sessionContextOf(id) === contextId, pages: b.sessionPageIds(contextId) };
      };
      return { token: rt.record.liveToken, mode: rt.record.liveView, info: () => rt.record.snapshot(), target };
    },
  });
  const endpoint = new SessionEndpoint(
    {
      route: (id) => {
        const rt = host.session(id);
        const b = rt?.browser;
        if (!rt || !b) return undefined;
        const contextId = rt.contextId;
        if (contextId === undefined) return { token: rt.record.token, upstream: b.process.wsEndpoint };
        const createdByClients = (id: string) => id !== contextId && b.sessionContextOf(id) === contextId;
        return { token: rt.record.token, upstream: b.process.wsEndpoint, contextId, contextPages: b.pageIdsIn(contextId), contextProxy: b.proxyOf(contextId), createdByClients };
      },
      clientConnected: (id, c, clients) => host.session(id)?.clientConnected(c, clients),
      clientDisconnected: (id, c, reason, remaining) => host.session(id)?.clientDisconnected(c, reason, remaining),
      clientTraffic: (id) => host.session(id)?.traffic(),
      clientContextCreated: (id, contextId) => host.session(id)?.clientContextCreated(contextId),
      browserCloseRequested: (id) => void host.session(id)?.end('browser_closed'),
    },
    { pingTimeoutMs: o.clientPingTimeoutMs, routes: live },
  );
  try {
    await endpoint.listen();
    live.origin = endpoint.origin;
  } catch (err) {
    await run.destroy();
    throw err;
  }
  const dispatcher = new Dispatcher<PooledBrowser>(
    { ...o, abandonLaunches: o.provider.abandonsLaunches },
    o.provider.factory(run, o.launchTimeoutMs),
    {
      browserLaunched: (pid, spec, launchMs) => host.emit('browserLaunched', { pid, executablePath: spec.executablePath, headless: spec.headless, launchMs }),
      browserExited: (pid, info, expected) => host.emit('browserExited', { pid, code: info.code, signal: info.signal, expected }),
      browserReset: (pid, ms) => host.emit('browserReset', { pid, ms }),
      browserRecycled: (pid, reason) => host.emit('browserRecycled', { pid, reason }),
    },
    o.clock,
  );
  return { run, endpoint, dispatcher, live };
}
