// The redaction review screen (templates/review.html): draws the original with its regions,
// edits them through the server's review (POST .../review/op, answered with the new state),
// plays frames by index (POST .../review/frame: the server records each frame it serves as
// shown). Plain ES module, no inline code: the page's CSP allows only 'self' scripts.
//
// Frame exactness: a frame's regions are drawn only for the frame that is on the canvas
// (`drawn`), never for the one requested; one frame request at a time, and every frame
// fetched is drawn (a frame the server recorded as shown was really on screen).
//
// Windowed state: the page and every edit's answer carry the tracks' summaries (timeline
// spans, no keys) and the keys of a window of frames around the current one (`S.window`);
// GET .../review/keys?first=&last= answers another window. The next window is asked for
// before the player reaches the edge of the one loaded, and a frame is put on the canvas only
// once its keys are loaded (its regions are drawn with it, never from another frame's keys).

const root = document.getElementById('review');
if (root) init(root);

function init(root) {
  const base = root.dataset.base;
  const csrf = root.dataset.csrf;
  let S = JSON.parse(root.dataset.state);
  const W = S.media.width, H = S.media.height, N = S.media.frames;
  const fps = Math.min(Math.max(S.media.fps || 25, 1), 60);
  const video = S.kind === 'video';
  const $ = (id) => document.getElementById(id);
  for (const id of ['rv-toolbar', 'rv-player', 'rv-stage', 'rv-legend', 'rv-timeline']) {
    if ($(id)) $(id).hidden = false;
  }
  const canvas = $('rv-canvas');
  const g2 = canvas.getContext('2d');
  const svg = $('rv-overlay');
  const NS = 'http://www.w3.org/2000/svg';

  let drawn = -1;            // the frame on the canvas
  let want = 0;              // the frame last asked for (keys step from it, not from drawn)
  let view = 'original';     // or 'redacted' (as saving now would render it)
  let tool = 'box';
  let sel = null;            // {type: 'track' | 'suggestion', id}
  let playing = false;
  let pending = null;
  let pumping = null;
  let pendingReject = null;
  let mergeFrom = null;
  const shown = new Set(S.shown);
  let tracks = [];           // S.tracks with lookup helpers
  let attention = [];        // spans [first, last] worth a look (gaps, low scores, suggestions), sorted
  let win = S.window;        // {first, last, tracks: {id: {keys, removed}}, suggestions: {id: regions}}
  let gen = 0;               // bumped by every edit's answer: older windows are stale
  let loading = null;        // {first, last, gen, promise} of the window being fetched
  const RADIUS = 150, MARGIN = 60;

  // -- server -----------------------------------------------------------------------------------

  function post(path, body) {
    return fetch(base + path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    });
  }

  function say(text, bad) {
    const m = $('rv-msg');
    m.textContent = text || '';
    m.classList.toggle('bad', !!bad);
  }

  // Edits run one after the other, each computed when its turn comes (a key held down must
  // move the region from where the previous edit left it, not from a stale copy).
  let opChain = Promise.resolve();
  function op(body, after) {
    const p = opChain.then(async () => {
      const b = typeof body === 'function' ? body() : body;
      if (!b) return false;
      const ok = await doOp(b);
      if (ok && after) after();
      return ok;
    });
    opChain = p.catch(() => false);
    return p;
  }

  async function doOp(body) {
    let r;
    try {
      r = await post('/op', { ...body, at: Math.max(drawn, 0) });
    } catch (e) {
      say('the server did not answer: ' + e, true);
      return false;
    }
    let d = null;
    try { d = await r.json(); } catch (e) { d = null; }
    if (!r.ok || !d || d.error) {
      say((d && d.error) || ('refused (' + r.status + ')'), true);
      return false;
    }
    S = d;
    gen++;
    win = S.window;
    for (const f of S.shown) shown.add(f);
    say('');
    renderAll();
    return true;
  }

  // -- windows of keys -------------------------------------------------------------------------

  const covers = (f) => !!win && f >= win.first && f <= win.last;

  function mergeWindow(d) {
    const joins = win && d.first <= win.last + 1 && d.last >= win.first - 1
      && Math.max(win.last, d.last) - Math.min(win.first, d.first) <= 6 * RADIUS;
    if (!joins) { win = d; return; }
    const tr = {};
    for (const [id, t] of Object.entries(d.tracks)) {
      const old = win.tracks[id] || { keys: {}, removed: [] };
      tr[id] = { keys: { ...old.keys, ...t.keys }, removed: [...new Set([...old.removed, ...t.removed])] };
    }
    const sg = {};
    for (const [id, rs] of Object.entries(d.suggestions)) {
      const old = (win.suggestions[id] || []).filter((r) => r[0] < d.first || r[0] > d.last);
      sg[id] = old.concat(rs);
    }
    win = { first: Math.min(win.first, d.first), last: Math.max(win.last, d.last), tracks: tr, suggestions: sg };
  }

  // Fetch the keys of frames first..last (merged with the window loaded when they join).
  function loadWindow(first, last) {
    first = Math.max(0, first); last = Math.min(N - 1, last);
    if (loading && loading.gen === gen && loading.first <= first && loading.last >= last) return loading.promise;
    const g = gen;
    const promise = (async () => {
      let d = null;
      try {
        const r = await fetch(base + '/keys?first=' + first + '&last=' + last, { credentials: 'same-origin', cache: 'no-store' });
        d = await r.json();
        if (!r.ok || d.error) { say((d && d.error) || ('keys refused (' + r.status + ')'), true); return false; }
      } catch (e) {
        say('the server did not answer: ' + e, true);
        return false;
      }
      if (g !== gen) return false;   // an edit answered meanwhile: its window is newer
      mergeWindow(d);
      prepare();
      return true;
    })();
    loading = { first, last, gen: g, promise };
    promise.finally(() => { if (loading && loading.promise === promise) loading = null; });
    return promise;
  }

  // Resolves once frame n's keys are loaded (false when the server refused).
  async function ensure(n) {
    for (let i = 0; i < 3 && !covers(n); i++) {
      if (loading && loading.gen === gen && loading.first <= n && loading.last >= n) await loading.promise;
      else await loadWindow(n - RADIUS, n + RADIUS);
    }
    return covers(n);
  }

  // Ask for the next window before the player reaches the edge of the loaded one.
  function ahead(n) {
    if (!win || loading || !covers(n)) return;
    if (n + MARGIN > win.last && win.last < N - 1) loadWindow(n, n + 2 * RADIUS);
    else if (n - MARGIN < win.first && win.first > 0) loadWindow(n - 2 * RADIUS, n);
  }

  // -- frames -----------------------------------------------------------------------------------

  async function fetchDraw(n) {
    let r;
    try {
      r = await post('/frame', { n, view });
    } catch (e) {
      say('the server did not answer: ' + e, true);
      return;
    }
    if (!r.ok) {
      let msg = 'frame refused (' + r.status + ')';
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      say(msg, true);
      return;
    }
    const bmp = await createImageBitmap(await r.blob());
    // The frame goes on the canvas with its own regions: wait for its keys (a jump, or a
    // window not fetched in time).
    if (!(await ensure(n))) say('the regions of frame ' + n + ' could not be loaded: none are drawn', true);
    g2.drawImage(bmp, 0, 0, W, H);
    bmp.close();
    drawn = n;
    canvas.dataset.frame = String(n);
    canvas.dataset.view = view;
    if (view === 'original') shown.add(n);
    if ($('rv-frame-no')) $('rv-frame-no').textContent = String(n);
    if ($('rv-seek')) $('rv-seek').value = String(n);
    if ($('rv-shown-count')) $('rv-shown-count').textContent = 'shown ' + shown.size + ' / ' + N;
    renderOverlay();
    if (view === 'original') renderShown(n);
    renderCursor();
    ahead(n);
  }

  async function pump() {
    while (pending !== null) {
      const n = pending;
      pending = null;
      await fetchDraw(n);
    }
  }

  // Ask for frame n; resolves once the newest asked-for frame is on the canvas.
  function goto(n) {
    pending = Math.max(0, Math.min(N - 1, n | 0));
    want = pending;
    if (!pumping) pumping = pump().finally(() => { pumping = null; });
    return pumping;
  }

  async function play() {
    if (playing) { playing = false; return; }
    playing = true;
    $('rv-play').textContent = 'Pause';
    if (drawn >= N - 1) await goto(0);
    while (playing && drawn < N - 1) {
      const t0 = performance.now();
      await goto(drawn + 1);
      const wait = 1000 / fps - (performance.now() - t0);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    playing = false;
    $('rv-play').textContent = 'Play';
  }

  // -- tracks -----------------------------------------------------------------------------------

  // A track: its summary (S.tracks) with the keys of the loaded window (win.tracks).
  function prepare() {
    tracks = S.tracks.map((t) => {
      const w = (win && win.tracks[t.id]) || { keys: {}, removed: [] };
      const kf = Object.keys(w.keys).map(Number).sort((a, b) => a - b);
      return { ...t, keys: w.keys, kf, kfFull: kf.filter((k) => w.keys[k].length), removedSet: new Set(w.removed) };
    });
  }

  const reg = (r) => ({ shape: r[0], box: [r[1], r[2], r[3], r[4]], source: r[5], score: r[6] });

  // Mirrors ReviewTrack.regions_at (src/witnessbox/redact/review.py), for a frame of the
  // loaded window (which holds the nearest key on each side of it).
  function regionsAt(t, f) {
    if (!covers(f)) return [];
    if (f < t.start || f > t.end || t.removedSet.has(f)) return [];
    const k = t.keys[f];
    if (k && k.length) return k.map(reg);
    let before = null, after = null;
    for (const x of t.kfFull) {
      if (x < f) before = x;
      else if (x > f) { after = x; break; }
    }
    if (before === null && after === null) return [];
    const source = t.origin === 'detector' ? 'track' : 'manual';
    const score = source === 'track' ? 0 : 1;
    if (before !== null && after !== null) {
      const a = reg(t.keys[before][0]), b = reg(t.keys[after][0]);
      const s = (f - before) / (after - before);
      return [{ shape: a.shape, box: a.box.map((v, i) => v + (b.box[i] - v) * s), source, score }];
    }
    const r = reg(t.keys[before !== null ? before : after][0]);
    return [{ shape: r.shape, box: r.box, source, score }];
  }

  // -- drawing ----------------------------------------------------------------------------------

  function shapeEl(r, cls, data) {
    const [x0, y0, x1, y1] = r.box;
    let el;
    if (r.shape === 'ellipse') {
      el = document.createElementNS(NS, 'ellipse');
      el.setAttribute('cx', (x0 + x1) / 2); el.setAttribute('cy', (y0 + y1) / 2);
      el.setAttribute('rx', Math.abs(x1 - x0) / 2); el.setAttribute('ry', Math.abs(y1 - y0) / 2);
    } else {
      el = document.createElementNS(NS, 'rect');
      el.setAttribute('x', Math.min(x0, x1)); el.setAttribute('y', Math.min(y0, y1));
      el.setAttribute('width', Math.abs(x1 - x0)); el.setAttribute('height', Math.abs(y1 - y0));
    }
    el.setAttribute('class', cls);
    for (const [k, v] of Object.entries(data)) el.dataset[k] = v;
    return el;
  }

  function setBox(el, box) {
    const [x0, y0, x1, y1] = box;
    if (el.tagName === 'ellipse') {
      el.setAttribute('cx', (x0 + x1) / 2); el.setAttribute('cy', (y0 + y1) / 2);
      el.setAttribute('rx', Math.abs(x1 - x0) / 2); el.setAttribute('ry', Math.abs(y1 - y0) / 2);
    } else {
      el.setAttribute('x', Math.min(x0, x1)); el.setAttribute('y', Math.min(y0, y1));
      el.setAttribute('width', Math.abs(x1 - x0)); el.setAttribute('height', Math.abs(y1 - y0));
    }
  }

  const hsize = () => Math.max(4, Math.round(Math.min(W, H) / 60));

  function renderOverlay() {
    svg.replaceChildren();
    if (drawn < 0 || view === 'redacted') return;
    if (!covers(drawn)) {
      // Never draw regions from another frame's keys: fetch this frame's, then draw.
      svg.dataset.keys = 'missing';
      const n = drawn;
      ensure(n).then((ok) => { if (ok && drawn === n) renderOverlay(); });
      return;
    }
    svg.dataset.keys = 'loaded';
    const frag = document.createDocumentFragment();
    let selEl = null, selBox = null;
    for (const t of tracks) {
      for (const r of regionsAt(t, drawn)) {
        const isSel = sel && sel.type === 'track' && sel.id === t.id;
        const cls = 'rg ' + r.source + (t.decision === 'rejected' ? ' rejected' : '') + (isSel ? ' selected' : '');
        const el = shapeEl(r, cls, { track: t.id });
        frag.appendChild(el);
        if (isSel && !selEl) { selEl = el; selBox = r.box; }
      }
    }
    for (const s of S.suggestions) {
      if (s.decision) continue;
      for (const r of (win.suggestions[s.id] || [])) {
        if (r[0] !== drawn) continue;
        const isSel = sel && sel.type === 'suggestion' && sel.id === s.id;
        frag.appendChild(shapeEl(reg(r.slice(1)), 'rg suggestion' + (isSel ? ' selected' : ''), { suggestion: s.id }));
      }
    }
    svg.appendChild(frag);
    if (selEl) {
      const h = document.createElementNS(NS, 'rect');
      const hs = hsize();
      h.setAttribute('class', 'handle');
      h.setAttribute('x', selBox[2] - hs / 2); h.setAttribute('y', selBox[3] - hs / 2);
      h.setAttribute('width', hs); h.setAttribute('height', hs);
      h.dataset.handle = sel.id;
      svg.appendChild(h);
    }
  }

  // -- timeline ---------------------------------------------------------------------------------
  //
  // One canvas per row (a 10-minute clip's tracks have ~150k runs: as SVG elements they took
  // seconds to build and made every step re-lay them out); the cursor is one element over all
  // rows and the shown row is painted a frame at a time, so a step redraws no row.

  const KINDS = { s: 'sighting', k: 'key', l: 'low', i: 'interpolated', h: 'held', e: 'empty' };
  const COLOURS = {
    sighting: '#2a2', key: '#06c', interpolated: '#9cf', held: '#ccc', empty: '#fff', low: '#d00',
    keymark: '#000', gap: '#fff', edge: '#f90', shown: '#6a6', ground: '#eee',
  };
  const ON_TOP = new Set(['low', 'empty']);   // painted after the others, at least a pixel wide

  // A track's timeline runs ("s12l1i40": kind letter, length; from its first frame) as
  // [kind, first, last] spans (docs/review-screen.md).
  // Decoded once per text (an edit's answer repeats the unchanged tracks' timelines).
  const spanCache = new Map();
  function spans(t) {
    const key = t.start + ':' + t.timeline;
    let out = spanCache.get(key);
    if (out) return out;
    out = [];
    let f = t.start;
    for (const m of t.timeline.matchAll(/([a-z])(\d+)/g)) {
      const n = Number(m[2]);
      out.push([KINDS[m[1]] || 'held', f, f + n - 1]);
      f += n;
    }
    if (spanCache.size > 4 * (S.tracks.length + 10)) spanCache.clear();
    spanCache.set(key, out);
    return out;
  }

  function rowCanvas() {
    const c = document.createElement('canvas');
    c.className = 'tl';
    c.height = 14;
    return c;
  }

  // Size a row's canvas to its box (device pixels; `w` when measured already) and return
  // [context, pixels per frame], the row cleared.
  function sized(c, w) {
    if (w === undefined) w = Math.max(1, Math.round(c.clientWidth * (window.devicePixelRatio || 1)));
    if (c.width !== w) c.width = w;
    const g = c.getContext('2d');
    g.fillStyle = COLOURS.ground;
    g.fillRect(0, 0, c.width, c.height);
    return [g, c.width / N];
  }

  function paint(g, px, colour, a, b, y0 = 0, y1 = 1, min = 0) {
    const h = g.canvas.height;
    const x = a * px;
    g.fillStyle = colour;
    g.fillRect(x, y0 * h, Math.max((b + 1 - a) * px, min), (y1 - y0) * h);
  }

  function renderTimeline() {
    const box = $('rv-timeline');
    if (!box) return;
    box.replaceChildren();
    const att = [];
    const shownRow = document.createElement('div');
    shownRow.className = 'row';
    const lab0 = document.createElement('span');
    lab0.className = 'lab';
    lab0.textContent = 'shown';
    const c0 = rowCanvas();
    c0.id = 'rv-shown-line';
    shownRow.append(lab0, c0);
    box.appendChild(shownRow);
    const rows = [];
    for (const t of tracks) {
      const row = document.createElement('div');
      row.className = 'row' + (sel && sel.type === 'track' && sel.id === t.id ? ' selected' : '');
      row.dataset.track = t.id;
      const lab = document.createElement('span');
      lab.className = 'lab';
      lab.textContent = t.id + (t.decision ? ' ' + (t.decision === 'accepted' ? '✓' : '✗') : ' ?');
      const c = rowCanvas();
      row.append(lab, c);
      row.addEventListener('click', (e) => {
        sel = { type: 'track', id: t.id };
        const bb = c.getBoundingClientRect();
        const f = Math.floor(((e.clientX - bb.left) / bb.width) * N);
        renderAll();
        goto(Number.isFinite(f) ? f : t.start);
      });
      box.appendChild(row);
      rows.push([t, c]);
    }
    const cur = document.createElement('div');
    cur.className = 'rv-cursor';
    cur.id = 'rv-cursor';
    cur.hidden = true;
    box.appendChild(cur);
    // Paint once every row is in the page: every width is read first (one layout), then set.
    const dpr = window.devicePixelRatio || 1;
    const widths = rows.map(([, c]) => Math.max(1, Math.round(c.clientWidth * dpr)));
    rows.forEach(([t, c], ri) => {
      const [g, px] = sized(c, widths[ri]);
      const sp = spans(t);
      for (const [k, a, b] of sp) {
        if (!ON_TOP.has(k)) paint(g, px, COLOURS[k], a, b);
        if (k === 'interpolated' || k === 'empty' || k === 'low') att.push([a, b]);
      }
      for (const [k, a, b] of sp) {
        if (!ON_TOP.has(k)) continue;
        paint(g, px, COLOURS[k], a, b, 0, 1, 1);
        if (k === 'empty') paint(g, px, COLOURS.edge, a, b, 0.75, 1, 1);
      }
      for (const k of t.marks) paint(g, px, COLOURS.keymark, k, k, 0, 1, 1);
      for (const s of S.suggestions) {
        if (s.kind === 'gap' && s.track === t.id) paint(g, px, COLOURS.edge, s.first, s.last, 0.6, 1, 1);
      }
    });
    for (const g of S.suggestions) {
      if (!g.decision) att.push([g.first, g.last]);
    }
    attention = att.sort((a, b) => a[0] - b[0]);
    renderShown();
    renderCursor();
  }

  // The frames shown to this reviewer, all of them (a new timeline) or one more (a step).
  function renderShown(n) {
    const c = $('rv-shown-line');
    if (!c) return;
    if (n !== undefined && c.width > 1) {
      paint(c.getContext('2d'), c.width / N, COLOURS.shown, n, n);
      return;
    }
    const [g, px] = sized(c);
    const arr = [...shown].sort((a, b) => a - b);
    let i = 0;
    while (i < arr.length) {
      let j = i;
      while (j + 1 < arr.length && arr[j + 1] === arr[j] + 1) j++;
      paint(g, px, COLOURS.shown, arr[i], arr[j]);
      i = j + 1;
    }
  }

  function renderCursor() {
    const cur = $('rv-cursor');
    const c = $('rv-shown-line');
    if (!cur || !c) return;
    cur.hidden = drawn < 0;
    if (drawn < 0) return;
    // CSSOM (not a style attribute): allowed by the page's CSP.
    cur.style.left = (c.offsetLeft + ((drawn + 0.5) / N) * c.offsetWidth - 1) + 'px';
  }

  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(renderTimeline, 150);
  });

  function cell(tr, text) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function button(label, fn) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', (e) => { e.stopPropagation(); fn(); });
    return b;
  }

  function renderLists() {
    const tb = $('rv-tracks').tBodies[0];
    tb.replaceChildren();
    for (const t of tracks) {
      const tr = document.createElement('tr');
      tr.dataset.track = t.id;
      tr.className = (t.decision ? '' : 'undecided') + (sel && sel.type === 'track' && sel.id === t.id ? ' selected' : '');
      cell(tr, t.id);
      cell(tr, t.origin);
      cell(tr, video ? t.start + '–' + t.end : '');
      cell(tr, String(t.best_score));
      cell(tr, (t.decision || 'undecided') + (t.reason ? ': ' + t.reason : ''));
      const td = cell(tr, '');
      td.append(button('Hide (accept)', () => op({ op: 'accept', track: t.id })),
        button('Leave visible (reject)', () => reject({ type: 'track', id: t.id })));
      tr.addEventListener('click', () => select({ type: 'track', id: t.id }, true));
      tb.appendChild(tr);
    }
    const sb = $('rv-suggestions').tBodies[0];
    sb.replaceChildren();
    for (const s of S.suggestions) {
      const tr = document.createElement('tr');
      tr.dataset.suggestion = s.id;
      tr.className = (s.decision ? '' : 'undecided') + (sel && sel.type === 'suggestion' && sel.id === s.id ? ' selected' : '');
      cell(tr, s.id);
      cell(tr, s.kind);
      cell(tr, s.first + '–' + s.last);
      cell(tr, String(s.score));
      cell(tr, (s.decision || 'undecided') + (s.reason ? ': ' + s.reason : ''));
      const td = cell(tr, '');
      td.append(button('Hide', () => op({ op: 'hide_suggestion', suggestion: s.id })),
        button('Dismiss', () => reject({ type: 'suggestion', id: s.id })));
      tr.addEventListener('click', () => select({ type: 'suggestion', id: s.id }, true));
      sb.appendChild(tr);
    }
    const bl = $('rv-blockers');
    bl.replaceChildren();
    const blockers = S.status.blockers;
    for (const b of blockers) {
      const li = document.createElement('li');
      li.textContent = b;
      bl.appendChild(li);
    }
    if (!blockers.length) {
      const li = document.createElement('li');
      li.className = 'ok';
      li.textContent = 'Ready to approve';
      bl.appendChild(li);
    }
    $('rv-undo').disabled = !S.can_undo;
    $('rv-redo').disabled = !S.can_redo;
  }

  function renderAll() {
    prepare();
    if (sel && sel.type === 'track' && !tracks.some((t) => t.id === sel.id)) sel = null;
    renderLists();
    renderTimeline();
    renderOverlay();
  }

  function select(s, seek) {
    sel = s;
    renderAll();
    if (seek && video) {
      const first = s.type === 'track' ? tracks.find((t) => t.id === s.id)?.start
        : S.suggestions.find((g) => g.id === s.id)?.first;
      if (first !== undefined && first !== null) {
        const t = s.type === 'track' ? tracks.find((x) => x.id === s.id) : null;
        if (!t || drawn < t.start || drawn > t.end) goto(first);
      }
    }
  }

  // -- edits ------------------------------------------------------------------------------------

  function selTrack() {
    return sel && sel.type === 'track' ? tracks.find((t) => t.id === sel.id) : null;
  }

  function addRegion(box, shape) {
    let before = null;
    return op(() => {
      before = new Set(S.tracks.map((t) => t.id));
      return { op: 'add_region', frame: Math.max(drawn, 0), box, shape };
    }, () => {
      const added = S.tracks.find((t) => !before.has(t.id));
      if (added) select({ type: 'track', id: added.id }, false);
    });
  }

  function reject(s) {
    const reason = $('rv-reason').value.trim();
    if (s.type === 'suggestion') {
      op({ op: 'dismiss_suggestion', suggestion: s.id, reason }).then((ok) => { if (ok) $('rv-reason').value = ''; });
      return;
    }
    const t = tracks.find((x) => x.id === s.id);
    if (!reason && t && t.origin === 'detector') {
      pendingReject = s;
      say('Write why this face may stay visible, then press Enter', true);
      $('rv-reason').focus();
      return;
    }
    op({ op: 'reject', track: s.id, reason }).then((ok) => { if (ok) $('rv-reason').value = ''; });
  }

  function nudge(dx0, dy0, dx1, dy1) {
    op(() => {
      const t = selTrack();
      if (!t) { say('select a region first (t, u or a click)', true); return null; }
      const rs = regionsAt(t, drawn);
      if (!rs.length) { say('the selected track has no region on this frame', true); return null; }
      const b = rs[0].box;
      return { op: 'set_key', track: t.id, frame: drawn, box: [b[0] + dx0, b[1] + dy0, b[2] + dx1, b[3] + dy1] };
    });
  }

  function nextTrack(dir) {
    if (!tracks.length) return;
    let i = sel && sel.type === 'track' ? tracks.findIndex((t) => t.id === sel.id) : -1;
    i = (i + dir + tracks.length) % tracks.length;
    select({ type: 'track', id: tracks[i].id }, true);
  }

  function nextUndecided() {
    const t = tracks.find((x) => !x.decision);
    if (t) { select({ type: 'track', id: t.id }, true); return; }
    const s = S.suggestions.find((x) => !x.decision);
    if (s) { select({ type: 'suggestion', id: s.id }, true); return; }
    say('everything is decided');
  }

  function nextAttention() {
    let f;
    for (const [a, b] of attention) {
      if (b > drawn) { const c = Math.max(a, drawn + 1); if (f === undefined || c < f) f = c; }
    }
    if (f === undefined) { say('no gap or low score after this frame'); return; }
    goto(f);
  }

  function nextUnshown() {
    for (let k = 1; k <= N; k++) {
      const f = (drawn + k) % N;
      if (!shown.has(f)) { goto(f); return; }
    }
    say('every frame was shown');
  }

  function toggleView() {
    view = view === 'original' ? 'redacted' : 'original';
    $('rv-view').textContent = view === 'original' ? 'Show redacted copy' : 'Show original';
    goto(Math.max(drawn, 0));
  }

  function setTool(t) {
    tool = t;
    $('rv-tool-box').setAttribute('aria-pressed', String(t === 'box'));
    $('rv-tool-ellipse').setAttribute('aria-pressed', String(t === 'ellipse'));
  }

  function toggleHelp(force) {
    const h = $('rv-help');
    h.hidden = force === undefined ? !h.hidden : !force;
    if (!h.hidden) $('rv-help-close').focus();
  }

  // -- mouse ------------------------------------------------------------------------------------

  function svgPoint(e) {
    const p = svg.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    const q = p.matrixTransform(svg.getScreenCTM().inverse());
    return [q.x, q.y];
  }

  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    if (drawn < 0 || view === 'redacted' || e.button !== 0) return;
    e.preventDefault();
    svg.focus({ preventScroll: true });
    const [x, y] = svgPoint(e);
    const target = e.target;
    svg.setPointerCapture(e.pointerId);
    if (target.dataset && target.dataset.handle) {
      const t = selTrack();
      const r = t && regionsAt(t, drawn)[0];
      if (r) drag = { mode: 'resize', track: t.id, box: r.box.slice(), x, y, el: svg.querySelector('.rg.selected') };
      return;
    }
    if (target.dataset && target.dataset.track) {
      const t = tracks.find((u) => u.id === target.dataset.track);
      if (!sel || sel.id !== t.id) { sel = { type: 'track', id: t.id }; renderAll(); }
      const r = regionsAt(t, drawn)[0];
      drag = { mode: 'move', track: t.id, box: r.box.slice(), x, y, el: svg.querySelector('.rg.selected'), moved: false };
      return;
    }
    if (target.dataset && target.dataset.suggestion) {
      select({ type: 'suggestion', id: target.dataset.suggestion }, false);
      return;
    }
    const el = shapeEl({ shape: tool, box: [x, y, x, y] }, 'draft', {});
    svg.appendChild(el);
    drag = { mode: 'draw', x, y, box: [x, y, x, y], el };
  });

  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const [x, y] = svgPoint(e);
    const dx = x - drag.x, dy = y - drag.y;
    let b;
    if (drag.mode === 'draw') b = [Math.min(drag.x, x), Math.min(drag.y, y), Math.max(drag.x, x), Math.max(drag.y, y)];
    else if (drag.mode === 'move') { b = [drag.box[0] + dx, drag.box[1] + dy, drag.box[2] + dx, drag.box[3] + dy]; drag.moved = true; }
    else b = [drag.box[0], drag.box[1], Math.max(drag.box[0] + 2, drag.box[2] + dx), Math.max(drag.box[1] + 2, drag.box[3] + dy)];
    drag.now = b;
    if (drag.el) setBox(drag.el, b);
    const h = svg.querySelector('.handle');
    if (h && drag.mode !== 'draw') { h.setAttribute('x', b[2] - hsize() / 2); h.setAttribute('y', b[3] - hsize() / 2); }
  });

  svg.addEventListener('pointerup', () => {
    const d = drag;
    drag = null;
    if (!d || !d.now) { if (d && d.el && d.mode === 'draw') d.el.remove(); return; }
    const b = d.now.map((v) => Math.round(v * 10) / 10);
    if (d.mode === 'draw') {
      d.el.remove();
      if (b[2] - b[0] >= 3 && b[3] - b[1] >= 3) addRegion(b, tool);
      return;
    }
    op({ op: 'set_key', track: d.track, frame: drawn, box: b });
  });

  // -- keyboard ---------------------------------------------------------------------------------

  $('rv-reason').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      if (pendingReject) { const s = pendingReject; pendingReject = null; reject(s); }
      svg.focus({ preventScroll: true });
    } else if (e.key === 'Escape') {
      pendingReject = null;
      svg.focus({ preventScroll: true });
    }
  });

  document.addEventListener('keydown', (e) => {
    const tag = (e.target && e.target.tagName) || '';
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(tag) && e.target.type !== 'range') return;
    if (e.target && e.target.tagName === 'BUTTON' && (e.key === ' ' || e.key === 'Enter')) return;
    const step = Math.max(1, Math.round(W / 100)) * (e.shiftKey ? 10 : 1);
    const k = e.key;
    let handled = true;
    if ((e.ctrlKey || e.metaKey) && (k === 's' || k === 'S')) $('rv-save-form').requestSubmit();
    else if ((e.ctrlKey || e.metaKey) && (k === 'z' || k === 'Z')) op({ op: e.shiftKey ? 'redo' : 'undo' });
    else if ((e.ctrlKey || e.metaKey) && k === 'y') op({ op: 'redo' });
    else if (e.ctrlKey || e.metaKey || e.altKey) handled = false;
    else if (k === ' ') { if (video) play(); }
    else if (k === 'ArrowRight') { playing = false; goto(want + (e.shiftKey ? 10 : 1)); }
    else if (k === 'ArrowLeft') { playing = false; goto(want - (e.shiftKey ? 10 : 1)); }
    else if (k === 'g') nextAttention();
    else if (k === 'f') nextUnshown();
    else if (k === 'n' || k === 'N') {
      const s = Math.round(Math.min(W, H) / 6);
      const x = Math.round(W / 2 - s / 2), y = Math.round(H / 2 - s / 2);
      addRegion([x, y, x + s, y + s], k === 'N' ? 'ellipse' : 'box');
    }
    else if (k === 'b') setTool('box');
    else if (k === 'o') setTool('ellipse');
    else if (k === 'i' || k === 'I') nudge(0, -step, 0, -step);
    else if (k === 'k' || k === 'K') nudge(0, step, 0, step);
    else if (k === 'j' || k === 'J') nudge(-step, 0, -step, 0);
    else if (k === 'l' || k === 'L') nudge(step, 0, step, 0);
    else if (k === '[') nudge(step, step, -step, -step);
    else if (k === ']') nudge(-step, -step, step, step);
    else if (k === 't') nextTrack(1);
    else if (k === 'T') nextTrack(-1);
    else if (k === 'u') nextUndecided();
    else if (k === 'a' && sel) {
      let was = null;
      op(() => {
        was = sel;
        return sel ? (sel.type === 'track' ? { op: 'accept', track: sel.id } : { op: 'hide_suggestion', suggestion: sel.id }) : null;
      }, () => {
        // A hidden suggestion becomes a track: select it (to extend or move it next).
        const g = was && was.type === 'suggestion' ? S.suggestions.find((x) => x.id === was.id) : null;
        if (g && g.hidden_as) select({ type: 'track', id: g.hidden_as }, false);
      });
    }
    else if (k === 'r' && sel) reject(sel);
    else if (k === 'e' && sel && sel.type === 'track') op(() => (sel ? { op: 'extend', track: sel.id, frame: drawn } : null));
    else if ((k === 'Delete' || k === 'Backspace') && sel && sel.type === 'track') {
      const reason = $('rv-reason').value.trim();
      if (e.shiftKey || !video) op({ op: 'delete_track', track: sel.id, reason });
      else op({ op: 'delete_frame', track: sel.id, frame: drawn, reason });
    }
    else if (k === 'p' && sel && sel.type === 'track') op(() => (sel ? { op: 'split', track: sel.id, frame: drawn } : null));
    else if (k === 'm' && sel && sel.type === 'track') op(() => (sel ? { op: 'make_static', track: sel.id, frame: drawn } : null));
    else if (k === 'M' && sel && sel.type === 'track') {
      // First M marks a track, a second M on another track merges it into the marked one.
      if (!mergeFrom || mergeFrom === sel.id) { mergeFrom = sel.id; say('merge: select the other track and press M'); }
      else { const a = mergeFrom; mergeFrom = null; op({ op: 'merge', track: a, other: sel.id }); }
    }
    else if (k === 'z') op({ op: 'undo' });
    else if (k === 'y') op({ op: 'redo' });
    else if (k === 'v') toggleView();
    else if (k === '?') toggleHelp();
    else if (k === 'Escape') { toggleHelp(false); drag = null; renderOverlay(); }
    else handled = false;
    if (handled) e.preventDefault();
  });

  // -- buttons ----------------------------------------------------------------------------------

  const on = (id, fn) => { if ($(id)) $(id).addEventListener('click', fn); };
  on('rv-view', toggleView);
  on('rv-tool-box', () => setTool('box'));
  on('rv-tool-ellipse', () => setTool('ellipse'));
  on('rv-undo', () => op({ op: 'undo' }));
  on('rv-redo', () => op({ op: 'redo' }));
  on('rv-help-btn', () => toggleHelp());
  on('rv-help-close', () => toggleHelp(false));
  on('rv-play', play);
  on('rv-back10', () => goto(want - 10));
  on('rv-back1', () => goto(want - 1));
  on('rv-fwd1', () => goto(want + 1));
  on('rv-fwd10', () => goto(want + 10));
  on('rv-next-gap', nextAttention);
  on('rv-next-unshown', nextUnshown);
  if ($('rv-seek')) $('rv-seek').addEventListener('input', (e) => goto(Number(e.target.value)));

  renderAll();
  root.dataset.ready = '1';
  goto(0).then(() => { root.dataset.loaded = '1'; svg.focus({ preventScroll: true }); });
}
