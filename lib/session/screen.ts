import type { Protocol } from 'devtools-protocol';
import { InvalidOptionError } from '../errors.js';
import { checkKeys } from '../validate.js';

/**
 * A session's screen (Hyperbrowser's `screen`, Steel's `dimensions`): every page of the session
 * gets this viewport (`innerWidth`/`innerHeight`) and this screen (`screen.width`/`height`),
 * through `Emulation.setDeviceMetricsOverride` on the manager's own attachment to each page
 * (see `lib/page-emulation.ts`). The override lasts as long as that attachment: the
 * manager detaches when the session ends, and the page is back to its launch size.
 */
export interface ScreenSize {
  /** CSS pixels, 1..10000. */
  readonly width: number;
  /** CSS pixels, 1..10000. */
  readonly height: number;
}

/** The largest width or height a session's screen may have. */
export const MAX_SCREEN_PX = 10_000;

/** Validates `screen` or `dimensions` of a create (not both); undefined when neither is given. */
export function resolveScreen(p: Record<string, unknown>): ScreenSize | undefined {
  if (p.screen !== undefined && p.dimensions !== undefined) {
    throw new InvalidOptionError('create.dimensions', 'either screen or dimensions (the same setting), not both', p.dimensions);
  }
  const name = p.screen !== undefined ? 'create.screen' : 'create.dimensions';
  const value = p.screen ?? p.dimensions;
  if (value === undefined) return undefined;
  const o = checkKeys(name, value, ['width', 'height']);
  const side = (key: 'width' | 'height'): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SCREEN_PX) {
      throw new InvalidOptionError(`${name}.${key}`, `an integer number of CSS pixels, 1..${MAX_SCREEN_PX}`, v);
    }
    return v;
  };
  return { width: side('width'), height: side('height') };
}

/** The `Emulation.setDeviceMetricsOverride` parameters that give a page `s` as viewport and screen. */
export function deviceMetrics(s: ScreenSize): Protocol.Emulation.SetDeviceMetricsOverrideRequest {
  return { width: s.width, height: s.height, deviceScaleFactor: 1, mobile: false, screenWidth: s.width, screenHeight: s.height };
}
