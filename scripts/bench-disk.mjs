// `npx projen bench`, part 2: what DiskImage.fromAsset costs at synth for a 4 GiB sparse disk,
// with and without the header inspection, against the staging floor (a plain copy of the file).
// Figures only: nothing here passes or fails.
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// DiskImage.fromAsset with a 4 GiB sparse disk: synth time and peak memory (maxRSS of the
// process), with and without the header inspection, against the staging floor: a plain
// copy of the same file, which asset staging makes (after hashing the whole file).
// Each run gets a new file, so aws-cdk-lib's fingerprint cache (in $HOME/.cdk, here a
// temporary HOME) never answers for it.
const diskRuns = Number(process.env.BENCH_DISK_RUNS ?? 1);
const DISK_BYTES = 4 * 1024 ** 3;

function sparseDisk(dir, name) {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  ftruncateSync(fd, DISK_BYTES);
  // An MBR with one Linux partition and boot code, so the inspection has a table to read.
  const mbr = Buffer.alloc(512);
  mbr.set([0xfa, 0xf4, 0xeb, 0xfd], 0);
  mbr[446] = 0x80;
  mbr[450] = 0x83;
  mbr.writeUInt32LE(2048, 454);
  mbr.writeUInt32LE(DISK_BYTES / 512 - 2048, 458);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  writeSync(fd, mbr, 0, 512, 0);
  closeSync(fd);
  return file;
}

const REPORT = "process.stdout.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - t) / 1e6, maxRssMiB: process.resourceUsage().maxRSS / 1024 }))";

function measure(label, args, dir, extra = []) {
  const times = [];
  const rss = [];
  for (let i = 0; i < diskRuns; i++) {
    const disk = sparseDisk(dir, `disk-${label.replace(/\W+/g, '-')}-${i}.raw`);
    const out = mkdtempSync(join(dir, 'out-'));
    const result = spawnSync(args[0], [...args.slice(1), disk, out, ...extra], {
      // The scripts live outside the repository: NODE_PATH lets them find aws-cdk-lib.
      cwd: root, encoding: 'utf8',
      env: { ...process.env, HOME: dir, NODE_PATH: join(root, 'node_modules'), TS_NODE_PROJECT: join(root, 'test', 'tsconfig.json') },
    });
    rmSync(out, { recursive: true, force: true });
    rmSync(disk, { force: true });
    if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr}`);
    const figures = JSON.parse(result.stdout.trim().split('\n').pop());
    times.push(figures.ms);
    rss.push(figures.maxRssMiB);
  }
  console.log(label.padEnd(58) + `${median(times).toFixed(0)} ms`.padStart(12) + `${Math.max(...rss).toFixed(0)} MiB`.padStart(12));
}

const diskDir = mkdtempSync(join(tmpdir(), 'bench-disk-'));
try {
  const copy = join(diskDir, 'copy.mjs');
  writeFileSync(copy, `import { copyFileSync } from 'node:fs';\nimport { join } from 'node:path';\nconst t = process.hrtime.bigint();\ncopyFileSync(process.argv[2], join(process.argv[3], 'copy.raw'));\n${REPORT};\n`);
  const synth = join(diskDir, 'synth.ts');
  writeFileSync(synth, [
    `import { App, Stack } from 'aws-cdk-lib';`,
    `import { DiskImage, DiskImageInspector, LicenseType, Platform, VmImportImage } from ${JSON.stringify(join(root, 'src'))};`,
    `const [file, outdir, inspect] = process.argv.slice(2);`,
    `const t = process.hrtime.bigint();`,
    `if (inspect === 'only') {`,
    `  DiskImageInspector.inspect(file);`,
    `  ${REPORT};`,
    `  process.exit(0);`,
    `}`,
    `const app = new App({ outdir });`,
    `const stack = new Stack(app, 'Bench', { env: { account: '111122223333', region: 'us-east-1' } });`,
    `new VmImportImage(stack, 'Image', { disks: [DiskImage.fromAsset(file, { inspect: inspect !== 'off' })], platform: Platform.LINUX, licenseType: LicenseType.BYOL });`,
    `app.synth();`,
    REPORT + ';',
  ].join('\n'));
  const tsNode = [process.execPath, '-r', 'ts-node/register/transpile-only', synth];
  console.log(`fromAsset, 4 GiB sparse raw disk, ${diskRuns} run(s)`.padEnd(58) + 'median'.padStart(12) + 'max RSS'.padStart(12));
  measure('plain copy of the file (the staging floor)', [process.execPath, copy], diskDir);
  measure('synth, inspect: false (hash + copy into cdk.out)', tsNode, diskDir, ['off']);
  measure('synth, with the inspection (the default)', tsNode, diskDir);
  measure('the inspection alone (DiskImageInspector.inspect)', tsNode, diskDir, ['only']);
  console.log('(the two synth rows differ by disk noise: the inspection reads a few KiB; the copy writes 4 GiB)');
} finally {
  rmSync(diskDir, { recursive: true, force: true });
}
