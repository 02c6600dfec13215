import { DescribeImportImageTasksCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetImageCommand, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AMI, awsError, failureOf, IMAGE_ARN, LOGICAL_ID, mockStackServices, NOW, STACK_ID, TASK_ID, testDeps } from './fixtures';
import { AvailableEvent } from '../../../src/handlers/import-image/available';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { VmImportImageAvailableProperties } from '../../../src/handlers/types';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn, cloudformation } = mockStackServices();

function availableEvent(
  requestType: 'Create' | 'Update' | 'Delete', extra: Partial<VmImportImageAvailableProperties> = {}, more: Partial<AvailableEvent> = {},
): AvailableEvent {
  return {
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent',
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: 'available-request-1',
    LogicalResourceId: `${LOGICAL_ID}Available`,
    ResourceType: 'Custom::VmImportImageAvailable',
    RequestType: requestType,
    ResourceProperties: { ServiceToken: 'x', ImageArn: IMAGE_ARN, ImportTaskId: TASK_ID, WaitCondition: 'https://wait', ...extra },
    ...(requestType !== 'Create' ? { PhysicalResourceId: IMAGE_ARN } : {}),
    ...(requestType === 'Update' ? { OldResourceProperties: {} } : {}),
    ...more,
  } as AvailableEvent;
}

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'completed', ImageId: AMI }] });
  imagebuilder.on(GetImageCommand).resolves({
    image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
  });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('the read step after the wait condition (Custom::VmImportImageAvailable)', () => {
  test('answers the image ARN as its id, with no call, so that a new import is a new id', async () => {
    await expect(onEvent(availableEvent('Create'), testDeps())).resolves.toEqual({ PhysicalResourceId: IMAGE_ARN, StartedAt: NOW });

    expect([...ec2.calls(), ...imagebuilder.calls(), ...sfn.calls(), ...cloudformation.calls()]).toHaveLength(0);
  });

  test('reports the AMI of an AVAILABLE image as ImageId', async () => {
    const result = await isComplete({ ...availableEvent('Create'), StartedAt: NOW }, testDeps());

    expect(result).toEqual({ IsComplete: true, Data: { ImageArn: IMAGE_ARN, ImageId: AMI } });
    expect(imagebuilder).toHaveReceivedCommandWith(GetImageCommand, { imageBuildVersionArn: IMAGE_ARN });
  });

  test('fails with the task message when the import failed', async () => {
    ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS' }] });

    await expect(isComplete({ ...availableEvent('Create'), StartedAt: NOW }, testDeps())).rejects.toThrow(`VM import ${TASK_ID} failed: ClientError: Unknown OS`);
  });

  test('waits while the image is still BUILDING (an import replaced without a new wait condition), and through throttling', async () => {
    imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'BUILDING' } } });
    await expect(isComplete({ ...availableEvent('Update'), StartedAt: NOW }, testDeps(NOW + 60_000))).resolves.toEqual({ IsComplete: false });

    imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded', 429));
    await expect(isComplete({ ...availableEvent('Update'), StartedAt: NOW }, testDeps(NOW + 75_000))).resolves.toEqual({ IsComplete: false });
  });

  test('fails past its own limit, advising a new imageVersion so that the stack gets a new wait condition', async () => {
    imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'BUILDING' } } });

    const error = await failureOf(isComplete({ ...availableEvent('Update', { TimeoutSeconds: '600' }), StartedAt: NOW }, testDeps(NOW + 601_000)));

    expect(error.message).toContain(`image ${IMAGE_ARN} is still BUILDING after 10 minutes`);
    expect(error.message).toContain('Change imageVersion');
  });

  test('without ImportTaskId (newer templates) reads only the image when it is AVAILABLE', async () => {
    const result = await isComplete({ ...availableEvent('Create', { ImportTaskId: undefined }), StartedAt: NOW }, testDeps());

    expect(result).toEqual({ IsComplete: true, Data: { ImageArn: IMAGE_ARN, ImageId: AMI } });
    expect(ec2).not.toHaveReceivedCommand(DescribeImportImageTasksCommand);
  });

  test('without ImportTaskId, fails with the message of the task the image names in its tag', async () => {
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'BUILDING' }, tags: { 'cdk-vm-import-export:import-task-id': TASK_ID } },
    });
    ec2.on(DescribeImportImageTasksCommand).resolves({
      ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS / Missing OS files.' }],
    });

    const error = await failureOf(isComplete({ ...availableEvent('Create', { ImportTaskId: undefined }), StartedAt: NOW }, testDeps()));

    expect(error.message).toContain('ClientError: Unknown OS / Missing OS files.');
    expect(ec2).toHaveReceivedCommandWith(DescribeImportImageTasksCommand, { ImportTaskIds: [TASK_ID] });
  });

  test('deletes nothing: the import resource owns the image', async () => {
    await expect(onEvent(availableEvent('Delete'), testDeps())).resolves.toEqual({ PhysicalResourceId: IMAGE_ARN });
    await expect(isComplete(availableEvent('Delete'), testDeps())).resolves.toEqual({ IsComplete: true });

    expect([...ec2.calls(), ...imagebuilder.calls()]).toHaveLength(0);
  });

  test('fails at once, with no call, when ImageArn is missing', async () => {
    await expect(onEvent(availableEvent('Create', { ImageArn: '' }), testDeps())).rejects.toThrow('invalid property ImageArn: expected an image ARN, got ""');

    expect([...ec2.calls(), ...imagebuilder.calls()]).toHaveLength(0);
  });
});
