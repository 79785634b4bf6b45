/**
 * Bounds on waits: every promise the library hands out or awaits settles, whatever the other
 * side does (a browser frozen with SIGSTOP answers nothing, ever).
 */

/** A promise bounded by a deadline, and whether the deadline won. */
export interface Bounded<T> {
  readonly promise: Promise<T>;
  /** True once the deadline fired before `promise` settled on its own. */
  timedOut(): boolean;
}

/**
 * Races `promise` against a timer of `ms`: when the timer wins, the result rejects with
 * `onTimeout()`. The timer is cleared on every path and never keeps Node alive.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Bounded<T> {
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      fired = true;
      reject(onTimeout());
    }, ms);
    timer.unref();
  });
  return {
    promise: Promise.race([promise, deadline]).finally(() => clearTimeout(timer)),
    timedOut: () => fired,
  };
}

/** Largest delay Node's timers honour (2^31-1 ms, ~24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
