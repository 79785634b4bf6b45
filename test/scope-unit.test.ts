import { describe, expect, it, vi } from 'vitest';
import { ContextScope, HEAD_CHARS, TAIL_CHARS, type ScopeVerdict } from '../lib/scope.js';
import { clientMayNeedScope } from '../lib/scope-wire.js';
import { negativeReplyId, trailingSessionId } from '../lib/scope-wire.js';

// Hand-written CDP text, serialised the way Chrome and the clients write it.
const A = 'CTX-A';
const B = 'CTX-B';
const DEFAULT = 'CTX-DEFAULT';
const info = (targetId: string, browserContextId: string | undefined, type = 'page') => ({ targetId, type, title: '', url: 'about:blank', attached: false, canAccessOpener: false, ...(browserContextId ? { browserContextId } : {}) });
const event = (method: string, params: object, sessionId?: string) => JSON.stringify({ method, params, ...(sessionId ? { sessionId } : {}) });
const req = (id: number, method: string, params: object = {}, sessionId?: string) => JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
const parse = (s: string | undefined): Record<string, unknown> => JSON.parse(s ?? 'null') as Record<string, unknown>;
const passes = (v: ScopeVerdict, text: string, way: 'toChrome' | 'toClient') => {
  expect(v[way]).toEqual([text]);
  expect(v[way === 'toChrome' ? 'toClient' : 'toChrome']).toEqual([]);
};

/** Sends a client request through the scope and returns what reached Chrome (parsed). */
function sent(scope: ContextScope, text: string): Record<string, unknown> {
  const v = scope.fromClient(text);
  expect(v.toClient).toEqual([]);
  expect(v.toChrome).toHaveLength(1);
  return parse(v.toChrome[0]);
}

describe('ContextScope, client → Chrome', () => {
  it('passes messages that name no rewritten domain untouched, unparsed', () => {
    const scope = new ContextScope(A);
    for (const text of [req(1, 'Runtime.evaluate', { expression: '1' }, 'S1'), req(2, 'Page.navigate', { url: 'x' }, 'S1'), 'not json', req(3, 'Browser.getVersion'), req(4, 'Browser.close')]) {
      passes(scope.fromClient(text), text, 'toChrome');
    }
  });

  it('fills in the session context on context methods without browserContextId', () => {
    const scope = new ContextScope(A);
    for (const method of ['Storage.getCookies', 'Storage.setCookies', 'Storage.clearCookies', 'Browser.setDownloadBehavior', 'Browser.grantPermissions', 'Browser.resetPermissions', 'Browser.setPermission']) {
      const out = sent(scope, req(7, method, { x: 1 }));
      expect(out).toEqual({ id: 7, method, params: { x: 1, browserContextId: A } });
    }
    // An owned context given explicitly passes as written.
    const text = req(8, 'Storage.getCookies', { browserContextId: A });
    passes(scope.fromClient(text), text, 'toChrome');
  });

  it('refuses a context method on a context that is not owned', () => {
    const scope = new ContextScope(A);
    const v = scope.fromClient(req(9, 'Storage.setCookies', { cookies: [], browserContextId: B }, 'S1'));
    expect(v.toChrome).toEqual([]);
    expect(parse(v.toClient[0])).toMatchObject({ id: 9, sessionId: 'S1', error: { code: -32602 } });
  });

  it('moves context methods sent on a page session to the browser session and answers on the page session', () => {
    const scope = new ContextScope(A);
    const out = sent(scope, req(10, 'Storage.setCookies', { cookies: [] }, 'PAGE'));
    expect(out.sessionId).toBeUndefined();
    expect(out.params).toEqual({ cookies: [], browserContextId: A });
    expect(out.id).toBeLessThan(0);
    const back = scope.fromChrome(`{"id":${String(out.id)},"result":{}}`);
    expect(back.toClient.map(parse)).toEqual([{ id: 10, result: {}, sessionId: 'PAGE' }]);
    expect(scope.pendingCount).toBe(0);
  });

  it('creates targets in the session context and notes them as owned', () => {
    const scope = new ContextScope(A);
    const out = sent(scope, req(11, 'Target.createTarget', { url: 'about:blank' }));
    expect(out).toMatchObject({ method: 'Target.createTarget', params: { url: 'about:blank', browserContextId: A } });
    const back = scope.fromChrome(`{"id":${String(out.id)},"result":{"targetId":"NEW"}}`);
    expect(back.toClient.map(parse)).toEqual([{ id: 11, result: { targetId: 'NEW' } }]);
    const attach = req(12, 'Target.attachToTarget', { targetId: 'NEW', flatten: true });
    passes(scope.fromClient(attach), attach, 'toChrome');
  });

  it('moves createTarget from a page session to the browser session, and refuses other contexts', () => {
    const scope = new ContextScope(A);
    const out = sent(scope, req(40, 'Target.createTarget', { url: 'about:blank' }, 'PAGE'));
    expect(out.sessionId).toBeUndefined();
    expect(out.params).toEqual({ url: 'about:blank', browserContextId: A });
    expect(scope.fromChrome(`{"id":${String(out.id)},"result":{"targetId":"T2"}}`).toClient.map(parse)).toEqual([{ id: 40, result: { targetId: 'T2' }, sessionId: 'PAGE' }]);
    for (const ctx of [B, DEFAULT]) {
      const v = scope.fromClient(req(41, 'Target.createTarget', { url: 'about:blank', browserContextId: ctx }));
      expect(v.toChrome).toEqual([]);
      expect(parse(v.toClient[0])).toMatchObject({ id: 41, error: { code: -32602 } });
    }
  });

  it('answers target methods on targets that are not owned locally', () => {
    const scope = new ContextScope(A, ['MINE']);
    scope.fromChrome(event('Target.targetCreated', { targetInfo: info('THEIRS', B) }));
    scope.fromChrome(event('Target.targetCreated', { targetInfo: info('BROWSER', undefined, 'browser') }));
    for (const method of ['Target.attachToTarget', 'Target.activateTarget', 'Target.closeTarget', 'Target.getTargetInfo', 'Target.exposeDevToolsProtocol']) {
      for (const targetId of method === 'Target.attachToTarget' ? ['THEIRS', 'UNKNOWN'] : ['THEIRS', 'UNKNOWN', 'BROWSER']) {
        const v = scope.fromClient(req(13, method, { targetId }, 'S'));
        expect(v.toChrome).toEqual([]);
        expect(parse(v.toClient[0])).toEqual({ id: 13, error: { code: -32602, message: 'No target with given id found' }, sessionId: 'S' });
      }
      const ok = req(14, method, { targetId: 'MINE' });
      passes(scope.fromClient(ok), ok, 'toChrome');
    }
    const own = req(15, 'Target.getTargetInfo');
    passes(scope.fromClient(own), own, 'toChrome');
    // The browser target and a browser session may be attached to: every rule holds on every session.
    for (const text of [req(16, 'Target.attachToTarget', { targetId: 'BROWSER', flatten: true }), req(17, 'Target.attachToBrowserTarget')]) passes(scope.fromClient(text), text, 'toChrome');
    const inBrowserSession = sent(scope, req(18, 'Target.getBrowserContexts', {}, 'BROWSER-SESSION'));
    expect(inBrowserSession).toMatchObject({ method: 'Target.getBrowserContexts', sessionId: 'BROWSER-SESSION' });
    expect(inBrowserSession.id).toBeLessThan(0);
  });

  it('tracks the client’s own contexts through create and dispose replies', () => {
    const scope = new ContextScope(A);
    // Not the client's: refused, whether the session's, another session's or unknown.
    for (const ctx of [A, B, 'NOPE']) {
      const v = scope.fromClient(req(20, 'Target.disposeBrowserContext', { browserContextId: ctx }));
      expect(v.toChrome).toEqual([]);
      expect(parse(v.toClient[0])).toMatchObject({ id: 20, error: { code: -32602 } });
    }
    const create = sent(scope, req(21, 'Target.createBrowserContext', { disposeOnDetach: true }));
    expect(create).toMatchObject({ method: 'Target.createBrowserContext', params: { disposeOnDetach: true } });
    expect(scope.fromChrome(`{"id":${String(create.id)},"result":{"browserContextId":"MINE-CTX"}}`).toClient.map(parse)).toEqual([{ id: 21, result: { browserContextId: 'MINE-CTX' } }]);
    expect([...scope.clientContexts]).toEqual(['MINE-CTX']);
    // Its targets are visible and usable, and createTarget there passes.
    const created = event('Target.targetCreated', { targetInfo: info('T-MINE', 'MINE-CTX') });
    passes(scope.fromChrome(created), created, 'toClient');
    const ct = sent(scope, req(22, 'Target.createTarget', { url: 'about:blank', browserContextId: 'MINE-CTX' }));
    expect(ct.params).toEqual({ url: 'about:blank', browserContextId: 'MINE-CTX' });
    // A failed dispose keeps it; a successful one drops it.
    const d1 = sent(scope, req(23, 'Target.disposeBrowserContext', { browserContextId: 'MINE-CTX' }));
    expect(scope.fromChrome(`{"id":${String(d1.id)},"error":{"code":-32000,"message":"x"}}`).toClient.map(parse)).toEqual([{ id: 23, error: { code: -32000, message: 'x' } }]);
    expect(scope.clientContexts.has('MINE-CTX')).toBe(true);
    const d2 = sent(scope, req(24, 'Target.disposeBrowserContext', { browserContextId: 'MINE-CTX' }));
    scope.fromChrome(`{"id":${String(d2.id)},"result":{}}`);
    expect(scope.clientContexts.size).toBe(0);
    expect(scope.pendingCount).toBe(1); // the createTarget above was never answered
  });

  it("treats a context another client of the session created as the client's own", () => {
    const scope = new ContextScope(A, [], { othersCreated: (c) => c === 'THEIRS' });
    const created = event('Target.targetCreated', { targetInfo: info('T-THEIRS', 'THEIRS') });
    passes(scope.fromChrome(created), created, 'toClient');
    passes(scope.fromClient(req(40, 'Target.attachToTarget', { targetId: 'T-THEIRS', flatten: true })), req(40, 'Target.attachToTarget', { targetId: 'T-THEIRS', flatten: true }), 'toChrome');
    const list = sent(scope, req(41, 'Target.getBrowserContexts'));
    expect(scope.fromChrome(`{"id":${String(list.id)},"result":{"browserContextIds":["${B}","THEIRS"]}}`).toClient.map(parse)).toEqual([{ id: 41, result: { browserContextIds: ['THEIRS'] } }]);
    expect(sent(scope, req(42, 'Target.disposeBrowserContext', { browserContextId: 'THEIRS' })).params).toEqual({ browserContextId: 'THEIRS' });
    // Another session's context stays out of reach.
    const foreign = event('Target.targetCreated', { targetInfo: info('T-B', B) });
    expect(scope.fromChrome(foreign).toClient).toEqual([]);
  });

  it("gives a context the client creates the session's proxy, unless the client names its own", () => {
    const proxy = { proxyServer: 'http://127.0.0.1:8000', proxyBypassList: 'localhost' };
    const scope = new ContextScope(A, [], { proxy });
    expect(sent(scope, req(30, 'Target.createBrowserContext', { disposeOnDetach: true })).params).toEqual({ disposeOnDetach: true, ...proxy });
    expect(sent(scope, req(31, 'Target.createBrowserContext', { proxyServer: 'socks5://h:1' })).params).toEqual({ proxyServer: 'socks5://h:1' });
    // A session without a proxy changes nothing.
    expect(sent(new ContextScope(A), req(32, 'Target.createBrowserContext', {})).params).toEqual({});
  });
});

describe('ContextScope, Chrome → client', () => {
  it('filters getBrowserContexts and getTargets replies', () => {
    const scope = new ContextScope(A);
    const c = sent(scope, req(30, 'Target.createBrowserContext'));
    scope.fromChrome(`{"id":${String(c.id)},"result":{"browserContextId":"OWN"}}`);
    const g = sent(scope, req(31, 'Target.getBrowserContexts'));
    const reply = JSON.stringify({ id: g.id, result: { browserContextIds: [A, B, 'OWN'], defaultBrowserContextId: DEFAULT } });
    expect(scope.fromChrome(reply).toClient.map(parse)).toEqual([{ id: 31, result: { browserContextIds: ['OWN'], defaultBrowserContextId: A } }]);
    const t = sent(scope, req(32, 'Target.getTargets', {}, 'PAGE'));
    expect(t.sessionId).toBe('PAGE');
    const targets = [info('PA', A), info('PB', B), info('PD', DEFAULT), info('PO', 'OWN'), info('BR', undefined, 'browser'), info('X', undefined)];
    const back = parse(scope.fromChrome(JSON.stringify({ id: t.id, result: { targetInfos: targets }, sessionId: 'PAGE' })).toClient[0]);
    expect(back).toEqual({ id: 32, result: { targetInfos: [targets[0], targets[3], targets[4]] }, sessionId: 'PAGE' });
  });

  it('passes replies to client ids and non-Target events untouched', () => {
    const scope = new ContextScope(A);
    for (const text of ['{"id":5,"result":{"targetInfos":[]}}', event('Page.loadEventFired', { timestamp: 1 }, 'S'), event('Network.requestWillBeSent', { sessionId: 'x' })]) {
      passes(scope.fromChrome(text), text, 'toClient');
    }
    // A negative id the scope never used is not the client's: dropped.
    expect(scope.fromChrome('{"id":-99,"result":{}}')).toEqual({ toChrome: [], toClient: [] });
  });

  it('shows Target events only for owned targets and the browser target', () => {
    const scope = new ContextScope(A);
    const shown = [event('Target.targetCreated', { targetInfo: info('PA', A) }), event('Target.targetCreated', { targetInfo: info('BR', undefined, 'browser') }), event('Target.targetInfoChanged', { targetInfo: info('PA', A) }), event('Target.targetCrashed', { targetId: 'PA', status: 'crashed', errorCode: 1 }), event('Target.targetDestroyed', { targetId: 'PA' })];
    const hidden = [event('Target.targetCreated', { targetInfo: info('PB', B) }), event('Target.targetInfoChanged', { targetInfo: info('PD', DEFAULT) }), event('Target.targetDestroyed', { targetId: 'PB' }), event('Target.targetDestroyed', { targetId: 'UNKNOWN' }), event('Target.targetCreated', { targetInfo: info('PB2', B) }, 'PAGE')];
    for (const text of shown) passes(scope.fromChrome(text), text, 'toClient');
    for (const text of hidden) expect(scope.fromChrome(text)).toEqual({ toChrome: [], toClient: [] });
    // Only the browser target is kept: PA was destroyed, other sessions' targets are never kept.
    expect(scope.knownTargetCount).toBe(1);
    // Destroyed targets are forgotten: attaching to PA now is refused.
    expect(scope.fromClient(req(1, 'Target.attachToTarget', { targetId: 'PA' })).toChrome).toEqual([]);
  });

  it('resumes and detaches a foreign auto-attachment in the client’s stead, and drops its traffic', () => {
    const scope = new ContextScope(A);
    const own = event('Target.attachedToTarget', { sessionId: 'SA', targetInfo: info('PA', A), waitingForDebugger: true });
    passes(scope.fromChrome(own), own, 'toClient');
    const v = scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SB', targetInfo: info('PB', B), waitingForDebugger: true }));
    expect(v.toClient).toEqual([]);
    const [run, detach] = v.toChrome.map(parse);
    expect(run).toMatchObject({ method: 'Runtime.runIfWaitingForDebugger', sessionId: 'SB' });
    expect(detach).toMatchObject({ method: 'Target.detachFromTarget', params: { sessionId: 'SB' } });
    expect(detach?.sessionId).toBeUndefined();
    expect(run?.id).toBeLessThan(0);
    expect(detach?.id).toBeLessThan(0);
    expect(scope.foreignSessionCount).toBe(1);
    // Traffic on SB is dropped; on SA it passes.
    expect(scope.fromChrome(event('Runtime.executionContextCreated', { context: { id: 1 } }, 'SB'))).toEqual({ toChrome: [], toClient: [] });
    expect(scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SB-CHILD', targetInfo: info('W', B, 'worker'), waitingForDebugger: false }, 'SB')).toChrome).toEqual([]);
    const onA = event('Runtime.executionContextCreated', { context: { id: 1 } }, 'SA');
    passes(scope.fromChrome(onA), onA, 'toClient');
    // The replies to the scope's own requests never reach the client.
    expect(scope.fromChrome(`{"id":${String(run?.id)},"result":{},"sessionId":"SB"}`)).toEqual({ toChrome: [], toClient: [] });
    expect(scope.fromChrome(`{"id":${String(detach?.id)},"result":{}}`)).toEqual({ toChrome: [], toClient: [] });
    expect(scope.fromChrome(event('Target.detachedFromTarget', { sessionId: 'SB', targetId: 'PB' }))).toEqual({ toChrome: [], toClient: [] });
    expect(scope.foreignSessionCount).toBe(0);
    expect(scope.pendingCount).toBe(0);
    // An already running foreign tab (attached without waiting) is only detached; nested attachments detach on their parent.
    const w = scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SD', targetInfo: info('PD', DEFAULT, 'tab'), waitingForDebugger: false }, 'PARENT'));
    expect(w.toChrome.map(parse)).toEqual([expect.objectContaining({ method: 'Target.detachFromTarget', params: { sessionId: 'SD' }, sessionId: 'PARENT' })]);
    // Requests on a foreign session that Chrome never answers (it detached first) are forgotten.
    expect(scope.pendingCount).toBe(1);
    const w2 = scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SE', targetInfo: info('PE', B), waitingForDebugger: true }));
    expect(w2.toChrome).toHaveLength(2);
    expect(scope.pendingCount).toBe(3);
    scope.fromChrome(event('Target.detachedFromTarget', { sessionId: 'SD' }, 'PARENT'));
    scope.fromChrome(event('Target.detachedFromTarget', { sessionId: 'SE' }));
    expect(scope.pendingCount).toBe(0);
    expect(scope.foreignSessionCount).toBe(0);
    const detachedOwn = event('Target.detachedFromTarget', { sessionId: 'SA', targetId: 'PA' });
    passes(scope.fromChrome(detachedOwn), detachedOwn, 'toClient');
  });
});

describe('ContextScope fast path (bytes forwarded unread)', () => {
  /** What the endpoint asks, from a message's raw bytes. */
  const unread = (scope: ContextScope, text: string) => {
    const buf = Buffer.from(text);
    return scope.passesUnread(buf.subarray(0, HEAD_CHARS).toString('latin1'), () => buf.subarray(Math.max(0, buf.length - TAIL_CHARS)).toString('latin1'));
  };

  it('lets through unread only what the full filter would pass untouched', () => {
    const scope = new ContextScope(A, ['PA']);
    scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SB'.padEnd(32, '0'), targetInfo: info('PB', B), waitingForDebugger: true }));
    const foreign = 'SB'.padEnd(32, '0');
    const mustRead = [
      `{"id":-1,"result":{}}`,
      event('Target.targetCreated', { targetInfo: info('PB2', B) }),
      event('Target.attachedToTarget', { sessionId: 'X', targetInfo: info('PB3', B), waitingForDebugger: false }, 'SA'),
      event('Browser.downloadWillBegin', { frameId: 'PB', guid: 'g', url: 'http://x/', suggestedFilename: 'f' }),
      event('Page.frameAttached', { frameId: 'F1', parentFrameId: 'PA' }, 'SA'),
      event('Page.frameDetached', { frameId: 'F1', reason: 'remove' }, 'SA'),
      event('Runtime.executionContextCreated', { context: { id: 1, name: 'ü'.repeat(40) } }, foreign),
    ];
    for (const text of mustRead) expect(unread(scope, text), text).toBe(false);
    const untouched = [
      `{"id":5,"result":{"frameTree":{}},"sessionId":"SA"}`,
      event('Runtime.executionContextCreated', { context: { id: 1, name: 'ü'.repeat(40) } }, 'SA'),
      event('Network.requestWillBeSent', { requestId: '1', request: { url: 'http://x/' } }, 'SA'),
      event('Page.lifecycleEvent', { name: 'load' }),
      'x',
    ];
    for (const text of untouched) {
      expect(unread(scope, text), text).toBe(true);
      passes(scope.fromChrome(text), text, 'toClient');
    }
    // A client message that names no rewritten domain never needs the scope; one that might does.
    expect(clientMayNeedScope(Buffer.from(req(1, 'Runtime.evaluate', { expression: '1' }, 'SA')))).toBe(false);
    expect(clientMayNeedScope(Buffer.from(req(2, 'Target.getTargets')))).toBe(true);
    expect(clientMayNeedScope(Buffer.from(req(3, 'Storage.getCookies')))).toBe(true);
  });
});

describe('ContextScope downloads', () => {
  it('passes download events of its own frames only', () => {
    const scope = new ContextScope(A, ['PA']);
    const will = (frameId: string, guid: string) => event('Browser.downloadWillBegin', { frameId, guid, url: 'http://x/f', suggestedFilename: 'f' });
    const progress = (guid: string, state: string) => event('Browser.downloadProgress', { guid, totalBytes: 1, receivedBytes: 1, state });
    const frame = event('Page.frameAttached', { frameId: 'SUB', parentFrameId: 'PA' }, 'SA');
    passes(scope.fromChrome(frame), frame, 'toClient');
    for (const text of [will('PA', 'G1'), will('SUB', 'G2'), progress('G1', 'inProgress'), progress('G1', 'completed'), progress('G2', 'canceled')]) {
      passes(scope.fromChrome(text), text, 'toClient');
    }
    scope.fromChrome(event('Target.targetCreated', { targetInfo: info('PB', B) }));
    for (const text of [will('PB', 'G3'), will('UNKNOWN', 'G4'), progress('G3', 'inProgress'), progress('G1', 'inProgress')]) {
      expect(scope.fromChrome(text)).toEqual({ toChrome: [], toClient: [] });
    }
    scope.fromChrome(event('Page.frameDetached', { frameId: 'SUB', reason: 'remove' }, 'SA'));
    expect(scope.fromChrome(will('SUB', 'G5'))).toEqual({ toChrome: [], toClient: [] });
  });
});

describe('ContextScope per-message cost', () => {
  it('parses no ordinary message either way', () => {
    const scope = new ContextScope(A, ['PA']);
    scope.fromChrome(event('Target.attachedToTarget', { sessionId: 'SB', targetInfo: info('PB', B), waitingForDebugger: true }));
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const big = 'x'.repeat(100_000);
      scope.fromClient(req(1, 'Runtime.evaluate', { expression: big }, 'SA'));
      scope.fromClient(req(2, 'Page.navigate', { url: 'http://a/' }, 'SA'));
      scope.fromChrome(`{"id":1,"result":{"result":{"type":"string","value":"${big}"}},"sessionId":"SA"}`);
      scope.fromChrome(event('Network.requestWillBeSent', { requestId: '1', request: { url: 'http://a/' } }, 'SA'));
      scope.fromChrome(event('Page.frameNavigated', { frame: { id: 'F' } }, 'SB')); // dropped from its tail alone
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });
});

describe('scope-wire', () => {
  it('reads negative reply ids and trailing session ids from the text', () => {
    expect(negativeReplyId('{"id":-12,"result":{}}')).toBe(-12);
    expect(negativeReplyId('{"id":12,"result":{}}')).toBeUndefined();
    expect(negativeReplyId('{"method":"X","params":{}}')).toBeUndefined();
    expect(trailingSessionId('{"method":"X","params":{"a":"b"},"sessionId":"ABC"}')).toBe('ABC');
    expect(trailingSessionId('{"method":"Target.detachedFromTarget","params":{"sessionId":"ABC"}}')).toBeUndefined();
    expect(trailingSessionId('{"id":3,"result":{"v":"\\"sessionId\\":\\"Z\\"}"}}')).toBeUndefined();
  });
});
