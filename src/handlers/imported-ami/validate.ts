import { ImportedAmiProperties } from './types';
import { removalPolicy } from '../import-image/removal';

const FORMATS = ['VHD', 'VMDK', 'RAW'];

/**
 * Checks the properties before any AWS call: a hand-edited template, or a newer
 * template against an older handler, fails at once with the property's name and
 * the value received, and starts nothing.
 */
export function validateProperties(props: unknown): asserts props is ImportedAmiProperties {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) fail('ResourceProperties', props, 'an object');
  const p = props as Record<string, unknown>;
  for (const name of ['AmiName', 'Architecture', 'RootDeviceName', 'RoleName', 'SignalUrl']) requireString(p, name);
  for (const name of ['Description', 'BootMode', 'ImdsSupport', 'TpmSupport', 'UefiData', 'KmsKeyId', 'WaitConditionLogicalId']) optionalString(p, name);
  if (p.EnaSupport !== undefined && p.EnaSupport !== 'true' && p.EnaSupport !== 'false') fail('EnaSupport', p.EnaSupport, '"true" or "false"');

  const disks = p.Disks;
  if (!Array.isArray(disks) || disks.length === 0) fail('Disks', disks, 'a non-empty list of disks');
  disks.forEach((disk, i) => {
    if (disk === null || typeof disk !== 'object' || Array.isArray(disk)) fail(`Disks[${i}]`, disk, 'an object');
    const d = disk as Record<string, unknown>;
    for (const name of ['Url', 'S3Bucket', 'S3Key', 'Description']) optionalString(d, name, `Disks[${i}].`);
    requireString(d, 'DeviceName', `Disks[${i}].`);
    if (typeof d.Format !== 'string' || !FORMATS.includes(d.Format)) fail(`Disks[${i}].Format`, d.Format, FORMATS.join(', '));
    if (d.Url === undefined && (d.S3Bucket === undefined || d.S3Key === undefined)) fail(`Disks[${i}]`, disk, 'Url, or both S3Bucket and S3Key');
  });
  if ((disks as Array<Record<string, unknown>>)[0].DeviceName !== p.RootDeviceName) {
    fail('Disks[0].DeviceName', (disks as Array<Record<string, unknown>>)[0].DeviceName, `the RootDeviceName ${JSON.stringify(p.RootDeviceName)} (the boot disk comes first)`);
  }

  if (p.Tags !== undefined) {
    const tags = p.Tags;
    if (tags === null || typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string')) {
      fail('Tags', tags, 'a map of strings');
    }
  }
  for (const name of ['TimeoutSeconds', 'PollIntervalSeconds', 'MaxPollIntervalSeconds']) {
    const value = p[name];
    if (value !== undefined && !(typeof value === 'string' && /^[1-9][0-9]*$/.test(value))) fail(name, value, 'a positive whole number of seconds, as a string');
  }
  if (p.RemovalPolicy !== undefined) {
    try {
      removalPolicy(p.RemovalPolicy as string);
    } catch {
      fail('RemovalPolicy', p.RemovalPolicy, 'destroy, snapshot or retain');
    }
  }
}

function requireString(p: Record<string, unknown>, name: string, prefix = ''): void {
  if (typeof p[name] !== 'string' || p[name] === '') fail(`${prefix}${name}`, p[name], 'a non-empty string');
}

function optionalString(p: Record<string, unknown>, name: string, prefix = ''): void {
  if (p[name] !== undefined && typeof p[name] !== 'string') fail(`${prefix}${name}`, p[name], 'a string');
}

function fail(name: string, value: unknown, expected: string): never {
  const shown = value === undefined ? 'nothing' : JSON.stringify(value);
  throw new Error(`invalid property ${name}: expected ${expected}, got ${shown === undefined ? String(value) : shown.slice(0, 200)}; ` +
    'the template was edited by hand or is newer than this handler: synthesize it again with cdk-vm-import-export');
}
