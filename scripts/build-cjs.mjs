// The CommonJS build (dist/cjs), after `tsc -p tsconfig.cjs.json` has written its declarations.
//
// Some runtime dependencies are ESM-only (chrome-launcher, lighthouse-logger, proxy-chain). Node
// < 20.19 cannot require() them, nor can Jest's module system before Node 24.9, so esbuild bundles
// them (and what they import) into the CommonJS entry points; the CommonJS-capable dependencies
// and the optional peers stay external. The fixtures' entries keep their import of `../index.js`
// so all three share one copy of the library. Licenses of what was bundled go next to it.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const out = 'dist/cjs';
const external = ['ws', 'eventemitter3', 'debug', 'puppeteer-core', 'playwright-core', '@playwright/test', 'vitest', '../index.js'];

const result = await build({
  entryPoints: ['lib/index.ts', 'lib/fixtures/vitest.ts', 'lib/fixtures/playwright-test.ts'],
  outbase: 'lib',
  outdir: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() of a peer becomes require(): Jest runs CommonJS without a dynamic-import hook.
  supported: { 'dynamic-import': false },
  // lib/recording/assets.ts finds packages from __filename in CommonJS; its import.meta branch never runs here.
  define: { 'import.meta.url': 'undefined' },
  external,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);

const roots = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) roots.add(m[1]);
}
const notices = [...roots].sort().map((root) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const file = fs.readdirSync(root).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? fs.readFileSync(path.join(root, file), 'utf8').trim() : `License: ${pkg.license}`;
  return `${pkg.name}@${pkg.version} (${pkg.license})\n\n${text}\n`;
});
fs.writeFileSync(
  path.join(out, 'THIRD-PARTY-LICENSES.txt'),
  `The CommonJS build of chrome-sessions bundles these packages:\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`,
);
