import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The app's directory (a temporary copy of user-app/), from dist/test/. */
export const APP_DIR = path.join(__dirname, '..', '..');
/** The repository, for its cfn-lint check and sample disk (scripts/user-app.sh sets it). */
export const REPO_DIR = process.env.USER_APP_REPO ?? path.join(APP_DIR, '..');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `user-app-${prefix}-`));
}

/**
 * cfn-lint over every template of a cloud assembly, with the repository's check
 * (errors fail; the W3005 aws-cdk-lib always raises are expected). Without cfn-lint
 * it reports the templates unchecked, and fails with CI=true.
 */
export function cfnLint(outdir: string): void {
  const result = spawnSync('bash', [path.join(REPO_DIR, 'scripts', 'check-templates.sh'), outdir], { encoding: 'utf8' });
  process.stdout.write(result.stdout);
  if (result.status !== 0) throw new Error(`cfn-lint found errors in ${outdir}:\n${result.stdout}${result.stderr}`);
}

/** A disk file where the README's fromAsset and inspect snippets look for it, in a fresh working directory. */
export function workingDirWithDisk(): string {
  const dir = tempDir('cwd');
  fs.mkdirSync(path.join(dir, 'disks'));
  fs.copyFileSync(path.join(REPO_DIR, 'examples', 'sample-disk.vmdk'), path.join(dir, 'disks', 'web.vmdk'));
  return dir;
}
