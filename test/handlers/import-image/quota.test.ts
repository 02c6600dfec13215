import { DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import { CancelImportTaskCommand, DescribeImportImageTasksCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import { GetImageCommand, ImagebuilderClient, ImportVmImageCommand, ListImageBuildVersionsCommand } from '@aws-sdk/client-imagebuilder';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  afterOnEvent, AMI, awsError, createEvent, failureOf, IMAGE_ARN, mockStackServices, NOW, physicalIdFor, props, TASK_ID, testDeps, updateEvent,
  WAIT_CONDITION_LOGICAL_ID, waitProps,
} from './fixtures';
import { OnEventResponse, propertiesHash } from '../../../src/handlers/import-image/common';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn, cloudformation } = mockStackServices();

/** What EC2 answers when the account's concurrent import tasks are at their quota (the code is unverified: see create.ts). */
const quotaFull = () => awsError('ResourceCountLimitExceeded', 'You have exceeded the maximum number of concurrent import image tasks.');

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).rejects(quotaFull());
  ec2.on(CancelImportTaskCommand).resolves({ ImportTaskId: TASK_ID, State: 'deleting' });
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'active', StatusMessage: 'pending' }] });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: IMAGE_ARN });
  imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'PENDING' } } });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

/** onEvent of a Create that meets a full quota, and the event isComplete then receives. */
async function queuedCreate(p = waitProps({ TimeoutSeconds: '1800' })) {
  const event = createEvent(p);
  const response = await onEvent(event, testDeps()) as OnEventResponse;
  return { event, response, next: afterOnEvent(event, response) };
}

describe('an import that waits for the account import quota', () => {
  test('an ImportImage throttled (or 5xx) through every try waits too, instead of failing with nothing to clean up by', async () => {
    ec2.on(ImportImageCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503));
    const { response, next } = await queuedCreate();
    expect(response).toMatchObject({ Wait: 'queue', PhysicalResourceId: expect.stringMatching(/^queued:/) });
    // isComplete stays incomplete while EC2 throttles, rather than failing the resource.
    await expect(isComplete(next, testDeps(NOW + 15_000))).resolves.toEqual({ IsComplete: false });
    ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
    await expect(isComplete(next, testDeps(NOW + 30_000)))
      .resolves.toMatchObject({ IsComplete: true, PhysicalResourceId: expect.stringContaining(TASK_ID) });
  });

  test('onEvent answers Wait queue with a queued id, and neither registers the image nor starts a poller', async () => {
    const { response } = await queuedCreate();

    expect(response).toEqual({
      PhysicalResourceId: `queued:ImportedImage:${propertiesHash(waitProps({ TimeoutSeconds: '1800' }))}`,
      Wait: 'queue',
      StartedAt: NOW,
      Deadline: NOW + 1800 * 1000,
    });
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('isComplete retries ImportImage with the SAME client token and stays incomplete while the quota is full', async () => {
    const { event, next } = await queuedCreate();

    for (const elapsed of [15_000, 30_000, 45_000]) {
      await expect(isComplete(next, testDeps(NOW + elapsed))).resolves.toEqual({ IsComplete: false });
    }

    const tokens = ec2.commandCalls(ImportImageCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens)).toEqual(new Set([clientToken(event, 'ImportImage')]));
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('once ImportImage succeeds, registers the image, starts the poller and completes with the real physical id', async () => {
    const { next } = await queuedCreate();
    await isComplete(next, testDeps(NOW + 15_000));
    ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });

    const result = await isComplete(next, testDeps(NOW + 30_000));

    const p = waitProps({ TimeoutSeconds: '1800' });
    expect(result).toEqual({
      IsComplete: true,
      PhysicalResourceId: physicalIdFor(p),
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
    });
    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(ImportVmImageCommand, { vmImportTaskId: TASK_ID });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const state = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '');
    // The wait counts from the Create, not from the moment the quota had room.
    expect(state.Poller).toMatchObject({ ImportTaskId: TASK_ID, StartedAt: NOW, Deadline: NOW + 1800 * 1000 });
  });

  test('without a wait condition, waits for the image once started and completes with the real id and the AMI', async () => {
    const { next } = await queuedCreate(props());
    ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });

    await expect(isComplete(next, testDeps(NOW + 15_000))).resolves.toEqual({ IsComplete: false });
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });
    const result = await isComplete(next, testDeps(NOW + 30_000));

    expect(result).toEqual({
      IsComplete: true,
      PhysicalResourceId: physicalIdFor(props()),
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID, ImageId: AMI },
    });
    // Client tokens make the second start return the same task and image.
    const tokens = imagebuilder.commandCalls(ImportVmImageCommand).map((call) => call.args[0].input.clientToken);
    expect(new Set(tokens).size).toBe(1);
  });

  test('a queued replacing update whose wait condition completed before waits in the resource once started, with no poller', async () => {
    const old = waitProps({ TimeoutSeconds: '1800' });
    const changed = waitProps({ TimeoutSeconds: '1800', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'from-a-parameter.vmdk' }] });
    const event = updateEvent(old, changed, physicalIdFor(old));
    // No live import of the new settings (it is not a rollback).
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [] });
    cloudformation.on(DescribeStackResourceCommand, { LogicalResourceId: WAIT_CONDITION_LOGICAL_ID }).resolves({
      StackResourceDetail: {
        LogicalResourceId: WAIT_CONDITION_LOGICAL_ID, ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: 'CREATE_COMPLETE', LastUpdatedTimestamp: new Date(NOW),
      },
    });
    const response = await onEvent(event, testDeps()) as OnEventResponse;
    expect(response).toMatchObject({ Wait: 'queue' });
    const next = afterOnEvent(event, response);

    ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
    await expect(isComplete(next, testDeps(NOW + 15_000))).resolves.toEqual({ IsComplete: false });
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });
    await expect(isComplete(next, testDeps(NOW + 30_000))).resolves.toMatchObject({
      IsComplete: true, PhysicalResourceId: physicalIdFor(changed), Data: { ImageId: AMI },
    });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('fails past the deadline with a message that names the quota and how to raise it', async () => {
    const { next } = await queuedCreate();

    const error = await failureOf(isComplete(next, testDeps(NOW + 1801 * 1000)));

    expect(error.message).toContain('the VM import could not start within 30 minutes');
    expect(error.message).toContain("the account's quota of concurrent VM import tasks in this Region stayed full");
    expect(error.message).toContain('ResourceCountLimitExceeded: You have exceeded the maximum number of concurrent import image tasks.');
    expect(error.message).toContain('Raise the quota in Service Quotas');
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
  });

  test('stops waiting, starting nothing, when CloudFormation no longer waits for the Create', async () => {
    const { next } = await queuedCreate();
    cloudformation.on(DescribeStackResourceCommand).resolves({
      StackResourceDetail: { LogicalResourceId: 'ImportedImage', ResourceType: 'Custom::VmImportImage', ResourceStatus: 'DELETE_IN_PROGRESS', LastUpdatedTimestamp: new Date(NOW) },
    });
    ec2.resetHistory();

    await expect(isComplete(next, testDeps(NOW + 60_000))).rejects.toThrow(/no longer waits/);

    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
  });

  test('fails at once on an ImportImage error that is not the quota', async () => {
    const { next } = await queuedCreate();
    ec2.on(ImportImageCommand).rejects(awsError('InvalidParameter', 'The given S3 object is not local to the region.'));

    await expect(isComplete(next, testDeps(NOW + 15_000))).rejects.toThrow('EC2 ImportImage failed: InvalidParameter: The given S3 object is not local to the region.');
  });
});
