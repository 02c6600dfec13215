// Prints size and cold-load figures of the shipped handler bundles, and the synth
// time of the example app. Figures only: nothing here passes or fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const root = new URL('..', import.meta.url).pathname;

function bundles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return bundles(path);
    return entry.name === 'index.js' ? [path] : [];
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// A cold load: a fresh node process that requires the bundle from a folder with
// no node_modules, as Lambda's init phase does (module load only, no handler call).
function coldLoadMs(file) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  try {
    copyFileSync(file, join(dir, 'index.js'));
    const script = "const t=process.hrtime.bigint();require('./index.js');process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))";
    return Array.from({ length: RUNS }, () => {
      const out = execFileSync(process.execPath, ['--no-warnings', '-e', script], { cwd: dir, env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' } });
      return Number(out.toString());
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`node ${process.version}, ${RUNS} runs per figure`);
console.log('bundle'.padEnd(46) + 'bytes'.padStart(10) + 'gzip'.padStart(10) + 'load median ms'.padStart(16) + 'load min ms'.padStart(13));
for (const file of bundles(join(root, 'assets')).sort()) {
  const size = statSync(file).size;
  const gz = gzipSync(readFileSync(file)).length;
  const times = coldLoadMs(file);
  console.log(relative(root, file).padEnd(46) + String(size).padStart(10) + String(gz).padStart(10)
    + median(times).toFixed(1).padStart(16) + Math.min(...times).toFixed(1).padStart(13));
}

const synthRuns = Number(process.env.BENCH_SYNTH_RUNS ?? 3);
const synthTimes = [];
for (let i = 0; i < synthRuns; i++) {
  const out = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  const start = process.hrtime.bigint();
  const result = spawnSync('npx', ['ts-node', '--transpile-only', '--project', 'test/tsconfig.json', 'examples/app.ts'], {
    cwd: root, env: { ...process.env, CDK_OUTDIR: out }, stdio: 'inherit',
  });
  synthTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
  rmSync(out, { recursive: true, force: true });
  if (result.status !== 0) throw new Error('example synth failed');
}
console.log(`example app synth (ts-node --transpile-only): median ${median(synthTimes).toFixed(0)} ms over ${synthRuns} runs`);
