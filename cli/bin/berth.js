#!/usr/bin/env node
// The installed `berth` command: runs the compiled command line (compiling
// it first when the sources changed), as `npm start` does.
await import('../../infra/run.mjs');
