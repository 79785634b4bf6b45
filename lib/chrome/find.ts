import fs from 'node:fs';
import { Launcher } from 'chrome-launcher';
import { ChromeNotFoundError } from '../errors.js';
import type { HeadlessMode } from '../options.js';

/** A Chrome binary and the build it is. */
export interface FoundChrome {
  /** Absolute path of the binary. */
  readonly executablePath: string;
  /** `'shell'` for chrome-headless-shell, `'new'` for full Chrome/Chromium run headless. */
  readonly headless: HeadlessMode;
}

/** Where Debian, Ubuntu and Puppeteer-style installs put chrome-headless-shell. */
const SHELL_PATHS = [
  '/usr/lib/chromium/chromium-headless-shell',
  '/usr/bin/chromium-headless-shell',
  '/usr/bin/chrome-headless-shell',
  '/opt/google/chrome-headless-shell/chrome-headless-shell',
];

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A binary named like headless-shell is run as one (no `--headless` flag needed). */
export function looksLikeShell(executablePath: string): boolean {
  return /headless[-_]shell/.test(executablePath);
}

/**
 * Finds the Chrome to run, in this order: `executablePath`, `CHROME_PATH`, headless-shell where
 * installed (unless `headless: 'new'` asks for full Chrome), then chrome-launcher's search of the
 * usual install locations. Throws {@link ChromeNotFoundError} listing every place tried.
 */
export function findChrome(opts: { executablePath?: string | undefined; headless?: HeadlessMode | undefined } = {}): FoundChrome {
  const searched: string[] = [];
  const explicit = opts.executablePath ?? process.env.CHROME_PATH;
  if (explicit) {
    const source = opts.executablePath ? 'executablePath' : 'CHROME_PATH';
    if (isExecutable(explicit)) {
      return { executablePath: explicit, headless: opts.headless ?? (looksLikeShell(explicit) ? 'shell' : 'new') };
    }
    // An explicit path that is wrong is an error, not a hint to look elsewhere.
    throw new ChromeNotFoundError([`${source}=${explicit} (not an executable file)`]);
  }
  if (opts.headless !== 'new') {
    for (const candidate of SHELL_PATHS) {
      searched.push(candidate);
      if (isExecutable(candidate)) return { executablePath: candidate, headless: 'shell' };
    }
    if (opts.headless === 'shell') throw new ChromeNotFoundError(searched);
  }
  let installations: string[] = [];
  try {
    installations = Launcher.getInstallations();
  } catch {
    // chrome-launcher throws on unsupported platforms; we report "not found" instead.
  }
  searched.push('chrome-launcher Launcher.getInstallations()');
  const full = installations.find((p) => !looksLikeShell(p) && isExecutable(p));
  if (full) return { executablePath: full, headless: 'new' };
  throw new ChromeNotFoundError(searched);
}
