/**
 * A session's video: screencast frames of its pages (`Page.startScreencast`, JPEG), the latest
 * one written to ffmpeg at a fixed rate and encoded as H.264 in MP4 (1280x720, letterboxed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { CdpConnection, CdpEvent } from '../cdp.js';
import type { HookedTarget } from '../page-hooks.js';
import { HOOK_TIMEOUT_MS } from '../page-hooks.js';

const FPS = 5;
/** ffmpeg gets this long to finish the file after its input ends (within the session's cleanup bound). */
const FINISH_MS = 8_000;

/** Frames in, an MP4 file out. */
export class VideoEncoder {
  readonly file: string;
  readonly #ffmpeg: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #timer: NodeJS.Timeout;
  #last: Buffer | undefined;
  #blocked = false;
  #stderr = '';

  constructor(ffmpeg: string, file: string) {
    this.file = file;
    const vf = 'scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,format=yuv420p';
    this.#ffmpeg = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'image2pipe', '-framerate', String(FPS), '-c:v', 'mjpeg', '-i', '-', '-vf', vf, '-c:v', 'libx264', '-preset', 'ultrafast', '-movflags', '+faststart', '-y', file], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.#ffmpeg.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-2000)));
    this.#ffmpeg.stdin!.on('error', () => {});
    this.#ffmpeg.stdin!.on('drain', () => (this.#blocked = false));
    this.#exited = new Promise((resolve) => {
      this.#ffmpeg.once('exit', () => resolve());
      this.#ffmpeg.once('error', () => resolve());
    });
    this.#timer = setInterval(() => this.#tick(), 1000 / FPS);
    this.#timer.unref();
  }

  /** Starts the screencast of a page (iframes paint into their page's frames). */
  async attached(t: HookedTarget): Promise<void> {
    if (t.type !== 'page') return;
    await t.c.send('Page.startScreencast', { format: 'jpeg', quality: 70, everyNthFrame: 1 }, { sessionId: t.sessionId, timeoutMs: HOOK_TIMEOUT_MS });
  }

  /** Takes a screencast frame (and acknowledges it, or Chrome sends no more). */
  event(c: CdpConnection, e: CdpEvent & { sessionId: string }): void {
    if (e.method !== 'Page.screencastFrame') return;
    this.#last = Buffer.from(e.params.data, 'base64');
    void c.send('Page.screencastFrameAck', { sessionId: e.params.sessionId }, { sessionId: e.sessionId, timeoutMs: HOOK_TIMEOUT_MS }).catch(() => {});
  }

  #tick(): void {
    if (!this.#last || this.#blocked || !this.#ffmpeg.stdin!.writable) return;
    // A slow encoder skips frames rather than piling them up in memory.
    if (!this.#ffmpeg.stdin!.write(this.#last)) this.#blocked = true;
  }

  /** Ends the input and waits for ffmpeg to finish the file (killed after a bound). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#tick();
    this.#ffmpeg.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, FINISH_MS)))]);
    clearTimeout(timer);
    if (this.#ffmpeg.exitCode === null && this.#ffmpeg.signalCode === null) this.#ffmpeg.kill('SIGKILL');
  }

  /** What ffmpeg last wrote to stderr, for diagnosis. */
  get stderrTail(): string {
    return this.#stderr;
  }
}
