import { CancelImportTaskCommand, DescribeImportImageTasksCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, ImagebuilderClient, ImportVmImageCommand, ListImageBuildVersionsCommand,
} from '@aws-sdk/client-imagebuilder';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  awsError, createEvent, IMAGE_ARN, imageTags, mockStackServices, NOW, PHYSICAL_ID, physicalIdFor, props, ROLE_NOT_READY_MESSAGE,
  runtimeTags, SIGNAL_URL, STACK_ID, STATE_MACHINE_ARN, TASK_ID, testDeps, WAIT_CONDITION_LOGICAL_ID, waitProps,
} from './fixtures';
import { parsePhysicalId, propertiesHash } from '../../../src/handlers/import-image/common';
import { createImport } from '../../../src/handlers/import-image/create';
import { executionName } from '../../../src/handlers/import-image/poller';
import { clientToken } from '../../../src/handlers/shared/util';
import { IMPORT_TASK_TAG_KEY } from '../../../src/handlers/types';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn } = mockStackServices();

/** ImportImage's tags as a map. */
function importImageTags(): Record<string, string> {
  const specs = ec2.commandCalls(ImportImageCommand)[0].args[0].input.TagSpecifications ?? [];
  expect(specs.map((spec) => spec.ResourceType)).toEqual(['import-image-task']);
  return Object.fromEntries((specs[0].Tags ?? []).map((tag) => [tag.Key, tag.Value]));
}

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
  ec2.on(CancelImportTaskCommand).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [] });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: IMAGE_ARN });
  imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [] });
  imagebuilder.on(CancelImageCreationCommand).resolves({ imageBuildVersionArn: IMAGE_ARN });
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
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: expect.arrayContaining([{ Key: 'project', Value: 'vm-import' }]) }],
      ClientToken: clientToken(event, 'ImportImage'),
    });
    expect(importImageTags()).toEqual({ project: 'vm-import', ...runtimeTags(event.ResourceProperties) });
  });

  test('sends only Platform, RoleName, disks, token and the run-time tags when nothing optional is set', async () => {
    await createImport(createEvent(props({ Tags: {}, LicenseConfigurationArns: [] })), testDeps());

    const input = ec2.commandCalls(ImportImageCommand)[0].args[0].input;
    expect(Object.keys(input).sort()).toEqual(['ClientToken', 'DiskContainers', 'Platform', 'RoleName', 'TagSpecifications']);
    expect(input.DiskContainers).toEqual([{ Format: 'VMDK', UserBucket: { S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk' } }]);
    expect(importImageTags()).toEqual(runtimeTags(props({ Tags: {}, LicenseConfigurationArns: [] })));
  });

  test('tags the import task with the stack id, the logical id and the properties hash, so a Delete can find it without its id', async () => {
    await createImport(createEvent(), testDeps());

    expect(importImageTags()).toEqual({
      'cdk-vm-import-export:stack-id': 'arn:aws:cloudformation:us-east-1:123456789012:stack/my-stack/11111111-2222-3333-4444-555555555555',
      'cdk-vm-import-export:logical-id': 'ImportedImage',
      'cdk-vm-import-export:properties-hash': propertiesHash(props()),
    });
  });

  test('lets the run-time tags win over user tags of the same key', async () => {
    await createImport(createEvent(props({ Tags: { 'cdk-vm-import-export:logical-id': 'Spoofed', 'team': 'a' } })), testDeps());

    expect(importImageTags()['cdk-vm-import-export:logical-id']).toBe('ImportedImage');
    expect(imagebuilder.commandCalls(ImportVmImageCommand)[0].args[0].input.tags?.['cdk-vm-import-export:logical-id']).toBe('ImportedImage');
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
      tags: { project: 'vm-import', ...runtimeTags(event.ResourceProperties), [IMPORT_TASK_TAG_KEY]: TASK_ID },
      clientToken: clientToken(event, 'ImportVmImage'),
    });
    expect(imagebuilder.commandCalls(ImportVmImageCommand)[0].args[0].input.clientToken).toHaveLength(36);
  });

  test('omits optional ImportVmImage members that are not set; the image carries only the library tags', async () => {
    await createImport(createEvent(), testDeps());

    const input = imagebuilder.commandCalls(ImportVmImageCommand)[0].args[0].input;
    expect(Object.keys(input).sort()).toEqual(['clientToken', 'name', 'platform', 'semanticVersion', 'tags', 'vmImportTaskId']);
    expect(input.tags).toEqual({ ...runtimeTags(), [IMPORT_TASK_TAG_KEY]: TASK_ID });
  });

  test('returns the image ARN, task id and properties hash as physical id, small Data, a Deadline, and waits for the import itself without a wait condition', async () => {
    const result = await createImport(createEvent(props({ TimeoutSeconds: '600' })), testDeps());

    expect(result.PhysicalResourceId).toBe(`${IMAGE_ARN}|${TASK_ID}|${propertiesHash(props())}`);
    expect(result.PhysicalResourceId).toMatch(/\|import-ami-[0-9a-f]+\|[0-9a-f]{16}$/);
    expect(result).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
      Deadline: NOW + 600_000,
      StartedAt: NOW,
      Wait: 'import',
    });
    expect(sfn.calls()).toHaveLength(0);
  });

  test('completes at once (Wait none) when WaitForAvailable is false', async () => {
    const result = await createImport(createEvent(props({ WaitForAvailable: 'false' })), testDeps());

    expect(result.Wait).toBe('none');
    expect(sfn.calls()).toHaveLength(0);
  });

  test('caps the Deadline of a resource that waits itself at 55 minutes (the Provider allows one hour)', async () => {
    const result = await createImport(createEvent(props({ TimeoutSeconds: '7200' })), testDeps());

    expect(result.Deadline).toBe(NOW + 3300 * 1000);
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

describe('create with a wait condition (SignalUrl)', () => {
  test('starts the poller for the task, named after the task and the wait condition, and completes at once (Wait none)', async () => {
    const event = createEvent(waitProps({ TimeoutSeconds: '21600' }));

    const result = await createImport(event, testDeps());

    expect(result).toMatchObject({ PhysicalResourceId: physicalIdFor(waitProps()), Wait: 'none' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const input = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(input.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(input.name).toBe(executionName(TASK_ID, SIGNAL_URL));
    expect(input.name).toMatch(new RegExp(`^${TASK_ID}-[0-9a-f]{16}$`));
    expect(JSON.parse(input.input ?? '')).toEqual({
      Poller: {
        ImageArn: IMAGE_ARN,
        ImportTaskId: TASK_ID,
        StackId: STACK_ID,
        LogicalResourceId: 'ImportedImage',
        WaitConditionLogicalId: WAIT_CONDITION_LOGICAL_ID,
        SignalUrl: SIGNAL_URL,
        StartedAt: NOW,
        // The wait condition's own timeout, not the custom resource's hour.
        Deadline: NOW + 21600 * 1000,
        PollIntervalSeconds: 15,
        MaxPollIntervalSeconds: 120,
      },
      Polls: 0,
      Next: 15,
      Done: false,
    });
  });

  test('starts no poller when WaitForAvailable is false', async () => {
    const result = await createImport(createEvent(waitProps({ WaitForAvailable: 'false' })), testDeps());

    expect(result.Wait).toBe('none');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('cancels the task and the image creation, and fails with an id of its own, when the poller cannot start (nobody would signal)', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: states:StartExecution'));

    const result = await createImport(createEvent(waitProps()), testDeps());

    // Not the framework's CREATE_FAILED marker: the Delete that follows finds the cancelled image by its tags.
    expect(result).toEqual({
      PhysicalResourceId: expect.stringMatching(/^queued:ImportedImage:[0-9a-f]{16}$/),
      Wait: 'fail',
      Failure: `could not start the poller of VM import ${TASK_ID}: Step Functions StartExecution failed: AccessDeniedException: `
        + 'not authorized to perform: states:StartExecution; the VM import was cancelled, and the rollback removes its image',
    });
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('carries on, cancelling nothing, when the poller of this import and wait condition was started already (a redelivered Create)', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('ExecutionAlreadyExists', `Execution Already Exists: 'arn:aws:states:us-east-1:123456789012:execution:ImportPollerABC123:${TASK_ID}-x'`));

    await expect(createImport(createEvent(waitProps()), testDeps())).resolves.toMatchObject({ PhysicalResourceId: physicalIdFor(waitProps()), Wait: 'none' });

    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(CancelImageCreationCommand);
  });

  test('retries StartExecution through throttling, then completes', async () => {
    sfn.on(StartExecutionCommand)
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded', 400))
      .resolves({ executionArn: `arn:aws:states:us-east-1:123456789012:execution:ImportPollerABC123:${TASK_ID}-x`, startDate: new Date(NOW) });
    const deps = testDeps();

    await expect(createImport(createEvent(waitProps()), deps)).resolves.toMatchObject({ Wait: 'none' });

    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 2);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000]);
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
  });

  test('fails with an id of its own when the poller state machine is not configured, and cancels the task', async () => {
    await expect(createImport(createEvent(waitProps()), testDeps(NOW, { pollerStateMachineArn: undefined })))
      .resolves.toMatchObject({ Wait: 'fail', Failure: expect.stringMatching(/POLLER_STATE_MACHINE_ARN/) });

    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
  });

  test('never logs the SignalUrl (presigned)', async () => {
    const log = jest.spyOn(console, 'log');
    log.mockClear();

    await createImport(createEvent(waitProps()), testDeps());

    const logged = log.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
    expect(logged).toContain(TASK_ID);
    expect(logged).not.toContain('signal-secret');
  });
});

describe('create when Image Builder ImportVmImage fails', () => {
  test('on a 5xx through every retry: cancels the task and answers Wait fail with an id that is no import, so the rollback Delete looks the image up', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('InternalServerException', 'We encountered an internal error.', 500));
    const deps = testDeps();
    const event = createEvent();

    const result = await createImport(event, deps);

    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 5);
    const tokens = imagebuilder.commandCalls(ImportVmImageCommand).map((call) => call.args[0].input.clientToken);
    expect(new Set(tokens)).toEqual(new Set([clientToken(event, 'ImportVmImage')]));
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000, 2000, 4000, 8000]);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
    expect(result).toEqual({
      PhysicalResourceId: `queued:ImportedImage:${propertiesHash(props())}`,
      Wait: 'fail',
      Failure: expect.stringContaining('Image Builder ImportVmImage failed: InternalServerException: We encountered an internal error.'),
    });
    expect(parsePhysicalId(result.PhysicalResourceId)).toBeUndefined();
    expect(result.Failure).toMatch(/the rollback removes the image if Image Builder made it/);
  });

  test('on a 5xx after Image Builder made the image: stops its creation (found by its tags)', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('ServiceUnavailableException', 'Service unavailable', 503));
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({
      imageSummaryList: [{ arn: IMAGE_ARN, state: { status: 'PENDING' }, tags: imageTags() }],
    });

    const result = await createImport(createEvent(), testDeps());

    expect(result.Wait).toBe('fail');
    expect(imagebuilder).toHaveReceivedCommandWith(ListImageBuildVersionsCommand, {
      imageVersionArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/1.0.0',
    });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('on a 4xx: throws the AWS error at once, cancels the task, and answers no id', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: imagebuilder:ImportVmImage', 403));
    const deps = testDeps();

    await expect(createImport(createEvent(), deps))
      .rejects.toThrow('Image Builder ImportVmImage failed: AccessDeniedException: not authorized to perform: imagebuilder:ImportVmImage');

    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID, CancelReason: expect.stringMatching(/ImportVmImage failed/) });
    expect(deps.sleep).not.toHaveBeenCalled();
  });

  test('retries the clean-up CancelImportTask through throttling (RequestLimitExceeded 503) and then cancels', async () => {
    imagebuilder.on(ImportVmImageCommand).rejects(awsError('InvalidParameterException', 'The log group does not exist.'));
    ec2.on(CancelImportTaskCommand)
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
    const deps = testDeps();

    await expect(createImport(createEvent(), deps)).rejects.toThrow(/The log group does not exist/);

    expect(ec2).toHaveReceivedCommandTimes(CancelImportTaskCommand, 3);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000, 2000]);
  });
});

describe('create of a queued import (the account import quota is full)', () => {
  test.each(['ResourceCountLimitExceeded', 'ResourceLimitExceeded'])(
    'answers Wait queue with a queued id when ImportImage says %s, and registers nothing', async (code) => {
      ec2.on(ImportImageCommand).rejects(awsError(code, 'You have reached the maximum number of concurrent import tasks.'));

      const result = await createImport(createEvent(props({ TimeoutSeconds: '600' })), testDeps());

      expect(result).toEqual({
        PhysicalResourceId: `queued:ImportedImage:${propertiesHash(props())}`,
        Wait: 'queue',
        StartedAt: NOW,
        Deadline: NOW + 600_000,
      });
      expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
      expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
      expect(sfn.calls()).toHaveLength(0);
    });
});

