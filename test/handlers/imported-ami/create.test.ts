import { CancelImportTaskCommand, DescribeImagesCommand, EC2Client, ImportSnapshotCommand } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  awsError, createEvent, IMPORT_ID, image, libraryTagsFor, physicalIdFor, POLLER_ARN, props, SIGNAL_URL, STACK_ID, LOGICAL_ID, TASK_IDS, tagList,
  testDeps,
} from './fixtures';
import { snapshotClientToken } from '../../../src/handlers/imported-ami/common';
import { createImport } from '../../../src/handlers/imported-ami/create';
import { PollerState } from '../../../src/handlers/imported-ami/poller';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const sfn = mockClient(SFNClient);

const ROLE_NOT_READY = 'The service role vmimport provided does not exist or does not have sufficient permissions';

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  sfn.reset();
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(ImportSnapshotCommand).resolvesOnce({ ImportTaskId: TASK_IDS[0] }).resolvesOnce({ ImportTaskId: TASK_IDS[1] });
  ec2.on(CancelImportTaskCommand).resolves({ State: 'deleting' });
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${POLLER_ARN.replace(':stateMachine:', ':execution:')}:x`, startDate: new Date() });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(sfn, 'sfn');
});

function startedState(): PollerState {
  return JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
}

describe('create', () => {
  test('imports each disk as a snapshot, tagged and with its own client token, then starts the poller and completes at once', async () => {
    const p = props({ KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555', Description: 'the appliance' });
    const response = await createImport(createEvent(p), testDeps());

    expect(ec2).toHaveReceivedCommandTimes(ImportSnapshotCommand, 2);
    const tags = tagList({ team: 'platform', ...libraryTagsFor(p) });
    const [first, second] = ec2.commandCalls(ImportSnapshotCommand).map((c) => c.args[0].input);
    expect(first).toEqual({
      DiskContainer: { Format: 'RAW', UserBucket: { S3Bucket: 'appliance-disks', S3Key: 'boot.raw' } },
      Description: 'the appliance',
      Encrypted: true,
      KmsKeyId: p.KmsKeyId,
      RoleName: 'vmimport',
      TagSpecifications: [{ ResourceType: 'import-snapshot-task', Tags: tags }],
      ClientToken: snapshotClientToken({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID }, IMPORT_ID, 0),
    });
    expect(second).toEqual(expect.objectContaining({
      DiskContainer: { Format: 'VMDK', Url: 's3://appliance-disks/data.vmdk' },
      ClientToken: snapshotClientToken({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID }, IMPORT_ID, 1),
    }));
    // The import id ties the tasks, the snapshots and the AMI together: it is in the physical id and in every tag set.
    expect(tags).toContainEqual({ Key: 'cdk-vm-import-export:import-id', Value: IMPORT_ID });
    expect(response).toEqual({ PhysicalResourceId: physicalIdFor(p), Data: { ImportId: IMPORT_ID, AmiName: 'appliance-1.4' }, Wait: 'none' });

    const start = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.stateMachineArn).toBe(POLLER_ARN);
    expect(start.name).toMatch(new RegExp(`^${IMPORT_ID}-[0-9a-f]{16}$`));
    expect(startedState()).toMatchObject({
      Poller: { ImportId: IMPORT_ID, StackId: STACK_ID, LogicalResourceId: LOGICAL_ID, Properties: { SignalUrl: SIGNAL_URL, AmiName: 'appliance-1.4' } },
      Polls: 0,
      Next: 15,
      Done: false,
      TaskIds: TASK_IDS,
      Tagged: [],
    });
  });

  test('a redelivered Create sends the same client tokens, so EC2 returns the same tasks', async () => {
    // EC2 answers a known token with the task it started for it.
    const byToken = new Map<string, string>();
    ec2.on(ImportSnapshotCommand).callsFake((input) => {
      if (!byToken.has(input.ClientToken)) byToken.set(input.ClientToken, TASK_IDS[byToken.size]);
      return { ImportTaskId: byToken.get(input.ClientToken) };
    });
    const first = await createImport(createEvent(), testDeps());
    const again = await createImport(createEvent(), testDeps());
    expect(again.PhysicalResourceId).toBe(first.PhysicalResourceId);
    const tokens = ec2.commandCalls(ImportSnapshotCommand).map((c) => c.args[0].input.ClientToken);
    expect(tokens[0]).toBe(tokens[2]);
    expect(tokens[1]).toBe(tokens[3]);
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  test('retries while the just-created service role is not usable yet, then succeeds with one task per disk', async () => {
    ec2.on(ImportSnapshotCommand)
      .rejectsOnce(awsError('InvalidParameter', ROLE_NOT_READY))
      .rejectsOnce(awsError('InvalidParameter', ROLE_NOT_READY))
      .resolvesOnce({ ImportTaskId: TASK_IDS[0] })
      .resolvesOnce({ ImportTaskId: TASK_IDS[1] });
    const deps = testDeps();
    const response = await createImport(createEvent(), deps);
    expect(response.PhysicalResourceId).toBe(physicalIdFor());
    expect(deps.sleep).toHaveBeenCalledTimes(2);
    const tokens = new Set(ec2.commandCalls(ImportSnapshotCommand).slice(0, 3).map((c) => c.args[0].input.ClientToken));
    expect(tokens.size).toBe(1);
  });

  test('a full import quota queues the remaining disks: the poller starts them (the physical id says which)', async () => {
    ec2.on(ImportSnapshotCommand).resolvesOnce({ ImportTaskId: TASK_IDS[0] })
      .rejectsOnce(awsError('ResourceCountLimitExceeded', 'You have reached the limit of concurrent import tasks'));
    const response = await createImport(createEvent(), testDeps());
    expect(response.PhysicalResourceId).toBe(physicalIdFor(props(), IMPORT_ID, [TASK_IDS[0], '']));
    expect(startedState().TaskIds).toEqual([TASK_IDS[0], '']);
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
  });

  test('a disk EC2 refuses fails the Create with the disk and AWS\'s words, and cancels the disks already started', async () => {
    ec2.on(ImportSnapshotCommand).resolvesOnce({ ImportTaskId: TASK_IDS[0] })
      .rejectsOnce(awsError('InvalidParameter', 'The given S3 object is not a VMDK'));
    await expect(createImport(createEvent(), testDeps()))
      .rejects.toThrow('disk 1 (s3://appliance-disks/data.vmdk): EC2 ImportSnapshot failed: InvalidParameter: The given S3 object is not a VMDK');
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_IDS[0] });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('an answer lost to 5xx through every retry fails with the import\'s own id, so the rollback Delete finds what it started', async () => {
    ec2.on(ImportSnapshotCommand).resolvesOnce({ ImportTaskId: TASK_IDS[0] }).rejects(awsError('InternalError', 'An internal error has occurred', 500));
    const deps = testDeps();
    const response = await createImport(createEvent(), deps);
    expect(response).toEqual({
      PhysicalResourceId: physicalIdFor(props(), IMPORT_ID, [TASK_IDS[0], '']),
      Wait: 'fail',
      Failure: expect.stringMatching(/^disk 1 \(s3:\/\/appliance-disks\/data.vmdk\): EC2 ImportSnapshot failed: InternalError: .*the rollback removes/),
    });
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_IDS[0] });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('an AMI name another AMI has fails before any import starts, naming that AMI', async () => {
    ec2.on(DescribeImagesCommand, { Filters: [{ Name: 'name', Values: ['appliance-1.4'] }] })
      .resolves({ Images: [image('available', '00000000-0000-4000-8000-000000000000', undefined, 'ami-0fedcba9876543210')] });
    await expect(createImport(createEvent(), testDeps()))
      .rejects.toThrow(/^amiName "appliance-1.4" is already the name of ami-0fedcba9876543210 \(an AMI an ImportedAmi registered, such as the one this import replaces\)/);
    expect(ec2).not.toHaveReceivedCommand(ImportSnapshotCommand);
  });

  test('the AMI of this very import (a redelivered Create that got far) does not block it', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [image('available', IMPORT_ID)] });
    await expect(createImport(createEvent(), testDeps())).resolves.toMatchObject({ PhysicalResourceId: physicalIdFor() });
  });

  test('a poller that cannot start cancels the tasks and fails the Create', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: states:StartExecution'));
    await expect(createImport(createEvent(), testDeps())).rejects.toThrow(/could not start the poller of imported AMI appliance-1.4 .*AccessDeniedException/);
    expect(ec2).toHaveReceivedCommandTimes(CancelImportTaskCommand, 2);
  });

  test.each([
    ['no disks', { Disks: [] }, /invalid property Disks: expected a non-empty list of disks, got \[\]/],
    ['an OVA disk', { Disks: [{ Format: 'OVA', Url: 's3://b/a.ova', DeviceName: '/dev/xvda' }] }, /invalid property Disks\[0\].Format: expected VHD, VMDK, RAW, got "OVA"/],
    ['a boot disk off the root device', { Disks: [{ Format: 'RAW', Url: 's3://b/a.raw', DeviceName: '/dev/sdf' }] }, /invalid property Disks\[0\].DeviceName: expected the RootDeviceName "\/dev\/xvda"/],
    ['no signal URL', { SignalUrl: undefined }, /invalid property SignalUrl: expected a non-empty string, got nothing/],
    ['tags that are not a map of strings', { Tags: ['a'] }, /invalid property Tags: expected a map of strings/],
    ['a timeout that is no number', { TimeoutSeconds: 'six hours' }, /invalid property TimeoutSeconds/],
    ['EnaSupport that is no boolean', { EnaSupport: 'yes' }, /invalid property EnaSupport: expected "true" or "false", got "yes"/],
  ])('refuses %s before any AWS call', async (_name, overrides, message) => {
    await expect(createImport(createEvent(props(overrides as any)), testDeps())).rejects.toThrow(message);
    expect(ec2.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });
});
