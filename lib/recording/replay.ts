/**
 * The events file of a recording, and the replay page written next to it: one HTML file with
 * rrweb-player and the events inlined, so it opens from disk (`file://`) with no server.
 */
import fs from 'node:fs';
import { playerAssets } from './assets.js';

/** One rrweb event, as rrweb emits it and the cloud APIs return it (`type` 2 is a full snapshot, 3 an incremental one). */
export interface RecordingEvent {
  readonly type: number;
  readonly data: unknown;
  readonly timestamp: number;
  readonly delay?: number;
}

/**
 * Reads an events file: each line is one JSON array of events (a batch, as a page sent it); a
 * line that does not parse (cut short by a crash) is skipped. Events come back in time order.
 */
export async function readEvents(file: string): Promise<RecordingEvent[]> {
  return parseEvents(await fs.promises.readFile(file, 'utf8'));
}

/** {@link readEvents}, synchronously (for a signal exit). */
export function readEventsSync(file: string): RecordingEvent[] {
  return parseEvents(fs.readFileSync(file, 'utf8'));
}

function parseEvents(text: string): RecordingEvent[] {
  const events: RecordingEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const batch: unknown = JSON.parse(line);
      if (Array.isArray(batch)) for (const e of batch) if (isEvent(e)) events.push(e);
    } catch {
      // a partial last line
    }
  }
  // Stable: pages' batches interleave, each in order.
  return events.sort((a, b) => a.timestamp - b.timestamp);
}

function isEvent(e: unknown): e is RecordingEvent {
  return e !== null && typeof e === 'object' && typeof (e as RecordingEvent).type === 'number' && typeof (e as RecordingEvent).timestamp === 'number';
}

/** Text safe inside a `<script>` element (no `</script>`, no `<!--`). */
function scriptSafe(text: string): string {
  return text.replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The replay page of `events`. */
export function replayHtml(title: string, events: readonly RecordingEvent[]): string {
  const { js, css } = playerAssets();
  const esc = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc}</title>
<style>${css.replace(/<\/style/gi, '<\\/style')}</style>
<style>body{margin:0;padding:16px;font-family:sans-serif;background:#f4f4f4}</style>
</head><body>
<div id="player"></div>
<script type="application/json" id="events">${scriptSafe(JSON.stringify(events))}</script>
<script>${js.replace(/<\/script/gi, '<\\/script')}</script>
<script>
const events = JSON.parse(document.getElementById('events').textContent);
const Player = window.rrwebPlayer.default || window.rrwebPlayer;
if (events.length < 2) document.getElementById('player').textContent = 'This recording has no events.';
else new Player({ target: document.getElementById('player'), props: { events, autoPlay: false, width: 1024, height: 576 } });
</script>
</body></html>
`;
}
