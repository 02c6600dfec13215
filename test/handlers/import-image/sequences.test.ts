/**
 * Whole CloudFormation sequences against a small stateful model of EC2 and
 * Image Builder: each ends with nothing of the failed or abandoned import left,
 * and the import the stack keeps untouched.
 */
import { DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand, EC2Client,
  ImportImageCommand, ImportImageTask,
} from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image, ImagebuilderClient, ImageStatus, ImportVmImageCommand,
  ListImageBuildVersionsCommand,
} from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  afterOnEvent, awsError, createEvent, deleteEvent, IMAGE_ARN, imageTags, LOGICAL_ID, mockStackServices, NOW, physicalIdFor, props,
  Props, TASK_ID, testDeps, updateEvent,
} from './fixtures';
import { OnEventResponse } from '../../../src/handlers/import-image/common';
import { AnyIsCompleteResponse, isComplete } from '../../../src/handlers/import-image/is-complete';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { cloudformation } = mockStackServices();

type TagList = Array<{ Key: string; Value: string }>;
interface ModelImage { arn: string; status: ImageStatus; tags: Record<string, string> }
interface ModelTask { id: string; status: string; statusMessage?: string; tags: Record<string, string> }

/** What AWS holds. Tasks and images are keyed by id; client tokens map to what the first call made. */
let images: Map<string, ModelImage>;
let tasks: Map<string, ModelTask>;
let tokens: Map<string, string>;
let registerFails: Error | undefined;

function modelImage(image: ModelImage): Image {
  return { arn: image.arn, state: { status: image.status }, tags: image.tags };
}

function modelTask(task: ModelTask): ImportImageTask {
  const tags = Object.entries(task.tags).map(([Key, Value]) => ({ Key, Value }));
  return { ImportTaskId: task.id, Status: task.status, StatusMessage: task.statusMessage, Tags: tags };
}

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  images = new Map();
  tasks = new Map();
  tokens = new Map();
  registerFails = undefined;
  ec2.on(ImportImageCommand).callsFake((input: { ClientToken: string; TagSpecifications?: Array<{ Tags?: TagList }> }) => {
    const known = tokens.get(input.ClientToken);
    if (known) return { ImportTaskId: known };
    const id = `import-ami-0${(tasks.size + 1).toString(16).padStart(16, '0')}`;
    tasks.set(id, { id, status: 'active', tags: Object.fromEntries((input.TagSpecifications?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value])) });
    tokens.set(input.ClientToken, id);
    return { ImportTaskId: id };
  });
  ec2.on(DescribeImportImageTasksCommand).callsFake((input: { ImportTaskIds?: string[] }) => ({
    ImportImageTasks: [...tasks.values()].filter((task) => !input.ImportTaskIds || input.ImportTaskIds.includes(task.id)).map(modelTask),
  }));
  ec2.on(CancelImportTaskCommand).callsFake((input: { ImportTaskId: string }) => {
    const task = tasks.get(input.ImportTaskId);
    if (!task || task.status !== 'active') throw awsError('InvalidConversionTaskId', `The task ${input.ImportTaskId} cannot be cancelled`);
    task.status = 'deleted';
    task.statusMessage = 'cancelled';
    return { ImportTaskId: task.id, State: 'deleting' };
  });
  type ImportVmImageInput = { clientToken: string; name: string; semanticVersion: string; tags?: Record<string, string> };
  imagebuilder.on(ImportVmImageCommand).callsFake((input: ImportVmImageInput) => {
    const known = tokens.get(input.clientToken);
    if (!known) {
      const arn = `arn:aws:imagebuilder:us-east-1:123456789012:image/${input.name}/${input.semanticVersion}/${images.size + 1}`;
      images.set(arn, { arn, status: 'PENDING', tags: input.tags ?? {} });
      tokens.set(input.clientToken, arn);
    }
    // An ambiguous failure: the image was made, the answer lost.
    if (registerFails) throw registerFails;
    return { imageArn: tokens.get(input.clientToken) };
  });
  imagebuilder.on(GetImageCommand).callsFake((input: { imageBuildVersionArn: string }) => {
    const image = images.get(input.imageBuildVersionArn);
    if (!image) throw awsError('ResourceNotFoundException', 'The image cannot be found.', 404);
    return { image: modelImage(image) };
  });
  imagebuilder.on(ListImageBuildVersionsCommand).callsFake((input: { imageVersionArn: string }) => ({
    imageSummaryList: [...images.values()].filter((image) => image.arn.startsWith(`${input.imageVersionArn}/`)).map(modelImage),
  }));
  // Image Builder keeps a cancelled image in progress for a while (aws-facts.md): the test settles it.
  imagebuilder.on(CancelImageCreationCommand).callsFake((input: { imageBuildVersionArn: string }) => ({
    imageBuildVersionArn: input.imageBuildVersionArn,
  }));
  imagebuilder.on(DeleteImageCommand).callsFake((input: { imageBuildVersionArn: string }) => {
    const image = images.get(input.imageBuildVersionArn);
    if (!image) throw awsError('ResourceNotFoundException', 'The image cannot be found.', 404);
    if (['PENDING', 'BUILDING'].includes(image.status)) throw awsError('ResourceDependencyException', 'The image is still being built.');
    images.delete(image.arn);
    return { imageBuildVersionArn: image.arn };
  });
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(DeregisterImageCommand).resolves({});
  ec2.on(DeleteSnapshotCommand).resolves({});
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

/** Image Builder finishes cancelling (or failing) every image still in progress. */
function settle(status: ImageStatus = 'CANCELLED'): void {
  for (const image of images.values()) if (['PENDING', 'BUILDING'].includes(image.status)) image.status = status;
}

/** The provider's waiter: isComplete until complete, the clock moving 15 s a poll. */
async function waitFor(event: object, startAt: number, polls = 10): Promise<AnyIsCompleteResponse> {
  for (let i = 1; i <= polls; i++) {
    const result = await isComplete(event as never, testDeps(startAt + i * 15_000));
    if ('IsComplete' in result && result.IsComplete) return result;
  }
  throw new Error(`not complete after ${polls} polls`);
}

describe('every CloudFormation sequence ends clean', () => {
  test('a Create whose ImportVmImage answer is lost (5xx): Wait fail, then the rollback Delete of the queued id finds the image by its tags and removes it', async () => {
    registerFails = awsError('InternalServerException', 'We encountered an internal error.', 500);
    const create = createEvent();

    const created = await onEvent(create, testDeps()) as OnEventResponse;
    expect(created.Wait).toBe('fail');
    await expect(isComplete(afterOnEvent(create, created), testDeps(NOW + 15_000))).rejects.toThrow(/ImportVmImage failed: InternalServerException/);
    expect([...tasks.values()].map((task) => task.status)).toEqual(['deleted']);
    expect(images.size).toBe(1);

    const del = deleteEvent(props(), created.PhysicalResourceId);
    const deleting = await onEvent(del, testDeps(NOW + 30_000)) as OnEventResponse;
    expect(deleting.Wait).toBe('delete');
    settle();
    await waitFor(afterOnEvent(del, deleting), NOW + 30_000);

    expect(images.size).toBe(0);
  });

  test('a Create CloudFormation stops waiting for: isComplete cancels its import, and the Delete of the invented id removes it', async () => {
    const create = createEvent();
    const created = await onEvent(create, testDeps()) as OnEventResponse;
    expect(created.Wait).toBe('import');
    cloudformation.on(DescribeStackResourceCommand).resolves({
      StackResourceDetail: { LogicalResourceId: LOGICAL_ID, ResourceType: 'Custom::VmImportImage', ResourceStatus: 'DELETE_IN_PROGRESS', LastUpdatedTimestamp: new Date(NOW) },
    });

    await expect(isComplete(afterOnEvent(create, created), testDeps(NOW + 60_000))).rejects.toThrow(/no longer waits/);
    expect([...tasks.values()].map((task) => task.status)).toEqual(['deleted']);

    const del = deleteEvent(props(), 'my-stack-ImportedImage-ABC123XYZ');
    const deleting = await onEvent(del, testDeps(NOW + 75_000)) as OnEventResponse;
    expect(deleting.Wait).toBe('delete');
    settle();
    await waitFor(afterOnEvent(del, deleting), NOW + 75_000);

    expect(images.size).toBe(0);
  });

  test('a failed replacing update: the rollback with the new id answers the original import, and the Delete of the new id removes only the new one', async () => {
    // The original import, made by an earlier deployment and AVAILABLE.
    const original: Props = props();
    images.set(IMAGE_ARN, { arn: IMAGE_ARN, status: 'AVAILABLE', tags: imageTags(original, TASK_ID) });
    tasks.set(TASK_ID, { id: TASK_ID, status: 'completed', tags: {} });
    const failed: Props = props({ ImageVersion: '2.0.0' });

    // The replacing update starts a new import, which fails.
    const update = updateEvent(original, failed, physicalIdFor(original));
    const updated = await onEvent(update, testDeps()) as OnEventResponse;
    expect(updated.NewImport).toBe(true);
    const newImageArn = updated.Data?.ImageArn ?? '';
    const newTaskId = updated.Data?.ImportTaskId ?? '';
    expect(newImageArn).not.toBe(IMAGE_ARN);
    const newTask = tasks.get(newTaskId)!;
    newTask.status = 'deleted';
    newTask.statusMessage = 'ClientError: Unknown OS / Missing OS files';
    await expect(isComplete(afterOnEvent(update, updated), testDeps(NOW + 15_000))).rejects.toThrow('ClientError: Unknown OS / Missing OS files');

    // CloudFormation keeps the failed update's id and rolls back to the original properties.
    const rollback = updateEvent(failed, original, updated.PhysicalResourceId, 'rollback-request-1');
    const rolledBack = await onEvent(rollback, testDeps(NOW + 30_000)) as OnEventResponse;
    expect(rolledBack.PhysicalResourceId).toBe(physicalIdFor(original));
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);

    // The id changed back, so CloudFormation deletes the new one in its clean-up.
    const cleanup = deleteEvent(failed, updated.PhysicalResourceId);
    const deleting = await onEvent(cleanup, testDeps(NOW + 45_000)) as OnEventResponse;
    expect(deleting.Wait).toBe('delete');
    settle('FAILED');
    await waitFor(afterOnEvent(cleanup, deleting), NOW + 45_000);

    expect(images.has(newImageArn)).toBe(false);
    expect(images.get(IMAGE_ARN)?.status).toBe('AVAILABLE');
    expect(imagebuilder).not.toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(imagebuilder).not.toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('a Delete while the import runs waits until Image Builder lets the image go, then removes it', async () => {
    const create = createEvent();
    const created = await onEvent(create, testDeps()) as OnEventResponse;
    const del = deleteEvent(props(), created.PhysicalResourceId);

    const deleting = await onEvent(del, testDeps(NOW + 60_000)) as OnEventResponse;
    expect(deleting.Wait).toBe('delete');
    await expect(isComplete(afterOnEvent(del, deleting), testDeps(NOW + 75_000))).resolves.toEqual({ IsComplete: false });
    expect(images.size).toBe(1);
    settle();
    await expect(isComplete(afterOnEvent(del, deleting), testDeps(NOW + 90_000))).resolves.toEqual({ IsComplete: true });

    expect(images.size).toBe(0);
    expect([...tasks.values()].every((task) => task.status !== 'active')).toBe(true);
  });

  test('a rollback Delete of a Create that failed with the framework marker touches nothing', async () => {
    images.set(IMAGE_ARN, { arn: IMAGE_ARN, status: 'AVAILABLE', tags: imageTags() });

    await expect(onEvent(deleteEvent(props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'), testDeps()))
      .resolves.toMatchObject({ Wait: 'none' });

    expect(images.size).toBe(1);
    expect([...ec2.calls(), ...imagebuilder.calls(), ...cloudformation.calls()]).toHaveLength(0);
  });
});
