// The Engine's own news of Berth's containers: a start, a death, a removal
// (`docker events`), so that what runs is reconciled at once instead of at the
// next periodic pass. The event stream ends when dockerd stops; it is opened
// again with a growing delay, and the reconnect itself is news — an Engine
// that restarted may have restarted every container, on new addresses.
import type Docker from 'dockerode';
import { LABELS } from '../../core/docker.ts';
import type { Logger } from '../../core/log.ts';

export interface EngineWatch {
  stop(): void;
}

export interface EngineWatchOptions {
  /** A container of `app` started, died or went away. */
  onApp(app: string): void;
  /** The stream was (re)opened after it had broken: anything may have changed. */
  onReconnect(): void;
  log: Logger;
  /** Longest wait between attempts to reopen the stream (ms). */
  maxRetryMs?: number;
}

const EVENTS = ['start', 'die', 'destroy'];

export function watchEngine(docker: Docker, o: EngineWatchOptions): EngineWatch {
  let stopped = false;
  let stream: NodeJS.ReadableStream | undefined;
  let retryMs = 250;
  let broken = false;
  let timer: NodeJS.Timeout | undefined;

  const open = async () => {
    if (stopped) return;
    try {
      const s = (await docker.getEvents({
        filters: { type: ['container'], event: EVENTS, label: [`${LABELS.managed}=true`] },
      })) as NodeJS.ReadableStream;
      if (stopped) {
        (s as unknown as { destroy(): void }).destroy();
        return;
      }
      stream = s;
      retryMs = 250;
      if (broken) {
        broken = false;
        o.log.info('the Docker Engine answers again; reconciling every app');
        o.onReconnect();
      }
      let rest = '';
      s.on('data', (chunk: Buffer) => {
        rest += chunk.toString('utf8');
        let nl = rest.indexOf('\n');
        while (nl !== -1) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          nl = rest.indexOf('\n');
          if (!line) continue;
          try {
            const app = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } })
              .Actor?.Attributes?.[LABELS.app];
            if (app) o.onApp(app);
          } catch {
            // Not an event line; the next one will be.
          }
        }
      });
      const again = () => {
        if (stream !== s) return;
        stream = undefined;
        retry();
      };
      s.on('end', again);
      s.on('close', again);
      s.on('error', again);
    } catch {
      retry();
    }
  };

  const retry = () => {
    if (stopped) return;
    if (!broken) o.log.warn('lost the Docker Engine event stream; reopening it');
    broken = true;
    timer = setTimeout(() => void open(), retryMs);
    timer.unref();
    retryMs = Math.min(retryMs * 2, o.maxRetryMs ?? 5000);
  };

  void open();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
      stream = undefined;
    },
  };
}
