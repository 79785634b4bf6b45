import { InvalidOptionError } from '../errors.js';

/**
 * What a session's live view lets its viewers do: `'interactive'` forwards their mouse, wheel and
 * keyboard to the session's page; `'readonly'` only shows it.
 */
export type LiveViewMode = 'interactive' | 'readonly';

const MODES: readonly LiveViewMode[] = ['interactive', 'readonly'];

/** Validates a create's `liveView`. */
export function resolveLiveView(value: unknown): LiveViewMode {
  if (value === undefined) return 'interactive';
  if (!MODES.includes(value as LiveViewMode)) throw new InvalidOptionError('create.liveView', MODES.map((m) => `'${m}'`).join(' | '), value);
  return value as LiveViewMode;
}
