import {
  CancelImportTaskCommand, CreateTagsCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand,
  DescribeImportSnapshotTasksCommand, DescribeSnapshotsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import { ListExecutionsCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AMI, awsError, deleteEvent, IMPORT_ID, image, libraryTagsFor, NOW, physicalIdFor, POLLER_ARN, props, SNAPSHOT_IDS, TASK_IDS, tagList, task,
  testDeps,
} from './fixtures';
import { CREATE_FAILED_MARKER, deleteImport, finishDelete } from '../../../src/handlers/imported-ami/delete';
import { isComplete } from '../../../src/handlers/imported-ami/is-complete';
import { POLL_FUNCTION_TIMEOUT_SECONDS } from '../../../src/handlers/imported-ami/types';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const sfn = mockClient(SFNClient);
const EXECUTION = `${POLLER_ARN.replace(':stateMachine:', ':execution:')}:${IMPORT_ID}-0123456789abcdef`;

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  sfn.reset();
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  ec2.on(DescribeImportSnapshotTasksCommand).resolves({ ImportSnapshotTasks: [] });
  ec2.on(DescribeImagesCommand).resolves({ Images: [] });
  ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
  ec2.on(CancelImportTaskCommand).resolves({ State: 'deleting' });
  ec2.on(CreateTagsCommand).resolves({});
  ec2.on(DeregisterImageCommand).resolves({});
  ec2.on(DeleteSnapshotCommand).resolves({});
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(sfn, 'sfn');
});

function finished() {
  ec2.on(DescribeImportSnapshotTasksCommand).resolves({
    ImportSnapshotTasks: TASK_IDS.map((id, i) => task(id, 'completed', { SnapshotId: SNAPSHOT_IDS[i] })),
  });
  ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
  ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: SNAPSHOT_IDS.map((id) => ({ SnapshotId: id })) });
}

describe('delete', () => {
  test('a finished import: deregisters the AMI, then deletes its snapshots, found by the import id tag', async () => {
    finished();
    const response = await deleteImport(deleteEvent(), testDeps());
    expect(response).toEqual({ PhysicalResourceId: physicalIdFor(), Wait: 'none' });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'], IncludeDisabled: true, Filters: [{ Name: 'tag:cdk-vm-import-export:import-id', Values: [IMPORT_ID] }],
    });
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual(SNAPSHOT_IDS);
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  test('removal policy snapshot: deregisters the AMI and keeps the snapshots', async () => {
    finished();
    await deleteImport(deleteEvent(props({ RemovalPolicy: 'snapshot' })), testDeps());
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('removal policy retain reaching the handler is a rollback (CloudFormation keeps what deployments made): removes', async () => {
    finished();
    await deleteImport(deleteEvent(props({ RemovalPolicy: 'retain' })), testDeps());
    expect(ec2).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 2);
  });

  test('tasks still importing: cancelled, whatever the policy; what a task completed meanwhile is tagged, then deleted', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand).resolves({
      ImportSnapshotTasks: [task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] }), task(TASK_IDS[1], 'active')],
    });
    await deleteImport(deleteEvent(props({ RemovalPolicy: 'retain' })), testDeps());
    expect(ec2).toHaveReceivedCommandWith(CancelImportTaskCommand, { ImportTaskId: TASK_IDS[1] });
    // The poll had not tagged it yet; DeleteSnapshot is allowed only on snapshots with the stack's tag.
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, { Resources: [SNAPSHOT_IDS[0]], Tags: tagList(libraryTagsFor()) });
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: SNAPSHOT_IDS[0] });
  });

  test('a just-tagged snapshot that IAM refuses for a moment is retried (tags may take a moment to count)', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand).resolves({ ImportSnapshotTasks: [task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] })] });
    ec2.on(DeleteSnapshotCommand).rejectsOnce(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.')).resolves({});
    const deps = testDeps();
    await deleteImport(deleteEvent(props(), physicalIdFor(props(), IMPORT_ID, [TASK_IDS[0]])), deps);
    expect(ec2).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 2);
    expect(deps.sleep).toHaveBeenCalledWith(2000);
  });

  test('a task that completes between the describe and the cancel: its snapshot is found and deleted', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand)
      .resolvesOnce({ ImportSnapshotTasks: [task(TASK_IDS[0], 'active')] })
      .resolves({ ImportSnapshotTasks: [task(TASK_IDS[0], 'completed', { SnapshotId: SNAPSHOT_IDS[0] })] });
    ec2.on(CancelImportTaskCommand).rejects(awsError('IncorrectState', 'The import task is not active'));
    await deleteImport(deleteEvent(props(), physicalIdFor(props(), IMPORT_ID, [TASK_IDS[0]])), testDeps());
    expect(ec2).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: SNAPSHOT_IDS[0] });
  });

  test('a running poller is stopped, and isComplete removes again until a poll in flight has surely ended', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: EXECUTION, stateMachineArn: POLLER_ARN, name: `${IMPORT_ID}-0123456789abcdef`, status: 'RUNNING', startDate: new Date() },
        { executionArn: `${EXECUTION}x`, stateMachineArn: POLLER_ARN, name: 'another-import-0123456789abcdef', status: 'RUNNING', startDate: new Date() },
      ],
    });
    ec2.on(DescribeImportSnapshotTasksCommand).resolves({ ImportSnapshotTasks: TASK_IDS.map((id) => task(id, 'active')) });
    const event = deleteEvent();
    const response = await deleteImport(event, testDeps());
    expect(sfn).toHaveReceivedCommandTimes(StopExecutionCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: EXECUTION });
    expect(response).toMatchObject({ Wait: 'delete', Targets: [{ importId: IMPORT_ID, taskIds: TASK_IDS }] });
    const settleUntil = (response as { SettleUntil: number }).SettleUntil;
    expect(settleUntil).toBeGreaterThanOrEqual(NOW + POLL_FUNCTION_TIMEOUT_SECONDS * 1000);

    // The poll that was in flight registered the AMI after all: the next isComplete finds it by its tag and removes it.
    ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
    const pending = { ...event, ...response };
    await expect(finishDelete(pending, testDeps(NOW + 15_000))).resolves.toBe(false);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    await expect(isComplete(pending, testDeps(settleUntil))).resolves.toEqual({ IsComplete: true });
  });

  test('an AMI a poll in flight registers during the Delete (DeleteSnapshot: in use) is removed by the next sweep, not an error', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [{ executionArn: EXECUTION, stateMachineArn: POLLER_ARN, name: `${IMPORT_ID}-0123456789abcdef`, status: 'RUNNING', startDate: new Date() }],
    });
    ec2.on(DescribeImportSnapshotTasksCommand).resolves({
      ImportSnapshotTasks: TASK_IDS.map((id, i) => task(id, 'completed', { SnapshotId: SNAPSHOT_IDS[i] })),
    });
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: SNAPSHOT_IDS.map((id) => ({ SnapshotId: id })) });
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.InUse', `The snapshot is currently in use by ${AMI}`));
    const event = deleteEvent();
    const response = await deleteImport(event, testDeps());
    expect(response.Wait).toBe('delete');
    // The next sweep finds the AMI by its tag: deregisters it, then the snapshots go.
    ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
    ec2.on(DeleteSnapshotCommand).resolves({});
    const settleUntil = (response as { SettleUntil: number }).SettleUntil;
    await expect(finishDelete({ ...event, ...response }, testDeps(settleUntil))).resolves.toBe(true);
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    // Past the settle time the same refusal is an error naming what is left.
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.InUse', `The snapshot is currently in use by ${AMI}`));
    await expect(finishDelete({ ...event, ...response }, testDeps(settleUntil))).rejects.toThrow(/^still to clean up: snapshots/);
  });

  test('an id CloudFormation invented: finds the import by the resource\'s tags, and removes it', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand, { ImportTaskIds: undefined }).resolves({ ImportSnapshotTasks: [task(TASK_IDS[0], 'active'), task(TASK_IDS[1], 'active')] });
    ec2.on(DescribeImportSnapshotTasksCommand, { ImportTaskIds: TASK_IDS }).resolves({ ImportSnapshotTasks: [task(TASK_IDS[0], 'active'), task(TASK_IDS[1], 'active')] });
    const response = await deleteImport(deleteEvent(props(), 'my-stack-Appliance-1A2B3C4D5E6F'), testDeps());
    expect(response.Wait).toBe('none');
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Filters: expect.arrayContaining([{ Name: 'tag:cdk-vm-import-export:logical-id', Values: ['Appliance'] }]),
    });
    expect(ec2.commandCalls(CancelImportTaskCommand).map((c) => c.args[0].input.ImportTaskId).sort()).toEqual(TASK_IDS);
  });

  test('an invented id with nothing behind it: success, nothing touched', async () => {
    await expect(deleteImport(deleteEvent(props(), 'my-stack-Appliance-1A2B3C4D5E6F'), testDeps())).resolves.toEqual({
      PhysicalResourceId: 'my-stack-Appliance-1A2B3C4D5E6F', Wait: 'none',
    });
    expect(ec2).not.toHaveReceivedCommand(CancelImportTaskCommand);
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
  });

  test('the framework\'s CREATE_FAILED marker: nothing was started, no call is made', async () => {
    await deleteImport(deleteEvent(props(), CREATE_FAILED_MARKER), testDeps());
    expect(ec2.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  test('tasks EC2 has forgotten (7 days): the AMI and snapshots are still found by their tags', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand).rejects(awsError('InvalidConversionTaskId.Malformed', 'The import task does not exist'));
    ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: SNAPSHOT_IDS.map((id) => ({ SnapshotId: id })) });
    await deleteImport(deleteEvent(), testDeps());
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: AMI });
    expect(ec2).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 2);
  });

  test('a retried Delete once everything is gone: the tasks EC2 still describes name deleted snapshots, which is success', async () => {
    ec2.on(DescribeImportSnapshotTasksCommand).resolves({
      ImportSnapshotTasks: TASK_IDS.map((id, i) => task(id, 'completed', { SnapshotId: SNAPSHOT_IDS[i] })),
    });
    ec2.on(CreateTagsCommand).rejects(awsError('InvalidSnapshot.NotFound', 'The snapshot does not exist.'));
    await expect(deleteImport(deleteEvent(), testDeps())).resolves.toMatchObject({ Wait: 'none' });
    expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  });

  test('throttled clean-up calls are retried', async () => {
    finished();
    ec2.on(DeregisterImageCommand).rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503)).resolves({});
    await deleteImport(deleteEvent(), testDeps());
    expect(ec2).toHaveReceivedCommandTimes(DeregisterImageCommand, 2);
    expect(ec2).toHaveReceivedCommandTimes(DeleteSnapshotCommand, 2);
  });

  test('a snapshot that cannot be deleted fails the Delete naming what is left', async () => {
    finished();
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.InUse', `The snapshot ${SNAPSHOT_IDS[0]} is currently in use by ami-0fedcba9876543210`));
    await expect(deleteImport(deleteEvent(), testDeps())).rejects.toThrow(
      new RegExp(`^still to clean up: snapshots ${SNAPSHOT_IDS.join(', ')}\\. EC2 DeleteSnapshot failed for ${SNAPSHOT_IDS[0]}: InvalidSnapshot.InUse`));
  });
});
