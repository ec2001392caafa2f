// fer-edge live view: plain browser JavaScript, no build step. Talks to the agent over /events (SSE),
// /frame.jpg (the newest frame, pulled a few times per second while the tab is visible) and /config.
'use strict';
(() => {
  const FRAME_INTERVAL_MS = 300; // the agent caps encoding at ~4 per second per camera anyway
  const RING = 40; // recent results per camera, to find the one matching the frame on screen
  const TIMELINE_MAX = 60;

  // A token given in the address is used for every request (the agent also sets a cookie from it), then
  // removed from the address bar so it does not end up in bookmarks or screenshots.
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (token !== null) {
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : ''));
  }
  const withToken = (u) => (token ? u + (u.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : u);

  const $ = (id) => document.getElementById(id);
  const canvas = $('frame');
  const ctx = canvas.getContext('2d');
  const st = {
    cameras: [],
    camera: params.get('camera'),
    labels: [],
    ring: new Map(), // cameraId -> results, oldest first
    stats: new Map(),
    image: null, // { el, cameraId, seq, frameWidth, frameHeight }
    frames: 0,
    results: 0,
    events: 0,
  };

  const EMOTION_COLORS = {
    angry: '#e5484d', disgust: '#46a758', fear: '#8e4ec6', happy: '#f5c518', sad: '#3e63dd',
    surprise: '#f76b15', neutral: '#9ba1a6', contempt: '#a18072', none: '#687076', face_lost: '#687076',
  };
  const emotionColor = (e) => EMOTION_COLORS[e] || `hsl(${[...e].reduce((a, c) => a + c.charCodeAt(0), 0) * 47 % 360} 70% 55%)`;
  const trackColor = (id) => `hsl(${(id * 67) % 360} 85% 55%)`;
  const pct = (p) => `${Math.round(p * 100)}%`;
  const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const argmax = (a) => a.reduce((best, x, i) => (x > a[best] ? i : best), 0);

  function latestResult(cameraId) {
    const r = st.ring.get(cameraId);
    return r && r.length ? r[r.length - 1] : null;
  }

  // ---- drawing -------------------------------------------------------------------------------------------------

  function render() {
    const cam = st.camera;
    const img = st.image && st.image.cameraId === cam ? st.image : null;
    // Boxes come from the result of the frame on screen when we still have it, so they sit on the right faces.
    let result = latestResult(cam);
    if (img) result = (st.ring.get(cam) || []).find((r) => r.seq === img.seq) || result;
    const frameW = img ? img.frameWidth : result ? result.width : 640;
    const frameH = img ? img.frameHeight : result ? result.height : 480;
    const w = img ? img.el.naturalWidth : Math.min(640, frameW);
    const h = img ? img.el.naturalHeight : Math.round((w * frameH) / frameW);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, w, h);
    if (img) ctx.drawImage(img.el, 0, 0, w, h);
    const s = w / frameW;
    const drawn = [];
    if (result) {
      const line = Math.max(2, Math.round(w / 320));
      ctx.font = `${Math.max(12, Math.round(w / 40))}px system-ui, sans-serif`;
      ctx.textBaseline = 'top';
      for (const f of result.faces) {
        const x = f.box.x * s, y = f.box.y * s, bw = f.box.width * s, bh = f.box.height * s;
        const color = trackColor(f.trackId);
        ctx.lineWidth = line;
        ctx.strokeStyle = color;
        ctx.strokeRect(x, y, bw, bh);
        const state = result.states.find((x) => x.trackId === f.trackId);
        const top = f.probs.length ? argmax(f.probs) : -1;
        const label = state && state.emotion !== 'none'
          ? `#${f.trackId} ${state.emotion} ${pct(state.confidence)}`
          : `#${f.trackId} ${top >= 0 ? result.labels[top] + '? ' + pct(f.probs[top]) : ''}`;
        const tw = ctx.measureText(label).width + 8;
        const th = parseInt(ctx.font, 10) + 6;
        const ly = y - th >= 0 ? y - th : y;
        ctx.fillStyle = color;
        ctx.fillRect(x - line / 2, ly, tw, th);
        ctx.fillStyle = '#000';
        ctx.fillText(label, x + 4 - line / 2, ly + 3);
        drawn.push(label);
      }
    }
    if (!img) {
      ctx.fillStyle = '#aaa';
      ctx.font = '14px system-ui, sans-serif';
      ctx.textBaseline = 'bottom';
      ctx.fillText('waiting for a frame…', 10, h - 10);
    }
    canvas.dataset.boxes = String(drawn.length);
    canvas.dataset.labels = drawn.join(' | ');
    canvas.dataset.seq = result ? String(result.seq) : '';
  }

  function renderTracks() {
    const box = $('tracks');
    const r = latestResult(st.camera);
    box.replaceChildren();
    const faces = r ? r.faces : [];
    box.dataset.count = String(faces.length);
    if (!faces.length) {
      box.append(el('p', 'dim', 'No face in view.'));
      return;
    }
    for (const f of faces) {
      const state = r.states.find((x) => x.trackId === f.trackId);
      const card = el('div', 'track');
      card.dataset.track = String(f.trackId);
      const head = el('div', 'track-head');
      const id = el('span', 'track-id', `#${f.trackId}`);
      id.style.background = trackColor(f.trackId);
      const emotion = state ? state.emotion : 'none';
      const stateEl = el('span', 'track-state', emotion);
      stateEl.style.color = emotionColor(emotion);
      head.append(id, stateEl, el('span', 'dim', state && emotion !== 'none' ? `${pct(state.confidence)} · held ${secs(state.heldMs)}` : 'settling…'));
      card.append(head);
      r.labels.forEach((label, i) => {
        const p = f.probs[i] || 0;
        const row = el('div', 'bar-row');
        const bar = el('div', 'bar');
        const fill = el('div', 'bar-fill');
        fill.style.width = `${(p * 100).toFixed(1)}%`;
        fill.style.background = emotionColor(label);
        bar.append(fill);
        row.append(el('span', 'bar-label', label), bar, el('span', 'bar-value', pct(p)));
        card.append(row);
      });
      box.append(card);
    }
  }

  function renderStats() {
    const s = st.stats.get(st.camera);
    const out = $('stats');
    if (!s) {
      out.textContent = '– fps';
      return;
    }
    const parts = [`${s.fps.toFixed(1)} fps`];
    // Capture to result = the time a frame waited before work began + the work (detect and classify are part of it).
    if (s.latencyMs !== null) parts.push(`latency ${Math.round(s.latencyMs)} ms = waited ${Math.round(s.frameAgeMs)} + work ${Math.round(s.processMs)} (detect ${Math.round(s.detectMs)}, classify ${Math.round(s.classifyMs)})`);
    if (s.source) parts.push(`source ${s.source.state}${s.source.reason ? ': ' + s.source.reason : ''}`);
    if (s.paused) parts.push('PAUSED');
    out.textContent = parts.join(' · ');
    out.dataset.fps = String(s.fps);
    out.classList.toggle('warn', s.paused || (s.source && s.source.state !== 'running'));
  }

  function addEvent(e) {
    st.events++;
    const list = $('timeline');
    const li = el('li');
    li.dataset.type = e.eventType;
    const dot = el('span', 'dot');
    dot.style.background = emotionColor(e.eventType);
    const time = new Date(e.wallMs).toLocaleTimeString([], { hour12: false });
    li.append(
      el('time', 'dim', time),
      dot,
      el('span', 'ev-main', `#${e.trackId} ${e.previous} → ${e.eventType}`),
      el('span', 'dim', `${pct(e.confidence)}${st.cameras.length > 1 ? ' · ' + e.cameraId : ''}`),
    );
    list.prepend(li);
    while (list.children.length > TIMELINE_MAX) list.lastElementChild.remove();
    list.dataset.count = String(st.events);
  }

  function setModel(m) {
    const pill = $('model');
    if (!m) return;
    pill.textContent = `${m.name} ${m.version} · ${m.engine}`;
    pill.title = `sha256 ${m.sha256}\nlabels: ${m.labels.join(', ')}`;
    pill.dataset.engine = m.engine;
    st.labels = m.labels;
  }

  function setConn(state, text) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = text;
    c.classList.toggle('off', state !== 'live');
  }

  // ---- live updates ----------------------------------------------------------------------------------------------

  function onResult(r) {
    let ring = st.ring.get(r.cameraId);
    if (!ring) st.ring.set(r.cameraId, (ring = []));
    ring.push(r);
    if (ring.length > RING) ring.shift();
    st.results++;
    canvas.dataset.results = String(st.results);
    if (r.cameraId === st.camera) {
      render();
      renderTracks();
    }
  }

  function onHello(h) {
    $('agent').textContent = h.agentId;
    st.cameras = h.cameras;
    const sel = $('camera');
    sel.replaceChildren(...h.cameras.map((c) => {
      const o = el('option', '', c.name === c.id ? c.id : `${c.name} (${c.id})`);
      o.value = c.id;
      return o;
    }));
    if (!h.cameras.some((c) => c.id === st.camera)) st.camera = h.cameras.length ? h.cameras[0].id : null;
    sel.value = st.camera || '';
    // Privacy: say plainly which cameras send pictures off the device.
    const snapping = h.cameras.filter((c) => c.snapshot).map((c) => c.id);
    const note = $('snapshot-note');
    note.hidden = snapping.length === 0;
    note.textContent = snapping.length ? `Snapshots ON for ${snapping.join(', ')}: a picture of each emotion event is published to MQTT (snapshot.enabled).` : '';
    setModel(h.model);
    // History is sent again on every (re)connect: start the timeline afresh.
    $('timeline').replaceChildren();
    st.events = 0;
    for (const e of h.events) addEvent(e);
    for (const r of h.results) onResult(r);
    for (const s of h.stats) st.stats.set(s.cameraId, s);
    renderStats();
    render();
    renderTracks();
  }

  function connect() {
    const es = new EventSource(withToken('/events'));
    es.addEventListener('hello', (m) => {
      setConn('live', 'live');
      onHello(JSON.parse(m.data));
    });
    es.addEventListener('result', (m) => onResult(JSON.parse(m.data)));
    es.addEventListener('event', (m) => addEvent(JSON.parse(m.data)));
    es.addEventListener('model', (m) => setModel(JSON.parse(m.data)));
    es.addEventListener('stats', (m) => {
      for (const s of JSON.parse(m.data)) st.stats.set(s.cameraId, s);
      renderStats();
    });
    es.onerror = () => setConn('reconnecting', es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…');
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function frameLoop() {
    for (;;) {
      if (document.hidden || !st.camera) {
        await sleep(500);
        continue;
      }
      const started = performance.now();
      const cam = st.camera;
      try {
        const res = await fetch(withToken('/frame.jpg?camera=' + encodeURIComponent(cam)), { cache: 'no-store' });
        if (res.ok) {
          const url = URL.createObjectURL(await res.blob());
          const img = new Image();
          img.src = url;
          await img.decode();
          URL.revokeObjectURL(url);
          if (cam === st.camera) {
            st.image = {
              el: img, cameraId: cam,
              seq: Number(res.headers.get('x-frame-seq')),
              frameWidth: Number(res.headers.get('x-frame-width')) || img.naturalWidth,
              frameHeight: Number(res.headers.get('x-frame-height')) || img.naturalHeight,
            };
            st.frames++;
            canvas.dataset.frames = String(st.frames);
            $('frame-note').textContent = '';
            render();
          }
        } else {
          $('frame-note').textContent = (await res.text()).trim();
          await sleep(1000);
        }
      } catch (err) {
        $('frame-note').textContent = `frame request failed: ${err && err.message ? err.message : err}`;
        await sleep(1000);
      }
      const spent = performance.now() - started;
      if (spent < FRAME_INTERVAL_MS) await sleep(FRAME_INTERVAL_MS - spent);
    }
  }

  $('camera').addEventListener('change', (e) => {
    st.camera = e.target.value;
    st.image = null;
    render();
    renderTracks();
    renderStats();
  });

  fetch(withToken('/config'), { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((c) => { $('config').textContent = JSON.stringify(c, null, 2); })
    .catch((err) => { $('config').textContent = `cannot load /config: ${err.message}`; });

  render();
  connect();
  frameLoop();
})();
