// `npm start` and the `berth` command: runs the berth command line from its
// bundle (infra/build.mjs), compiling it first when the sources changed.
// The bundle runs in this process (no second node, no compiler loaded).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuild } from './build.mjs';

const dir = await ensureBuild({
  claim: true,
  log: (line) => process.stderr.write(`berth: ${line}\n`),
});
await import(pathToFileURL(path.join(dir, 'cli', 'main.js')).href);
