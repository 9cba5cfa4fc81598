// RingKernel dashboard: live data from Server-Sent Events (/api/events), actions over the WebSocket
// (/api/ws). No external libraries, so the page works offline. A token can be given as #token=... in the URL.
'use strict';
(function () {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const auth = token ? '&access_token=' + encodeURIComponent(token) : '';
  const $ = (id) => document.getElementById(id);
  const history = { rate: [], p50: [], p99: [] };
  const HISTORY = 120;
  let last = null;       // previous stats snapshot, for rates
  let eventsSeen = 0;
  let ws = null;
  let nextId = 1;

  function fmt(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n));
  }
  function us(ns) { return (ns / 1000).toFixed(ns < 10000 ? 1 : 0); }

  function push(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.shift(); }

  function draw(canvas, series, colors) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    let max = 1;
    for (const s of series) for (const v of s) max = Math.max(max, v);
    ctx.strokeStyle = '#2a3440';
    ctx.fillStyle = '#8b98a5';
    ctx.font = '11px sans-serif';
    for (let i = 0; i <= 4; i++) {
      const y = h - 16 - (h - 24) * i / 4;
      ctx.beginPath(); ctx.moveTo(40, y); ctx.lineTo(w, y); ctx.stroke();
      ctx.fillText(fmt(max * i / 4), 2, y + 4);
    }
    series.forEach((s, k) => {
      ctx.strokeStyle = colors[k];
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.forEach((v, i) => {
        const x = 40 + (w - 44) * i / (HISTORY - 1);
        const y = h - 16 - (h - 24) * v / max;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    });
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderActors(actors) {
    const body = $('actors').tBodies[0];
    body.textContent = '';
    for (const a of actors) {
      const tr = document.createElement('tr');
      tr.dataset.actor = a.name;
      cell(tr, a.id);
      cell(tr, a.name);
      cell(tr, a.state + (a.suspended ? ' (suspended)' : ''), 'state-' + a.state);
      cell(tr, fmt(a.metrics.processed), 'processed');
      cell(tr, fmt(a.metrics.received));
      cell(tr, a.metrics.queue_depth + ' / ' + a.metrics.queue_capacity);
      cell(tr, fmt(a.metrics.errors));
      cell(tr, fmt(a.metrics.restarts));
      cell(tr, us(a.metrics.handler_p99_ns) + ' µs');
      const td = cell(tr, '');
      if (a.state === 'active' || a.state === 'deactivated') {
        const b = document.createElement('button');
        const action = a.state === 'active' ? 'deactivate' : 'activate';
        b.textContent = action;
        b.onclick = () => command({ op: 'lifecycle', actor: a.id, action });
        td.appendChild(b);
      }
      body.appendChild(tr);
    }
  }

  function onStats(s) {
    const r = s.runtime;
    $('backend').textContent = 'backend ' + s.backend + ' · ' + s.workers + ' workers';
    if (last && s.time_ms > last.time_ms) {
      const rate = (r.messages_processed - last.runtime.messages_processed) * 1000 / (s.time_ms - last.time_ms);
      push(history.rate, Math.max(0, rate));
      $('rate').textContent = fmt(rate);
    }
    push(history.p50, r.call_p50_ns / 1000);
    push(history.p99, r.call_p99_ns / 1000);
    $('processed').textContent = fmt(r.messages_processed);
    $('latency').textContent = us(r.call_p50_ns) + ' / ' + us(r.call_p99_ns) + ' µs';
    $('live').textContent = r.actors_live;
    $('restarts').textContent = fmt(r.restarts);
    $('deadletters').textContent = fmt(r.dead_letters);
    renderActors(s.actors);
    draw($('chart-rate'), [history.rate], ['#81c784']);
    draw($('chart-latency'), [history.p50, history.p99], ['#4fc3f7', '#ffb74d']);
    last = s;
  }

  function log(kind, text) {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    const ol = $('log');
    ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > 200) ol.removeChild(ol.lastChild);
  }

  function count() { eventsSeen++; $('events').textContent = fmt(eventsSeen); }

  function connectEvents() {
    const es = new EventSource('api/events?topics=lifecycle,stats,reply,error,custom,pubsub,gap' + auth);
    es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'pill ok'; };
    es.onerror = () => { $('conn').textContent = 'reconnecting'; $('conn').className = 'pill bad'; };
    es.addEventListener('stats', (e) => { count(); onStats(JSON.parse(e.data)); });
    es.addEventListener('lifecycle', (e) => {
      count();
      const d = JSON.parse(e.data);
      log(d.kind, '#' + d.id + ' ' + d.kind + ' ' + d.name + (d.detail ? ' — ' + d.detail : ''));
    });
    for (const kind of ['reply', 'error', 'custom', 'pubsub']) {
      es.addEventListener(kind, (e) => { count(); const d = JSON.parse(e.data); log(kind, '#' + d.id + ' ' + d.topic + ' ' + e.data.slice(0, 160)); });
    }
    es.addEventListener('gap', (e) => log('error', 'missed ' + JSON.parse(e.data).missed + ' events (slow connection)'));
  }

  function command(cmd) {
    if (!ws || ws.readyState !== WebSocket.OPEN) { log('error', 'WebSocket not connected'); return; }
    cmd.id = nextId++;
    ws.send(JSON.stringify(cmd));
  }

  function connectWs() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
                location.pathname.replace(/[^/]*$/, '') + 'api/ws' + (token ? '?access_token=' + encodeURIComponent(token) : '');
    ws = new WebSocket(url);
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'error') log('error', 'command ' + m.id + ': ' + m.code + ' — ' + m.message);
      else if (m.type === 'ack' && m.op === 'lifecycle') log('ack', 'command ' + m.id + ': ' + m.action + ' → ' + m.state);
    };
    ws.onclose = () => setTimeout(connectWs, 2000);
  }

  function pollReady() {
    fetch('health/ready').then((r) => r.json().then((j) => {
      $('ready').textContent = r.ok ? 'ready' : 'not ready: ' + (j.reasons || []).join('; ');
      $('ready').className = 'pill ' + (r.ok ? 'ok' : 'bad');
    })).catch(() => { $('ready').textContent = 'unreachable'; $('ready').className = 'pill bad'; });
  }

  connectEvents();
  connectWs();
  pollReady();
  setInterval(pollReady, 5000);
})();
