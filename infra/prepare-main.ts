// The process `npm start` prepares the machine in (infra/prepare.ts); it
// ends once everything the services need is in place, exit status 0, or
// reports what stopped it on one line, with the exit status of that error.
import { ConfigError, loadConfig } from '../services/core/config.ts';
import { BerthError, EXIT, errorLine } from '../services/core/errors.ts';
import { systemSearchPath } from '../services/core/programs.ts';
import { createProgress } from './bootstrap/progress.ts';
import { checkState, prepareMachine } from './prepare.ts';
import { writePreparedStamp } from './prepared-stamp.ts';

try {
  const config = loadConfig(process.env);
  const progress = createProgress(process.stderr);
  await prepareMachine(
    config,
    {
      searchPath: systemSearchPath(process.env.PATH),
      isRoot: process.getuid?.() === 0,
      baseEnv: process.env,
    },
    progress,
  );
  await checkState(config, progress);
  await writePreparedStamp(config);
  process.exit(EXIT.ok);
} catch (e) {
  if (e instanceof ConfigError) {
    for (const p of e.problems) process.stderr.write(`berth: ${p.toLine()}\n`);
    process.exit(EXIT.usage);
  }
  process.stderr.write(`berth: ${errorLine(e)}\n`);
  process.exit(e instanceof BerthError ? e.exitCode : EXIT.failed);
}
