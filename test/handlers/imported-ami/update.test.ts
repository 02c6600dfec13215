import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateTagsCommand, DeleteTagsCommand, DescribeImagesCommand, EC2Client, ImportSnapshotCommand } from '@aws-sdk/client-ec2';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AMI, IMPORT_ID, image, physicalIdFor, POLLER_ARN, props, SIGNAL_URL, SNAPSHOT_IDS, STACK_ID, TASK_IDS, testDeps, updateEvent,
} from './fixtures';
import { importIdFor, propertiesHash } from '../../../src/handlers/imported-ami/common';
import { updateImport } from '../../../src/handlers/imported-ami/update';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const sfn = mockClient(SFNClient);
const cfn = mockClient(CloudFormationClient);
const OTHER_IMPORT = '00000000-0000-4000-8000-000000000000';

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  sfn.reset();
  cfn.reset();
  ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
  ec2.on(CreateTagsCommand).resolves({});
  ec2.on(DeleteTagsCommand).resolves({});
  ec2.on(ImportSnapshotCommand).resolvesOnce({ ImportTaskId: 'import-snap-0aaaaaaaaaaaaaaa0' }).resolvesOnce({ ImportTaskId: 'import-snap-0aaaaaaaaaaaaaaa1' });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:us-east-1:123456789012:execution:p:x', startDate: new Date() });
  sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'my-stack', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date() }] });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(sfn, 'sfn');
  expectValidRequests(cfn, 'cloudformation');
});

describe('update', () => {
  test('tags only: the AMI and its snapshots are retagged in place, with only the differences; same id, no import', async () => {
    const before = props({ Tags: { team: 'platform', stage: 'test' } });
    const after = props({ Tags: { team: 'platform', owner: 'ops' } });
    const response = await updateImport(updateEvent(before, after), testDeps());
    expect(response).toEqual({ PhysicalResourceId: physicalIdFor(before), Data: { ImportId: IMPORT_ID, AmiName: 'appliance-1.4' }, Wait: 'none' });
    expect(propertiesHash(before)).toBe(propertiesHash(after));
    expect(ec2).toHaveReceivedCommandWith(DeleteTagsCommand, { Resources: [AMI, ...SNAPSHOT_IDS], Tags: [{ Key: 'stage' }] });
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, { Resources: [AMI, ...SNAPSHOT_IDS], Tags: [{ Key: 'owner', Value: 'ops' }] });
    expect(ec2).not.toHaveReceivedCommand(ImportSnapshotCommand);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('a new wait condition for the same import (a new timeout): a poller signals it, nothing is imported again', async () => {
    const before = props();
    const after = props({ TimeoutSeconds: String(8 * 3600), SignalUrl: `${SIGNAL_URL}-2`, WaitConditionLogicalId: 'ApplianceWait12345678' });
    const response = await updateImport(updateEvent(before, after), testDeps());
    expect(response.PhysicalResourceId).toBe(physicalIdFor(before));
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
    expect(input.Poller).toMatchObject({ ImportId: IMPORT_ID, Properties: { SignalUrl: `${SIGNAL_URL}-2` } });
    expect(ec2).not.toHaveReceivedCommand(ImportSnapshotCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  test('other disks: a new import under a new id (CloudFormation deletes the old one afterwards)', async () => {
    const before = props();
    const after = props({ AmiName: 'appliance-1.5', Disks: [{ Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'boot-1.5.raw', DeviceName: '/dev/xvda' }] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const event = updateEvent(before, after);
    const response = await updateImport(event, testDeps());
    const newImport = importIdFor(event);
    expect(newImport).not.toBe(IMPORT_ID);
    expect(response.PhysicalResourceId).toBe(`${newImport}|${propertiesHash(after)}|import-snap-0aaaaaaaaaaaaaaa0`);
    expect(ec2).toHaveReceivedCommandTimes(ImportSnapshotCommand, 1);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  test('the rollback of a failed replacement, arriving with the NEW id and the ORIGINAL properties: answers the original, starts nothing', async () => {
    const original = props();
    const failed = props({ AmiName: 'appliance-1.5', Disks: [{ Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'boot-1.5.raw', DeviceName: '/dev/xvda' }] });
    // The original import's AMI, found by the resource's tags and the original properties' hash.
    ec2.on(DescribeImagesCommand).resolves({ Images: [image('available', IMPORT_ID)] });
    const rollback = updateEvent(failed, original, physicalIdFor(failed, OTHER_IMPORT, ['import-snap-0aaaaaaaaaaaaaaa0']));
    const response = await updateImport(rollback, testDeps());
    expect(response.PhysicalResourceId).toBe(`${IMPORT_ID}|${propertiesHash(original)}|`);
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Filters: expect.arrayContaining([{ Name: 'tag:cdk-vm-import-export:properties-hash', Values: [propertiesHash(original)] }]),
    });
    expect(ec2).not.toHaveReceivedCommand(ImportSnapshotCommand);
    // The original keeps its own tags: the failed properties' are not its.
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
    expect(ec2).not.toHaveReceivedCommand(DeleteTagsCommand);
  });

  test('an AMI deregistered outside CloudFormation: the update fails saying so', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    await expect(updateImport(updateEvent(props(), props({ Tags: { team: 'ops' } })), testDeps()))
      .rejects.toThrow(`the AMI of import ${IMPORT_ID} ("appliance-1.4") no longer exists (deregistered outside CloudFormation?)`);
  });

  test('... unless the stack is rolling back: then the update succeeds without it', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'my-stack', StackStatus: 'UPDATE_ROLLBACK_IN_PROGRESS', CreationTime: new Date() }] });
    await expect(updateImport(updateEvent(props(), props({ Tags: { team: 'ops' } })), testDeps())).resolves.toMatchObject({ PhysicalResourceId: physicalIdFor() });
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: STACK_ID });
  });

  test('an import still running when its tags change: its poller restarts with the new tags', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    sfn.on(ListExecutionsCommand).resolves({
      executions: [{
        executionArn: `${POLLER_ARN.replace(':stateMachine:', ':execution:')}:${IMPORT_ID}-0123456789abcdef`,
        stateMachineArn: POLLER_ARN,
        name: `${IMPORT_ID}-0123456789abcdef`,
        status: 'RUNNING',
        startDate: new Date(),
      }],
    });
    await updateImport(updateEvent(props(), props({ Tags: { team: 'ops' } })), testDeps());
    expect(sfn).toHaveReceivedCommandTimes(StopExecutionCommand, 1);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
    expect(input).toMatchObject({ TaskIds: TASK_IDS, Poller: { Properties: { Tags: { team: 'ops' } } } });
    expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.name).not.toBe(`${IMPORT_ID}-0123456789abcdef`);
  });

  test('refuses wrongly typed properties before any AWS call', async () => {
    await expect(updateImport(updateEvent(props(), props({ Disks: 'boot.raw' as any })), testDeps())).rejects.toThrow(/invalid property Disks/);
    expect(ec2.calls()).toHaveLength(0);
  });
});
