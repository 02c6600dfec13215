import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand, EC2Client,
  ImportImageTask,
} from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image, ImagebuilderClient,
} from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AMI, awsError, deleteEvent, IMAGE_ARN, LEGACY_PHYSICAL_ID, PHYSICAL_ID, props, TASK_ID, testDeps } from './fixtures';
import { deleteImport } from '../../../src/handlers/import-image/delete';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);

const completedTask: ImportImageTask = {
  ImportTaskId: TASK_ID,
  Status: 'completed',
  ImageId: AMI,
  SnapshotDetails: [{ SnapshotId: 'snap-0000000000000000a', DeviceName: '/dev/sda1' }],
};
const activeTask: ImportImageTask = { ImportTaskId: TASK_ID, Status: 'active', StatusMessage: 'converting', Progress: '30' };
const availableImage: Image = {
  arn: IMAGE_ARN,
  state: { status: 'AVAILABLE' },
  outputResources: { amis: [{ region: 'us-east-1', image: AMI }, { region: 'eu-west-1', image: 'ami-0eeeeeeeeeeeeeeee' }] },
};

function givenTask(task: ImportImageTask | undefined): void {
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: task ? [task] : [] });
}

function givenImage(image: Image): void {
  imagebuilder.on(GetImageCommand).resolves({ image });
}

function callId(call: object): number {
  return (call as { callId: number }).callId;
}

/** Operations of both clients in call order (sinon numbers every call across stubs). */
function calledOperations(): string[] {
  return [...ec2.calls(), ...imagebuilder.calls()]
    .sort((a, b) => callId(a) - callId(b))
    .map((call) => (call.args[0] as object).constructor.name);
}

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  givenTask(completedTask);
  givenImage(availableImage);
  ec2.on(CancelImportTaskCommand).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
  ec2.on(DescribeImagesCommand).resolves({
    Images: [{
      ImageId: AMI,
      BlockDeviceMappings: [
        { DeviceName: '/dev/sda1', Ebs: { SnapshotId: 'snap-0000000000000000a' } },
        { DeviceName: '/dev/sdb', Ebs: { SnapshotId: 'snap-0000000000000000b' } },
        { DeviceName: '/dev/sdc', VirtualName: 'ephemeral0' },
      ],
    }],
  });
  ec2.on(DeregisterImageCommand).resolves({});
  ec2.on(DeleteSnapshotCommand).resolves({});
  imagebuilder.on(CancelImageCreationCommand).resolves({ imageBuildVersionArn: IMAGE_ARN });
  imagebuilder.on(DeleteImageCommand).resolves({ imageBuildVersionArn: IMAGE_ARN });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('delete', () => {
  test.each([
    'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED',
    'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    IMAGE_ARN,
    `not-an-arn|${TASK_ID}`,
    `${IMAGE_ARN}|`,
    `arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/x|${TASK_ID}`,
    `${IMAGE_ARN}|${TASK_ID}|not-a-hash`,
    `${PHYSICAL_ID}|0123456789abcdef`,
  ])('makes no AWS calls for a physical id it did not write: %s', async (physicalId) => {
    const result = await deleteImport(deleteEvent(props(), physicalId), testDeps());

    expect(result).toEqual({ PhysicalResourceId: physicalId });
    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test.each(['retain', 'retain-on-update-or-delete'])('makes no AWS calls with RemovalPolicy %s', async (policy) => {
    const result = await deleteImport(deleteEvent(props({ RemovalPolicy: policy })), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID });
    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test('cancels the import task when deleted while active', async () => {
    givenTask(activeTask);
    givenImage({ arn: IMAGE_ARN, state: { status: 'PENDING' } });

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID });
    expect(ec2).toHaveReceivedCommandWith(DescribeImportImageTasksCommand, { ImportTaskIds: [TASK_ID] });
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID, CancelReason: expect.stringMatching(/CloudFormation/) });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(calledOperations().indexOf('CancelImageCreationCommand')).toBeLessThan(calledOperations().indexOf('DeleteImageCommand'));
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('does not cancel a completed import task', async () => {
    await deleteImport(deleteEvent(), testDeps());

    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(CancelImageCreationCommand);
  });

  test('deregisters the AMI, deletes the snapshots, then deletes the image last when completed', async () => {
    await deleteImport(deleteEvent(), testDeps());

    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: [AMI] });
    expect(ec2).toHaveReceivedCommandTimes(DeregisterImageCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((call) => call.args[0].input.SnapshotId).sort())
      .toEqual(['snap-0000000000000000a', 'snap-0000000000000000b']);
    // The image lists the AMI: deleted last, so a Delete that stops midway can still find the AMI after 7 days.
    expect(calledOperations()).toEqual([
      'DescribeImportImageTasksCommand', 'GetImageCommand', 'DescribeImagesCommand', 'DeregisterImageCommand',
      'DeleteSnapshotCommand', 'DeleteSnapshotCommand', 'DeleteImageCommand',
    ]);
  });

  test('deletes from a physical id written before the properties hash', async () => {
    const result = await deleteImport(deleteEvent(props(), LEGACY_PHYSICAL_ID), testDeps());

    expect(result).toEqual({ PhysicalResourceId: LEGACY_PHYSICAL_ID });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('keeps the image and names the AMI and snapshots still to clean up when deregistering fails', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    const error = await deleteImport(deleteEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message).toBe(
      `still to clean up: AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b. ` +
      'EC2 DeregisterImage failed: UnauthorizedOperation: You are not authorized to perform this operation.',
    );
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('names only the snapshots not yet deleted when a snapshot delete fails', async () => {
    ec2.on(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000b' }).rejects(awsError('InvalidSnapshot.InUse', 'The snapshot is in use by ami-0fffffffffffffff0'));

    const error = await deleteImport(deleteEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message).toBe(
      'still to clean up: snapshots snap-0000000000000000b. EC2 DeleteSnapshot failed: InvalidSnapshot.InUse: The snapshot is in use by ami-0fffffffffffffff0',
    );
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('names the AMI and the snapshots known so far when the snapshots behind the AMI cannot be read', async () => {
    ec2.on(DescribeImagesCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow(
      `still to clean up: AMI ${AMI}; snapshots snap-0000000000000000a. EC2 DescribeImages failed: UnauthorizedOperation`,
    );
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('names no snapshots (they are kept) when deregistering fails with RemovalPolicy snapshot', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(deleteImport(deleteEvent(props({ RemovalPolicy: 'snapshot' })), testDeps()))
      .rejects.toThrow(/^still to clean up: AMI ami-0123456789abcdef0\. EC2 DeregisterImage failed/);
  });

  test('keeps the ids to clean up when a long AWS message is cut', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', `Encoded authorization failure: ${'x'.repeat(3000)}`));

    const error = await deleteImport(deleteEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message.length).toBeLessThanOrEqual(1000);
    expect(error?.message).toContain(`AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b.`);
  });

  test('leaves AMIs in other Regions alone', async () => {
    await deleteImport(deleteEvent(), testDeps());

    expect(ec2).not.toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: 'ami-0eeeeeeeeeeeeeeee' });
  });

  test('deregisters the AMI but keeps its snapshots with RemovalPolicy snapshot', async () => {
    await deleteImport(deleteEvent(props({ RemovalPolicy: 'snapshot' })), testDeps());

    expect(imagebuilder).toHaveReceivedCommand(DeleteImageCommand);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('uses the AMI Image Builder lists when EC2 has forgotten the task (over 7 days)', async () => {
    givenTask(undefined);

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000b' });
  });

  test('succeeds without clean-up calls when the task is forgotten and the image already gone', async () => {
    ec2.on(DescribeImportImageTasksCommand).rejects(awsError('InvalidConversionTaskId.Malformed', `The import task ID '${TASK_ID}' is malformed`));
    imagebuilder.on(GetImageCommand).rejects(awsError('ResourceNotFoundException', 'The image does not exist', 404));

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID });
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('succeeds when the image, AMI and snapshots were already removed', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceNotFoundException', 'The image does not exist', 404));
    ec2.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound', `The image id '[${AMI}]' does not exist`));
    ec2.on(DeregisterImageCommand).rejects(awsError('InvalidAMIID.Unavailable', `The image ID '${AMI}' is no longer available`));
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.NotFound', "The snapshot 'snap-0000000000000000a' does not exist."));

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID });
    // The task's own snapshot record still gets its delete attempt.
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000a' });
  });

  test('fails with an actionable message when the image is in use (the last step)', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'The image is referenced by image recipe my-recipe.'));

    const error = await deleteImport(deleteEvent(), testDeps()).then(() => undefined, (err: Error) => err);

    expect(error?.message).toMatch(/^cannot delete Image Builder image .* it is in use/);
    expect(error?.message).toMatch(/removalPolicy to RETAIN/);
    expect(error?.message).toContain('ResourceDependencyException: The image is referenced by image recipe my-recipe.');
    expect(error?.message.length).toBeLessThanOrEqual(1000);
    // Nothing else is left: a retried Delete finds the AMI and snapshots gone and deletes the image.
    expect(error?.message).not.toMatch(/still to clean up/);
  });

  test('retries DeleteImage while a cancelled creation settles', async () => {
    givenTask(activeTask);
    givenImage({ arn: IMAGE_ARN, state: { status: 'PENDING' } });
    imagebuilder.on(DeleteImageCommand)
      .rejectsOnce(awsError('ResourceDependencyException', 'The image is being built.'))
      .resolves({ imageBuildVersionArn: IMAGE_ARN });
    const deps = testDeps();

    await deleteImport(deleteEvent(), deps);

    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 2);
    expect(deps.sleep).toHaveBeenCalledTimes(1);
  });

  test('does not retry DeleteImage for an image that was not in progress', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'shared with another account'));
    const deps = testDeps();

    await expect(deleteImport(deleteEvent(), deps)).rejects.toThrow(/in use/);

    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 1);
    expect(deps.sleep).not.toHaveBeenCalled();
  });

  test('deletes the image even when its creation can no longer be cancelled', async () => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'DISTRIBUTING' } });
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError('InvalidRequestException', 'The image cannot be cancelled in its current state.'));

    await deleteImport(deleteEvent(), testDeps());

    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test.each([
    ['ResourceInUseException', 'The image is already being cancelled.'],
    ['ResourceNotFoundException', 'The image cannot be found.'],
  ])('deletes the image when CancelImageCreation answers %s', async (code, message) => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'BUILDING' } });
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError(code, message));

    await deleteImport(deleteEvent(), testDeps());

    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test.each([
    ['AccessDeniedException', 'User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: imagebuilder:CancelImageCreation'],
    ['ForbiddenException', 'You are not authorized to cancel this image.'],
  ])('fails on a CancelImageCreation %s even though its message mentions cancelling', async (code, message) => {
    givenImage({ arn: IMAGE_ARN, state: { status: 'BUILDING' } });
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError(code, message, 403));

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow(`Image Builder CancelImageCreation failed: ${code}: ${message}`);

    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('removes the AMI of a task that completed before it could be cancelled', async () => {
    ec2.on(DescribeImportImageTasksCommand)
      .resolvesOnce({ ImportImageTasks: [activeTask] })
      .resolves({ ImportImageTasks: [completedTask] });
    ec2.on(CancelImportTaskCommand).rejects(awsError('InvalidConversionTaskId', `The task ${TASK_ID} is completed and cannot be cancelled`));
    givenImage({ arn: IMAGE_ARN, state: { status: 'BUILDING' } });

    await deleteImport(deleteEvent(), testDeps());

    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000a' });
  });

  test('fails with the AWS code and message when a clean-up call is denied', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(deleteImport(deleteEvent(), testDeps()))
      .rejects.toThrow('EC2 DeregisterImage failed: UnauthorizedOperation: You are not authorized to perform this operation.');
  });

  test('refuses an unknown removal policy before any call', async () => {
    await expect(deleteImport(deleteEvent(props({ RemovalPolicy: 'keep-some' })), testDeps())).rejects.toThrow(/unknown RemovalPolicy "keep-some"/);

    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });
});
