/**
 * The few WebDriver and Grid HTTP calls the Grid provider makes, over Node's `fetch`: every call
 * is bounded by a timeout and may be cancelled by a signal.
 */
import { spawnSync } from 'node:child_process';

/** A WebDriver answer: the HTTP status and the JSON body's `value`. */
export interface WebDriverReply {
  readonly status: number;
  readonly value: Record<string, unknown>;
}

/** The WebDriver error name of a failed reply (`invalid session id`, `session not created`…), or ''. */
export function wdError(r: WebDriverReply): string {
  return r.status >= 400 && typeof r.value.error === 'string' ? r.value.error : r.status >= 400 ? `HTTP ${r.status}` : '';
}

/** The message of a failed reply, for errors and logs (never a stack trace). */
export function wdMessage(r: WebDriverReply): string {
  const msg = typeof r.value.message === 'string' ? r.value.message.split('\n')[0] : '';
  return `${wdError(r)}${msg ? `: ${msg}` : ''}`;
}

/**
 * One WebDriver call: `method` on `base` + `path` with a JSON body. Rejects on a transport error,
 * after `timeoutMs`, or when `signal` aborts; an HTTP error status resolves (read `wdError`).
 */
export async function webdriver(
  base: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: { body?: unknown; timeoutMs: number; signal?: AbortSignal | undefined; headers?: Readonly<Record<string, string>> },
): Promise<WebDriverReply> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const res = await fetch(`${base}${path}`, {
    method,
    signal,
    headers: { Accept: 'application/json', ...(opts.body !== undefined ? { 'Content-Type': 'application/json; charset=utf-8' } : {}), ...opts.headers },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let value: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as { value?: unknown };
    if (parsed.value !== null && typeof parsed.value === 'object') value = parsed.value as Record<string, unknown>;
  } catch {
    // a proxy's HTML error page: the status says enough
  }
  return { status: res.status, value };
}

/** One slot's session as the hub's `/status` reports it. */
export interface GridStatusSession {
  readonly sessionId: string;
  readonly nodeUri: string;
  readonly capabilities: Record<string, unknown>;
}

/** The sessions the hub knows of now, with the node each runs on (`GET /status`). */
export async function gridSessions(base: string, timeoutMs: number, headers?: Readonly<Record<string, string>>): Promise<GridStatusSession[]> {
  const r = await webdriver(base, 'GET', '/status', { timeoutMs, ...(headers ? { headers } : {}) });
  const nodes = Array.isArray(r.value.nodes) ? (r.value.nodes as { uri?: string; slots?: { session?: { sessionId?: string; capabilities?: Record<string, unknown> } | null }[] }[]) : [];
  const out: GridStatusSession[] = [];
  for (const n of nodes) {
    for (const s of n.slots ?? []) {
      if (s.session?.sessionId) out.push({ sessionId: s.session.sessionId, nodeUri: n.uri ?? '', capabilities: s.session.capabilities ?? {} });
    }
  }
  return out;
}

/** How long a signal exit may spend deleting its Grid sessions. */
const SYNC_DELETE_MS = 3_000;

/**
 * Deletes Grid sessions synchronously, for a process going down on a signal: a child Node sends
 * the `DELETE /session/<id>` calls together and this waits for it, at most {@link SYNC_DELETE_MS}.
 * Failures are ignored (Grid's `--session-timeout` is then the last resort).
 */
export function deleteSessionsSync(base: string, ids: readonly string[], headers: Readonly<Record<string, string>>): void {
  if (ids.length === 0) return;
  const script = `const [base, headers, ids, ms] = JSON.parse(process.argv[1]);
await Promise.all(ids.map((id) => fetch(base + '/session/' + id, { method: 'DELETE', headers, signal: AbortSignal.timeout(ms) }).catch(() => {})));`;
  spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([base, headers, ids, SYNC_DELETE_MS - 500])], { stdio: 'ignore', timeout: SYNC_DELETE_MS });
}
