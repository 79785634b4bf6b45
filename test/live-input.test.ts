/** The live view's check of viewer messages (test/live-view.test.ts drives it in a real browser). */
import { expect, it } from 'vitest';
import { parseInput } from '../lib/live/server.js';

it('checks every input message: positions clamped to the frame, anything malformed dropped', () => {
  expect(parseInput(JSON.stringify({ type: 'mouse', kind: 'down', x: 2, y: -1, button: 'left', buttons: 1, clickCount: 1, modifiers: 0 }))).toMatchObject({ x: 1, y: 0 });
  expect(parseInput(JSON.stringify({ type: 'key', kind: 'down', key: 'a', code: 'KeyA', keyCode: 65, text: 'a', modifiers: 8 }))).toMatchObject({ type: 'key', key: 'a', modifiers: 8 });
  for (const bad of ['not json', 'null', '{"type":"mouse"}', '{"type":"mouse","kind":"drag","x":0,"y":0}', `{"type":"key","kind":"down","key":"${'x'.repeat(100)}"}`, '{"type":"text","text":""}', '{"type":"eval","code":"1"}']) {
    expect(parseInput(bad)).toBeUndefined();
  }
});
