import { DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand, EC2Client,
  ImportImageTask,
} from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image, ImagebuilderClient,
} from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AMI, awsError, failureOf, IMAGE_ARN, isCompleteEvent, LOGICAL_ID, mockStackServices, NOW, PHYSICAL_ID, props, STACK_ID, TASK_ID, testDeps,
} from './fixtures';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { cloudformation } = mockStackServices();

const activeTask: ImportImageTask = { ImportTaskId: TASK_ID, Status: 'active', StatusMessage: 'converting', Progress: '42' };
const completedTask: ImportImageTask = { ImportTaskId: TASK_ID, Status: 'completed', ImageId: AMI };
const pendingImage: Image = { arn: IMAGE_ARN, state: { status: 'PENDING' } };
const availableImage: Image = {
  arn: IMAGE_ARN,
  state: { status: 'AVAILABLE' },
  outputResources: { amis: [{ region: 'eu-west-1', image: 'ami-0eeeeeeeeeeeeeeee' }, { region: 'us-east-1', image: AMI }] },
};

function givenTask(task: ImportImageTask | undefined): void {
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: task ? [task] : [] });
}

function givenImage(image: Image): void {
  imagebuilder.on(GetImageCommand).resolves({ image });
}

/** What the framework would send CloudFormation if isComplete failed with this error. */
function failedResponse(error: Error): string {
  return JSON.stringify({
    Status: 'FAILED',
    Reason: `${error.message}\n\nLogs: /aws/lambda/provider-isComplete-function-name-0123456789\n`,
    PhysicalResourceId: PHYSICAL_ID,
    StackId: STACK_ID,
    RequestId: 'create-request-1',
    LogicalResourceId: LOGICAL_ID,
    Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
  });
}

async function pollError(event = isCompleteEvent(), deps = testDeps()): Promise<Error> {
  return failureOf(isComplete(event, deps));
}

let log: jest.SpyInstance;

beforeAll(() => {
  log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  givenTask(activeTask);
  givenImage(pendingImage);
  // Only the clean-up of a failed replacement, or of an abandoned wait, calls these.
  ec2.on(CancelImportTaskCommand).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { SnapshotId: 'snap-0000000000000000a' } }] }] });
  ec2.on(DeregisterImageCommand).resolves({});
  ec2.on(DeleteSnapshotCommand).resolves({});
  imagebuilder.on(CancelImageCreationCommand).resolves({ imageBuildVersionArn: IMAGE_ARN });
  imagebuilder.on(DeleteImageCommand).resolves({ imageBuildVersionArn: IMAGE_ARN });
  log.mockClear();
});

const CLEAN_UP_OPERATIONS = [
  CancelImportTaskCommand, DescribeImagesCommand, DeregisterImageCommand, DeleteSnapshotCommand, CancelImageCreationCommand, DeleteImageCommand,
];

function cleanUpCalls(): string[] {
  return [...ec2.calls(), ...imagebuilder.calls()]
    .map((call) => (call.args[0] as object).constructor)
    .filter((command) => CLEAN_UP_OPERATIONS.includes(command as never))
    .map((command) => command.name);
}

/** An isComplete event for an Update whose onEvent started a new import. */
function replacementEvent(p = props(), extra: { Deadline?: number; NewImport?: boolean | string } = {}) {
  return isCompleteEvent(p, { RequestType: 'Update', NewImport: true, ...extra });
}

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('isComplete', () => {
  test('reports Delete complete without calls', async () => {
    const result = await isComplete(isCompleteEvent(props(), { RequestType: 'Delete' }), testDeps());

    expect(result).toEqual({ IsComplete: true });
    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test('reports complete at once, without ImageId, when WaitForAvailable is false', async () => {
    const result = await isComplete(isCompleteEvent(props({ WaitForAvailable: 'false' })), testDeps());

    expect(result).toEqual({
      IsComplete: true,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
    });
    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test('reports not complete, without Data, while the task is active', async () => {
    const result = await isComplete(isCompleteEvent(), testDeps());

    expect(result).toEqual({ IsComplete: false });
    expect(ec2).toHaveReceivedCommandWith(DescribeImportImageTasksCommand, { ImportTaskIds: [TASK_ID] });
    expect(imagebuilder).toHaveReceivedCommandWith(GetImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test.each([
    ['EC2 RequestLimitExceeded', 'ec2', awsError('RequestLimitExceeded', 'Request limit exceeded.', 503)],
    ['EC2 InternalError (500)', 'ec2', awsError('InternalError', 'An internal error has occurred', 500)],
    ['Image Builder ThrottlingException', 'imagebuilder', awsError('ThrottlingException', 'Rate exceeded', 400)],
    ['Image Builder CallRateLimitExceededException', 'imagebuilder', awsError('CallRateLimitExceededException', 'Call rate exceeded', 429)],
    ['Image Builder ServiceUnavailableException (503)', 'imagebuilder', awsError('ServiceUnavailableException', 'Service unavailable', 503)],
    ['a reset connection', 'imagebuilder', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('reports not complete, without throwing, on %s while polling', async (_label, client, error) => {
    if (client === 'ec2') ec2.on(DescribeImportImageTasksCommand).rejects(error);
    else imagebuilder.on(GetImageCommand).rejects(error);

    await expect(isComplete(isCompleteEvent(), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('fails on a polling error that is not transient', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform imagebuilder:GetImage', 403));

    await expect(isComplete(isCompleteEvent(), testDeps()))
      .rejects.toThrow('AccessDeniedException: not authorized to perform imagebuilder:GetImage');
  });

  test('reports complete with small Data, the AMI of the image Region, once the image is AVAILABLE', async () => {
    givenTask(completedTask);
    givenImage(availableImage);

    const result = await isComplete(isCompleteEvent(), testDeps());

    expect(result).toEqual({
      IsComplete: true,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID, ImageId: AMI },
    });
    expect(JSON.stringify(result).length).toBeLessThan(512);
  });

  test.each([
    ['another Region', { region: 'eu-west-1', image: 'ami-0eeeeeeeeeeeeeeee' }],
    ['another account', { region: 'us-east-1', accountId: '210987654321', image: 'ami-0eeeeeeeeeeeeeeee' }],
  ])('never reports an AMI of %s (Delete would not remove it): keeps polling', async (_label, ami) => {
    givenImage({ ...availableImage, outputResources: { amis: [ami] } });

    await expect(isComplete(isCompleteEvent(), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('reports the completed task AMI when the image lists only another Region\'s', async () => {
    givenTask(completedTask);
    givenImage({ ...availableImage, outputResources: { amis: [{ region: 'eu-west-1', image: 'ami-0eeeeeeeeeeeeeeee' }] } });

    const result = await isComplete(isCompleteEvent(), testDeps());

    expect(result).toMatchObject({ IsComplete: true, Data: { ImageId: AMI } });
  });

  test('falls back to the completed task AMI when the AVAILABLE image lists none yet', async () => {
    givenTask(completedTask);
    givenImage({ arn: IMAGE_ARN, state: { status: 'AVAILABLE' } });

    const result = await isComplete(isCompleteEvent(), testDeps());

    expect(result).toMatchObject({ IsComplete: true, Data: { ImageId: AMI } });
  });

  test('keeps polling when the image is AVAILABLE but no AMI is known yet', async () => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'AVAILABLE' } });

    await expect(isComplete(isCompleteEvent(), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('polls the image alone when EC2 has forgotten the task', async () => {
    givenTask(undefined);
    givenImage(availableImage);

    const result = await isComplete(isCompleteEvent(props(), { RequestType: 'Update' }), testDeps());

    expect(result).toMatchObject({ IsComplete: true, Data: { ImageId: AMI } });
  });

  test('fails with the StatusMessage of a deleted import task, verbatim', async () => {
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS / Missing OS files' });
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'Import failed' } });

    const error = await pollError();

    expect(error.message).toBe(`VM import ${TASK_ID} failed: ClientError: Unknown OS / Missing OS files`);
  });

  test('fails while the failed import task is still deleting', async () => {
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleting', StatusMessage: 'ClientError: Unsupported kernel version 2.6.18' });

    expect((await pollError()).message).toBe(`VM import ${TASK_ID} failed: ClientError: Unsupported kernel version 2.6.18`);
  });

  test.each(['FAILED', 'CANCELLED', 'DELETED'] as const)('fails with the reason of an image in state %s, verbatim', async (status) => {
    givenImage({ arn: IMAGE_ARN, state: { status, reason: 'The VM import task did not produce an AMI.' } });

    const error = await pollError();

    expect(error.message).toBe(`Image Builder image ${IMAGE_ARN} is ${status}: The VM import task did not produce an AMI.`);
  });

  test('truncates a long failure message so the response stays under 4096 bytes', async () => {
    const statusMessage = `ClientError: ${'disk validation failed; '.repeat(500)}`;
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: statusMessage });

    const error = await pollError();

    expect(error.message.startsWith(`VM import ${TASK_ID} failed: ClientError: disk validation failed;`)).toBe(true);
    expect(error.message.length).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(failedResponse(error))).toBeLessThan(4096);
  });

  test('fails after the deadline, naming the task, its progress and the rollback', async () => {
    const error = await pollError(isCompleteEvent(props({ TimeoutSeconds: '600' }), { Deadline: NOW - 1 }));

    expect(error.message).toContain(TASK_ID);
    expect(error.message).toContain('within 600 seconds');
    expect(error.message).toContain('"converting", 42% done');
    expect(error.message).toContain('image PENDING');
    expect(error.message).toMatch(/cancelled by the rollback/);
    // Longer imports wait through a wait condition (up to 12 hours), not through this resource.
    expect(error.message).toContain('raise `timeout` (up to 12 hours: the deployment then waits through a wait condition)');
    expect(error.message).not.toContain('timeoutSeconds');
  });

  test('keeps polling before the deadline', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Deadline: NOW + 1 }), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('accepts a Deadline that arrives as a string', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Deadline: String(NOW - 1) }), testDeps())).rejects.toThrow(/did not make/);
  });

  test('fails after the deadline even while AWS throttles', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));

    await expect(isComplete(isCompleteEvent(props(), { Deadline: NOW - 1 }), testDeps())).rejects.toThrow(/did not make/);
  });

  test('keeps polling without a deadline when the event carries none', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Deadline: undefined }), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('completes an AVAILABLE image even after the deadline', async () => {
    givenImage(availableImage);

    await expect(isComplete(isCompleteEvent(props(), { Deadline: NOW - 1 }), testDeps())).resolves.toMatchObject({ IsComplete: true });
  });

  test('fails for a physical id that names no import', async () => {
    const event = { ...isCompleteEvent(), PhysicalResourceId: 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED' };

    await expect(isComplete(event, testDeps())).rejects.toThrow(/names no VM import/);
    expect(ec2.calls()).toHaveLength(0);
  });

  test('rejects an unknown RequestType', async () => {
    const event = { ...isCompleteEvent(), RequestType: 'Replace' } as unknown as Parameters<typeof isComplete>[0];

    await expect(isComplete(event, testDeps())).rejects.toThrow('unknown RequestType "Replace"');
  });
});

describe('isComplete after an Update that started a new import (replacement)', () => {
  // The failed update's id stays the resource's (aws/aws-cdk#13527): the rollback answers the
  // original import's id and CloudFormation's Delete of the new id removes it once Image Builder
  // lets it. isComplete only stops the import at once, so that nothing runs on for hours.
  test('cancels the new import\'s task and image creation when it times out, and leaves the removal to the Delete', async () => {
    const error = await pollError(replacementEvent(props(), { Deadline: NOW - 1 }));

    expect(error.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID, CancelReason: "the update's new import failed" });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('stops a failed import task and reports its message, and accepts NewImport as a string', async () => {
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS / Missing OS files' });
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'Import failed' } });

    const error = await pollError(replacementEvent(props(), { NewImport: 'true' }));

    expect(error.message).toBe(`VM import ${TASK_ID} failed: ClientError: Unknown OS / Missing OS files`);
    expect(cleanUpCalls()).toEqual(['CancelImportTaskCommand', 'CancelImageCreationCommand']);
  });

  test('removes nothing of a failed replacement in isComplete: no DeleteImage, DeregisterImage or DeleteSnapshot', async () => {
    givenTask({ ...completedTask, SnapshotDetails: [{ SnapshotId: 'snap-0000000000000000a' }] });
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'could not register the AMI' } });

    await pollError(replacementEvent());

    expect(cleanUpCalls().filter((name) => !name.startsWith('Cancel'))).toEqual([]);
  });

  test('still reports the import failure when cancelling fails, and logs it', async () => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'CANCELLED', reason: 'cancelled' } });
    ec2.on(CancelImportTaskCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError('AccessDeniedException', 'not authorized', 403));

    const error = await pollError(replacementEvent());

    expect(error.message).toBe(`Image Builder image ${IMAGE_ARN} is CANCELLED: cancelled`);
    const logged = log.mock.calls.map((args) => args.join(' ')).join('\n');
    expect(logged).toContain(`could not cancel VM import ${TASK_ID}: UnauthorizedOperation`);
    expect(logged).toContain(`could not cancel ${IMAGE_ARN}`);
  });

  test('does not clean up while the import is still running, or on a transient polling error', async () => {
    await expect(isComplete(replacementEvent(), testDeps())).resolves.toEqual({ IsComplete: false });
    imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    await expect(isComplete(replacementEvent(), testDeps())).resolves.toEqual({ IsComplete: false });

    expect(cleanUpCalls()).toEqual([]);
  });

  test.each([
    ['a Create (its rollback Delete cleans up)', isCompleteEvent(props(), { Deadline: NOW - 1 })],
    ['an in-place Update (the image is the resource\'s own)', isCompleteEvent(props(), { RequestType: 'Update', Deadline: NOW - 1 })],
    ['an Update marked NewImport false', isCompleteEvent(props(), { RequestType: 'Update', Deadline: NOW - 1, NewImport: false })],
  ])('never cleans up after %s', async (_label, event) => {
    await expect(isComplete(event, testDeps())).rejects.toThrow(/did not make/);

    expect(cleanUpCalls()).toEqual([]);
  });
});

describe('isComplete by what onEvent asked to wait for (Wait)', () => {
  test('completes at once, with no call, for Wait none (a wait condition follows the import)', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Wait: 'none' }), testDeps())).resolves.toEqual({ IsComplete: true });

    expect([...ec2.calls(), ...imagebuilder.calls(), ...cloudformation.calls()]).toHaveLength(0);
  });

  test('fails with the Failure onEvent recorded for Wait fail, with no call, so the rollback Delete cleans up', async () => {
    const failure = 'Image Builder ImportVmImage failed: InternalServerException: boom; the VM import was cancelled';

    await expect(isComplete(isCompleteEvent(props(), { Wait: 'fail', Failure: failure, PhysicalResourceId: 'queued:ImportedImage:0123456789abcdef' }), testDeps()))
      .rejects.toThrow(failure);
    expect([...ec2.calls(), ...imagebuilder.calls()]).toHaveLength(0);
  });

  test('polls the import for Wait import, as for events of older versions that carry no Wait', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Wait: 'import' }), testDeps())).resolves.toEqual({ IsComplete: false });

    expect(ec2).toHaveReceivedCommandWith(DescribeImportImageTasksCommand, { ImportTaskIds: [TASK_ID] });
    expect(imagebuilder).toHaveReceivedCommandWith(GetImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('rejects an unknown Wait', async () => {
    await expect(isComplete(isCompleteEvent(props(), { Wait: 'later' as never }), testDeps())).rejects.toThrow('unknown Wait "later"');
  });
});

describe('isComplete when CloudFormation no longer waits for the Create', () => {
  function stackResource(status: string) {
    return {
      StackResourceDetail: { LogicalResourceId: LOGICAL_ID, ResourceType: 'Custom::VmImportImage', ResourceStatus: status as never, LastUpdatedTimestamp: new Date(NOW) },
    };
  }

  test('cancels its own import and stops with an error when the resource is DELETE_IN_PROGRESS about a minute into the wait', async () => {
    cloudformation.on(DescribeStackResourceCommand).resolves(stackResource('DELETE_IN_PROGRESS'));

    const error = await pollError(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + 61_000));

    expect(error.message).toBe('CloudFormation no longer waits for this resource: the wait stopped and its import was cancelled');
    expect(cloudformation).toHaveReceivedCommandWith(DescribeStackResourceCommand, { StackName: STACK_ID, LogicalResourceId: LOGICAL_ID });
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID, CancelReason: 'CloudFormation stopped waiting for it' });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('stops when the stack itself is gone', async () => {
    cloudformation.on(DescribeStackResourceCommand).rejects(awsError('ValidationError', `Stack with id ${STACK_ID} does not exist`));

    await expect(isComplete(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + 61_000))).rejects.toThrow(/no longer waits/);
  });

  test.each(['CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS'])('keeps polling while the resource is %s', async (status) => {
    cloudformation.on(DescribeStackResourceCommand).resolves(stackResource(status));

    await expect(isComplete(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + 61_000))).resolves.toEqual({ IsComplete: false });

    expect(cloudformation).toHaveReceivedCommandTimes(DescribeStackResourceCommand, 1);
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
  });

  test('keeps polling when CloudFormation cannot be asked (access denied): only a clear answer stops the wait', async () => {
    cloudformation.on(DescribeStackResourceCommand).rejects(awsError('AccessDenied', 'not authorized to perform: cloudformation:DescribeStackResource', 403));

    await expect(isComplete(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + 61_000))).resolves.toEqual({ IsComplete: false });
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
  });

  test('asks CloudFormation only about once a minute, not on every 15-second poll', async () => {
    for (const elapsed of [15_000, 30_000, 45_000]) {
      await isComplete(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + elapsed));
    }
    expect(cloudformation).not.toHaveReceivedCommand(DescribeStackResourceCommand);

    await isComplete(isCompleteEvent(props(), { Wait: 'import', StartedAt: NOW }), testDeps(NOW + 60_000));
    expect(cloudformation).toHaveReceivedCommandTimes(DescribeStackResourceCommand, 1);
  });
});
