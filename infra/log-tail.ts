// Follows a log file written by a service that outlives the supervisor (the
// router): its lines cannot go through a pipe to the supervisor, which may
// die and be replaced, so they go to a file, and whichever supervisor runs
// shows them from there.
import { closeSync, openSync, readSync, statSync, truncateSync } from 'node:fs';

const POLL_MS = 200;
/** Past this the file starts again from empty (the writer appends, so it follows). */
const MAX_BYTES = 64 * 1024 * 1024;

export interface Tail {
  stop(): void;
}

/** Calls `onLine` for each line written to `file` after `from` bytes (its size now, by default). */
export function tailFile(file: string, onLine: (line: string) => void, from?: number): Tail {
  let offset = from ?? sizeOf(file);
  let partial = '';
  const buffer = Buffer.alloc(64 * 1024);
  const poll = () => {
    let size = sizeOf(file);
    if (size < offset) offset = 0;
    if (size > MAX_BYTES) {
      truncateSync(file, 0);
      offset = 0;
      size = 0;
    }
    if (size === offset) return;
    const fd = openSync(file, 'r');
    try {
      while (offset < size) {
        const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - offset), offset);
        if (n <= 0) break;
        offset += n;
        const lines = (partial + buffer.toString('utf8', 0, n)).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      }
    } finally {
      closeSync(fd);
    }
  };
  const timer = setInterval(() => {
    try {
      poll();
    } catch {
      // The file is gone or unreadable for a moment: try again next time.
    }
  }, POLL_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      try {
        poll();
      } catch {}
    },
  };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
