/**
 * The footprint ceilings that need no clock; the timed figures (load and synth
 * times) are `npx projen bench`'s. The constructs, their counts and targets are the
 * bench's own table (scripts/bench-synth.cjs), so a construct added there is held
 * to its targets here too.
 *
 * Needs the handler bundles (`npx projen bundle`) and, for the package, the
 * compiled library (`npx jsii`); both fail with the fix when missing or stale.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as lib from '../src';
import { assetFile } from './support/run-bundle';

const REPO_ROOT = path.resolve(__dirname, '..');

interface BenchRow {
  readonly name: string;
  readonly counts: [number, number];
  readonly targets: { readonly synthRatio?: number; readonly bytesPerAdded?: number; readonly sameFunctions?: boolean };
  readonly setup: (modules: object, stack: Stack) => object;
  readonly add: (modules: object, stack: Stack, i: number, context: object) => void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { CONSTRUCTS } = require('../scripts/bench-synth.cjs') as { CONSTRUCTS: BenchRow[] };

/** Every provider asset stays under this (the bench's target; today's are about 420 and 320 KB). */
const MAX_ASSET_BYTES = 600 * 1024;

/** Folders of src/handlers with Lambda entries: one provider, one asset each. */
function providers(): string[] {
  const dir = path.join(REPO_ROOT, 'src', 'handlers');
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.readdirSync(path.join(dir, e.name)).some((f) => f.endsWith('.lambda.ts')))
    .map((e) => e.name)
    .sort();
}

/** A stack with `count` instances of a bench row's construct, as the bench builds it. */
function synth(row: BenchRow, count: number): { bytes: number; functions: any[] } {
  const stack = new Stack(new App(), 'Bench', { env: { account: '111122223333', region: 'us-east-1' } });
  const modules = { s3, lib };
  const context = row.setup(modules, stack);
  for (let i = 0; i < count; i++) row.add(modules, stack, i, context);
  const template = Template.fromStack(stack).toJSON();
  const functions = Object.entries(template.Resources as Record<string, any>)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function').map(([logicalId, r]) => ({ logicalId, ...r }));
  // Whitespace does not count: the figure is what the template says (as the bench measures it).
  return { bytes: JSON.stringify(template).length, functions };
}

describe('handler assets', () => {
  test.each(providers())('%s: one bundle for all its entries, under 600 KB', (dir) => {
    expect(fs.statSync(assetFile(dir)).size).toBeLessThan(MAX_ASSET_BYTES);
  });

  // Rows whose construct has handlers (a service role has none).
  const withHandlers = CONSTRUCTS.filter((row) => synth(row, 1).functions.length > 0);
  test.each(withHandlers.map((row) => [row.name, row] as const))('%s: each provider\'s functions share one asset, each running its own entry', (_name, row) => {
    const own = synth(row, 1).functions.filter((f) => f.Properties.Environment?.Variables?.HANDLER_ENTRY !== undefined);
    expect(own.length).toBeGreaterThan(0);
    // A provider's functions are named after it: <Construct>Provider<Entry>.
    const byProvider = new Map<string, any[]>();
    for (const f of own) {
      const provider = /^(\w+?Provider)/.exec(f.logicalId)?.[1] ?? f.logicalId;
      byProvider.set(provider, [...(byProvider.get(provider) ?? []), f]);
    }
    for (const functions of byProvider.values()) {
      expect(new Set(functions.map((f) => JSON.stringify(f.Properties.Code))).size).toBe(1);
      const entries = functions.map((f) => f.Properties.Environment.Variables.HANDLER_ENTRY);
      expect(new Set(entries).size).toBe(entries.length);
    }
  });
});

// Rows with a target that needs no clock (the others are bench figures only).
const pinned = CONSTRUCTS.filter((row) => row.targets.bytesPerAdded !== undefined || row.targets.sameFunctions);
describe.each(pinned.map((row) => [row.name, row] as const))('%s in numbers', (_name, row) => {
  const [few, many] = row.counts;
  let a: ReturnType<typeof synth>;
  let b: ReturnType<typeof synth>;
  beforeAll(() => {
    a = synth(row, few);
    b = synth(row, many);
  });

  // A row without a target for a figure is measured by the bench only.
  const { bytesPerAdded, sameFunctions } = row.targets;
  if (bytesPerAdded !== undefined) {
    test(`each added instance adds at most ${bytesPerAdded} template bytes`, () => {
      expect((b.bytes - a.bytes) / (many - few)).toBeLessThanOrEqual(bytesPerAdded);
    });
  }
  if (sameFunctions) {
    test(`${many} instances have as many Lambda functions as ${few}`, () => {
      expect(b.functions.length).toBe(a.functions.length);
    });
  }
});

describe('npm package', () => {
  let files: string[];
  beforeAll(() => {
    // The compiled library must be the one of these sources.
    const jsii = path.join(REPO_ROOT, '.jsii');
    if (!fs.existsSync(jsii)) throw new Error('.jsii does not exist: run `npx jsii` before this test');
    const compiled = fs.statSync(jsii).mtimeMs;
    const newer = sourceFiles(path.join(REPO_ROOT, 'src')).find((f) => fs.statSync(f).mtimeMs > compiled);
    if (newer) throw new Error(`lib/ is older than ${path.relative(REPO_ROOT, newer)}: run \`npx jsii\` before this test`);
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
    files = (JSON.parse(pack.stdout)[0].files as Array<{ path: string }>).map((f) => f.path).sort();
  });

  test('carries what users run: the compiled constructs, .jsii, one asset per provider, README, LICENSE, API.md', () => {
    const constructs = sourceFiles(path.join(REPO_ROOT, 'src'))
      .map((f) => path.relative(path.join(REPO_ROOT, 'src'), f).replace(/\\/g, '/').replace(/\.ts$/, ''))
      // Of the handlers, only the property contracts (SDK-free) and the generated constructs: the handler
      // code is in the assets, and its unbundled build needs SDK packages the package lacks.
      .filter((f) => !f.startsWith('handlers/') || /^handlers\/([^/]+\/)?types$/.test(f) || f.endsWith('-function'))
      .flatMap((f) => [`lib/${f}.js`, `lib/${f}.d.ts`]);
    const expected = [
      '.jsii', 'API.md', 'CHANGELOG.md', 'LICENSE', 'README.md', 'package.json',
      ...providers().map((p) => `assets/handlers/${p}/handler/index.js`),
      ...constructs,
      // The README snippets' fixture: Construct Hub compiles them with it to translate them.
      ...fs.readdirSync(path.join(REPO_ROOT, 'rosetta')).map((f) => `rosetta/${f}`),
    ].sort();
    expect(files).toEqual(expected);
  });

  test('every module the package loads is in the package, a dependency it declares, or Node.js\'s own', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    const packed = new Set(files);
    const missing: string[] = [];
    for (const file of files.filter((f) => f.startsWith('lib/') && f.endsWith('.js'))) {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      for (const [, spec] of text.matchAll(/\brequire\("([^"]+)"\)/g)) {
        if (spec.startsWith('.')) {
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
          if (![`${target}.js`, `${target}/index.js`, target].some((t) => packed.has(t))) missing.push(`${file}: ${spec}`);
        } else {
          const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          if (!declared.has(pkg) && !builtinModules.includes(spec.replace(/^node:/, ''))) missing.push(`${file}: ${spec}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}
