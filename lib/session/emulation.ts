import { InvalidOptionError } from '../errors.js';
import type { ScreenSize } from './screen.js';

/** What every page of a session is made to report. */
export interface PageOverrides {
  /** `navigator.userAgent` and the `User-Agent` header. */
  readonly userAgent?: string;
  /** `navigator.language(s)`, `Intl` defaults and the `Accept-Language` header, e.g. `fr-FR`. */
  readonly locale?: string;
  /** The IANA time zone pages see, e.g. `Asia/Tokyo`. */
  readonly timezoneId?: string;
  /** Viewport and screen size (see `screen.ts`); the only override a 'reset' session may have. */
  readonly screen?: ScreenSize;
}

const LOCALE_RE = /^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/;

/** Validates `userAgent`, `locale` and `timezoneId` of a create; undefined when none is given. */
export function resolveOverrides(p: Record<string, unknown>): PageOverrides | undefined {
  const out: { userAgent?: string; locale?: string; timezoneId?: string } = {};
  if (p.userAgent !== undefined) {
    if (typeof p.userAgent !== 'string' || p.userAgent.trim() === '' || /[\r\n]/.test(p.userAgent)) {
      throw new InvalidOptionError('create.userAgent', 'a non-empty one-line string', p.userAgent);
    }
    out.userAgent = p.userAgent;
  }
  if (p.locale !== undefined) {
    if (typeof p.locale !== 'string' || !LOCALE_RE.test(p.locale)) throw new InvalidOptionError('create.locale', 'a BCP 47 language tag such as fr-FR', p.locale);
    out.locale = p.locale;
  }
  if (p.timezoneId !== undefined) {
    let ok = typeof p.timezoneId === 'string';
    try {
      if (ok) new Intl.DateTimeFormat('en-US', { timeZone: p.timezoneId as string });
    } catch {
      ok = false;
    }
    if (!ok) throw new InvalidOptionError('create.timezoneId', 'an IANA time zone such as Europe/Paris', p.timezoneId);
    out.timezoneId = p.timezoneId as string;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
