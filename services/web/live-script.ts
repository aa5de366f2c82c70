// The pages' only JavaScript, served by the web app itself at
// /assets/live.js (no CDN: Berth runs offline, issue 7). It adds live updates
// to pages that work without it: a build's log follows its SSE stream, and
// the app page's log tail starts on a click. Every line is added as a text
// node, never as HTML. A reconnecting EventSource resumes after the last line
// it saw (Last-Event-ID), and each stream is closed at its `end` event so the
// browser does not reconnect to something finished.
import type { FastifyInstance } from 'fastify';
import { html } from './html.ts';

export const LIVE_JS_PATH = '/assets/live.js';

/** The tag every live page carries. */
export const LIVE_SCRIPT = html`<script src="${LIVE_JS_PATH}" defer></script>`;

export const LIVE_JS = `'use strict';
// A build's log: #log, with the lines rendered at load counted in data-lines.
(function () {
  var log = document.getElementById('log');
  var state = document.getElementById('build-state');
  if (!log || !window.EventSource || log.dataset.ended === 'true') return;
  var es = new EventSource(log.dataset.stream + '?after=' + log.dataset.lines);
  es.addEventListener('line', function (e) {
    log.appendChild(document.createTextNode(e.data + '\\n'));
  });
  es.addEventListener('end', function (e) {
    var end = JSON.parse(e.data);
    log.appendChild(document.createTextNode(end.line + '\\n'));
    state.textContent = end.status;
    state.className = 'status s-' + end.status;
    es.close();
  });
})();

// The app's runtime log: a live tail on #runtime-log, the newest 500 lines kept.
(function () {
  var button = document.getElementById('tail-logs');
  var log = document.getElementById('runtime-log');
  if (!button || !log || !window.EventSource) return;
  button.hidden = false;
  var es;
  button.addEventListener('click', function () {
    if (es) { es.close(); es = undefined; button.textContent = 'Tail the log live'; return; }
    log.textContent = '';
    es = new EventSource(log.dataset.stream + '?n=50');
    button.textContent = 'Stop';
    // Each connection, a reconnect too (the web app restarted, the network
    // dropped), starts with the last lines again: start the view afresh, or
    // they would show twice.
    es.addEventListener('open', function () { log.textContent = ''; });
    es.addEventListener('line', function (e) {
      log.appendChild(document.createTextNode(e.data + '\\n'));
      while (log.childNodes.length > 500) log.removeChild(log.firstChild);
    });
    es.addEventListener('end', function (e) {
      log.appendChild(document.createTextNode('(' + JSON.parse(e.data).reason + ')\\n'));
      es.close(); es = undefined; button.textContent = 'Tail the log live';
    });
  });
})();
`;

export function liveScriptRoute(app: FastifyInstance) {
  app.get(LIVE_JS_PATH, { config: { auth: 'public' } }, async (_req, reply) =>
    reply
      .header('cache-control', 'public, max-age=300')
      .type('text/javascript; charset=utf-8')
      .send(LIVE_JS),
  );
}
