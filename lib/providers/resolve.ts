import { InvalidOptionError } from '../errors.js';
import { LocalChromeProvider } from './local.js';
import { SeleniumGridProvider } from './grid.js';

/** Where a manager's browsers come from: made by `localChrome()` or `seleniumGrid({ url })`. */
export type BrowserProvider = LocalChromeProvider | SeleniumGridProvider;

/** The `provider` option: one made by `localChrome()` or `seleniumGrid()`; the default is local Chrome. */
export function resolveProvider(value: unknown): BrowserProvider {
  if (value === undefined) return new LocalChromeProvider();
  if (value instanceof LocalChromeProvider || value instanceof SeleniumGridProvider) return value;
  throw new InvalidOptionError('provider', 'localChrome() or seleniumGrid({ url })', value);
}
