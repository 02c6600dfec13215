// `npx projen bench`: size and speed figures of the library, each beside its
// target, as a Markdown table (the README's "Performance" section shows one).
// Timed figures are medians of fresh `node` processes, interleaved so that a
// busy moment of the machine hits every figure alike. Exits 1 when a target is missed.
//
// BENCH_RUNS (default 7) processes per load figure, BENCH_SYNTH_RUNS (default 5) per synth figure;
// BENCH_ONLY=synth,polling (a comma list of handlers, synth, polling, package) prints those sections alone.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';

const require = createRequire(import.meta.url);
const { CONSTRUCTS, STACK_NAME } = require('./bench-synth.cjs');

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const SYNTH_RUNS = Number(process.env.BENCH_SYNTH_RUNS ?? 5);
const SECTIONS = (process.env.BENCH_ONLY ?? 'handlers,synth,polling,package').split(',');
const only = (section) => SECTIONS.includes(section);
const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'bench-'));
// Also when a step throws.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** Targets of the handler entries: bytes, and load time as a share of the naive bundle's. */
const ENTRY_TARGETS = { maxBytes: 600 * 1024, maxLoadRatio: 0.4 };
/** Providers whose entries keep a tighter load target (the distribution handler uses one client). */
const PROVIDER_LOAD_TARGETS = { distribution: 0.25 };
/** Simulated imports under the default poll schedule. */
const IMPORT_DURATIONS = [['10 minutes', 600], ['1 hour', 3600], ['6 hours', 21600]];

const rows = [];
let missed = 0;
function row(section, figure, value, target, met) {
  if (met === false) missed++;
  rows.push({ section, figure, value, target, met: met === undefined ? '' : met ? 'yes' : '**no**' });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value) => `${value.toFixed(0)} ms`;
const duration = (seconds) => (seconds < 60 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`);

// ------------------------------------------------------------ handler entries

/**
 * Every Lambda entry the constructs deploy: a provider's one asset
 * (assets/handlers/<provider>/handler/index.js) run as each of its entries
 * (src/handlers/<provider>/*.lambda.ts, picked by HANDLER_ENTRY); or, for a
 * provider without a shared asset, one asset per entry.
 */
function handlerEntries() {
  const entries = [];
  const assets = join(root, 'assets', 'handlers');
  for (const provider of readdirSync(assets).sort()) {
    const names = readdirSync(join(root, 'src', 'handlers', provider))
      .filter((f) => f.endsWith('.lambda.ts')).map((f) => f.slice(0, -'.lambda.ts'.length)).sort();
    const shared = join(assets, provider, 'handler', 'index.js');
    for (const name of names) {
      const file = existsSync(shared) ? shared : join(assets, provider, `${name}.lambda`, 'index.js');
      if (!existsSync(file)) throw new Error(`${relative(root, file)} is missing: run npx projen bundle`);
      entries.push({ label: `${provider} ${name}`, provider, file, env: existsSync(shared) ? { HANDLER_ENTRY: name } : {} });
    }
  }
  return entries;
}

/** The 1.0x of the load figures: the two SDK clients bundled as esbuild does by default (their CommonJS builds). */
async function naiveBundle() {
  const outfile = join(work, 'naive', 'index.js');
  await esbuild.build({
    stdin: { contents: "module.exports = { ...require('@aws-sdk/client-ec2'), ...require('@aws-sdk/client-imagebuilder') };", resolveDir: root },
    bundle: true, platform: 'node', target: 'node24', format: 'cjs', minify: true, outfile, logLevel: 'error',
  });
  return { label: 'naive bundle (@aws-sdk/client-ec2 + client-imagebuilder, CommonJS, minified)', file: outfile, env: {} };
}

/**
 * Module load only, as Lambda's init phase does it: a fresh node requires the file
 * from a directory with no node_modules above it.
 */
function loadMs(entry) {
  const dir = join(work, 'load', entry.label.replace(/\W+/g, '-'));
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(entry.file, join(dir, 'index.js'));
  }
  const script = "const t=process.hrtime.bigint();require('./index.js');process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))";
  const result = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: dir, env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', ...entry.env }, encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${entry.label} does not load: ${result.stderr}`);
  return Number(result.stdout);
}

if (only('handlers')) {
  const naive = await naiveBundle();
  const entries = handlerEntries();
  const loads = new Map([naive, ...entries].map((e) => [e, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const entry of loads.keys()) loads.get(entry).push(loadMs(entry));
  }
  const naiveLoad = median(loads.get(naive));
  row('handlers', naive.label, `${kb(statSync(naive.file).size)}, load ${ms(naiveLoad)}`, '1.0x', undefined);
  for (const entry of entries) {
    const size = statSync(entry.file).size;
    const ratio = median(loads.get(entry)) / naiveLoad;
    const maxRatio = PROVIDER_LOAD_TARGETS[entry.provider] ?? ENTRY_TARGETS.maxLoadRatio;
    row('handlers', `${entry.label}: ${relative(root, entry.file)}`,
      `${kb(size)}, load ${ms(median(loads.get(entry)))} = x${ratio.toFixed(2)}`,
      `< ${kb(ENTRY_TARGETS.maxBytes)}, <= x${maxRatio}`,
      size < ENTRY_TARGETS.maxBytes && ratio <= maxRatio);
  }
}

// ------------------------------------------------------------ synth

/** The library's sources as plain CommonJS, beside the assets, so a fresh node loads them without a compiler. */
async function compiledLibrary() {
  const sources = [];
  const walk = (dir) => readdirSync(dir, { withFileTypes: true }).forEach((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) walk(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(path);
  });
  walk(join(root, 'src'));
  await esbuild.build({ entryPoints: sources, outdir: join(work, 'lib'), outbase: join(root, 'src'), format: 'cjs', platform: 'node', target: 'node20', logLevel: 'error' });
  // The generated *-function.ts find their bundles at ../assets from lib/.
  symlinkSync(join(root, 'assets'), join(work, 'assets'));
  return join(work, 'lib', 'index.js');
}

function synth(lib, construct, count, variant = '') {
  const outdir = mkdtempSync(join(work, 'synth-'));
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'bench-synth.cjs'), construct.name + variant, String(count), outdir, lib], {
    cwd: root, env: { ...process.env, NODE_PATH: join(root, 'node_modules') }, encoding: 'utf8',
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`synth of ${count} ${construct.name} failed: ${result.stderr}`);
  const template = JSON.parse(readFileSync(join(outdir, `${STACK_NAME}.template.json`), 'utf8'));
  rmSync(outdir, { recursive: true, force: true });
  const resources = Object.values(template.Resources ?? {});
  const functions = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
  return {
    wallMs,
    // Whitespace does not count: the figure is what the template says.
    bytes: JSON.stringify(template).length,
    functions: functions.length,
    assets: new Set(functions.map((f) => JSON.stringify(f.Properties.Code))).size,
  };
}

// The poll simulation loads the compiled handlers too.
const lib = only('synth') || only('polling') ? await compiledLibrary() : undefined;
if (only('synth')) {
  for (const construct of CONSTRUCTS) {
    const [few, many] = construct.counts;
    const runs = { [few]: [], [many]: [], floor: { [few]: [], [many]: [] } };
    for (let run = 0; run < SYNTH_RUNS; run++) {
      for (const count of [few, many]) {
        runs[count].push(synth(lib, construct, count));
        if (construct.floor) runs.floor[count].push(synth(lib, construct, count, '#floor'));
      }
    }
    const figure = (count) => ({ ...runs[count][0], wallMs: median(runs[count].map((r) => r.wallMs)) });
    const a = figure(few);
    const b = figure(many);
    const { targets } = construct;
    for (const [count, f] of [[few, a], [many, b]]) {
      row('synth', `${count} ${construct.name}: synth (fresh process), template, Lambda functions (distinct code)`,
        `${ms(f.wallMs)}, ${kb(f.bytes)}, ${f.functions} (${f.assets})`, '', undefined);
    }
    const ratio = b.wallMs / a.wallMs;
    const target = () => ['—', undefined];
    row('synth', `${construct.name}: synth time, ${many} vs ${few}`, `x${ratio.toFixed(2)}`,
      ...(targets.synthRatio === undefined ? target() : [`<= x${targets.synthRatio}`, ratio <= targets.synthRatio]));
    if (construct.floor) {
      // What the same CloudFormation resources cost aws-cdk-lib alone, against this row's own base.
      const floorAdded = median(runs.floor[many].map((r) => r.wallMs)) - median(runs.floor[few].map((r) => r.wallMs));
      row('synth', `${construct.name}: of the time ${many - few} added instances take, aws-cdk-lib's own for their resources (bare CfnResources)`,
        `+${ms(floorAdded)} of +${ms(b.wallMs - a.wallMs)}: x${(1 + floorAdded / a.wallMs).toFixed(2)} of the x${ratio.toFixed(2)}`, '—', undefined);
    }
    const perAdded = (b.bytes - a.bytes) / (many - few);
    row('synth', `${construct.name}: template bytes per added instance`, `${perAdded.toFixed(0)} B`,
      ...(targets.bytesPerAdded === undefined ? target() : [`<= ${targets.bytesPerAdded} B`, perAdded <= targets.bytesPerAdded]));
    row('synth', `${construct.name}: Lambda functions, ${few} vs ${many}`, `${a.functions} vs ${b.functions}`,
      ...(targets.sameFunctions ? ['equal', a.functions === b.functions] : target()));
  }
}

// ------------------------------------------------------------ poll schedule

/**
 * The poller's loop (src/private/poller.ts: Wait $.Next, then poll) under the default
 * schedule of the handler (nextPollSeconds), for imports that become AVAILABLE
 * after each duration: how many polls each costs, and how late the poll that sees it comes.
 * In a child process: the handler module loads the SDK, found through NODE_PATH.
 */
function simulateImports(durations, timeoutSeconds) {
  const script = `
    const p = require(${JSON.stringify(join(work, 'lib', 'handlers', 'import-image', 'poller.js'))});
    const first = p.DEFAULT_POLL_INTERVAL_SECONDS, max = p.DEFAULT_MAX_POLL_INTERVAL_SECONDS;
    const out = ${JSON.stringify(durations)}.map((seconds) => {
      const timeout = Math.max(${timeoutSeconds}, seconds + 60);
      let now = p.nextPollSeconds(0, first, max, timeout), polls = 1;
      while (now < seconds) { now += p.nextPollSeconds(now, first, max, timeout - now); polls++; }
      return { seconds, polls, delay: now - seconds, first, max };
    });
    process.stdout.write(JSON.stringify(out));`;
  const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NODE_PATH: join(root, 'node_modules') }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`poll simulation failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

if (only('polling')) {
  const DEFAULT_TIMEOUT = 6 * 3600;
  const simulated = simulateImports(IMPORT_DURATIONS.map(([, seconds]) => seconds), DEFAULT_TIMEOUT);
  for (const [i, [label, seconds]] of IMPORT_DURATIONS.entries()) {
    const { polls, delay, first, max } = simulated[i];
    // Detection within a tenth of the wait (at least the first interval), never later than the longest interval.
    const allowed = Math.min(max, Math.max(first, seconds * 0.1));
    row('polling', `import of ${label}: polls, detection delay`, `${polls}, ${duration(delay)}`,
      `delay <= ${duration(allowed)}; polls well under Step Functions' 25,000 history events (5 per poll)`,
      delay <= allowed && polls * 5 < 25000);
  }
}

// ------------------------------------------------------------ package

if (only('package')) {
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [tarball] = JSON.parse(pack.stdout);
  const handlerSources = tarball.files.map((f) => f.path)
    // The types of the handlers' properties (lib/handlers/types, lib/handlers/<provider>/types) and the
    // generated *-function constructs are the library's; anything else under lib/handlers/ is handler code.
    .filter((p) => p.startsWith('lib/handlers/') && !/(^lib\/handlers\/([^/]+\/)?types|-function)\.(js|d\.ts)$/.test(p));
  row('package', `npm package (${tarball.entryCount} files${existsSync(join(root, 'lib', 'index.js')) ? '' : '; lib/ not compiled: run npx jsii first'})`,
    `${kb(tarball.size)} packed, ${kb(tarball.unpackedSize)} unpacked`, '', undefined);
  row('package', 'unbundled handler sources in lib/handlers/', String(handlerSources.length), '0', handlerSources.length === 0);
}

// ------------------------------------------------------------ report

console.log(`node ${process.version}; medians of ${RUNS} (load) and ${SYNTH_RUNS} (synth) fresh processes\n`);
console.log('| figure | value | target | met |\n| --- | --- | --- | --- |');
let section;
for (const r of rows) {
  if (r.section !== section) {
    section = r.section;
    console.log(`| **${section}** | | | |`);
  }
  console.log(`| ${r.figure} | ${r.value} | ${r.target} | ${r.met} |`);
}
console.log(missed === 0 ? '\nevery target met' : `\n${missed} target(s) missed`);
process.exitCode = missed === 0 ? 0 : 1;
