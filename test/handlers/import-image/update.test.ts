import { EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import {
  GetImageCommand, ImagebuilderClient, ImportVmImageCommand, TagResourceCommand, UntagResourceCommand,
} from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AMI, IMAGE_ARN, NOW, PHYSICAL_ID, props, TASK_ID, testDeps, updateEvent } from './fixtures';
import { updateImport } from '../../../src/handlers/import-image/update';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const NEW_IMAGE_ARN = 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/2.0.0/1';
const NEW_TASK_ID = 'import-ami-0fedcba9876543210';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).resolves({ ImportTaskId: NEW_TASK_ID });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: NEW_IMAGE_ARN });
  imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'BUILDING' } } });
  imagebuilder.on(TagResourceCommand).resolves({});
  imagebuilder.on(UntagResourceCommand).resolves({});
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('update', () => {
  test('updates only changed tags in place: same id, TagResource and UntagResource, no new import', async () => {
    const event = updateEvent(
      props({ Tags: { keep: 'same', change: 'old', drop: 'gone' } }),
      props({ Tags: { keep: 'same', change: 'new', add: 'added' } }),
    );

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { change: 'new', add: 'added' } });
    expect(imagebuilder).toHaveReceivedCommandWith(UntagResourceCommand, { resourceArn: IMAGE_ARN, tagKeys: ['drop'] });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
  });

  test.each([
    ['WaitForAvailable', { WaitForAvailable: 'false' }],
    ['TimeoutSeconds', { TimeoutSeconds: '1800' }],
    ['RemovalPolicy', { RemovalPolicy: 'retain' }],
    ['ServiceToken', { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:other' }],
  ])('keeps the image when only %s changes, without tag calls', async (_name, change) => {
    const result = await updateImport(updateEvent(props({ Tags: { a: '1' } }), props({ Tags: { a: '1' }, ...change })), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test('returns the same Data and a new Deadline for an in-place update', async () => {
    const result = await updateImport(updateEvent(props(), props({ TimeoutSeconds: '900' })), testDeps());

    expect(result).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
      Deadline: NOW + 900_000,
    });
  });

  test('keeps ImageId in Data when the image is AVAILABLE, from the image Region', async () => {
    imagebuilder.on(GetImageCommand).resolves({
      image: {
        arn: IMAGE_ARN,
        state: { status: 'AVAILABLE' },
        outputResources: { amis: [{ region: 'eu-west-1', image: 'ami-0aaaaaaaaaaaaaaaa' }, { region: 'us-east-1', image: AMI }] },
      },
    });

    const result = await updateImport(updateEvent(props(), props({ WaitForAvailable: 'false' })), testDeps());

    expect(result.Data?.ImageId).toBe(AMI);
  });

  test.each([
    ['the disk source', { Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot-v2.vmdk' }] }],
    ['the image version', { ImageVersion: '2.0.0' }],
    ['the KMS key', { KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' }],
    ['the boot mode', { BootMode: 'uefi' }],
    ['the license configurations', { LicenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1'] }],
  ])('starts a new import under a new physical id for a change of %s', async (_name, change) => {
    const event = updateEvent(props(), props(change));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(`${NEW_IMAGE_ARN}|${NEW_TASK_ID}`);
    expect(result.Data).toMatchObject({ ImageArn: NEW_IMAGE_ARN, ImportTaskId: NEW_TASK_ID });
    expect(ec2).toHaveReceivedCommandWith(ImportImageCommand, { ClientToken: clientToken(event, 'ImportImage') });
    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
  });

  test('handles OldResourceProperties written by an older handler version (no Tags, no RemovalPolicy)', async () => {
    const old = props();
    const olderShape: Record<string, unknown> = { ...old };
    delete olderShape.Tags;
    delete olderShape.RemovalPolicy;
    delete olderShape.WaitForAvailable;
    const event = updateEvent(olderShape, props({ Tags: { team: 'platform' }, RemovalPolicy: 'destroy', WaitForAvailable: 'true' }));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { team: 'platform' } });
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('treats empty and absent optional properties as the same', async () => {
    const old = props({ Description: '', LicenseConfigurationArns: [], Tags: {} });

    const result = await updateImport(updateEvent(old, props()), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('tolerates missing OldResourceProperties', async () => {
    const event = { ...updateEvent(props(), props()), OldResourceProperties: undefined as unknown as Record<string, unknown> };

    const result = await updateImport(event, testDeps());

    // Nothing to compare with: a new import is the safe answer.
    expect(result.PhysicalResourceId).toBe(`${NEW_IMAGE_ARN}|${NEW_TASK_ID}`);
  });

  test('starts a new import when the old physical id names no import', async () => {
    const result = await updateImport(updateEvent(props(), props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'), testDeps());

    expect(result.PhysicalResourceId).toBe(`${NEW_IMAGE_ARN}|${NEW_TASK_ID}`);
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
  });
});
