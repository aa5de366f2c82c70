#!/usr/bin/env node
// Berth's pre-receive hook, copied into every app repository's hooks/ by
// services/platform/git/repos.ts. git runs it before it updates any ref, with
// one "<old> <new> <ref>" line per ref on stdin; a non-zero exit rejects the
// whole push. It decides nothing itself: it hands the lines to the Berth
// process that started git-receive-pack, over the unix socket named in
// BERTH_HOOK_SOCKET (services/ssh/hook-server.ts), prints what Berth
// sends back (git shows it to the pusher as "remote: ..." lines) and exits
// with the status Berth sends. Plain Node.js, no dependencies: it must start
// fast and must not need tsx or the repository's node_modules.
//
// Protocol. Hook → Berth: one JSON line {"quarantine": <absolute path or
// null>}, then the ref lines as git gave them, then end of stream.
// Berth → hook: lines "o<text>" (print text) and one "x<status>" (exit status).
import { createConnection } from 'node:net';
import path from 'node:path';

const socketPath = process.env.BERTH_HOOK_SOCKET;
if (!socketPath) {
  process.stderr.write(
    'berth: this repository takes pushes only through Berth: git push ssh://berth@HOST:2222/APP\n',
  );
  process.exit(1);
}

// git keeps pushed objects apart until the hook accepts them; the builder needs the path.
const quarantine = process.env.GIT_QUARANTINE_PATH;
let status = 1;
let pending = '';

process.stdout.on('error', () => process.exit(1));
const socket = createConnection(socketPath);
socket.setEncoding('utf8');
socket.on('connect', () => {
  socket.write(`${JSON.stringify({ quarantine: quarantine ? path.resolve(quarantine) : null })}\n`);
  process.stdin.pipe(socket);
});
socket.on('data', (chunk) => {
  pending += chunk;
  for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
    const frame = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (frame.startsWith('o')) process.stdout.write(`${frame.slice(1)}\n`);
    else if (frame.startsWith('x')) {
      const n = Number.parseInt(frame.slice(1), 10);
      status = Number.isInteger(n) && n >= 0 && n < 256 ? n : 1;
    }
  }
});
socket.on('error', (e) => {
  process.stderr.write(`berth: lost the connection to Berth: ${e.message}\n`);
  process.exit(1);
});
socket.on('close', () => process.exit(status));
