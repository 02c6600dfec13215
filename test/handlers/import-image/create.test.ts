import { CancelImportTaskCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import { ImagebuilderClient, ImportVmImageCommand } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  awsError, createEvent, IMAGE_ARN, NOW, PHYSICAL_ID, props, ROLE_NOT_READY_MESSAGE, TASK_ID, testDeps,
} from './fixtures';
import { propertiesHash } from '../../../src/handlers/import-image/common';
import { createImport } from '../../../src/handlers/import-image/create';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
  ec2.on(CancelImportTaskCommand).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: IMAGE_ARN });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('create', () => {
  test('sends ImportImage with every import setting', async () => {
    const event = createEvent(props({
      Description: 'imported by cdk',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      LicenseType: 'BYOL',
      UsageOperation: 'RunInstances:0010',
      LicenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef'],
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
      Disks: [
        { Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk', DeviceName: '/dev/sda1', Description: 'boot' },
        { Format: 'RAW', Url: 's3://disk-bucket/disks/data.raw' },
        { SnapshotId: 'snap-0123456789abcdef0' },
      ],
      Tags: { project: 'vm-import' },
    }));

    await createImport(event, testDeps());

    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(ImportImageCommand, {
      Platform: 'Linux',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      LicenseType: 'BYOL',
      UsageOperation: 'RunInstances:0010',
      Description: 'imported by cdk',
      LicenseSpecifications: [{ LicenseConfigurationArn: 'arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef' }],
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
      RoleName: 'vmimport',
      DiskContainers: [
        { Format: 'VMDK', UserBucket: { S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk' }, DeviceName: '/dev/sda1', Description: 'boot' },
        { Format: 'RAW', Url: 's3://disk-bucket/disks/data.raw' },
        { SnapshotId: 'snap-0123456789abcdef0' },
      ],
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'project', Value: 'vm-import' }] }],
      ClientToken: clientToken(event, 'ImportImage'),
    });
  });

  test('sends only Platform, RoleName, disks and token when nothing optional is set', async () => {
    await createImport(createEvent(props({ Tags: {}, LicenseConfigurationArns: [] })), testDeps());

    const input = ec2.commandCalls(ImportImageCommand)[0].args[0].input;
    expect(Object.keys(input).sort()).toEqual(['ClientToken', 'DiskContainers', 'Platform', 'RoleName']);
    expect(input.DiskContainers).toEqual([{ Format: 'VMDK', UserBucket: { S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk' } }]);
  });

  test('registers the import task with Image Builder ImportVmImage', async () => {
    const event = createEvent(props({
      Platform: 'Windows',
      OsVersion: 'Microsoft Windows Server 2022',
      Description: 'imported by cdk',
      LogGroupName: '/aws/imagebuilder/imported-vm',
      Tags: { project: 'vm-import' },
    }));

    await createImport(event, testDeps());

    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(ImportVmImageCommand, {
      name: 'imported-vm',
      semanticVersion: '1.0.0',
      platform: 'Windows',
      osVersion: 'Microsoft Windows Server 2022',
      description: 'imported by cdk',
      vmImportTaskId: TASK_ID,
      loggingConfiguration: { logGroupName: '/aws/imagebuilder/imported-vm' },
      tags: { project: 'vm-import' },
      clientToken: clientToken(event, 'ImportVmImage'),
    });
    expect(imagebuilder.commandCalls(ImportVmImageCommand)[0].args[0].input.clientToken).toHaveLength(36);
  });

  test('omits optional ImportVmImage members that are not set', async () => {
    await createImport(createEvent(), testDeps());

    const input = imagebuilder.commandCalls(ImportVmImageCommand)[0].args[0].input;
    expect(Object.keys(input).sort()).toEqual(['clientToken', 'name', 'platform', 'semanticVersion', 'vmImportTaskId']);
  });

  test('returns the image ARN, task id and properties hash as physical id, small Data and a Deadline', async () => {
    const result = await createImport(createEvent(props({ TimeoutSeconds: '600' })), testDeps());

    expect(result.PhysicalResourceId).toBe(`${IMAGE_ARN}|${TASK_ID}|${propertiesHash(props())}`);
    expect(result.PhysicalResourceId).toMatch(/\|import-ami-[0-9a-f]+\|[0-9a-f]{16}$/);
    expect(result).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
      Deadline: NOW + 600_000,
    });
  });

  test('sets the Deadline 3300 seconds ahead when TimeoutSeconds is absent', async () => {
    const result = await createImport(createEvent(), testDeps());

    expect(result.Deadline).toBe(NOW + 3300 * 1000);
  });

  test.each([
    ['AuthFailure', 'AWS was not able to validate the provided access credentials'],
    ['UnauthorizedOperation', 'You are not authorized to perform this operation.'],
    ['InvalidParameter', 'The given S3 object is not local to the region.'],
  ])('fails with the AWS code and message when ImportImage is rejected (%s) and starts nothing else', async (code, message) => {
    ec2.on(ImportImageCommand).rejects(awsError(code, message));
    const deps = testDeps();

    await expect(createImport(createEvent(), deps)).rejects.toThrow(`EC2 ImportImage failed: ${code}: ${message}`);

    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
    expect(deps.sleep).not.toHaveBeenCalled();
  });

  test('retries ImportImage while the service role is not visible yet, with one client token', async () => {
    ec2.on(ImportImageCommand)
      .rejectsOnce(awsError('InvalidParameter', ROLE_NOT_READY_MESSAGE))
      .rejectsOnce(awsError('InvalidParameter', ROLE_NOT_READY_MESSAGE))
      .resolves({ ImportTaskId: TASK_ID });
    const deps = testDeps();
    const event = createEvent();

    const result = await createImport(event, deps);

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    const tokens = ec2.commandCalls(ImportImageCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens).toEqual([clientToken(event, 'ImportImage'), clientToken(event, 'ImportImage'), clientToken(event, 'ImportImage')]);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([2000, 4000]);
    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
  });

  test('gives up after five tries and under a minute when the role never becomes usable', async () => {
    ec2.on(ImportImageCommand).rejects(awsError('InvalidParameter', ROLE_NOT_READY_MESSAGE));
    const deps = testDeps();

    await expect(createImport(createEvent(), deps)).rejects.toThrow(`EC2 ImportImage failed: InvalidParameter: ${ROLE_NOT_READY_MESSAGE}`);

    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 5);
    const waited = deps.sleep.mock.calls.reduce((sum, [ms]) => sum + ms, 0);
    expect(waited).toBeLessThan(60_000);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([...deps.sleep.mock.calls.map(([ms]) => ms)].sort((a, b) => a - b));
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
  });

  test('sends the same client tokens when the same request is invoked twice', async () => {
    const event = createEvent();

    await createImport(event, testDeps());
    await createImport({ ...event }, testDeps());

    const importTokens = ec2.commandCalls(ImportImageCommand).map((call) => call.args[0].input.ClientToken);
    const registerTokens = imagebuilder.commandCalls(ImportVmImageCommand).map((call) => call.args[0].input.clientToken);
    expect(new Set(importTokens).size).toBe(1);
    expect(new Set(registerTokens).size).toBe(1);
    expect(importTokens[0]).not.toBe(registerTokens[0]);
  });

  test('sends different client tokens for a different request', async () => {
    await createImport(createEvent(props(), 'request-a'), testDeps());
    await createImport(createEvent(props(), 'request-b'), testDeps());

    const tokens = ec2.commandCalls(ImportImageCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  test('cancels the import task when ImportVmImage fails and reports the AWS error', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('InvalidParameterException', 'The log group does not exist.'));

    await expect(createImport(createEvent(), testDeps()))
      .rejects.toThrow('Image Builder ImportVmImage failed: InvalidParameterException: The log group does not exist.');

    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
  });

  test.each([
    ['ResourceAlreadyExistsException', 'The image arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/1.0.0 already exists.'],
    ['InvalidParameterException', 'An image with name imported-vm and version 1.0.0 already exists.'],
    ['InvalidVersionNumberException', 'Version 1.0.0 already exists for image imported-vm.'],
  ])('tells the user to bump imageVersion when the name and version exist (%s) and cancels the task', async (code, message) => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError(code, message));

    const error = await createImport(createEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message).toMatch(/bump imageVersion \(or change imageName\)/);
    expect(error?.message).toContain('"imported-vm" with version 1.0.0');
    expect(error?.message).toContain(`${code}: ${message}`);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
  });

  test('still reports the ImportVmImage failure when cancelling the task fails too', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('AccessDeniedException', 'not authorized to ImportVmImage'));
    ec2.on(CancelImportTaskCommand).rejects(awsError('UnauthorizedOperation', 'not authorized to CancelImportTask'));

    await expect(createImport(createEvent(), testDeps()))
      .rejects.toThrow('Image Builder ImportVmImage failed: AccessDeniedException: not authorized to ImportVmImage');
    expect(ec2).toHaveReceivedCommandTimes(CancelImportTaskCommand, 1);
  });

  test('truncates a long AWS message to keep the response under 4096 bytes', async () => {
    ec2.on(ImportImageCommand).rejects(awsError('InvalidParameter', 'x'.repeat(10_000)));

    const error = await createImport(createEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message.startsWith('EC2 ImportImage failed: InvalidParameter: xxx')).toBe(true);
    expect(error?.message.length).toBeLessThanOrEqual(1000);
  });
});
