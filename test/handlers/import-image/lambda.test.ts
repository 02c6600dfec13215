import { DescribeImportImageTasksCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import { GetImageCommand, ImagebuilderClient, ImportVmImageCommand } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  createEvent, deleteEvent, IMAGE_ARN, isCompleteEvent, mockStackServices, PHYSICAL_ID, props, RESPONSE_URL, TASK_ID, testDeps, updateEvent,
} from './fixtures';
import { handler as isCompleteHandler } from '../../../src/handlers/import-image/is-complete.lambda';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { handler as onEventHandler } from '../../../src/handlers/import-image/on-event.lambda';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
// The module-scope clients include Step Functions and CloudFormation: mocked too, so nothing reaches AWS.
mockStackServices();
let log: jest.SpyInstance;

beforeAll(() => {
  process.env.AWS_REGION = 'us-east-1';
  log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'active' }] });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: IMAGE_ARN });
  imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'PENDING' } } });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('lambda entry points', () => {
  test('onEvent starts an import on Create with its module-scope clients', async () => {
    const result = await onEventHandler(createEvent());

    expect(result).toMatchObject({ PhysicalResourceId: PHYSICAL_ID, Deadline: expect.any(Number) });
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
  });

  test('onEvent routes Update and Delete', async () => {
    const updated = await onEventHandler(updateEvent(props(), props({ TimeoutSeconds: '60' })));
    const deleted = await onEventHandler(deleteEvent(props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'));

    expect(updated.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(deleted).toEqual({ PhysicalResourceId: 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED', Wait: 'none' });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  // These handlers use the real clock: deadlines are set from Date.now().
  test('isComplete polls on Create and answers Delete at once', async () => {
    await expect(isCompleteHandler(isCompleteEvent(props(), { Deadline: Date.now() + 60_000 }))).resolves.toEqual({ IsComplete: false });
    await expect(isCompleteHandler(isCompleteEvent(props(), { RequestType: 'Delete' }))).resolves.toEqual({ IsComplete: true });
  });

  test('onEvent rejects an unknown RequestType', async () => {
    const event = { ...createEvent(), RequestType: 'Replace' } as unknown as Parameters<typeof onEvent>[0];

    await expect(onEvent(event, testDeps())).rejects.toThrow('unknown RequestType "Replace"');
    expect(ec2.calls()).toHaveLength(0);
  });

  test('never logs the ResponseURL', async () => {
    await onEventHandler(createEvent());
    await isCompleteHandler(isCompleteEvent(props(), { Deadline: Date.now() + 60_000 }));

    const logged = log.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
    expect(logged).not.toContain(RESPONSE_URL);
    expect(logged).not.toContain('X-Amz-Signature');
    expect(logged).toContain(TASK_ID);
  });
});
