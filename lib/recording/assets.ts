/**
 * The browser builds of rrweb (injected into pages) and rrweb-player (inlined in replay pages),
 * read from the installed packages once.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

let resolveFrom: NodeJS.Require | undefined;

/** A `require` that resolves packages next to this library, in the ESM and the CommonJS build alike. */
function req(): NodeJS.Require {
  // The CommonJS build (esbuild) has __filename; the ESM build has import.meta.
  // @ts-ignore -- import.meta is refused by the CommonJS declaration build, which never runs this branch
  resolveFrom ??= createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
  return resolveFrom;
}

const cache = new Map<string, string>();

/** A file of `dist/` of an installed package (whose `exports` do not list it), as text without its source map comment. */
function distFile(pkg: string, file: string): string {
  const key = `${pkg}/${file}`;
  let text = cache.get(key);
  if (text === undefined) {
    const main = req().resolve(pkg);
    text = fs.readFileSync(path.join(path.dirname(main), file), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    cache.set(key, text);
  }
  return text;
}

/** rrweb's UMD build (it assigns `module.exports` when `module` and `exports` are in scope). */
export function rrwebSource(): string {
  return distFile('rrweb', 'rrweb.umd.min.cjs');
}

/** rrweb-player's UMD build and its stylesheet. */
export function playerAssets(): { js: string; css: string } {
  return { js: distFile('rrweb-player', 'rrweb-player.umd.min.cjs'), css: distFile('rrweb-player', 'style.min.css') };
}

/**
 * The script run in every document of a recorded session, before the page's own scripts. The
 * top document records and hands batches of events to the binding `binding` (at most 250 ms
 * after the first of a batch, at `pagehide`, and on the event `<binding>:flush` the manager
 * dispatches when the session ends); a cross-origin iframe records and posts its
 * events to its parent (rrweb's `recordCrossOriginIframes`); a same-origin iframe is left to its
 * parent's recorder. The binding is taken off `window` before the page runs.
 */
export function recorderScript(binding: string): string {
  return `(() => {
const send = globalThis[${JSON.stringify(binding)}];
try { delete globalThis[${JSON.stringify(binding)}]; } catch {}
let isTop = false;
try { isTop = window.top === window; } catch {}
if (!isTop) { try { if (window.parent.document) return; } catch {} }
const module = { exports: {} };
const exports = module.exports;
${rrwebSource()}
const rrweb = module.exports;
let batch = [];
let timer;
const flush = () => {
  clearTimeout(timer);
  timer = undefined;
  if (batch.length === 0 || typeof send !== 'function') return;
  const events = batch;
  batch = [];
  try { send(JSON.stringify(events)); } catch {}
};
addEventListener('pagehide', flush, true);
addEventListener(${JSON.stringify(`${binding}:flush`)}, flush, true);
rrweb.record({
  emit(event) {
    if (!isTop) return;
    batch.push(event);
    if (timer === undefined) timer = setTimeout(flush, 250);
  },
  recordCrossOriginIframes: true,
});
})();
//# sourceURL=chrome-sessions-recorder.js
`;
}
