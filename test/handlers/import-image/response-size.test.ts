import { DescribeImportImageTasksCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import { GetImageCommand, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  awsError, createEvent, failureOf, IMAGE_ARN, isCompleteEvent, LOGICAL_ID, mockStackServices, NOW, PHYSICAL_ID, props, STACK_ID, TASK_ID, testDeps,
} from './fixtures';
import { handler as isCompleteHandler } from '../../../src/handlers/import-image/is-complete.lambda';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { PollerState, pollerStep } from '../../../src/handlers/import-image/poller';
import { MAX_MESSAGE_LENGTH, truncate } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
mockStackServices();

/** 3,000 characters of 2, 3 and 4 UTF-8 bytes each. */
const MULTI_BYTE: Array<[string, string]> = [
  ['2-byte (é)', 'é'.repeat(3000)],
  ['3-byte (日)', '日'.repeat(3000)],
  ['4-byte, surrogate pairs (😀)', '😀'.repeat(3000)],
  ['mixed', 'ClientError: ディスクの検証に失敗しました 😀 é; '.repeat(100).slice(0, 3000)],
];

/** A 64-character function name (Lambda's maximum) in the framework's "Logs:" line. */
const FUNCTION_NAME = `my-stack-ImportProviderisCompleteFunction-${'A'.repeat(22)}`;

/**
 * The response the aws-cdk-lib Provider framework sends CloudFormation when the
 * user function fails: the error message, then "\n\nLogs: /aws/lambda/<name>\n"
 * (provider-framework/runtime/framework.js), the ids, and the Data onEvent gave.
 */
function frameworkFailure(message: string): string {
  return JSON.stringify({
    Status: 'FAILED',
    Reason: [message, '', `Logs: /aws/lambda/${FUNCTION_NAME}`, ''].join('\n'),
    StackId: STACK_ID,
    RequestId: 'create-request-1',
    PhysicalResourceId: PHYSICAL_ID,
    LogicalResourceId: LOGICAL_ID,
    NoEcho: false,
    Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
  });
}

function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

beforeAll(() => {
  process.env.AWS_REGION = 'us-east-1';
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'PENDING' } } });
});

afterEach(() => {
  delete process.env.AWS_LAMBDA_LOG_GROUP_NAME;
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('truncate', () => {
  test.each(MULTI_BYTE)('cuts %s text to at most 1000 UTF-8 bytes on a character boundary', (_label, text) => {
    const cut = truncate(text);

    expect(bytes(cut)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(bytes(cut)).toBeGreaterThan(MAX_MESSAGE_LENGTH - 8);
    expect(cut.endsWith('...')).toBe(true);
    // No lone surrogate and no broken sequence: the text survives a UTF-8 round trip.
    expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
    expect(text.startsWith(cut.slice(0, -3))).toBe(true);
  });

  test('leaves a message that fits alone, even exactly at the limit', () => {
    const exact = '日'.repeat(333) + 'x';
    expect(bytes(exact)).toBe(1000);

    expect(truncate(exact)).toBe(exact);
    expect(truncate('short')).toBe('short');
  });

  test('cuts a message of few characters but too many bytes (500 characters, 1500 bytes)', () => {
    const cut = truncate('日'.repeat(500));

    expect(bytes(cut)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(cut.endsWith('...')).toBe(true);
  });

  test('honours a smaller limit', () => {
    expect(bytes(truncate('😀'.repeat(100), 50))).toBeLessThanOrEqual(50);
  });
});

describe('multi-byte AWS messages near the limit', () => {
  test.each(MULTI_BYTE)('a failed task StatusMessage of 3000 %s characters yields a Reason of at most 1000 bytes and a response under 4096 bytes', async (_label, text) => {
    ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: text }] });
    // Lambda's longest log group name (512): the hint withLogHint adds must still fit.
    process.env.AWS_LAMBDA_LOG_GROUP_NAME = `/aws/lambda/${'g'.repeat(500)}`;

    const error = await failureOf(isCompleteHandler(isCompleteEvent(props(), { Deadline: Date.now() + 60_000 })));

    expect(error.message.startsWith(`VM import ${TASK_ID} failed: ${text.slice(0, 20)}`)).toBe(true);
    expect(bytes(error.message)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH + bytes(` (handler log group: ${process.env.AWS_LAMBDA_LOG_GROUP_NAME})`));
    expect(bytes(frameworkFailure(error.message))).toBeLessThan(4096);
  });

  test.each(MULTI_BYTE)('an image FAILED with a reason of 3000 %s characters stays within the budget', async (_label, text) => {
    ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [] });
    imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'FAILED', reason: text } } });

    const error = await failureOf(pollOnce());

    expect(bytes(error.message)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(bytes(frameworkFailure(error.message))).toBeLessThan(4096);
  });

  test.each(MULTI_BYTE)('a rejected ImportImage with a message of 3000 %s characters fails the Create within the budget', async (_label, text) => {
    ec2.on(ImportImageCommand).rejects(awsError('InvalidParameter', text));

    const error = await failureOf(onEvent(createEvent(), testDeps()));

    expect(error.message.startsWith('EC2 ImportImage failed: InvalidParameter: ')).toBe(true);
    expect(bytes(error.message)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(bytes(frameworkFailure(error.message))).toBeLessThan(4096);
  });

  test.each(MULTI_BYTE)('the poller signals FAILURE with at most 1000 bytes of Reason for a StatusMessage of 3000 %s characters', async (_label, text) => {
    ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [{ ImportTaskId: TASK_ID, Status: 'deleting', StatusMessage: text }] });
    const deps = testDeps(NOW + 60_000);
    const state: PollerState = {
      Poller: {
        ImageArn: IMAGE_ARN,
        ImportTaskId: TASK_ID,
        StackId: STACK_ID,
        LogicalResourceId: LOGICAL_ID,
        SignalUrl: 'https://example.invalid/signal',
        StartedAt: NOW,
        Deadline: NOW + 3600_000,
        PollIntervalSeconds: 15,
        MaxPollIntervalSeconds: 120,
      },
      Polls: 0,
      Next: 15,
      Done: false,
    };

    await pollerStep(state, deps);

    const signal = deps.signal.mock.calls[0][1];
    expect(signal.Status).toBe('FAILURE');
    expect(signal.Reason.startsWith(`VM import ${TASK_ID} failed: ${text.slice(0, 20)}`)).toBe(true);
    expect(bytes(signal.Reason)).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
  });

  /** isComplete of a Create that waits for its import itself. */
  function pollOnce() {
    return isCompleteHandler(isCompleteEvent(props(), { Deadline: Date.now() + 60_000 }));
  }
});
