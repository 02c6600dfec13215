import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createEvent, failureOf, mockStackServices, PHYSICAL_ID, props, Props, testDeps, updateEvent } from './fixtures';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { validateProperties } from '../../../src/handlers/import-image/validate';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn, cloudformation } = mockStackServices();

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

function allCalls(): number {
  return ec2.calls().length + imagebuilder.calls().length + sfn.calls().length + cloudformation.calls().length;
}

/** Properties as a hand-edited template could deliver them: anything goes. */
function edited(changes: Record<string, unknown>, remove: string[] = []): Props {
  const p: Record<string, unknown> = { ...props(), ...changes };
  for (const name of remove) delete p[name];
  return p as unknown as Props;
}

// [label, properties, message part naming the property and the value received]
const WRONG: Array<[string, Props, string]> = [
  ['Disks not a list', edited({ Disks: 's3://disk-bucket/boot.vmdk' }), 'invalid property Disks: expected a non-empty list of disks, got "s3://disk-bucket/boot.vmdk"'],
  ['Disks empty', edited({ Disks: [] }), 'invalid property Disks: expected a non-empty list of disks, got []'],
  ['Disks missing', edited({}, ['Disks']), 'invalid property Disks: expected a non-empty list of disks, got nothing'],
  ['a disk with no source', edited({ Disks: [{ Format: 'VMDK' }] }), 'invalid property Disks[0]: expected Url, SnapshotId, or both S3Bucket and S3Key, got {"Format":"VMDK"}'],
  ['a disk Format that is a number', edited({ Disks: [{ Format: 7, Url: 's3://b/k' }] }), 'invalid property Disks[0].Format: expected a string, got 7'],
  ['Tags with a number value', edited({ Tags: { team: 'a', cost: 42 } }), 'invalid property Tags: expected a map of strings, got {"team":"a","cost":42}'],
  ['Tags as a list', edited({ Tags: [{ Key: 'team', Value: 'a' }] }), 'invalid property Tags: expected a map of strings, got [{"Key":"team","Value":"a"}]'],
  ['LicenseConfigurationArns a string', edited({ LicenseConfigurationArns: 'arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1' }),
    'invalid property LicenseConfigurationArns: expected a list of strings, got "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1"'],
  ['TimeoutSeconds "soon"', edited({ TimeoutSeconds: 'soon' }), 'invalid property TimeoutSeconds: expected a positive whole number of seconds, as a string, got "soon"'],
  ['TimeoutSeconds a number', edited({ TimeoutSeconds: 3600 }), 'invalid property TimeoutSeconds: expected a positive whole number of seconds, as a string, got 3600'],
  ['PollIntervalSeconds "0"', edited({ PollIntervalSeconds: '0' }), 'invalid property PollIntervalSeconds: expected a positive whole number of seconds, as a string, got "0"'],
  ['WaitForAvailable "yes"', edited({ WaitForAvailable: 'yes' }), 'invalid property WaitForAvailable: expected "true" or "false", got "yes"'],
  ['RemovalPolicy "keep"', edited({ RemovalPolicy: 'keep' }), 'invalid property RemovalPolicy: expected destroy, snapshot or retain, got "keep"'],
  ['Platform "BeOS"', edited({ Platform: 'BeOS' }), 'invalid property Platform: expected "Linux" or "Windows", got "BeOS"'],
  ['ImageName missing', edited({}, ['ImageName']), 'invalid property ImageName: expected a non-empty string, got nothing'],
  ['RoleName empty', edited({ RoleName: '' }), 'invalid property RoleName: expected a non-empty string, got ""'],
  ['SignalUrl an object', edited({ SignalUrl: { Ref: 'Handle' } }), 'invalid property SignalUrl: expected a string, got {"Ref":"Handle"}'],
];

describe('properties wrongly typed or missing', () => {
  test.each(WRONG)('fail a Create at once, naming the property and the value, with no AWS call: %s', async (_label, p, message) => {
    const error = await failureOf(onEvent(createEvent(p), testDeps()));

    expect(error.message).toContain(message);
    expect(error.message).toMatch(/synthesize it again with cdk-vm-import-export$/);
    expect(allCalls()).toBe(0);
  });

  test.each(WRONG)('fail an Update at once, with no AWS call: %s', async (_label, p, message) => {
    await expect(onEvent(updateEvent(props(), p, PHYSICAL_ID), testDeps())).rejects.toThrow(message);

    expect(allCalls()).toBe(0);
  });

  test('cuts a huge wrong value so the message stays small', () => {
    expect(() => validateProperties(edited({ Tags: { big: 1, pad: 'x'.repeat(5000) } }))).toThrow(/^invalid property Tags: expected a map of strings, got .{200}; /);
  });

  test.each([
    ['ResourceProperties missing', undefined],
    ['ResourceProperties a list', [props()]],
  ])('rejects %s', (_label, value) => {
    expect(() => validateProperties(value)).toThrow(/^invalid property ResourceProperties: expected an object/);
  });

  test('accepts the properties the construct writes, every optional one included', () => {
    expect(() => validateProperties(props({
      Description: 'd',
      OsVersion: 'Ubuntu 22',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      LicenseType: 'BYOL',
      UsageOperation: 'RunInstances:0010',
      LicenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1'],
      KmsKeyId: 'alias/k',
      Disks: [{ Url: 's3://b/k' }, { SnapshotId: 'snap-0123456789abcdef0' }, { S3Bucket: 'b', S3Key: 'k', Format: 'RAW', DeviceName: '/dev/sdb', Description: 'x' }],
      LogGroupName: '/aws/imagebuilder/x',
      Tags: { a: 'b' },
      WaitForAvailable: 'false',
      TimeoutSeconds: '43200',
      RemovalPolicy: 'snapshot',
      SignalUrl: 'https://example.invalid/signal',
      WaitConditionLogicalId: 'Wait',
      PollIntervalSeconds: '15',
      MaxPollIntervalSeconds: '120',
    }))).not.toThrow();
    expect(() => validateProperties(props({ RemovalPolicy: 'retain-on-update-or-delete', Platform: 'Windows' }))).not.toThrow();
  });
});
