/**
 * ImportedAmi imports that take hours, end to end on a simulated clock: the stack's
 * ImportedAmi poller state machine AS SYNTHESIZED runs in the ASL interpreter; its poll
 * task is the isComplete handler, in process, with real SDK clients talking to the fake
 * AWS endpoint, which runs the snapshot imports by the same clock; the poller's signal
 * crosses HTTP to the fake's wait condition handle.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Architecture, BootMode, DiskImage, ImportedAmi } from '../../src';
import { sendSignal } from '../../src/handlers/import-image/signal';
import { availableComplete } from '../../src/handlers/imported-ami/available';
import { ImportedAmiDeps } from '../../src/handlers/imported-ami/common';
import { isComplete } from '../../src/handlers/imported-ami/is-complete';
import { onEvent } from '../../src/handlers/imported-ami/on-event';
import { PollerState } from '../../src/handlers/imported-ami/poller';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { definitionFromTemplate, runStateMachine, SimulatedClock } from '../support/state-machine';

const HOUR = 3_600_000;
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/long-ami/11111111-2222-3333-4444-555555555555';
const POLLER_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:long-ami-ImportedAmiProvider';
const WAIT_ID = 'ApplianceWaitABCDEF12';

/** The poller definition and the import's properties of a stack with a 6-hour import of two disks, as synthesized. */
function synthesized(): { definition: any; template: any } {
  const stack = new Stack(new App(), 'LongAmi', { env: { account: '123456789012', region: 'us-east-1' } });
  const disks = s3.Bucket.fromBucketName(stack, 'Disks', 'appliance-disks');
  new ImportedAmi(stack, 'Appliance', {
    disks: [DiskImage.fromBucket(disks, 'boot.raw'), DiskImage.fromBucket(disks, 'data.raw')],
    architecture: Architecture.ARM64,
    bootMode: BootMode.UEFI,
    amiName: 'appliance-1.4',
    timeout: Duration.hours(6),
  });
  const template = Template.fromStack(stack).toJSON();
  return { definition: definitionFromTemplate(template, (id) => id.startsWith('ImportedAmiProviderPoller')), template };
}

let fake: FakeAws;
let clock: SimulatedClock;
let deps: ImportedAmiDeps;
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
    sfn: new SFNClient(config),
    cloudformation: new CloudFormationClient(config),
    signal: sendSignal,
    pollerStateMachineArn: POLLER_ARN,
    sleep: async (ms) => clock.advance(ms),
    now: () => clock.now(),
  };
  lines = [];
  jest.spyOn(console, 'log').mockImplementation((line: unknown) => { lines.push(String(line)); });
  fake.setStack(STACK_ID, 'CREATE_IN_PROGRESS');
  fake.setStackResource(STACK_ID, WAIT_ID, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
});

afterEach(() => {
  jest.restoreAllMocks();
});

/** The import's properties as the synthesized template has them, as CloudFormation delivers them. */
function createEvent(template: any): any {
  const [resource] = Object.values<any>(template.Resources).filter((r) => r.Type === 'Custom::ImportedAmi');
  const p = resource.Properties;
  return {
    RequestType: 'Create',
    ServiceToken: 'x',
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: 'create-1',
    LogicalResourceId: 'Appliance',
    ResourceType: 'Custom::ImportedAmi',
    ResourceProperties: {
      ...p,
      ServiceToken: 'x',
      RoleName: 'vmimport',
      Tags: { 'team': 'platform', 'cdk-vm-import-export:stack-id': STACK_ID },
      SignalUrl: fake.waitConditionHandle(WAIT_ID, STACK_ID),
      WaitConditionLogicalId: WAIT_ID,
    },
  };
}

async function deployAndWait() {
  const { definition, template } = synthesized();
  const event = createEvent(template);
  const started = await onEvent(event, deps) as any;
  expect(started.Wait).toBe('none');
  const executions = [...fake.executions.values()];
  expect(executions).toHaveLength(1);
  const startedAt = clock.now();
  const result = await runStateMachine(definition, executions[0].input, {
    clock,
    invoke: async (_resource, state) => isComplete(state as PollerState, deps),
    maxTransitions: 20_000,
  });
  const polls = result.invocations.filter((i) => i.state === 'PollImport');
  return { event, started, startedAt, result, polls, signals: fake.signals.get(WAIT_ID) ?? [] };
}

function progressLines(): any[] {
  return lines.filter((l) => l.startsWith('{') && l.includes('"imported-ami-progress"')).map((l) => JSON.parse(l));
}

describe('a 3-hour ImportedAmi through the wait condition and the poller', () => {
  test('completes: the AMI is registered from both snapshots and SUCCESS carries its id, within one interval, in about a hundred polls', async () => {
    fake.snapshotPlan = { durationMs: 3 * HOUR };
    const { started, startedAt, result, polls, signals } = await deployAndWait();

    expect(result.status).toBe('SUCCEEDED');
    const [ami] = [...fake.amis.values()];
    expect(fake.amis.size).toBe(1);
    expect(signals).toEqual([{ Status: 'SUCCESS', Reason: `AMI ${ami.id} (appliance-1.4) is available`, UniqueId: started.Data.ImportId, Data: ami.id }]);
    // Boot disk first; the snapshots carry the import's tags (EC2 could not tag them at creation).
    const tasks = [...fake.snapshotTasks.values()];
    expect(ami.snapshotIds).toEqual(tasks.map((t) => t.snapshotId));
    for (const id of ami.snapshotIds) expect(fake.tagsOf(id)).toMatchObject({ 'team': 'platform', 'cdk-vm-import-export:import-id': started.Data.ImportId });
    expect(fake.tagsOf(ami.id)).toMatchObject({ 'cdk-vm-import-export:logical-id': 'Appliance', 'cdk-vm-import-export:stack-id': STACK_ID });

    expect(polls.length).toBeGreaterThan(60);
    expect(polls.length).toBeLessThan(130);
    const gaps = polls.slice(1).map((p, i) => (p.timestamp - polls[i].timestamp) / 1000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(120);
    // The snapshots were done at 3 hours: tagged within one interval, then registered and seen available at the
    // first interval's pace (those steps take seconds), so the AMI is announced within one interval and three short ones.
    const detectedAt = polls[polls.length - 1].timestamp;
    expect(detectedAt).toBeGreaterThanOrEqual(startedAt + 3 * HOUR);
    expect(detectedAt - (startedAt + 3 * HOUR)).toBeLessThanOrEqual(120_000 + 3 * 15_000);
    const progress = progressLines();
    expect(progress[0]).toMatchObject({ importId: started.Data.ImportId, disks: [expect.objectContaining({ status: 'active', sizeGiB: 8 }), expect.anything()] });
    expect(progress[progress.length - 1]).toMatchObject({ result: 'available', imageId: ami.id });

    // The read step after the wait reports the AMI and its snapshots.
    const available = await availableComplete({
      RequestType: 'Create',
      StackId: STACK_ID,
      RequestId: 'available-1',
      LogicalResourceId: 'ApplianceAvailable',
      ResourceType: 'Custom::ImportedAmiAvailable',
      ServiceToken: 'x',
      ResponseURL: 'x',
      ResourceProperties: { ServiceToken: 'x', ImportId: started.Data.ImportId, WaitCondition: WAIT_ID },
    } as any, deps);
    expect(available).toEqual({ IsComplete: true, PhysicalResourceId: ami.id, Data: { ImageId: ami.id, SnapshotIds: ami.snapshotIds.join(','), AmiName: 'appliance-1.4' } });
  });

  test('a disk fails at 2 hours: FAILURE with AWS\'s message at once, the other disk cancelled; the rollback removes everything', async () => {
    fake.snapshotPlan = { durationMs: 3 * HOUR };
    fake.snapshotPlanByDisk['data.raw'] = { durationMs: 2 * HOUR, failMessage: 'ClientError: Disk validation failed [Unsupported RAW geometry]' };
    const { event, started, startedAt, result, polls, signals } = await deployAndWait();

    expect(result.status).toBe('SUCCEEDED');
    expect(signals).toEqual([{
      Status: 'FAILURE',
      Reason: expect.stringMatching(/of disk 1 \(s3:\/\/appliance-disks\/data.raw\) failed: ClientError: Disk validation failed \[Unsupported RAW geometry\]$/),
      UniqueId: started.Data.ImportId,
      Data: '',
    }]);
    expect(polls[polls.length - 1].timestamp - (startedAt + 2 * HOUR)).toBeLessThanOrEqual(120_000);
    const boot = [...fake.snapshotTasks.values()].find((t) => t.input.DiskContainer.UserBucket.S3Key === 'boot.raw')!;
    expect(boot.cancelled).toBe(true);

    // The execution ended (the interpreter ran it): the fake only records executions.
    fake.finishExecution([...fake.executions.keys()][0], 'SUCCEEDED');
    // The wait condition failed: CloudFormation rolls back, deleting the import with its real id.
    fake.setStackResource(STACK_ID, WAIT_ID, { status: 'CREATE_FAILED', type: 'AWS::CloudFormation::WaitCondition' });
    const deleting = await onEvent({ ...event, RequestType: 'Delete', RequestId: 'delete-1', PhysicalResourceId: started.PhysicalResourceId }, deps) as any;
    expect(deleting.Wait).toBe('none');
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
    expect([...fake.snapshotTasks.values()].filter((t) => t.status === 'active')).toEqual([]);
  });

  test('a quota of one task: the second disk waits for room, then the import completes with both', async () => {
    fake.maxActiveSnapshotTasks = 1;
    fake.snapshotPlan = { durationMs: HOUR };
    const { result, signals } = await deployAndWait();
    expect(result.status).toBe('SUCCEEDED');
    expect(signals).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
    const tasks = [...fake.snapshotTasks.values()];
    expect(tasks).toHaveLength(2);
    // The second started only once the first was done.
    expect(tasks[1].startedAt).toBeGreaterThanOrEqual(tasks[0].startedAt + HOUR);
    expect(progressLines().some((l) => typeof l.queued === 'string' && l.queued.includes('ResourceCountLimitExceeded'))).toBe(true);
    expect([...fake.amis.values()][0].snapshotIds).toHaveLength(2);
  });

  test('a hung import fails at the timeout with its last state, before the wait condition times out', async () => {
    fake.snapshotPlan = { durationMs: 24 * HOUR };
    const { startedAt, result, polls, signals } = await deployAndWait();
    expect(result.status).toBe('SUCCEEDED');
    expect(signals).toEqual([expect.objectContaining({ Status: 'FAILURE', Reason: expect.stringMatching(/did not finish within 360 minutes \(last seen: disk 0 active/) })]);
    expect(polls[polls.length - 1].timestamp).toBeLessThanOrEqual(startedAt + 6 * HOUR + 60_000);
    expect(fake.amis.size).toBe(0);
  });

  test('stops without a signal when CloudFormation no longer waits (the stack was deleted meanwhile)', async () => {
    fake.snapshotPlan = { durationMs: 3 * HOUR };
    const { definition, template } = synthesized();
    await onEvent(createEvent(template), deps);
    const [execution] = [...fake.executions.values()];
    let polls = 0;
    const result = await runStateMachine(definition, execution.input, {
      clock,
      invoke: async (_resource, state) => {
        if (++polls === 20) fake.setStackResource(STACK_ID, WAIT_ID, { status: 'DELETE_COMPLETE', type: 'AWS::CloudFormation::WaitCondition' });
        return isComplete(state as PollerState, deps);
      },
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(fake.signals.get(WAIT_ID) ?? []).toEqual([]);
    expect(polls).toBeLessThanOrEqual(24);
  });
});
