/**
 * A session for the length of one function: created before it, stopped after it, whatever it does.
 */
import type { SessionManager } from './manager.js';
import type { CreateSessionParams } from './session/params.js';
import type { Session } from './session/types.js';

/**
 * Creates a session with `params`, runs `fn(session)` and stops the session once `fn` settles,
 * returning what `fn` returned.
 *
 * If `fn` throws, that error is what `withSession` rejects with, even if stopping the session also
 * fails (that second failure is reported as a process warning). If `fn` succeeds and the stop
 * fails, the stop's error is thrown.
 *
 * ```ts
 * const title = await withSession(manager, { timeoutMs: 60_000 }, async (session) => {
 *   const { page } = await connectPuppeteer(session);
 *   await page.goto('https://example.com');
 *   return page.title();
 * });
 * ```
 */
export async function withSession<T>(
  manager: Pick<SessionManager, 'create' | 'stop'>,
  params: CreateSessionParams | undefined,
  fn: (session: Session) => T | PromiseLike<T>,
): Promise<T> {
  const session = await manager.create(params);
  let result: T;
  try {
    result = await fn(session);
  } catch (error) {
    try {
      await manager.stop(session.id);
    } catch (stopError) {
      process.emitWarning(`withSession: stopping session ${session.id} failed after the function threw: ${String(stopError)}`, 'ChromeSessionsWarning');
    }
    throw error;
  }
  await manager.stop(session.id);
  return result;
}
