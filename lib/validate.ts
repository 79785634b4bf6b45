import { InvalidOptionError } from './errors.js';
import { MAX_TIMER_MS } from './deadline.js';

/** Small validators shared by every option and parameter resolver: each throws an `InvalidOptionError` naming the bad value. */
/** Throws unless `value` is a plain object whose keys are all in `allowed`. */
export function checkKeys(where: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(where, 'an object', value);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(`${where}.${key}`, `one of the known options (${allowed.join(', ')})`, key);
    }
  }
  return value as Record<string, unknown>;
}

/** A duration in ms that Node's timers can honour (2^31-1, ~24.8 days); a longer one fires at once. */
export function ms(name: string, value: unknown, fallback: number, min: number, max = MAX_TIMER_MS): number {
  return int(name, value, fallback, min, Math.min(max, MAX_TIMER_MS));
}

/** An integer (or `Infinity` when allowed) within [min, max]. */
export function int(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, allowInfinity = false): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    ((allowInfinity && value === Infinity) || (Number.isInteger(value) && value >= min && value <= max));
  if (!ok) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new InvalidOptionError(name, `an integer ${range}${allowInfinity ? ' or Infinity' : ''}`, value);
  }
  return value;
}

export function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'a boolean', value);
  return value;
}

export function str(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, 'a non-empty string', value);
  return value;
}
