/**
 * The live view page, served as is by {@link LiveViews} (plain HTML and JS, kept in a string so
 * that the package needs no copy step). It reads its session id from the path and its token from
 * `?token=`, opens `/live/<id>/ws?token=…`, shows each screencast frame in an `<img>`, and sends
 * mouse, wheel and keyboard input as positions relative to that image (0..1), which the manager
 * scales to the page's viewport. Messages it takes: `hello`, `status`, `tab`, `frame`, `ended`.
 */
export const VIEWER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live view</title>
<style>
  html, body { margin: 0; height: 100%; background: #1e1e1e; color: #ddd; font: 13px system-ui, sans-serif; }
  body { display: flex; flex-direction: column; }
  #bar { display: flex; gap: 12px; align-items: center; padding: 6px 10px; background: #2b2b2b; white-space: nowrap; overflow: hidden; }
  #status { padding: 1px 8px; border-radius: 9px; background: #555; color: #fff; }
  body[data-state="active"] #status { background: #2e7d32; }
  body[data-state="ended"] #status, body[data-state="error"] #status { background: #b71c1c; }
  #tab { overflow: hidden; text-overflow: ellipsis; flex: 1; color: #aaa; }
  #main { flex: 1; display: flex; align-items: center; justify-content: center; min-height: 0; position: relative; }
  #screen { outline: none; line-height: 0; }
  #screen:focus { box-shadow: 0 0 0 2px #4a90d9; }
  #frame { max-width: 100vw; max-height: calc(100vh - 32px); user-select: none; -webkit-user-drag: none; }
  body[data-mode="interactive"] #frame { cursor: default; }
  #overlay { position: absolute; inset: 0; display: none; align-items: center; justify-content: center; background: rgba(0, 0, 0, 0.6); font-size: 22px; }
  body[data-state="ended"] #overlay, body[data-state="disconnected"] #overlay { display: flex; }
</style>
</head>
<body data-state="connecting" data-mode="readonly">
<div id="bar"><span id="status">connecting</span><span id="mode"></span><span id="tab"></span></div>
<div id="main">
  <div id="screen" tabindex="0"><img id="frame" alt="" draggable="false"></div>
  <div id="overlay"><span id="message"></span></div>
</div>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body, img = $('frame'), screen = $('screen');
  const id = decodeURIComponent(location.pathname.split('/')[2] || '');
  const token = new URLSearchParams(location.search).get('token') || '';
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(scheme + '://' + location.host + '/live/' + encodeURIComponent(id) + '/ws?token=' + encodeURIComponent(token));
  let interactive = false, ended = false;
  const state = (s, text) => { body.dataset.state = s; $('status').textContent = text; };
  const finish = (text) => { ended = true; state('ended', text); $('message').textContent = 'Session ended'; };

  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'frame') {
      img.src = 'data:image/jpeg;base64,' + m.data;
    } else if (m.type === 'hello') {
      interactive = m.mode === 'interactive';
      body.dataset.mode = m.mode;
      $('mode').textContent = interactive ? '' : 'read-only';
    } else if (m.type === 'status') {
      state(m.status, m.status + (m.clients !== undefined ? ' · ' + m.clients + ' client(s)' : ''));
    } else if (m.type === 'tab') {
      $('tab').textContent = m.url ? (m.title ? m.title + ' — ' : '') + m.url : 'no page open';
      document.title = 'Live view · ' + (m.title || m.url || id);
      if (!m.url) img.removeAttribute('src');
    } else if (m.type === 'ended') {
      finish('session ended: ' + m.status + (m.stopReason ? ' (' + m.stopReason + ')' : ''));
    }
  };
  ws.onclose = () => {
    if (ended) return;
    state('disconnected', 'disconnected');
    $('message').textContent = 'Live view disconnected';
  };

  const send = (m) => { if (interactive && ws.readyState === 1) ws.send(JSON.stringify(m)); };
  const mods = (e) => (e.altKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.metaKey ? 4 : 0) | (e.shiftKey ? 8 : 0);
  const at = (e) => {
    const r = img.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height };
  };
  const BUTTONS = ['left', 'middle', 'right'];
  const mouse = (kind, e) => send(Object.assign({ type: 'mouse', kind, button: BUTTONS[e.button] || 'none', buttons: e.buttons, clickCount: e.detail || 1, modifiers: mods(e) }, at(e)));

  img.addEventListener('mousedown', (e) => { e.preventDefault(); screen.focus(); mouse('down', e); });
  img.addEventListener('mouseup', (e) => { e.preventDefault(); mouse('up', e); });
  let moved = null;
  img.addEventListener('mousemove', (e) => {
    if (moved === null) requestAnimationFrame(() => { mouse('move', moved); moved = null; });
    moved = e;
  });
  img.addEventListener('contextmenu', (e) => e.preventDefault());
  img.addEventListener('wheel', (e) => {
    e.preventDefault();
    send(Object.assign({ type: 'wheel', deltaX: e.deltaX, deltaY: e.deltaY, modifiers: mods(e) }, at(e)));
  }, { passive: false });
  const key = (kind, e) => {
    const paste = (e.ctrlKey || e.metaKey) && e.key === 'v';
    if (paste) return;
    e.preventDefault();
    let text = '';
    if (kind === 'down' && !e.ctrlKey && !e.metaKey) text = e.key === 'Enter' ? '\\r' : e.key.length === 1 ? e.key : '';
    send({ type: 'key', kind, key: e.key, code: e.code, keyCode: e.keyCode, text, location: e.location, modifiers: mods(e) });
  };
  screen.addEventListener('keydown', (e) => key('down', e));
  screen.addEventListener('keyup', (e) => key('up', e));
  screen.addEventListener('paste', (e) => {
    e.preventDefault();
    const text = e.clipboardData ? e.clipboardData.getData('text') : '';
    if (text) send({ type: 'text', text });
  });
  screen.focus();
})();
</script>
</body>
</html>
`;
