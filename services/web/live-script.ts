// The pages' only JavaScript, served by the web app itself at
// /assets/live.js (no CDN: Berth runs offline). It adds live updates
// to pages that work without it: a build's log follows its SSE stream, and
// the app page's log tail starts on a click. Every line is added as a text
// node, never as HTML. Each stream is closed at its `end` event so the
// browser does not reconnect to something finished.
//
// Reconnecting: an EventSource reconnects by itself only after a network
// error (resuming after the last line it saw, by Last-Event-ID). An answer
// that is not a stream closes it for good, and that is what a browser gets
// through the router while Berth's web service restarts: the router's 502.
// So follow() opens a closed stream again, after 1 s, doubling up to 30 s,
// and a page outlives a restart of the web service (seen in the browser
// test: a build's page went silent for good behind the router).
import type { FastifyInstance } from 'fastify';
import { html } from '../core/html.ts';

export const LIVE_JS_PATH = '/assets/live.js';

/** The tag every live page carries. */
export const LIVE_SCRIPT = html`<script src="${LIVE_JS_PATH}" defer></script>`;

export const LIVE_JS = `'use strict';
// Follows an event stream: url() gives the address for each (re)opening,
// on.open/on.<event> handle it. Returns a function that stops following.
function follow(url, on) {
  var es, timer, delay = 1000, stopped = false;
  function open() {
    es = new EventSource(url());
    es.addEventListener('open', function () {
      delay = 1000;
      if (on.open) on.open();
    });
    Object.keys(on).forEach(function (name) {
      if (name !== 'open') es.addEventListener(name, on[name]);
    });
    es.addEventListener('error', function () {
      // CONNECTING: the browser retries by itself. CLOSED: an answer that
      // was not a stream (a 502 while the web service restarts); open anew.
      if (stopped || es.readyState !== EventSource.CLOSED) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  open();
  return function stop() {
    stopped = true;
    clearTimeout(timer);
    es.close();
  };
}

// One build log line, its colours (SGR sequences) as spans of the classes
// services/web/ansi.ts gives the lines rendered at load; text only through
// text nodes, so nothing in a line can become markup.
function appendColoured(log, text) {
  var re = /\\x1b\\[([0-9;]*)m/g, last = 0, m, fg = '', bold = false;
  function put(s) {
    if (!s) return;
    if (!fg && !bold) { log.appendChild(document.createTextNode(s)); return; }
    var span = document.createElement('span');
    span.className = (fg ? 'ansi-' + fg : '') + (bold ? (fg ? ' ' : '') + 'ansi-bold' : '');
    span.textContent = s;
    log.appendChild(span);
  }
  while ((m = re.exec(text))) {
    put(text.slice(last, m.index));
    (m[1] === '' ? ['0'] : m[1].split(';')).forEach(function (code) {
      var c = Number(code);
      if (c === 0) { fg = ''; bold = false; }
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if (c === 39) fg = '';
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) fg = String(c);
    });
    last = re.lastIndex;
  }
  put(text.slice(last).replace(/\\x1b/g, '') + '\\n');
}

// A build's log: #log, with the lines rendered at load counted in data-lines.
(function () {
  var log = document.getElementById('log');
  var state = document.getElementById('build-state');
  if (!log || !window.EventSource || log.dataset.ended === 'true') return;
  // The number of the last line on the page: a stream opened anew resumes after it.
  var after = Number(log.dataset.lines);
  var stop = follow(function () { return log.dataset.stream + '?after=' + after; }, {
    line: function (e) {
      after = Number(e.lastEventId) || after + 1;
      appendColoured(log, e.data);
    },
    end: function (e) {
      var end = JSON.parse(e.data);
      log.appendChild(document.createTextNode(end.line + '\\n'));
      state.textContent = end.status;
      state.className = 'status s-' + end.status;
      stop();
    },
  });
})();

// The app's runtime log: a live tail on #runtime-log, the newest 500 lines kept.
(function () {
  var button = document.getElementById('tail-logs');
  var log = document.getElementById('runtime-log');
  if (!button || !log || !window.EventSource) return;
  button.hidden = false;
  var stop;
  function stopped() { stop = undefined; button.textContent = 'Tail the log live'; }
  button.addEventListener('click', function () {
    if (stop) { stop(); stopped(); return; }
    log.textContent = '';
    button.textContent = 'Stop';
    stop = follow(function () { return log.dataset.stream + '?n=50'; }, {
      // Each connection, a reconnect too, starts with the last lines again:
      // start the view afresh, or they would show twice.
      open: function () { log.textContent = ''; },
      line: function (e) {
        log.appendChild(document.createTextNode(e.data + '\\n'));
        while (log.childNodes.length > 500) log.removeChild(log.firstChild);
      },
      end: function (e) {
        log.appendChild(document.createTextNode('(' + JSON.parse(e.data).reason + ')\\n'));
        stop();
        stopped();
      },
    });
  });
})();
`;

export function liveScriptRoute(server: FastifyInstance) {
  server.get(LIVE_JS_PATH, { config: { auth: 'public' } }, async (_req, reply) =>
    reply
      .header('cache-control', 'public, max-age=300')
      .type('text/javascript; charset=utf-8')
      .send(LIVE_JS),
  );
}
