import { CloudFormationClient, DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import { CancelImageCreationCommand, DistributeImageCommand, GetImageCommand, Image, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { awsError, createEvent, EXPORTED_ARN, LOGICAL_ID, NOW, physicalIdFor, props, SIGNAL_URL, STACK_ID, testDeps } from './fixtures';
import { exportHash, exportKey } from '../../../src/handlers/image-export/common';
import { isComplete } from '../../../src/handlers/image-export/is-complete';
import { exportPollerInput, ExportPollerState } from '../../../src/handlers/image-export/poller';
import { expectValidRequests } from '../../support/api-model';

const imagebuilder = mockClient(ImagebuilderClient);
const sfn = mockClient(SFNClient);
const cloudformation = mockClient(CloudFormationClient);

const WAIT_ID = 'WebVhdWaitABCDEF12';
let lines: string[];

function givenStatus(status: string, reason?: string): void {
  const image: Image = { arn: EXPORTED_ARN, state: { status: status as any, ...(reason ? { reason } : {}) } };
  imagebuilder.on(GetImageCommand).resolves({ image });
}

function pollerState(overrides: Partial<ExportPollerState> = {}): ExportPollerState {
  const input = exportPollerInput({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID }, EXPORTED_ARN, props(), NOW);
  return { Poller: input, Polls: 0, Next: 15, Done: false, ...overrides };
}

beforeEach(() => {
  imagebuilder.reset();
  sfn.reset();
  cloudformation.reset();
  lines = [];
  jest.spyOn(console, 'log').mockImplementation((line: unknown) => { lines.push(String(line)); });
  cloudformation.on(DescribeStackResourceCommand).resolves({
    StackResourceDetail: {
      LogicalResourceId: WAIT_ID, ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: 'CREATE_IN_PROGRESS', LastUpdatedTimestamp: new Date(),
    },
  });
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:us-east-1:123456789012:execution:p:x', startDate: new Date() });
  imagebuilder.on(CancelImageCreationCommand).resolves({});
});

afterEach(() => {
  jest.restoreAllMocks();
  expectValidRequests(imagebuilder, 'imagebuilder');
  expectValidRequests(sfn, 'sfn');
  expectValidRequests(cloudformation, 'cloudformation');
});

describe('the export poller', () => {
  test('signals SUCCESS once the distributed image is AVAILABLE, with the image as Data, one UniqueId per export', async () => {
    givenStatus('AVAILABLE');
    const deps = testDeps();
    const state = await isComplete(pollerState(), deps) as ExportPollerState;
    expect(state.Done).toBe(true);
    expect(deps.signals).toEqual([{
      url: SIGNAL_URL,
      signal: { Status: 'SUCCESS', Reason: expect.stringContaining('is complete (AVAILABLE)'), UniqueId: exportKey(EXPORTED_ARN), Data: EXPORTED_ARN },
    }]);
  });

  test.each(['FAILED', 'CANCELLED'])('signals FAILURE at once when the image is %s, with Image Builder\'s reason', async (status) => {
    givenStatus(status, 'Distribution failed in us-west-2: EXPORT_AMI: The bucket exports-west is encrypted with SSE-KMS');
    const deps = testDeps();
    const state = await isComplete(pollerState(), deps) as ExportPollerState;
    expect(state.Done).toBe(true);
    expect(deps.signals[0].signal).toMatchObject({
      Status: 'FAILURE', Reason: `the export ${EXPORTED_ARN} is ${status}: Distribution failed in us-west-2: EXPORT_AMI: The bucket exports-west is encrypted with SSE-KMS`,
    });
  });

  test('while the export runs: no signal, the next poll a tenth of the elapsed time later, one progress line', async () => {
    givenStatus('DISTRIBUTING');
    const deps = testDeps();
    deps.advance(30 * 60_000);
    const state = await isComplete(pollerState({ Polls: 1 }), deps) as ExportPollerState;
    expect(state).toMatchObject({ Done: false, Polls: 2, Next: 120 });
    expect(deps.signals).toEqual([]);
    const progress = lines.filter((l) => l.includes('"vm-export-progress"')).map((l) => JSON.parse(l));
    expect(progress).toEqual([expect.objectContaining({ exportedImageArn: EXPORTED_ARN, imageStatus: 'DISTRIBUTING', elapsedSeconds: 1800, nextPollSeconds: 120 })]);
  });

  test('throttling while polling only waits', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded', 429));
    const deps = testDeps();
    const state = await isComplete(pollerState(), deps) as ExportPollerState;
    expect(state.Done).toBe(false);
    expect(deps.signals).toEqual([]);
  });

  test('every fourth poll asks CloudFormation; once nothing waits, it stops without a signal', async () => {
    givenStatus('DISTRIBUTING');
    cloudformation.on(DescribeStackResourceCommand).resolves({
      StackResourceDetail: { LogicalResourceId: WAIT_ID, ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: 'DELETE_COMPLETE', LastUpdatedTimestamp: new Date() },
    });
    const deps = testDeps();
    expect(await isComplete(pollerState({ Polls: 2 }), deps)).toMatchObject({ Done: false });
    expect(cloudformation).toHaveReceivedCommandTimes(DescribeStackResourceCommand, 0);
    expect(await isComplete(pollerState({ Polls: 3 }), deps)).toMatchObject({ Done: true });
    expect(cloudformation).toHaveReceivedCommandWith(DescribeStackResourceCommand, { StackName: STACK_ID, LogicalResourceId: WAIT_ID });
    expect(deps.signals).toEqual([]);
  });

  test('past the deadline: FAILURE with the last state seen', async () => {
    givenStatus('DISTRIBUTING');
    const deps = testDeps();
    deps.advance(6 * 3600_000);
    await isComplete(pollerState(), deps);
    expect(deps.signals[0].signal.Reason).toMatch(/did not finish within 360 minutes \(last seen: image DISTRIBUTING\)/);
  });

  test('a poll function that failed for good (the state machine\'s Catch) signals FAILURE', async () => {
    const deps = testDeps();
    await isComplete(pollerState({ Error: { Error: 'Lambda.Unknown', Cause: 'out of memory' } }), deps);
    expect(deps.signals[0].signal).toMatchObject({ Status: 'FAILURE', Reason: expect.stringContaining('Lambda.Unknown: out of memory') });
  });
});

describe('isComplete of the export resource', () => {
  const event = (overrides: object) => ({
    ...createEvent(props({ SignalUrl: undefined })), PhysicalResourceId: physicalIdFor(EXPORTED_ARN), ...overrides,
  }) as any;

  test('Wait none completes at once; Wait fail fails with the recorded failure', async () => {
    await expect(isComplete(event({ Wait: 'none' }), testDeps())).resolves.toEqual({ IsComplete: true });
    await expect(isComplete(event({ Wait: 'fail', Failure: 'DistributeImage failed: 503' }), testDeps())).rejects.toThrow('DistributeImage failed: 503');
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test('Wait export: not complete while the export runs, complete with the image once AVAILABLE, an error with the reason once FAILED', async () => {
    const deps = testDeps();
    givenStatus('DISTRIBUTING');
    await expect(isComplete(event({ Wait: 'export', Deadline: NOW + 3_300_000 }), deps)).resolves.toEqual({ IsComplete: false });
    givenStatus('AVAILABLE');
    await expect(isComplete(event({ Wait: 'export', Deadline: NOW + 3_300_000 }), deps)).resolves.toEqual({ IsComplete: true, Data: { ExportedImageArn: EXPORTED_ARN } });
    givenStatus('FAILED', 'EXPORT_AMI failed');
    await expect(isComplete(event({ Wait: 'export', Deadline: NOW + 3_300_000 }), deps)).rejects.toThrow(`the export ${EXPORTED_ARN} is FAILED: EXPORT_AMI failed`);
  });

  test('a replacement\'s own export that fails is cancelled by isComplete (CloudFormation learns no id for it)', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    await expect(isComplete(event({ Wait: 'export', NewExport: 'true', Deadline: NOW + 3_300_000 }), testDeps())).rejects.toThrow(/polling the export failed/);
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: EXPORTED_ARN });
  });

  test('Wait queue: asks again with the same token until there is room, then completes with the real id', async () => {
    const queued = { ...createEvent(), PhysicalResourceId: `pending:${LOGICAL_ID}:${exportHash(props())}`, Wait: 'queue', StartedAt: NOW, Deadline: NOW + 3_300_000 } as any;
    imagebuilder.on(DistributeImageCommand).rejectsOnce(awsError('ServiceQuotaExceededException', 'limit reached')).resolves({ imageBuildVersionArn: EXPORTED_ARN });
    const deps = testDeps();
    await expect(isComplete(queued, deps)).resolves.toEqual({ IsComplete: false });
    await expect(isComplete(queued, deps)).resolves.toMatchObject({
      IsComplete: true, PhysicalResourceId: physicalIdFor(EXPORTED_ARN), Data: { ExportedImageArn: EXPORTED_ARN },
    });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(new Set(imagebuilder.commandCalls(DistributeImageCommand).map((c) => c.args[0].input.clientToken)).size).toBe(1);
  });

  test('Wait queue past the deadline names the quota', async () => {
    const queued = { ...createEvent(), PhysicalResourceId: 'pending:x', Wait: 'queue', StartedAt: NOW, Deadline: NOW - 1 } as any;
    imagebuilder.on(DistributeImageCommand).rejects(awsError('ServiceQuotaExceededException', 'limit reached'));
    await expect(isComplete(queued, testDeps())).rejects.toThrow(/could not start within 55 minutes: Image Builder's quota stayed full .*Service Quotas/);
  });
});

describe('the read step after the wait condition', () => {
  const read = (requestType = 'Create') => ({
    RequestType: requestType,
    ResourceType: 'Custom::VmImageExportComplete',
    StackId: STACK_ID,
    RequestId: 'r',
    LogicalResourceId: 'WebVhdComplete',
    ServiceToken: 'x',
    ResponseURL: 'x',
    StartedAt: NOW,
    PhysicalResourceId: EXPORTED_ARN,
    ResourceProperties: { ServiceToken: 'x', ExportedImageArn: EXPORTED_ARN, WaitCondition: 'x', TimeoutSeconds: '21600' },
  }) as any;

  test('reports the distributed image once AVAILABLE, fails on FAILED, and waits at most 55 minutes otherwise', async () => {
    givenStatus('AVAILABLE');
    await expect(isComplete(read(), testDeps())).resolves.toEqual({ IsComplete: true, Data: { ExportedImageArn: EXPORTED_ARN } });
    givenStatus('FAILED', 'no');
    await expect(isComplete(read(), testDeps())).rejects.toThrow('is FAILED: no');
    givenStatus('DISTRIBUTING');
    const deps = testDeps();
    await expect(isComplete(read(), deps)).resolves.toEqual({ IsComplete: false });
    deps.advance(56 * 60_000);
    await expect(isComplete(read(), deps)).rejects.toThrow(/still DISTRIBUTING after 55 minutes: it was replaced by a deploy-time value/);
  });

  test('its delete makes no call', async () => {
    await expect(isComplete(read('Delete'), testDeps())).resolves.toEqual({ IsComplete: true });
    expect(imagebuilder.calls()).toHaveLength(0);
  });
});
