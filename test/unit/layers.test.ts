// The layout's rules, checked on every import of the production code (see
// docs/design.md, "The layers"):
//   - core (services/core) imports nothing above it;
//   - platform (services/platform/<part>, and the files at its top that put
//     its parts together) imports core and platform only: no process, no
//     transport, no cli/;
//   - a process (services/ssh, services/builder, services/web, and proxy/
//     for the router) imports core, platform and cli/, never another
//     process;
//   - the control process (services/control) runs the parts web, ssh and
//     builder in one process: it imports them, core and platform, and
//     nothing imports it;
//   - cli/ imports core, platform and infra/ (`berth start` runs the
//     bootstrap), never a process;
//   - infra/ imports core and platform, never a process (it starts them by
//     their entry file) nor cli/;
//   - no cycle between parts (a part is core, each platform folder, the top
//     of platform/, each process, cli/ and infra/), nor between files.
// The same checker runs on made-up imports below, so a rule that stopped
// catching anything would fail here too.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRODUCTION = ['services', 'proxy', 'cli', 'infra'];
const PROCESSES = ['services/ssh', 'services/builder', 'services/web', 'proxy'];

type Layer = 'core' | 'platform' | 'process' | 'control' | 'cli' | 'infra';
interface Part {
  layer: Layer;
  /** The folder the cycle check and the messages name, e.g. services/platform/build. */
  name: string;
}
interface Import {
  from: string;
  to: string;
}

function partOf(file: string): Part | undefined {
  const [top, second, third] = file.split('/');
  if (top === 'services' && second === 'core') return { layer: 'core', name: 'services/core' };
  if (top === 'services' && second === 'platform' && third !== undefined) {
    // A file at the top of platform/ puts its parts together (app-hooks.ts).
    const part = third.includes('.') ? 'services/platform' : `services/platform/${third}`;
    return { layer: 'platform', name: part };
  }
  if (top === 'services' && second === 'control') {
    return { layer: 'control', name: 'services/control' };
  }
  const proc = PROCESSES.find((p) => file.startsWith(`${p}/`));
  if (proc !== undefined) return { layer: 'process', name: proc };
  if (top === 'cli') return { layer: 'cli', name: 'cli' };
  if (top === 'infra') return { layer: 'infra', name: 'infra' };
  return undefined;
}

const ALLOWED: Record<Layer, readonly Layer[]> = {
  core: ['core'],
  platform: ['core', 'platform'],
  process: ['core', 'platform', 'cli'],
  control: ['core', 'platform', 'process'],
  cli: ['core', 'platform', 'cli', 'infra'],
  infra: ['core', 'platform', 'infra'],
};

/** Every broken rule among these imports, one line each. */
function violations(imports: readonly Import[]): string[] {
  const found: string[] = [];
  const edges = new Map<string, Map<string, Import>>();
  for (const i of imports) {
    const from = partOf(i.from);
    const to = partOf(i.to);
    if (from === undefined) {
      found.push(`${i.from}: a production file outside every layer`);
      continue;
    }
    if (to === undefined) {
      found.push(`${i.from} imports ${i.to}, which is in no layer`);
      continue;
    }
    if (from.name === to.name) continue;
    if (
      !ALLOWED[from.layer].includes(to.layer) ||
      (from.layer === 'process' && to.layer === 'process')
    ) {
      found.push(`${i.from} (${from.layer}) imports ${i.to} (${to.layer} ${to.name})`);
    }
    const out = edges.get(from.name) ?? new Map<string, Import>();
    if (!out.has(to.name)) out.set(to.name, i);
    edges.set(from.name, out);
  }
  for (const cycle of cycles(edges)) {
    const steps = cycle.map((p, n) => {
      const via = edges.get(p)?.get(cycle[(n + 1) % cycle.length] ?? '');
      return `${p} (${via?.from} → ${via?.to})`;
    });
    found.push(`a cycle between folders: ${steps.join(' → ')} → ${cycle[0]}`);
  }
  return found;
}

/** The strongly connected parts of more than one folder (Tarjan's algorithm). */
function cycles(edges: Map<string, Map<string, Import>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.reverse());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(rel);
    return /\.(ts|mjs)$/.test(e.name) ? [rel] : [];
  });
}

/** Relative module specifiers: static imports and re-exports, and import(). */
const SPECIFIER = /(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm;

function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(SPECIFIER)].map((m) => ({
    from: file,
    to: path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1] ?? '')),
  }));
}

const productionImports = () => PRODUCTION.flatMap(sourceFiles).flatMap(importsOf);

describe('the layers', () => {
  test('the production code keeps every rule', () => {
    const imports = productionImports();
    assert.ok(imports.length > 300, `only ${imports.length} imports found: is the pattern right?`);
    assert.deepEqual(violations(imports), []);
  });

  test('no import cycle between files either', () => {
    const edges = new Map<string, Map<string, Import>>();
    for (const i of productionImports()) {
      const out = edges.get(i.from) ?? new Map<string, Import>();
      out.set(i.to, i);
      edges.set(i.from, out);
    }
    assert.deepEqual(cycles(edges), []);
  });

  test('a broken rule is found: one made-up import for each rule', () => {
    const injected: [Import, RegExp][] = [
      [
        { from: 'services/core/config.ts', to: 'services/platform/apps/apps.ts' },
        /services\/core\/config\.ts \(core\) imports .*platform/,
      ],
      [
        { from: 'services/platform/apps/apps.ts', to: 'services/web/server.ts' },
        /\(platform\) imports services\/web\/server\.ts \(process/,
      ],
      [
        { from: 'services/platform/release/rollout.ts', to: 'cli/registry.ts' },
        /\(platform\) imports cli\/registry\.ts \(cli/,
      ],
      [
        { from: 'proxy/forward.ts', to: 'services/web/html.ts' },
        /proxy\/forward\.ts \(process\) imports/,
      ],
      [{ from: 'services/web/api.ts', to: 'services/builder/worker.ts' }, /\(process\) imports/],
      [
        { from: 'services/web/api.ts', to: 'services/control/service.ts' },
        /\(process\) imports services\/control\/service\.ts \(control/,
      ],
      [
        { from: 'services/control/service.ts', to: 'cli/registry.ts' },
        /\(control\) imports cli\/registry\.ts/,
      ],
      [
        { from: 'cli/commands/ps.ts', to: 'services/ssh/server.ts' },
        /cli\/commands\/ps\.ts \(cli\) imports/,
      ],
      [{ from: 'infra/start.ts', to: 'cli/registry.ts' }, /infra\/start\.ts \(infra\) imports/],
      [{ from: 'infra/start.ts', to: 'proxy/service.ts' }, /infra\/start\.ts \(infra\) imports/],
    ];
    for (const [i, expected] of injected) {
      const found = violations([i]);
      assert.equal(found.length, 1, `${i.from} → ${i.to}: ${found.join('; ')}`);
      assert.match(found[0] ?? '', expected);
    }
  });

  test('a cycle between folders is found, and so is one injected into the real imports', () => {
    const made = violations([
      { from: 'services/platform/build/run-build.ts', to: 'services/platform/release/rollout.ts' },
      {
        from: 'services/platform/release/rollout.ts',
        to: 'services/platform/scheduler/scheduler.ts',
      },
      { from: 'services/platform/scheduler/scheduler.ts', to: 'services/platform/build/types.ts' },
    ]);
    assert.equal(made.length, 1, made.join('\n'));
    assert.match(
      made[0] ?? '',
      /a cycle between folders: services\/platform\/build .* → services\/platform\/release .* → services\/platform\/scheduler .* → services\/platform\/build$/,
    );
    const real = violations([
      ...productionImports(),
      // rollouts take the app lock (release → locks), so this closes a loop
      { from: 'services/platform/locks/app-lock.ts', to: 'services/platform/release/rollout.ts' },
    ]);
    assert.equal(real.length, 1, real.join('\n'));
    assert.match(real[0] ?? '', /a cycle between folders: .*services\/platform\/locks/);
  });
});
