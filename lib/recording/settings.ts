import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecordingUnavailableError } from '../errors.js';
import { InvalidOptionError } from '../errors.js';

/** `create({ recording })`: an rrweb recording of every page of the session, and optionally a video. */
export interface RecordingOptions {
  /** Also a video of the session's pages from screencast frames, encoded by ffmpeg (it must be on PATH). @default false */
  readonly video?: boolean;
}

/** A create's recording, resolved. */
export interface RecordingSettings {
  /** Folder of the events file, the replay page and the video. */
  readonly dir: string;
  /** The ffmpeg binary, when a video is asked for. */
  readonly ffmpeg: string | undefined;
}

/**
 * The per-user folder under which recordings and downloads persist: `$XDG_CACHE_HOME/chrome-sessions/<kind>`,
 * else `~/.cache/chrome-sessions/<kind>`.
 */
export function defaultCacheDir(kind: 'recordings' | 'downloads'): string {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'chrome-sessions', kind);
}

/** The first executable `ffmpeg` on PATH, as a shell would find it. */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, 'ffmpeg');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Validates `recording` (`true`, or `{ video }`) and Hyperbrowser's `enableWebRecording`;
 * undefined when the session is not recorded. A video without ffmpeg on PATH is refused here,
 * before anything starts ({@link RecordingUnavailableError}, `ERR_FFMPEG_MISSING`).
 */
export function resolveRecording(recording: unknown, enableWebRecording: unknown, dir: string): RecordingSettings | undefined {
  if (enableWebRecording !== undefined && typeof enableWebRecording !== 'boolean') throw new InvalidOptionError('create.enableWebRecording', 'a boolean', enableWebRecording);
  let video = false;
  if (recording === undefined || recording === false) {
    if (enableWebRecording !== true) return undefined;
  } else if (recording === true) {
    // rrweb only
  } else if (recording !== null && typeof recording === 'object' && !Array.isArray(recording)) {
    for (const key of Object.keys(recording)) if (key !== 'video') throw new InvalidOptionError(`create.recording.${key}`, 'only video', key);
    const v = (recording as { video?: unknown }).video;
    if (v !== undefined && typeof v !== 'boolean') throw new InvalidOptionError('create.recording.video', 'a boolean', v);
    video = v === true;
  } else {
    throw new InvalidOptionError('create.recording', 'true, false or { video?: boolean }', recording);
  }
  const ffmpeg = video ? findFfmpeg() : undefined;
  if (video && !ffmpeg) {
    throw new RecordingUnavailableError('ERR_FFMPEG_MISSING', 'create({ recording: { video: true } }) needs ffmpeg on PATH (Debian/Ubuntu: `apt-get install -y ffmpeg`)');
  }
  return { dir, ffmpeg };
}
