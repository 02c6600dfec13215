import { VmImageExportProperties } from '../types';

/** The removal policies an export knows: its construct accepts DESTROY and the RETAIN kinds. */
export type ExportRemovalPolicy = 'destroy' | 'retain';

export function exportRemovalPolicy(value: string | undefined): ExportRemovalPolicy {
  const policy = (value ?? 'destroy').toLowerCase();
  if (policy === '' || policy === 'destroy') return 'destroy';
  if (policy === 'retain' || policy === 'retain-on-update-or-delete') return 'retain';
  // Refuse rather than guess: guessing wrong would delete what the user meant to keep.
  throw new Error(`unknown RemovalPolicy ${JSON.stringify(value)}: expected destroy or retain`);
}

/**
 * Checks the properties before any AWS call: a hand-edited template, or a newer
 * template against an older handler, fails at once with the property's name and
 * the value received, and starts nothing.
 */
export function validateExportProperties(props: unknown): asserts props is VmImageExportProperties {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) fail('ResourceProperties', props, 'an object');
  const p = props as Record<string, unknown>;
  for (const name of ['SourceImage', 'DistributionConfigurationArn', 'ExecutionRole']) {
    if (typeof p[name] !== 'string' || p[name] === '') fail(name, p[name], 'a non-empty string');
  }
  for (const name of ['LogGroupName', 'SignalUrl', 'WaitConditionLogicalId']) {
    if (p[name] !== undefined && typeof p[name] !== 'string') fail(name, p[name], 'a string');
  }
  if (p.Tags !== undefined) {
    const tags = p.Tags;
    if (tags === null || typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string')) {
      fail('Tags', tags, 'a map of strings');
    }
  }
  if (p.Exports !== undefined) {
    if (!Array.isArray(p.Exports)) fail('Exports', p.Exports, 'a list of exports');
    (p.Exports as unknown[]).forEach((exp, i) => {
      const e = exp as Record<string, unknown> | null;
      const ok = e !== null && typeof e === 'object' && !Array.isArray(e)
        && ['Region', 'Bucket', 'Format'].every((k) => typeof e[k] === 'string')
        && (e.Prefix === undefined || typeof e.Prefix === 'string');
      if (!ok) fail(`Exports[${i}]`, exp, 'an object with string Region, Bucket and Format, and an optional string Prefix');
    });
  }
  if (p.WaitForCompletion !== undefined && p.WaitForCompletion !== 'true' && p.WaitForCompletion !== 'false') {
    fail('WaitForCompletion', p.WaitForCompletion, '"true" or "false"');
  }
  for (const name of ['TimeoutSeconds', 'PollIntervalSeconds', 'MaxPollIntervalSeconds']) {
    const value = p[name];
    if (value !== undefined && !(typeof value === 'string' && /^[1-9][0-9]*$/.test(value))) fail(name, value, 'a positive whole number of seconds, as a string');
  }
  if (p.RemovalPolicy !== undefined) {
    try {
      exportRemovalPolicy(p.RemovalPolicy as string);
    } catch {
      fail('RemovalPolicy', p.RemovalPolicy, 'destroy or retain');
    }
  }
}

function fail(name: string, value: unknown, expected: string): never {
  const shown = value === undefined ? 'nothing' : JSON.stringify(value);
  throw new Error(`invalid property ${name}: expected ${expected}, got ${shown === undefined ? String(value) : shown.slice(0, 200)}; ` +
    'the template was edited by hand or is newer than this handler: synthesize it again with cdk-vm-import-export');
}
