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
  AMI, awsError, IMAGE_ARN, isCompleteEvent, LOGICAL_ID, NOW, PHYSICAL_ID, props, STACK_ID, TASK_ID, testDeps,
} from './fixtures';
import { CLEANUP_DELETE_RETRY_DELAYS_MS, isComplete } from '../../../src/handlers/import-image/is-complete';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);

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

async function pollError(event = isCompleteEvent()): Promise<Error> {
  return isComplete(event, testDeps()).then(
    (result) => { throw new Error(`expected a failure, got ${JSON.stringify(result)}`); },
    (err: Error) => err,
  );
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
  // Only the clean-up of a failed replacement calls these.
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
    expect(error.message).toContain('increase `timeout` (at most 55 minutes) or set `waitForAvailable: false`');
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
  test('removes the new import when it times out: cancels the task and the image creation, deletes the image', async () => {
    const error = await pollError(replacementEvent(props(), { Deadline: NOW - 1 }));

    expect(error.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('removes the image of a failed import task, and accepts NewImport as a string', async () => {
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS / Missing OS files' });
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'Import failed' } });

    const error = await pollError(replacementEvent(props(), { NewImport: 'true' }));

    expect(error.message).toBe(`VM import ${TASK_ID} failed: ClientError: Unknown OS / Missing OS files`);
    expect(cleanUpCalls()).toEqual(['DeleteImageCommand']);
  });

  test('removes the AMI and snapshots of a completed task whose image FAILED, the image last', async () => {
    givenTask({ ...completedTask, SnapshotDetails: [{ SnapshotId: 'snap-0000000000000000a' }] });
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'could not register the AMI' } });

    await pollError(replacementEvent());

    expect(cleanUpCalls()).toEqual(['DescribeImagesCommand', 'DeregisterImageCommand', 'DeleteSnapshotCommand', 'DeleteImageCommand']);
  });

  test('keeps the snapshots with RemovalPolicy snapshot, and everything with retain', async () => {
    givenTask(completedTask);
    givenImage({ arn: IMAGE_ARN, state: { status: 'FAILED', reason: 'could not register the AMI' } });

    await pollError(replacementEvent(props({ RemovalPolicy: 'snapshot' })));
    expect(cleanUpCalls()).toEqual(['DescribeImagesCommand', 'DeregisterImageCommand', 'DeleteImageCommand']);

    ec2.resetHistory();
    imagebuilder.resetHistory();
    await pollError(replacementEvent(props({ RemovalPolicy: 'retain' })));
    expect(cleanUpCalls()).toEqual([]);
  });

  test('still reports the import failure when the clean-up fails, and logs what is left', async () => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'CANCELLED', reason: 'cancelled' } });
    givenTask(completedTask);
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    const error = await pollError(replacementEvent());

    expect(error.message).toBe(`Image Builder image ${IMAGE_ARN} is CANCELLED: cancelled`);
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
    const logged = log.mock.calls.map((args) => args.join(' ')).join('\n');
    expect(logged).toContain(`could not clean up the failed update's import ${TASK_ID}`);
    expect(logged).toContain(`still to clean up: AMI ${AMI}; snapshots snap-0000000000000000a`);
  });

  test('retries DeleteImage only briefly, to stay inside the function timeout', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'The image is being built.'));
    const deps = testDeps();

    await expect(isComplete(replacementEvent(props(), { Deadline: NOW - 1 }), deps)).rejects.toThrow(/did not make/);

    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual(CLEANUP_DELETE_RETRY_DELAYS_MS);
    expect(CLEANUP_DELETE_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20_000);
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
