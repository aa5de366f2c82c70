// The platform's services in the test's own process: each service's start()
// called directly, without the supervisor's child processes, for tests that
// want to step into a service or read its state. Same configuration, same
// order as `npm start`; the machine (Docker, Redis) must be prepared already.

import path from 'node:path';
import { SERVICES } from '../../infra/supervisor.ts';
import type { Config } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import type { Endpoint, RunningService, ServiceContext } from '../../services/core/service.ts';

export interface InProcessPlatform {
  endpoints: Endpoint[];
  stop(): Promise<void>;
}

export async function startInProcess(config: Config): Promise<InProcessPlatform> {
  const running: RunningService[] = [];
  const stop = async () => {
    for (const r of running.reverse()) await r.stop();
  };
  try {
    for (const spec of SERVICES) {
      const module = path.join(path.dirname(spec.entry), 'service.ts');
      const { start } = (await import(`../../${module}`)) as {
        start: (ctx: ServiceContext) => Promise<RunningService>;
      };
      running.push(
        await start({
          config,
          log: createLogger(spec.name, { level: 'silent' }),
          searchPath: systemSearchPath(process.env.PATH),
        }),
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoints: running.flatMap((r) => r.endpoints), stop };
}
