import { CloudFormationClient, DescribeStackResourceCommand } from '@aws-sdk/client-cloudformation';
import {
  CancelImportTaskCommand, CreateTagsCommand, DescribeImagesCommand, DescribeImportSnapshotTasksCommand, EC2Client, ImportSnapshotCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AMI, awsError, IMPORT_ID, image, libraryTagsFor, NOW, props, SIGNAL_URL, SNAPSHOT_IDS, STACK_ID, LOGICAL_ID, TASK_IDS, tagList, task, testDeps,
} from './fixtures';
import { propertiesHash } from '../../../src/handlers/imported-ami/common';
import { pollerStep, PollerState } from '../../../src/handlers/imported-ami/poller';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const cfn = mockClient(CloudFormationClient);
let lines: string[];

beforeEach(() => {
  ec2.reset();
  cfn.reset();
  lines = [];
  jest.spyOn(console, 'log').mockImplementation((line: unknown) => { lines.push(String(line)); });
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(CreateTagsCommand).resolves({});
  ec2.on(CancelImportTaskCommand).resolves({ State: 'deleting' });
  ec2.on(RegisterImageCommand).resolves({ ImageId: AMI });
  cfn.on(DescribeStackResourceCommand).resolves({
    StackResourceDetail: { LogicalResourceId: 'ApplianceWaitABCDEF12', ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: 'CREATE_IN_PROGRESS', LastUpdatedTimestamp: new Date() },
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(cfn, 'cloudformation');
});

function state(overrides: Partial<PollerState> = {}): PollerState {
  return {
    Poller: {
      ImportId: IMPORT_ID,
      PropertiesHash: propertiesHash(props()),
      StackId: STACK_ID,
      LogicalResourceId: LOGICAL_ID,
      Properties: props(),
      StartedAt: NOW - 600_000,
      Deadline: NOW + 6 * 3_600_000,
      PollIntervalSeconds: 15,
      MaxPollIntervalSeconds: 120,
    },
    Polls: 0,
    Next: 15,
    Done: false,
    TaskIds: TASK_IDS,
    Tagged: [],
    ...overrides,
  };
}

function tasksAre(...tasks: ReturnType<typeof task>[]) {
  ec2.on(DescribeImportSnapshotTasksCommand).resolves({ ImportSnapshotTasks: tasks });
}

function progress(): any[] {
  return lines.filter((l) => l.includes('"imported-ami-progress"')).map((l) => JSON.parse(l));
}

describe('the poll step', () => {
  test('disks still importing: polls again after a tenth of the elapsed time, with one progress line per disk', async () => {
    tasksAre(task(TASK_IDS[0], 'active', { Progress: '40', StatusMessage: 'downloading/converting' }), task(TASK_IDS[1], 'active', { Progress: '10' }));
    const deps = testDeps();
    const next = await pollerStep(state(), deps);
    expect(next).toMatchObject({ Polls: 1, Next: 60, Done: false, TaskIds: TASK_IDS, Tagged: [] });
    expect(deps.signal).not.toHaveBeenCalled();
    expect(ec2).not.toHaveReceivedCommand(RegisterImageCommand);
    expect(progress()).toEqual([expect.objectContaining({
      importId: IMPORT_ID,
      amiName: 'appliance-1.4',
      elapsedSeconds: 600,
      nextPollSeconds: 60,
      disks: [
        { disk: 0, taskId: TASK_IDS[0], status: 'active', statusMessage: 'downloading/converting', progressPercent: 40, sizeGiB: 8 },
        { disk: 1, taskId: TASK_IDS[1], status: 'active', progressPercent: 10, sizeGiB: 8 },
      ],
    })]);
  });

  test('tags each snapshot as soon as its task completes (EC2 cannot tag it at creation)', async () => {
    tasksAre(task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'active'));
    const next = await pollerStep(state(), testDeps());
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [SNAPSHOT_IDS[0]], Tags: tagList({ team: 'platform', ...libraryTagsFor() }),
    });
    expect(next.Tagged).toEqual([SNAPSHOT_IDS[0]]);
    expect(ec2).not.toHaveReceivedCommand(RegisterImageCommand);
  });

  test('registers the AMI a poll after every snapshot was tagged: boot disk first, hvm, ENA, IMDSv2, tagged at creation', async () => {
    tasksAre(task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'completed', { SnapshotId: SNAPSHOT_IDS[1] }));
    // The poll that tags them does not register yet.
    const tagged = await pollerStep(state(), testDeps());
    expect(tagged.Tagged).toEqual(SNAPSHOT_IDS);
    expect(ec2).not.toHaveReceivedCommand(RegisterImageCommand);
    // The last steps take seconds: the next poll comes at the first interval, not a tenth of the elapsed time.
    expect(tagged.Next).toBe(15);

    const deps = testDeps();
    const next = await pollerStep(tagged, deps);
    expect(ec2).toHaveReceivedCommandTimes(RegisterImageCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(RegisterImageCommand, {
      Name: 'appliance-1.4',
      Architecture: 'arm64',
      BootMode: 'uefi',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: SNAPSHOT_IDS[0], DeleteOnTermination: true } },
        { DeviceName: '/dev/sdf', Ebs: { SnapshotId: SNAPSHOT_IDS[1], DeleteOnTermination: true } },
      ],
      VirtualizationType: 'hvm',
      EnaSupport: true,
      ImdsSupport: 'v2.0',
      TagSpecifications: [{ ResourceType: 'image', Tags: tagList({ team: 'platform', ...libraryTagsFor() }) }],
    });
    // Registered, not yet signalled: the next poll, soon, reads the AMI's state.
    expect(next).toMatchObject({ Done: false, Next: 15 });
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('passes TPM and UEFI data on to RegisterImage', async () => {
    tasksAre(task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'completed', { SnapshotId: SNAPSHOT_IDS[1] }));
    const s = state({ Tagged: SNAPSHOT_IDS });
    await pollerStep({ ...s, Poller: { ...s.Poller, Properties: props({ TpmSupport: 'v2.0', UefiData: 'QU1aTlVFRkk=', Description: 'the appliance', EnaSupport: 'false' }) } }, testDeps());
    expect(ec2).toHaveReceivedCommandWith(RegisterImageCommand, { TpmSupport: 'v2.0', UefiData: 'QU1aTlVFRkk=', Description: 'the appliance', EnaSupport: false });
  });

  test('an available AMI: signals SUCCESS with the AMI id, once per import (UniqueId), and is done', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [image('available')] });
    const deps = testDeps();
    const next = await pollerStep(state({ Tagged: SNAPSHOT_IDS }), deps);
    expect(next.Done).toBe(true);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, { Status: 'SUCCESS', Reason: `AMI ${AMI} (appliance-1.4) is available`, UniqueId: IMPORT_ID, Data: AMI });
    // Once the AMI exists the tasks are not read again (EC2 forgets them after 7 days).
    expect(ec2).not.toHaveReceivedCommand(DescribeImportSnapshotTasksCommand);
    expect(ec2).not.toHaveReceivedCommand(RegisterImageCommand);
  });

  test('an AMI still pending: polls again', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [image('pending')] });
    const deps = testDeps();
    expect((await pollerStep(state(), deps)).Done).toBe(false);
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('an AMI EC2 marks failed: signals FAILURE with its state reason', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ...image('failed'), StateReason: { Code: 'Client.InvalidSnapshot', Message: 'snapshot is not bootable' } }] });
    const deps = testDeps();
    expect((await pollerStep(state(), deps)).Done).toBe(true);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({ Status: 'FAILURE', Reason: `AMI ${AMI} (appliance-1.4) is failed: snapshot is not bootable` }));
  });

  test('a failed disk: cancels the others and signals FAILURE with AWS\'s StatusMessage verbatim', async () => {
    tasksAre(
      task(TASK_IDS[0], 'active'),
      task(TASK_IDS[1], 'deleted', { StatusMessage: 'ClientError: Disk validation failed [Unsupported VMDK File Format]' }),
    );
    const deps = testDeps();
    const next = await pollerStep(state(), deps);
    expect(next.Done).toBe(true);
    expect(ec2).toHaveReceivedCommandTimes(CancelImportTaskCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_IDS[0] });
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, {
      Status: 'FAILURE',
      Reason: `the snapshot import ${TASK_IDS[1]} of disk 1 (s3://appliance-disks/data.vmdk) failed: ClientError: Disk validation failed [Unsupported VMDK File Format]`,
      UniqueId: IMPORT_ID,
      Data: '',
    });
  });

  test('a multi-byte failure message near the limit is cut by bytes, on a character boundary', async () => {
    tasksAre(task(TASK_IDS[0], 'deleting', { StatusMessage: 'ClientError: ' + 'ディスク'.repeat(400) }), task(TASK_IDS[1], 'active'));
    const deps = testDeps();
    await pollerStep(state(), deps);
    const reason = deps.signal.mock.calls[0][1].Reason;
    expect(Buffer.byteLength(reason, 'utf8')).toBeLessThanOrEqual(1000);
    expect(reason).toMatch(/^the snapshot import \S+ of disk 0 \(s3:\/\/appliance-disks\/boot.raw\) failed: ClientError: ディスク[ディスク]*\.\.\.$/);
  });

  test('starts a disk that waited for quota with its own client token, and keeps waiting while the quota stays full', async () => {
    tasksAre(task(TASK_IDS[0], 'active'));
    ec2.on(ImportSnapshotCommand).rejectsOnce(awsError('ResourceCountLimitExceeded', 'limit of concurrent import tasks')).resolvesOnce({ ImportTaskId: TASK_IDS[1] });
    const full = await pollerStep(state({ TaskIds: [TASK_IDS[0], ''] }), testDeps());
    expect(full).toMatchObject({ Done: false, TaskIds: [TASK_IDS[0], ''] });
    expect(progress()[0]).toMatchObject({ queued: expect.stringContaining('ResourceCountLimitExceeded'), disks: [expect.anything(), { disk: 1, status: 'queued' }] });
    const started = await pollerStep(full, testDeps());
    expect(started.TaskIds).toEqual(TASK_IDS);
    const tokens = ec2.commandCalls(ImportSnapshotCommand).map((c) => c.args[0].input.ClientToken);
    expect(tokens[0]).toBe(tokens[1]);
    // Only the queued disk is started.
    expect(ec2.commandCalls(ImportSnapshotCommand).every((c) => c.args[0].input.DiskContainer?.Url === 's3://appliance-disks/data.vmdk')).toBe(true);
  });

  test('an AMI name taken by another AMI: signals FAILURE saying how to fix it', async () => {
    tasksAre(task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'completed', { SnapshotId: SNAPSHOT_IDS[1] }));
    ec2.on(RegisterImageCommand).rejects(awsError('InvalidAMIName.Duplicate', 'AMI name appliance-1.4 is already in use by AMI ami-0fedcba9876543210'));
    ec2.on(DescribeImagesCommand, { Filters: [{ Name: 'name', Values: ['appliance-1.4'] }] })
      .resolves({ Images: [image('available', '00000000-0000-4000-8000-000000000000', undefined, 'ami-0fedcba9876543210')] });
    const deps = testDeps();
    expect((await pollerStep(state({ Tagged: SNAPSHOT_IDS }), deps)).Done).toBe(true);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE', Reason: expect.stringMatching(/refused the AMI name "appliance-1.4": ami-0fedcba9876543210 already has it.*change amiName/),
    }));
  });

  test('a retried poll whose registration went through adopts its own AMI instead of registering twice', async () => {
    tasksAre(task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'completed', { SnapshotId: SNAPSHOT_IDS[1] }));
    ec2.on(RegisterImageCommand).rejects(awsError('InvalidAMIName.Duplicate', 'AMI name appliance-1.4 is already in use'));
    ec2.on(DescribeImagesCommand, { Filters: [{ Name: 'name', Values: ['appliance-1.4'] }] }).resolves({ Images: [image('pending')] });
    const deps = testDeps();
    const next = await pollerStep(state({ Tagged: SNAPSHOT_IDS }), deps);
    expect(next.Done).toBe(false);
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('throttling and 5xx only mean "ask again"', async () => {
    ec2.on(DescribeImagesCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503));
    const deps = testDeps();
    const next = await pollerStep(state(), deps);
    expect(next).toMatchObject({ Done: false, Polls: 1 });
    expect(deps.signal).not.toHaveBeenCalled();
    expect(progress()[0]).toMatchObject({ transientError: expect.stringContaining('RequestLimitExceeded') });
  });

  test('past the deadline: signals FAILURE with what it last saw', async () => {
    tasksAre(task(TASK_IDS[0], 'active', { Progress: '80', StatusMessage: 'converting' }), task(TASK_IDS[1], 'completed', { SnapshotId: SNAPSHOT_IDS[1] }));
    const s = state();
    const deps = testDeps(s.Poller.Deadline + 1);
    expect((await pollerStep(s, deps)).Done).toBe(true);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE',
      Reason: expect.stringMatching(/did not finish within 370 minutes \(last seen: disk 0 active "converting", 80% done; disk 1 completed\)\. The rollback cancels and removes it/),
    }));
  });

  test('every fourth poll asks CloudFormation whether the wait condition still waits, and stops without a signal when it does not', async () => {
    tasksAre(task(TASK_IDS[0], 'active'), task(TASK_IDS[1], 'active'));
    const deps = testDeps();
    await pollerStep(state({ Polls: 2 }), deps);
    expect(cfn).not.toHaveReceivedCommand(DescribeStackResourceCommand);
    cfn.on(DescribeStackResourceCommand).resolves({
      StackResourceDetail: { LogicalResourceId: 'ApplianceWaitABCDEF12', ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: 'DELETE_COMPLETE', LastUpdatedTimestamp: new Date() },
    });
    const next = await pollerStep(state({ Polls: 3 }), deps);
    expect(cfn).toHaveReceivedCommandWith(DescribeStackResourceCommand, { StackName: STACK_ID, LogicalResourceId: 'ApplianceWaitABCDEF12' });
    expect(next.Done).toBe(true);
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('a poll function that failed through every retry (the state machine\'s Catch): signals FAILURE at once', async () => {
    const deps = testDeps();
    const next = await pollerStep(state({ Error: { Error: 'Lambda.Unknown', Cause: 'Task timed out' } }), deps);
    expect(next.Done).toBe(true);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE', Reason: `the poller of the import of AMI "appliance-1.4" (${IMPORT_ID}) failed: Lambda.Unknown: Task timed out`,
    }));
    expect(ec2.calls()).toHaveLength(0);
  });
});
