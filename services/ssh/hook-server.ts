// The Berth end of the pre-receive hook (hooks/pre-receive.mjs): for one
// push, a unix socket in a private directory (0700, removed afterwards) that
// the hook connects to with the ref lines git gave it. The handler decides,
// printing lines for the pusher on the way; its number is the hook's exit
// status, so non-zero rejects the push and git updates no ref.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errorLine } from '../core/errors.ts';

export const ZERO_SHA = '0000000000000000000000000000000000000000';

export interface RefUpdate {
  /** 40 hex; ZERO_SHA when the ref is created. */
  old: string;
  /** 40 hex; ZERO_SHA when the ref is deleted. */
  new: string;
  /** The full ref name as git checked it (refs/heads/..., refs/tags/...). */
  ref: string;
}

export interface HookRequest {
  updates: RefUpdate[];
  /** Absolute path of the push's quarantine object directory, as the hook reported it. */
  quarantine: string | undefined;
}

export interface HookReply {
  /** One line for the pusher (git shows it as "remote: <line>"); a no-op once the hook is gone. */
  line(text: string): void;
}

/**
 * Decides on the push; resolves with the hook's exit status. `signal` aborts
 * when the hook goes away or the server is told to stop.
 */
export type HookHandler = (
  request: HookRequest,
  reply: HookReply,
  signal: AbortSignal,
) => Promise<number>;

export interface HookServer {
  /** Goes into git's environment as BERTH_HOOK_SOCKET. */
  readonly socketPath: string;
  /** Stops listening, waits for a running handler, removes the directory. */
  close(): Promise<void>;
}

/** The most a hook may send: ref lines of a push with many thousand refs. */
const MAX_REQUEST = 16 * 1024 * 1024;
const REF_LINE = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S+)$/;

function parseRequest(text: string): HookRequest {
  const nl = text.indexOf('\n');
  const header = JSON.parse(nl === -1 ? text : text.slice(0, nl)) as { quarantine?: unknown };
  const updates: RefUpdate[] = [];
  for (const line of (nl === -1 ? '' : text.slice(nl + 1)).split('\n')) {
    if (line === '') continue;
    const m = REF_LINE.exec(line);
    if (!m) throw new Error(`unexpected line from the hook: ${JSON.stringify(line.slice(0, 100))}`);
    updates.push({ old: m[1] as string, new: m[2] as string, ref: m[3] as string });
  }
  const q = header.quarantine;
  return { updates, quarantine: typeof q === 'string' && path.isAbsolute(q) ? q : undefined };
}

/**
 * Listens on `<runtimeDir>/berth-hook-XXXXXX/hook.sock` for the one hook of
 * one push. `signal` (the push's) disconnects the hook and aborts the handler.
 */
export async function openHookServer(
  runtimeDir: string,
  handle: HookHandler,
  signal: AbortSignal,
): Promise<HookServer> {
  const dir = await mkdtemp(path.join(runtimeDir, 'berth-hook-')); // mode 0700
  // Aborted by the push, or by close(): a hook still connected then has lost its git.
  const stop = new AbortController();
  const aborted = AbortSignal.any([signal, stop.signal]);
  const socketPath = path.join(dir, 'hook.sock');
  const sessions = new Set<Promise<void>>();
  let served = false;

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    // git runs pre-receive once per push; a second connection is not git's.
    if (served) {
      socket.destroy();
      return;
    }
    served = true;
    const done = serve(socket);
    sessions.add(done);
    void done.finally(() => sessions.delete(done));
  });

  async function serve(socket: net.Socket): Promise<void> {
    const gone = new AbortController();
    const onPushAbort = () => socket.destroy();
    aborted.addEventListener('abort', onPushAbort, { once: true });
    socket.on('close', () => gone.abort(new Error('the hook went away')));
    socket.on('error', () => {});
    const reply: HookReply = {
      line(text) {
        if (!socket.writable) return;
        socket.write(`o${text.replace(/[\r\n]+/g, ' ')}\n`);
      },
    };
    try {
      const request = await readAll(socket);
      const status = await handle(request, reply, AbortSignal.any([gone.signal, aborted]));
      if (socket.writable) socket.end(`x${status}\n`);
    } catch (e) {
      reply.line(` !     ${errorLine(e)}`);
      if (socket.writable) socket.end('x1\n');
    } finally {
      aborted.removeEventListener('abort', onPushAbort);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    socketPath,
    async close() {
      stop.abort(new Error('the push ended'));
      await Promise.allSettled([...sessions]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function readAll(socket: net.Socket): Promise<HookRequest> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST) {
        socket.destroy();
        reject(new Error('the hook sent too much'));
        return;
      }
      chunks.push(chunk);
    });
    socket.on('end', () => {
      try {
        resolve(parseRequest(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
    socket.on('close', () => reject(new Error('the hook went away')));
  });
}
