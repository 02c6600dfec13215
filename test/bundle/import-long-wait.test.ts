/**
 * Imports that take hours, end to end on a simulated clock: the stack's poller
 * state machine AS SYNTHESIZED (read back from the template) runs in the ASL
 * interpreter; its poll task is the import handler's isComplete entry, in
 * process, with real SDK clients talking to the fake AWS endpoint; the fake runs
 * the import by the same clock, and the poller's signal crosses HTTP to the fake's
 * wait condition handle. Hours of waiting take milliseconds, so the tests can
 * count polls and measure how late completion or failure is noticed.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DiskImage, LicenseType, Platform, VmImportImage } from '../../src';
import { availableComplete } from '../../src/handlers/import-image/available';
import { ImportImageDeps } from '../../src/handlers/import-image/common';
import { isComplete } from '../../src/handlers/import-image/is-complete';
import { onEvent } from '../../src/handlers/import-image/on-event';
import { PollerState } from '../../src/handlers/import-image/poller';
import { sendSignal } from '../../src/handlers/import-image/signal';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { definitionFromTemplate, runStateMachine, SimulatedClock } from '../support/state-machine';

// Hundreds of in-process polls over HTTP to the fake: seconds of real time on a busy machine.
jest.setTimeout(60_000);

const HOUR = 3_600_000;
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/long-import/11111111-2222-3333-4444-555555555555';
const POLLER_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:long-import-Poller';
const WAIT_ID = 'ImportedVmWaitABCDEF12';

/** The poller definition of a stack with a 6-hour import, as synthesized. */
function pollerDefinition(): any {
  const stack = new Stack(new App(), 'LongImport', { env: { account: '123456789012', region: 'us-east-1' } });
  new VmImportImage(stack, 'ImportedVm', {
    disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'vm-disks'), 'big.vmdk')],
    platform: Platform.WINDOWS,
    licenseType: LicenseType.BYOL,
    timeout: Duration.hours(6),
  });
  return definitionFromTemplate(Template.fromStack(stack).toJSON(), (id) => id.includes('Poller'));
}

let fake: FakeAws;
let clock: SimulatedClock;
let deps: ImportImageDeps;
let lines: string[];
const currentFake = useFakeAwsPerTest();

beforeEach(() => {
  fake = currentFake();
  clock = new SimulatedClock(Date.UTC(2026, 0, 1));
  fake.now = () => clock.now();
  const config = {
    endpoint: fake.url,
    region: fake.region,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY },
    maxAttempts: 1,
  };
  deps = {
    ec2: new EC2Client(config),
    imagebuilder: new ImagebuilderClient(config),
    sfn: new SFNClient(config),
    cloudformation: new CloudFormationClient(config),
    signal: sendSignal,
    pollerStateMachineArn: POLLER_ARN,
    // Retry waits pass on the simulated clock too.
    sleep: async (ms) => clock.advance(ms),
    now: () => clock.now(),
  };
  lines = [];
  jest.spyOn(console, 'log').mockImplementation((line: unknown) => { lines.push(String(line)); });
  // CloudFormation waits for the wait condition while the import runs.
  fake.setStack(STACK_ID, 'CREATE_IN_PROGRESS');
  fake.setStackResource(STACK_ID, WAIT_ID, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
});

afterEach(() => {
  jest.restoreAllMocks();
  expect(fake.problems).toEqual([]);
});

function createEvent(logicalId = 'ImportedVm', waitId = WAIT_ID): any {
  return {
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent',
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: `create-${logicalId}`,
    LogicalResourceId: logicalId,
    ResourceType: 'Custom::VmImportImage',
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent',
      ImageName: `big-windows-${logicalId.toLowerCase()}`,
      ImageVersion: '1.0.0',
      Platform: 'Windows',
      LicenseType: 'BYOL',
      RoleName: 'vmimport',
      Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'big.vmdk' }],
      Tags: { 'cdk-vm-import-export:stack-id': STACK_ID },
      WaitForAvailable: 'true',
      TimeoutSeconds: String(6 * 3600),
      RemovalPolicy: 'destroy',
      SignalUrl: fake.waitConditionHandle(waitId, STACK_ID),
      WaitConditionLogicalId: waitId,
      PollIntervalSeconds: '15',
      MaxPollIntervalSeconds: '120',
    },
  };
}

/** Starts the import as CloudFormation would, then runs the poller execution onEvent started. */
async function deployAndWait() {
  const started = await onEvent(createEvent(), deps) as any;
  expect(started.Wait).toBe('none');
  const executions = [...fake.executions.values()];
  expect(executions).toHaveLength(1);
  const startedAt = clock.now();
  const result = await runStateMachine(pollerDefinition(), executions[0].input, {
    clock,
    invoke: async (_resource, state) => isComplete(state as PollerState, deps),
    maxTransitions: 20_000,
  });
  const polls = result.invocations.filter((i) => i.state === 'PollImport');
  const signals = fake.signals.get(WAIT_ID) ?? [];
  return { started, startedAt, result, polls, signals };
}

function progressLines(): any[] {
  return lines.filter((l) => l.startsWith('{') && l.includes('"vm-import-progress"')).map((l) => JSON.parse(l));
}

describe('a 3-hour import through the wait condition and the poller', () => {
  test('completes: the poller signals SUCCESS with the AMI within one interval of completion, in about a hundred polls', async () => {
    fake.importPlan = { durationMs: 3 * HOUR };
    const { started, startedAt, result, polls, signals } = await deployAndWait();

    expect(result.status).toBe('SUCCEEDED');
    const task = [...fake.importTasks.values()][0];
    expect(task.status).toBe('completed');
    // The signal that releases everything built on the image: SUCCESS, the AMI as Data.
    expect(signals).toEqual([{ Status: 'SUCCESS', Reason: expect.stringContaining('is AVAILABLE as'), UniqueId: task.id, Data: task.imageId }]);
    // Light polling: 15 s at first, a tenth of the elapsed time, 2 minutes at most.
    expect(polls.length).toBeGreaterThan(60);
    expect(polls.length).toBeLessThan(130);
    const gaps = polls.slice(1).map((p, i) => (p.timestamp - polls[i].timestamp) / 1000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(120);
    expect(gaps[0]).toBeLessThanOrEqual(15);
    // Noticed within one interval of the import's end.
    const completedAt = startedAt + 3 * HOUR;
    const detectedAt = polls[polls.length - 1].timestamp;
    expect(detectedAt).toBeGreaterThanOrEqual(completedAt);
    expect(detectedAt - completedAt).toBeLessThanOrEqual(120_000);
    // One structured progress line per poll that found the import still running, then the result.
    const progress = progressLines();
    expect(progress).toHaveLength(polls.length);
    expect(progress[0]).toMatchObject({ importTaskId: task.id, taskStatus: 'active', elapsedSeconds: expect.any(Number), nextPollSeconds: expect.any(Number) });
    expect(progress[0].disks).toEqual([expect.objectContaining({ sizeBytes: expect.any(Number) })]);
    expect(progress[progress.length - 1]).toMatchObject({ result: 'available', imageId: task.imageId });
    // Every fourth poll asked CloudFormation whether the wait condition still waits.
    expect(fake.callsOf('DescribeStackResource').length).toBe(Math.floor((polls.length - 1) / 4));

    // The read step after the wait reports the AMI; recipes and builds use it.
    const available = await availableComplete({
      RequestType: 'Create',
      StackId: STACK_ID,
      RequestId: 'available-1',
      LogicalResourceId: 'ImportedVmAvailable',
      ResourceType: 'Custom::VmImportImageAvailable',
      ServiceToken: 'x',
      ResponseURL: 'x',
      ResourceProperties: { ServiceToken: 'x', ImageArn: started.Data.ImageArn, ImportTaskId: task.id, WaitCondition: WAIT_ID },
    } as any, deps);
    expect(available).toEqual({ IsComplete: true, Data: { ImageArn: started.Data.ImageArn, ImageId: task.imageId } });
  });

  test('fails at 2 hours: the poller signals FAILURE with AWS\'s message at once; the rollback removes the import', async () => {
    fake.importPlan = { durationMs: 2 * HOUR, failMessage: 'ClientError: Unsupported kernel version 6.8.0-31-generic' };
    const { started, startedAt, result, polls, signals } = await deployAndWait();

    expect(result.status).toBe('SUCCEEDED');
    expect(signals).toEqual([{
      Status: 'FAILURE',
      Reason: expect.stringContaining('failed: ClientError: Unsupported kernel version 6.8.0-31-generic'),
      UniqueId: expect.stringMatching(/^import-ami-/),
      Data: '',
    }]);
    const detectedAt = polls[polls.length - 1].timestamp;
    expect(detectedAt - (startedAt + 2 * HOUR)).toBeLessThanOrEqual(120_000);
    expect(polls.length).toBeLessThan(100);

    // The wait condition failed: CloudFormation rolls back, deleting the import with its real id.
    fake.setStackResource(STACK_ID, WAIT_ID, { status: 'CREATE_FAILED', type: 'AWS::CloudFormation::WaitCondition' });
    const deleteEvent = { ...createEvent(), RequestType: 'Delete', RequestId: 'delete-1', PhysicalResourceId: started.PhysicalResourceId };
    const deleting = await onEvent(deleteEvent, deps) as any;
    let rounds = 0;
    let done = deleting.Wait === 'none';
    while (!done) {
      // The Provider's waiter asks every 15 seconds.
      clock.advance(15_000);
      done = (await isComplete({ ...deleteEvent, ...deleting }, deps) as { IsComplete: boolean }).IsComplete;
      expect(++rounds).toBeLessThan(40);
    }
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
    expect([...fake.executions.values()].filter((e) => e.status === 'RUNNING')).toEqual([]);
  });

  test('a hung import fails at the timeout with its last state, before the wait condition times out', async () => {
    fake.importPlan = { durationMs: 24 * HOUR };
    const { startedAt, result, polls, signals } = await deployAndWait();
    expect(result.status).toBe('SUCCEEDED');
    expect(signals).toEqual([expect.objectContaining({ Status: 'FAILURE', Reason: expect.stringMatching(/did not make .* AVAILABLE within 360 minutes \(last seen: task active/) })]);
    const failedAt = polls[polls.length - 1].timestamp;
    // The deadline is 6 hours; the wait condition waits 5 minutes more (the construct's margin).
    expect(failedAt).toBeGreaterThanOrEqual(startedAt + 6 * HOUR);
    expect(failedAt).toBeLessThanOrEqual(startedAt + 6 * HOUR + 60_000);
    expect(polls.length).toBeLessThan(250);
  });

  test('stops without a signal when CloudFormation no longer waits (the stack was deleted meanwhile)', async () => {
    fake.importPlan = { durationMs: 3 * HOUR };
    const started = await onEvent(createEvent(), deps) as any;
    expect(started.Wait).toBe('none');
    const [execution] = [...fake.executions.values()];
    let polls = 0;
    const result = await runStateMachine(pollerDefinition(), execution.input, {
      clock,
      invoke: async (_resource, state) => {
        // Twenty minutes in, the stack is deleted: the wait condition goes first.
        if (++polls === 20) fake.setStackResource(STACK_ID, WAIT_ID, { status: 'DELETE_COMPLETE', type: 'AWS::CloudFormation::WaitCondition' });
        return isComplete(state as PollerState, deps);
      },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(fake.signals.get(WAIT_ID) ?? []).toEqual([]);
    expect(polls).toBeLessThanOrEqual(24);
  });

  test('a quota of 2 with 4 imports in one stack: two wait for room, then all 4 complete, in turn', async () => {
    fake.maxActiveImportTasks = 2;
    fake.importPlan = { durationMs: HOUR / 3 };
    const names = ['A', 'B', 'C', 'D'];
    const events = names.map((n) => createEvent(`Vm${n}`, `Vm${n}Wait`));
    names.forEach((n) => fake.setStackResource(STACK_ID, `Vm${n}Wait`, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' }));
    names.forEach((n) => fake.setStackResource(STACK_ID, `Vm${n}`, { status: 'CREATE_IN_PROGRESS', type: 'Custom::VmImportImage' }));
    const started: any[] = [];
    for (const event of events) started.push(await onEvent(event, deps) as any);
    expect(started.map((r) => r.Wait)).toEqual(['none', 'none', 'queue', 'queue']);

    const definition = pollerDefinition();
    const runPollers = async () => {
      for (const execution of [...fake.executions.values()].filter((e) => e.status === 'RUNNING')) {
        const invoke = async (_resource: string, state: unknown) => isComplete(state as PollerState, deps);
        const result = await runStateMachine(definition, execution.input, { clock, invoke });
        expect(result.status).toBe('SUCCEEDED');
        fake.finishExecution(execution.arn, 'SUCCEEDED');
      }
    };
    // The first two run; the queued two wait (the Provider's waiter asks every 15 s).
    const queued = [2, 3].map((i) => ({ ...events[i], ...started[i] }));
    await expect(isComplete(queued[0], deps)).resolves.toEqual({ IsComplete: false });
    await runPollers();
    // Room again: each queued import starts with its own client token, and completes with its real id.
    const finished: any[] = [];
    for (const event of queued) {
      let result: any = { IsComplete: false };
      for (let i = 0; i < 10 && !result.IsComplete; i++) {
        clock.advance(15_000);
        result = await isComplete(event, deps);
      }
      finished.push(result);
    }
    expect(finished).toEqual([
      expect.objectContaining({ IsComplete: true, PhysicalResourceId: expect.stringMatching(/\|import-ami-/) }),
      expect.objectContaining({ IsComplete: true, PhysicalResourceId: expect.stringMatching(/\|import-ami-/) }),
    ]);
    await runPollers();
    expect(fake.importTasks.size).toBe(4);
    expect([...fake.importTasks.values()].every((t) => t.status === 'completed')).toBe(true);
    for (const n of names) expect(fake.signals.get(`Vm${n}Wait`)).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
    // No second task for a queued import, however often it asked.
    expect(new Set([...fake.importTasks.values()].map((t) => t.clientToken)).size).toBe(4);
  });
});
