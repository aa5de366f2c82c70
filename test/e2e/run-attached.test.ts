// `run` attached to the client, as a user runs it over the real OpenSSH
// client against `npm start`: piped stdin, a terminal (ssh -tt inside
// `script`, which gives ssh a real terminal of a set size), Ctrl-C typed
// into it, the exit code; and Berth's own prompts answered under ssh -t.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { quoteWord } from '../../cli/remote.ts';
import { berthWithApp } from '../harness/berth-app.ts';

interface Ran {
  code: number | null;
  out: string;
  ms: number;
}

/**
 * Runs a program; `input` is written at the start (then stdin ends with
 * `end`), `onOutput` may answer what it sees.
 */
function runProgram(
  file: string,
  args: string[],
  o: {
    input?: string;
    end?: boolean;
    env?: Record<string, string>;
    onOutput?: (out: string, write: (s: string) => void) => void;
  } = {},
): Promise<Ran> {
  const started = performance.now();
  const child = spawn(file, args, {
    env: { ...process.env, ...o.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const write = (s: string) => child.stdin.write(s);
  const take = (d: Buffer) => {
    out += d.toString();
    o.onOutput?.(out, write);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  child.stdin.on('error', () => {});
  if (o.input !== undefined) write(o.input);
  if (o.end) child.stdin.end();
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, ms: Math.round(performance.now() - started) });
    }),
  );
}

/** `ssh -tt ...` inside `script`, on a terminal of 33 rows and 101 columns. */
const inTerminal = (ssh: string[], args: string[]) => [
  '-qfec',
  `stty rows 33 cols 101; exec ${['ssh', '-tt', ...ssh, ...args].map(quoteWord).join(' ')}`,
  '/dev/null',
];

describe('run attached to the client', () => {
  test('piped stdin, a terminal of the client size, Ctrl-C, exit codes; prompts under ssh -t', async (t) => {
    const b = await berthWithApp('runat');
    t.after(() => b.close());
    await b.push();

    const piped = await runProgram('ssh', [...b.ssh, 'run', b.app, 'cat; exit 3'], {
      input: 'hello\nworld\n',
      end: true,
    });
    // stdin's end reached the process (cat ended), its output and exit code came back.
    assert.equal(piped.code, 3, piped.out);
    assert.equal(piped.out, 'hello\nworld\n');

    // The size is read after the input: the TTY is resized once the process
    // runs (an Engine before API 1.42 cannot create it at a size), before any input.
    const term = await runProgram(
      'script',
      inTerminal(b.ssh, [
        'run',
        b.app,
        'read x; tty; stty size; echo TERM=$TERM; echo got=$x; exit 5',
      ]),
      { input: 'abc\n', env: { TERM: 'xterm-256color' } },
    );
    assert.equal(term.code, 5, term.out);
    assert.match(term.out, /\/dev\/pts\/\d+\r\n33 101\r\nTERM=xterm-256color\r\n/);
    assert.match(term.out, /got=abc\r\n/);

    let sent = false;
    const interrupted = await runProgram(
      'script',
      inTerminal(b.ssh, ['run', b.app, 'echo ready; sleep 30; echo not interrupted']),
      {
        onOutput: (out, write) => {
          if (!sent && out.includes('ready')) {
            sent = true;
            write('\x03');
          }
        },
      },
    );
    assert.equal(interrupted.code, 130, interrupted.out);
    assert.doesNotMatch(interrupted.out, /not interrupted/);
    assert.ok(interrupted.ms < 20_000, `Ctrl-C ended it (${interrupted.ms} ms)`);

    // Berth's own prompt under ssh -t: the typed name is echoed and read as a line.
    const other = `${b.app}x`;
    await b.command('apps:create', other);
    let answered = false;
    const destroyed = await runProgram('script', inTerminal(b.ssh, ['apps:destroy', other]), {
      onOutput: (out, write) => {
        if (!answered && out.includes('Type the app name')) {
          answered = true;
          write(`${other}\r`);
        }
      },
    });
    assert.equal(destroyed.code, 0, destroyed.out);
    assert.match(destroyed.out, new RegExp(`confirm[^\\n]*: ${other}\\r\\n`), 'echoed');
    assert.doesNotMatch(await b.command('apps:list'), new RegExp(`^${other}$`, 'm'));
    t.diagnostic(
      `piped run ${piped.ms} ms, terminal run ${term.ms} ms, Ctrl-C run ${interrupted.ms} ms`,
    );
  });
});
