import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand, EC2Client,
  ImportImageTask,
} from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image, ImagebuilderClient, ImageStatus, ListImageBuildVersionsCommand,
  ListImageRecipesCommand,
} from '@aws-sdk/client-imagebuilder';
import { ListExecutionsCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  afterOnEvent, AMI, awsError, deleteEvent, failureOf, IMAGE_ARN, imageTags, LEGACY_PHYSICAL_ID, mockStackServices, NOW, PHYSICAL_ID, props,
  runtimeTags, STACK_ID, STATE_MACHINE_ARN, TASK_ID, testDeps,
} from './fixtures';
import { OnEventResponse, propertiesHash } from '../../../src/handlers/import-image/common';
import { deleteImport } from '../../../src/handlers/import-image/delete';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn, cloudformation } = mockStackServices();

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
const IMAGE_VERSION_ARN = 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/1.0.0';
/** A physical id CloudFormation invents when it stopped waiting for a Create (aws-cdk-lib custom-resources README). */
const INVENTED_ID = 'my-stack-ImportedImage-ABC123XYZ';

function givenTask(task: ImportImageTask | undefined): void {
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: task ? [task] : [] });
}

function givenImage(image: Image): void {
  imagebuilder.on(GetImageCommand).resolves({ image });
}

function imageIn(status: ImageStatus, extra: Partial<Image> = {}): Image {
  return { arn: IMAGE_ARN, state: { status }, ...extra };
}

function callId(call: object): number {
  return (call as { callId: number }).callId;
}

/** Operations of every client in call order (sinon numbers every call across stubs). */
function calledOperations(): string[] {
  return [...ec2.calls(), ...imagebuilder.calls(), ...sfn.calls(), ...cloudformation.calls()]
    .sort((a, b) => callId(a) - callId(b))
    .map((call) => (call.args[0] as object).constructor.name);
}

const DESTRUCTIVE = new Set([
  'CancelImportTaskCommand', 'CancelImageCreationCommand', 'DeleteImageCommand', 'DeregisterImageCommand', 'DeleteSnapshotCommand', 'StopExecutionCommand',
]);

function destructiveCalls(): string[] {
  return calledOperations().filter((name) => DESTRUCTIVE.has(name));
}

function clearHistory(): void {
  for (const mock of [ec2, imagebuilder, sfn, cloudformation]) mock.resetHistory();
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
  imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [] });
  imagebuilder.on(ListImageRecipesCommand).resolves({ imageRecipeSummaryList: [] });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('delete', () => {
  test('makes no AWS call at all for the framework\'s CREATE_FAILED marker', async () => {
    const result = await deleteImport(deleteEvent(props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'), testDeps());

    expect(result).toEqual({ PhysicalResourceId: 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED', Wait: 'none' });
    expect(calledOperations()).toEqual([]);
  });

  test.each([
    INVENTED_ID,
    'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    IMAGE_ARN,
    `not-an-arn|${TASK_ID}`,
    `${IMAGE_ARN}|`,
    `arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/x|${TASK_ID}`,
    `${IMAGE_ARN}|${TASK_ID}|not-a-hash`,
    `${PHYSICAL_ID}|0123456789abcdef`,
  ])('looks the import up by its tags for a physical id it did not write (%s) and, finding none, succeeds with no destructive call', async (physicalId) => {
    const result = await deleteImport(deleteEvent(props(), physicalId), testDeps());

    expect(result).toEqual({ PhysicalResourceId: physicalId, Wait: 'none' });
    expect(calledOperations()).toEqual(['ListImageBuildVersionsCommand', 'DescribeImportImageTasksCommand']);
    expect(imagebuilder).toHaveReceivedCommandWith(ListImageBuildVersionsCommand, { imageVersionArn: IMAGE_VERSION_ARN });
  });

  test.each(['retain', 'retain-on-update-or-delete'])(
    'still removes everything with RemovalPolicy %s: CloudFormation retains what deployments made, so a Delete reaching the handler is a rollback', async (policy) => {
      const result = await deleteImport(deleteEvent(props({ RemovalPolicy: policy })), testDeps());

      expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
      expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
      expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
      expect(ec2).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 2);
    });

  test.each(['destroy', 'snapshot', 'retain'])('cancels a running import task whatever the removal policy (%s)', async (policy) => {
    givenTask(activeTask);
    givenImage(imageIn('PENDING'));

    await deleteImport(deleteEvent(props({ RemovalPolicy: policy })), testDeps());

    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_ID, CancelReason: expect.stringMatching(/CloudFormation/) });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('does not cancel a completed import task', async () => {
    await deleteImport(deleteEvent(), testDeps());

    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(CancelImageCreationCommand);
  });

  test('removes the image FIRST (AMI and snapshot ids read before), then deregisters the AMI, then deletes its snapshots', async () => {
    await deleteImport(deleteEvent(), testDeps());

    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: [AMI] });
    expect(ec2).toHaveReceivedCommandTimes(DeregisterImageCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((call) => call.args[0].input.SnapshotId).sort())
      .toEqual(['snap-0000000000000000a', 'snap-0000000000000000b']);
    // An image that cannot be deleted (in use) must keep its AMI and snapshots: it goes first.
    expect(destructiveCalls()).toEqual(['DeleteImageCommand', 'DeregisterImageCommand', 'DeleteSnapshotCommand', 'DeleteSnapshotCommand']);
    expect(calledOperations().indexOf('DescribeImagesCommand')).toBeLessThan(calledOperations().indexOf('DeleteImageCommand'));
  });

  test('deletes from a physical id written before the properties hash', async () => {
    const result = await deleteImport(deleteEvent(props(), LEGACY_PHYSICAL_ID), testDeps());

    expect(result).toEqual({ PhysicalResourceId: LEGACY_PHYSICAL_ID, Wait: 'none' });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('names the AMI and snapshots still to clean up when deregistering fails after the image was deleted', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    const error = await failureOf(deleteImport(deleteEvent(), testDeps()));

    expect(error.message).toBe(
      `still to clean up: AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b. ` +
      'EC2 DeregisterImage failed: UnauthorizedOperation: You are not authorized to perform this operation.',
    );
    expect(imagebuilder).toHaveReceivedCommand(DeleteImageCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('names only the snapshots not yet deleted when a snapshot delete fails', async () => {
    ec2.on(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000b' }).rejects(awsError('InvalidSnapshot.InUse', 'The snapshot is in use by ami-0fffffffffffffff0'));

    const error = await failureOf(deleteImport(deleteEvent(), testDeps()));

    expect(error.message).toBe(
      'still to clean up: snapshots snap-0000000000000000b. EC2 DeleteSnapshot failed: InvalidSnapshot.InUse: The snapshot is in use by ami-0fffffffffffffff0',
    );
  });

  test('names the AMI and the snapshots known so far, and removes nothing, when the snapshots behind the AMI cannot be read', async () => {
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

    const error = await failureOf(deleteImport(deleteEvent(), testDeps()));

    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(1000);
    expect(error.message).toContain(`AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b.`);
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

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000b' });
  });

  test('succeeds without clean-up calls when the task is forgotten and the image already gone', async () => {
    ec2.on(DescribeImportImageTasksCommand).rejects(awsError('InvalidConversionTaskId.Malformed', `The import task ID '${TASK_ID}' is malformed`));
    imagebuilder.on(GetImageCommand).rejects(awsError('ResourceNotFoundException', 'The image does not exist', 404));

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
    expect(destructiveCalls()).toEqual([]);
  });

  test('succeeds when the image, AMI and snapshots were already removed', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceNotFoundException', 'The image does not exist', 404));
    ec2.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound', `The image id '[${AMI}]' does not exist`));
    ec2.on(DeregisterImageCommand).rejects(awsError('InvalidAMIID.Unavailable', `The image ID '${AMI}' is no longer available`));
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.NotFound', "The snapshot 'snap-0000000000000000a' does not exist."));

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
    // The task's own snapshot record still gets its delete attempt.
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000a' });
  });

  test('fails on a CancelImageCreation 403 even though the image is still in progress', async () => {
    givenImage(imageIn('BUILDING'));
    imagebuilder.on(CancelImageCreationCommand).rejects(
      awsError('AccessDeniedException', 'User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: imagebuilder:CancelImageCreation', 403),
    );

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow('Image Builder CancelImageCreation failed: AccessDeniedException: User:');

    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('fails with the AWS code and message when a clean-up call is denied', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));

    await expect(deleteImport(deleteEvent(), testDeps()))
      .rejects.toThrow('EC2 DeregisterImage failed: UnauthorizedOperation: You are not authorized to perform this operation.');
  });

  test('refuses an unknown removal policy before any call', async () => {
    await expect(deleteImport(deleteEvent(props({ RemovalPolicy: 'keep-some' })), testDeps())).rejects.toThrow(/unknown RemovalPolicy "keep-some"/);

    expect(calledOperations()).toEqual([]);
  });
});

describe('delete of an image in use', () => {
  test('names the recipes that use the image, says the AMI and snapshots stay, and removes nothing after the image', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'The image is referenced by image recipe my-recipe.'));
    imagebuilder.on(ListImageRecipesCommand).resolves({
      imageRecipeSummaryList: [
        { arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0', name: 'web-server' },
        { arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/batch/2.1.0', name: 'batch' },
      ],
    });

    const error = await failureOf(deleteImport(deleteEvent(), testDeps()));

    expect(error.message).toMatch(new RegExp(`^cannot delete Image Builder image ${IMAGE_ARN.replace(/[/.]/g, '\\$&')}: it is in use`));
    expect(error.message).toContain('image recipe(s) arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0, arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/batch/2.1.0');
    expect(error.message).toContain(`The AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b stay with it.`);
    expect(error.message).toMatch(/removalPolicy to RETAIN/);
    expect(error.message).toContain('ResourceDependencyException: The image is referenced by image recipe my-recipe.');
    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(1000);
    expect(imagebuilder).toHaveReceivedCommandWith(ListImageRecipesCommand, {
      owner: 'Self', filters: [{ name: 'parentImage', values: expect.arrayContaining([IMAGE_ARN]) }],
    });
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('reads every page of recipes', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'in use'));
    imagebuilder.on(ListImageRecipesCommand)
      .resolvesOnce({ imageRecipeSummaryList: [{ arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0' }], nextToken: 'page-2' })
      .resolves({ imageRecipeSummaryList: [{ arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/b/1.0.0' }] });

    const error = await failureOf(deleteImport(deleteEvent(), testDeps()));

    expect(error.message).toContain('image-recipe/a/1.0.0, arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/b/1.0.0');
    expect(imagebuilder.commandCalls(ListImageRecipesCommand).map((call) => call.args[0].input.nextToken)).toEqual([undefined, 'page-2']);
  });

  test('says the image may be shared when no recipe of the account uses it', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'The image is shared.'));

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow(/no recipe of this account names it as parent: it may be shared/);
  });

  test('still explains the failure when the recipes cannot be listed', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'in use'));
    imagebuilder.on(ListImageRecipesCommand).rejects(awsError('AccessDeniedException', 'not authorized', 403));

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow(/it is in use \(its users could not be listed: ListImageRecipes answered AccessDeniedException\)/);
  });

  test('does not retry DeleteImage of an image in use', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'shared with another account'));
    const deps = testDeps();

    await expect(deleteImport(deleteEvent(), deps)).rejects.toThrow(/in use/);

    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 1);
    expect(deps.sleep).not.toHaveBeenCalled();
  });
});

describe('delete that waits for Image Builder to make the image terminal', () => {
  /** onEvent of a Delete while the import runs; the clock then moves for isComplete. */
  async function startDelete(): Promise<{ event: ReturnType<typeof deleteEvent>; response: OnEventResponse }> {
    givenTask(activeTask);
    givenImage(imageIn('PENDING'));
    const event = deleteEvent();
    const response = await onEvent(event, testDeps()) as OnEventResponse;
    return { event, response };
  }

  test('cancels the task and the image creation, removes nothing, and answers Wait delete with its targets and a 55-minute deadline', async () => {
    const { response } = await startDelete();

    expect(calledOperations()).toEqual([
      'ListExecutionsCommand',
      'DescribeImportImageTasksCommand', 'CancelImportTaskCommand', 'GetImageCommand', 'CancelImageCreationCommand',
      'DescribeImportImageTasksCommand', 'GetImageCommand',
    ]);
    expect(response).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Wait: 'delete',
      Targets: [{ imageArn: IMAGE_ARN, importTaskId: TASK_ID, propertiesHash: propertiesHash(props()) }],
      StartedAt: NOW,
      Deadline: NOW + 55 * 60_000,
    });
  });

  test.each(['PENDING', 'BUILDING'] as ImageStatus[])('reports IsComplete false and deletes nothing while the image is %s', async (status) => {
    const { event, response } = await startDelete();
    givenTask({ ...activeTask, Status: 'deleting', StatusMessage: 'cancelling' });
    givenImage(imageIn(status));
    clearHistory();

    const result = await isComplete(afterOnEvent(event, response), testDeps(NOW + 5 * 60_000));

    expect(result).toEqual({ IsComplete: false });
    expect(destructiveCalls()).toEqual([]);
  });

  test('removes the image FIRST, then the AMI, then the snapshots, once the image is terminal', async () => {
    const { event, response } = await startDelete();
    // The task finished before the cancel reached it: an AMI exists, and the image FAILED.
    givenTask(completedTask);
    givenImage(imageIn('FAILED', { state: { status: 'FAILED', reason: 'cancelled' } }));
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { SnapshotId: 'snap-0000000000000000a' } }] }] });
    clearHistory();

    const result = await isComplete(afterOnEvent(event, response), testDeps(NOW + 10 * 60_000));

    expect(result).toEqual({ IsComplete: true });
    expect(destructiveCalls()).toEqual(['DeleteImageCommand', 'DeregisterImageCommand', 'DeleteSnapshotCommand']);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000a' });
  });

  test('removes a CANCELLED image that made no AMI, and nothing else', async () => {
    const { event, response } = await startDelete();
    givenTask({ ...activeTask, Status: 'deleted', StatusMessage: 'cancelled by CloudFormation' });
    givenImage(imageIn('CANCELLED'));
    clearHistory();

    await expect(isComplete(afterOnEvent(event, response), testDeps(NOW + 10 * 60_000))).resolves.toEqual({ IsComplete: true });

    expect(destructiveCalls()).toEqual(['DeleteImageCommand']);
  });

  test('fails past the deadline with the real state ("not terminal yet after N minutes"), not "in use", and removes nothing', async () => {
    const { event, response } = await startDelete();
    givenTask({ ...activeTask, Status: 'deleting', StatusMessage: 'cancelling' });
    givenImage(imageIn('BUILDING'));
    clearHistory();

    const error = await failureOf(isComplete(afterOnEvent(event, response), testDeps(NOW + 56 * 60_000)));

    expect(error.message).toContain(`cannot remove the import yet: Image Builder has not made it terminal after 56 minutes (${IMAGE_ARN}: image BUILDING, task deleting)`);
    expect(error.message).not.toMatch(/in use/);
    expect(destructiveCalls()).toEqual([]);
  });

  test('keeps waiting through throttling before the deadline', async () => {
    const { event, response } = await startDelete();
    imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded', 429));
    clearHistory();

    await expect(isComplete(afterOnEvent(event, response), testDeps(NOW + 60_000))).resolves.toEqual({ IsComplete: false });
    expect(destructiveCalls()).toEqual([]);
  });

  test('removes the AMI of a task that completed before it could be cancelled', async () => {
    ec2.on(DescribeImportImageTasksCommand)
      .resolvesOnce({ ImportImageTasks: [activeTask] })
      .resolves({ ImportImageTasks: [completedTask] });
    ec2.on(CancelImportTaskCommand).rejects(awsError('InvalidConversionTaskId', `The task ${TASK_ID} is completed and cannot be cancelled`));
    givenImage(imageIn('BUILDING'));
    const event = deleteEvent();

    const response = await onEvent(event, testDeps()) as OnEventResponse;
    expect(response.Wait).toBe('delete');
    givenImage(availableImage);
    await expect(isComplete(afterOnEvent(event, response), testDeps(NOW + 60_000))).resolves.toEqual({ IsComplete: true });

    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-0000000000000000a' });
  });

  test.each([
    ['InvalidRequestException', 'The image cannot be cancelled in its current state.', 'DISTRIBUTING'],
    ['ResourceInUseException', 'The image is already being cancelled.', 'BUILDING'],
    ['ResourceNotFoundException', 'The image cannot be found.', 'BUILDING'],
  ] as Array<[string, string, ImageStatus]>)(
    'waits for an image whose cancel answers %s while it is still in progress, then removes it', async (code, message, status) => {
      givenImage(imageIn(status));
      imagebuilder.on(CancelImageCreationCommand).rejects(awsError(code, message));
      const event = deleteEvent();

      const response = await onEvent(event, testDeps()) as OnEventResponse;
      expect(response.Wait).toBe('delete');
      expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);

      givenImage(imageIn('CANCELLED'));
      await expect(isComplete(afterOnEvent(event, response), testDeps(NOW + 60_000))).resolves.toEqual({ IsComplete: true });
      expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
    });

  test('answers a Delete event of an older handler version (no Wait, no Targets) complete without calls', async () => {
    await expect(isComplete(afterOnEvent(deleteEvent(), { PhysicalResourceId: PHYSICAL_ID }), testDeps())).resolves.toEqual({ IsComplete: true });

    expect(calledOperations()).toEqual([]);
  });
});

describe('delete when cancelling races the image to a terminal state', () => {
  test.each([
    ['InvalidParameterValueException', 'CANCELLED'],
    ['InvalidParameterValueException', 'FAILED'],
    ['InvalidRequestException', 'CANCELLED'],
    ['ValidationException', 'FAILED'],
  ] as Array<[string, ImageStatus]>)('treats CancelImageCreation answering %s (400) for an image then %s as success, and removes it', async (code, terminal) => {
    imagebuilder.on(GetImageCommand)
      .resolvesOnce({ image: imageIn('BUILDING') })
      .resolves({ image: imageIn(terminal) });
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError(code, 'The image is not in a state that can be cancelled.'));

    const result = await deleteImport(deleteEvent(), testDeps());

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('fails on a 400 cancel answer when the image is still in progress and the code does not mean "already cancelling"', async () => {
    givenImage(imageIn('BUILDING'));
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError('ValidationException', 'clientToken is invalid'));

    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow('Image Builder CancelImageCreation failed: ValidationException: clientToken is invalid');
  });
});

describe('delete with an id CloudFormation invented (it stopped waiting for the Create)', () => {
  const ORPHAN_TASK = 'import-ami-0aaaaaaaaaaaaaaa1';
  const OTHER_STACK_TASK = 'import-ami-0bbbbbbbbbbbbbbb2';
  const OTHER_STACK = STACK_ID.replace('my-stack', 'other-stack');
  const images = [
    { arn: IMAGE_ARN, state: { status: 'BUILDING' as const }, tags: imageTags() },
    { arn: `${IMAGE_VERSION_ARN}/2`, state: { status: 'BUILDING' as const }, tags: imageTags(props(), 'import-ami-0ccccccccccccccc3', { 'cdk-vm-import-export:logical-id': 'OtherImage' }) },
    { arn: `${IMAGE_VERSION_ARN}/3`, state: { status: 'BUILDING' as const }, tags: imageTags(props(), 'import-ami-0ddddddddddddddd4', { 'cdk-vm-import-export:stack-id': OTHER_STACK }) },
    { arn: `${IMAGE_VERSION_ARN}/4`, state: { status: 'BUILDING' as const }, tags: imageTags(props({ ImageVersion: '1.0.0', Description: 'other' }), 'import-ami-0eeeeeeeeeeeeee5') },
    { arn: `${IMAGE_VERSION_ARN}/5`, state: { status: 'BUILDING' as const }, tags: { project: 'untagged by us' } },
  ];
  const tasks: Record<string, ImportImageTask> = {
    [TASK_ID]: { ...activeTask, Tags: Object.entries(runtimeTags()).map(([Key, Value]) => ({ Key, Value })) },
    // ImportVmImage never answered for this one: a task with no image.
    [ORPHAN_TASK]: { ImportTaskId: ORPHAN_TASK, Status: 'active', Tags: Object.entries(runtimeTags()).map(([Key, Value]) => ({ Key, Value })) },
    [OTHER_STACK_TASK]: {
      ImportTaskId: OTHER_STACK_TASK, Status: 'active', Tags: Object.entries(runtimeTags(props(), { 'cdk-vm-import-export:stack-id': OTHER_STACK })).map(([Key, Value]) => ({ Key, Value })),
    },
  };

  beforeEach(() => {
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: images });
    ec2.on(DescribeImportImageTasksCommand).callsFake((input: { ImportTaskIds?: string[] }) => ({
      ImportImageTasks: input.ImportTaskIds ? input.ImportTaskIds.map((id) => tasks[id]).filter(Boolean) : Object.values(tasks),
    }));
    givenImage(imageIn('BUILDING'));
  });

  test('finds the image and the task of this resource and these properties by their tags, and cancels only them', async () => {
    const event = deleteEvent(props(), INVENTED_ID);

    const response = await onEvent(event, testDeps()) as OnEventResponse;

    expect(response).toMatchObject({ PhysicalResourceId: INVENTED_ID, Wait: 'delete' });
    expect(response.Targets).toEqual([
      { imageArn: IMAGE_ARN, importTaskId: TASK_ID, propertiesHash: propertiesHash(props()), imageStatus: 'BUILDING' },
      { importTaskId: ORPHAN_TASK, propertiesHash: propertiesHash(props()) },
    ]);
    expect(ec2.commandCalls(CancelImportTaskCommand).map((call) => call.args[0].input.ImportTaskId).sort()).toEqual([TASK_ID, ORPHAN_TASK].sort());
    expect(imagebuilder.commandCalls(CancelImageCreationCommand).map((call) => call.args[0].input.imageBuildVersionArn)).toEqual([IMAGE_ARN]);
  });

  test('removes only this resource\'s image once it is terminal', async () => {
    const event = deleteEvent(props(), INVENTED_ID);
    const response = await onEvent(event, testDeps()) as OnEventResponse;
    givenImage(imageIn('CANCELLED'));
    tasks[TASK_ID] = { ...tasks[TASK_ID], Status: 'deleted' };
    tasks[ORPHAN_TASK] = { ...tasks[ORPHAN_TASK], Status: 'deleted' };
    clearHistory();

    await expect(isComplete(afterOnEvent(event, response), testDeps(NOW + 5 * 60_000))).resolves.toEqual({ IsComplete: true });

    expect(imagebuilder.commandCalls(DeleteImageCommand).map((call) => call.args[0].input.imageBuildVersionArn)).toEqual([IMAGE_ARN]);
    expect(imagebuilder.commandCalls(GetImageCommand).map((call) => call.args[0].input.imageBuildVersionArn)).toEqual([IMAGE_ARN]);
  });

  test('also finds an import that waited for quota (queued id)', async () => {
    const event = deleteEvent(props(), `queued:ImportedImage:${propertiesHash(props())}`);

    const response = await onEvent(event, testDeps()) as OnEventResponse;

    expect(response.Targets?.map((target) => target.importTaskId)).toEqual([TASK_ID, ORPHAN_TASK]);
  });

  test('finds nothing of another stack or logical id: succeeds with no destructive call', async () => {
    const event = { ...deleteEvent(props(), INVENTED_ID), LogicalResourceId: 'NeverImported' };

    const response = await onEvent(event, testDeps());

    expect(response).toEqual({ PhysicalResourceId: INVENTED_ID, Wait: 'none' });
    expect(destructiveCalls()).toEqual([]);
  });
});

describe('delete stops the poller', () => {
  test('stops the running executions of its task only, through every page', async () => {
    sfn.on(ListExecutionsCommand)
      .resolvesOnce({
        executions: [
          execution(`${TASK_ID}-0123456789abcdef`),
          execution('import-ami-0fffffffffffffff0-0123456789abcdef'),
        ],
        nextToken: 'page-2',
      })
      .resolves({ executions: [execution(`${TASK_ID}-fedcba9876543210`)] });

    await deleteImport(deleteEvent(), testDeps());

    expect(sfn).toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'RUNNING' });
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input.nextToken)).toEqual([undefined, 'page-2']);
    expect(sfn.commandCalls(StopExecutionCommand).map((call) => call.args[0].input.executionArn)).toEqual([
      execution(`${TASK_ID}-0123456789abcdef`).executionArn,
      execution(`${TASK_ID}-fedcba9876543210`).executionArn,
    ]);
  });

  test('does not stop an execution of a task whose id merely starts the same', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [execution(`${TASK_ID}1-0123456789abcdef`)] });

    await deleteImport(deleteEvent(), testDeps());

    expect(sfn).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  test('makes no Step Functions call when no poller state machine is configured (older stacks)', async () => {
    await deleteImport(deleteEvent(), testDeps(NOW, { pollerStateMachineArn: undefined }));

    expect(sfn.calls()).toHaveLength(0);
  });

  function execution(name: string) {
    return {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:ImportPollerABC123:${name}`,
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      status: 'RUNNING' as const,
      startDate: new Date(NOW),
    };
  }
});

describe('delete retries clean-up calls through throttling', () => {
  const throttled = () => awsError('ThrottlingException', 'Rate exceeded', 429);
  const limited = () => awsError('RequestLimitExceeded', 'Request limit exceeded.', 503);

  test('retries DeleteImage (429), DescribeImages, DeregisterImage and DeleteSnapshot (RequestLimitExceeded 503), then succeeds', async () => {
    imagebuilder.on(DeleteImageCommand).rejectsOnce(throttled()).resolves({ imageBuildVersionArn: IMAGE_ARN });
    ec2.on(DescribeImagesCommand).rejectsOnce(limited()).resolves({ Images: [{ ImageId: AMI, BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-0000000000000000b' } }] }] });
    ec2.on(DeregisterImageCommand).rejectsOnce(limited()).resolves({});
    ec2.on(DeleteSnapshotCommand).rejectsOnce(limited()).resolves({});
    const deps = testDeps();

    const result = await deleteImport(deleteEvent(), deps);

    expect(result).toEqual({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none' });
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000, 1000, 1000, 1000]);
    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 2);
    expect(ec2).toHaveReceivedCommandTimes(DeregisterImageCommand, 2);
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((call) => call.args[0].input.SnapshotId).sort())
      .toEqual(['snap-0000000000000000a', 'snap-0000000000000000a', 'snap-0000000000000000b']);
  });

  test('retries CancelImportTask and CancelImageCreation through throttling', async () => {
    givenTask(activeTask);
    givenImage(imageIn('BUILDING'));
    ec2.on(CancelImportTaskCommand).rejectsOnce(limited()).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
    imagebuilder.on(CancelImageCreationCommand).rejectsOnce(throttled()).resolves({ imageBuildVersionArn: IMAGE_ARN });
    const deps = testDeps();

    await expect(deleteImport(deleteEvent(), deps)).resolves.toMatchObject({ Wait: 'delete' });

    expect(ec2).toHaveReceivedCommandTimes(CancelImportTaskCommand, 2);
    expect(imagebuilder).toHaveReceivedCommandTimes(CancelImageCreationCommand, 2);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000, 1000]);
  });

  test('names the AMI and snapshots left when DeregisterImage stays throttled through every retry', async () => {
    ec2.on(DeregisterImageCommand).rejects(limited());
    const deps = testDeps();

    const error = await failureOf(deleteImport(deleteEvent(), deps));

    expect(error.message).toBe(
      `still to clean up: AMI ${AMI}; snapshots snap-0000000000000000a, snap-0000000000000000b. EC2 DeregisterImage failed: RequestLimitExceeded: Request limit exceeded.`,
    );
    expect(ec2).toHaveReceivedCommandTimes(DeregisterImageCommand, 5);
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000, 2000, 4000, 8000]);
  });

  test('names what is left when the clean-up in isComplete fails for good', async () => {
    givenTask(activeTask);
    givenImage(imageIn('PENDING'));
    const event = deleteEvent();
    const response = await onEvent(event, testDeps()) as OnEventResponse;
    givenTask(completedTask);
    givenImage(imageIn('FAILED'));
    ec2.on(DeleteSnapshotCommand).rejects(limited());

    const error = await failureOf(isComplete(afterOnEvent(event, response), testDeps(NOW + 5 * 60_000)));

    expect(error.message).toMatch(/^still to clean up: snapshots snap-0000000000000000a, snap-0000000000000000b\. EC2 DeleteSnapshot failed: RequestLimitExceeded/);
    expect(imagebuilder).toHaveReceivedCommand(DeleteImageCommand);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
  });
});
