/**
 * The fake's snapshot imports and AMI registration (ImportSnapshot,
 * DescribeImportSnapshotTasks, CancelImportTask, RegisterImage, DescribeImages and
 * DescribeSnapshots with filters, CreateTags, DeleteTags) against the real SDK v3 EC2
 * client: the wire round trip, the unkind behaviours, and the per-resource tags the IAM
 * proof reads.
 */
import {
  CancelImportTaskCommand, CreateTagsCommand, DeleteSnapshotCommand, DeleteTagsCommand, DeregisterImageCommand, DescribeImagesCommand,
  DescribeImportSnapshotTasksCommand, DescribeSnapshotsCommand, EC2Client, ImportSnapshotCommand, ImportSnapshotCommandInput, RegisterImageCommand,
  RegisterImageCommandInput,
} from '@aws-sdk/client-ec2';
import { CANCELLED_TASK_MESSAGE, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws } from './fake-aws';

let fake: FakeAws;
let ec2: EC2Client;

beforeEach(async () => {
  fake = await FakeAws.start();
  ec2 = new EC2Client({
    region: 'us-east-1',
    endpoint: fake.url,
    maxAttempts: 1,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, sessionToken: 'session' },
  });
});

afterEach(async () => {
  await fake.close();
});

const IMPORT: ImportSnapshotCommandInput = {
  ClientToken: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
  Description: 'round trip',
  DiskContainer: { Format: 'RAW', UserBucket: { S3Bucket: 'bucket', S3Key: 'boot.raw' } },
  RoleName: 'vmimport',
  TagSpecifications: [{ ResourceType: 'import-snapshot-task', Tags: [{ Key: 'owner', Value: 'stack-a' }] }],
};

async function describeTask(id: string) {
  return (await ec2.send(new DescribeImportSnapshotTasksCommand({ ImportTaskIds: [id] }))).ImportSnapshotTasks?.[0];
}

async function completedSnapshot(input: ImportSnapshotCommandInput = IMPORT): Promise<string> {
  const { ImportTaskId } = await ec2.send(new ImportSnapshotCommand(input));
  for (let i = 0; i < 5; i++) {
    const task = await describeTask(ImportTaskId!);
    if (task?.SnapshotTaskDetail?.Status === 'completed') return task.SnapshotTaskDetail.SnapshotId!;
  }
  throw new Error('the snapshot task did not complete');
}

function register(snapshotId: string, overrides: Partial<RegisterImageCommandInput> = {}): RegisterImageCommandInput {
  return {
    Name: 'appliance-1.4',
    Architecture: 'arm64',
    RootDeviceName: '/dev/xvda',
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId, DeleteOnTermination: true } }],
    VirtualizationType: 'hvm',
    EnaSupport: true,
    TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'owner', Value: 'stack-a' }] }],
    ...overrides,
  };
}

describe('snapshot imports in the fake', () => {
  test('a task takes several describes, then completes with an untagged snapshot (EC2 tags only the task)', async () => {
    const started = await ec2.send(new ImportSnapshotCommand(IMPORT));
    expect(started).toMatchObject({
      ImportTaskId: expect.stringMatching(/^import-snap-/),
      SnapshotTaskDetail: { Status: 'active', StatusMessage: 'pending', Format: 'RAW', UserBucket: { S3Bucket: 'bucket', S3Key: 'boot.raw' } },
      Tags: [{ Key: 'owner', Value: 'stack-a' }],
    });
    const statuses: string[] = [];
    let snapshotId: string | undefined;
    for (let i = 0; i < 4 && !snapshotId; i++) {
      const task = await describeTask(started.ImportTaskId!);
      statuses.push(task!.SnapshotTaskDetail!.Status!);
      snapshotId = task!.SnapshotTaskDetail!.SnapshotId;
    }
    expect(statuses).toEqual(['active', 'active', 'completed']);
    const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId!] }));
    expect(Snapshots).toEqual([expect.objectContaining({
      SnapshotId: snapshotId, VolumeId: 'vol-ffffffff', Description: `Created by AWS-VMImport service for ${started.ImportTaskId}`,
    })]);
    expect(Snapshots![0].Tags).toBeUndefined();
    expect(fake.problems).toEqual([]);
  });

  test('the same client token answers the same task; other parameters with it are refused', async () => {
    const first = await ec2.send(new ImportSnapshotCommand(IMPORT));
    const again = await ec2.send(new ImportSnapshotCommand(IMPORT));
    expect(again.ImportTaskId).toBe(first.ImportTaskId);
    await expect(ec2.send(new ImportSnapshotCommand({ ...IMPORT, Description: 'other' }))).rejects.toMatchObject({ name: 'IdempotentParameterMismatch' });
    expect(fake.snapshotTasks.size).toBe(1);
  });

  test('a failing disk ends deleting, then deleted, with its StatusMessage verbatim; no snapshot', async () => {
    fake.snapshotPlanByDisk['boot.raw'] = { steps: 1, failMessage: 'ClientError: Disk validation failed [Invalid RAW disk]' };
    const { ImportTaskId } = await ec2.send(new ImportSnapshotCommand(IMPORT));
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push((await describeTask(ImportTaskId!))!.SnapshotTaskDetail);
    expect(seen.map((d) => d?.Status)).toEqual(['deleting', 'deleted', 'deleted']);
    expect(seen[2]).toMatchObject({ StatusMessage: 'ClientError: Disk validation failed [Invalid RAW disk]' });
    expect(seen[2]!.SnapshotId).toBeUndefined();
  });

  test('CancelImportTask on a snapshot task: deleting for some describes, then deleted as cancelled; on a finished one, refused', async () => {
    const { ImportTaskId } = await ec2.send(new ImportSnapshotCommand(IMPORT));
    await expect(ec2.send(new CancelImportTaskCommand({ ImportTaskId, CancelReason: 'test' }))).resolves.toMatchObject({ State: 'deleting' });
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push((await describeTask(ImportTaskId!))!.SnapshotTaskDetail);
    expect(seen.map((d) => d?.Status)).toEqual(['deleting', 'deleting', 'deleted']);
    expect(seen[2]!.StatusMessage).toBe(CANCELLED_TASK_MESSAGE);
    await expect(ec2.send(new CancelImportTaskCommand({ ImportTaskId }))).rejects.toMatchObject({ name: 'IncorrectState' });
    // The call recorded the task's tags, which IAM evaluates as aws:ResourceTag.
    expect(fake.callsOf('CancelImportTask')[0].resourceTags).toEqual({ owner: 'stack-a' });
  });

  test('a full quota refuses a new task with the configured code; other formats are refused', async () => {
    fake.maxActiveSnapshotTasks = 1;
    await ec2.send(new ImportSnapshotCommand(IMPORT));
    await expect(ec2.send(new ImportSnapshotCommand({ ...IMPORT, ClientToken: 'another-token-000000000000000000000' })))
      .rejects.toMatchObject({ name: 'ResourceCountLimitExceeded' });
    await expect(ec2.send(new ImportSnapshotCommand({ ...IMPORT, ClientToken: undefined, DiskContainer: { Format: 'OVA', Url: 's3://bucket/a.ova' } })))
      .rejects.toMatchObject({ name: 'InvalidParameter' });
  });

  test('a listing pages, and a forgotten task (7 days) is no longer described', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await ec2.send(new ImportSnapshotCommand({ ...IMPORT, ClientToken: `token-${i}-00000000000000000000000000000` }))).ImportTaskId!);
    const first = await ec2.send(new DescribeImportSnapshotTasksCommand({}));
    expect(first.ImportSnapshotTasks).toHaveLength(2);
    const second = await ec2.send(new DescribeImportSnapshotTasksCommand({ NextToken: first.NextToken }));
    expect(second.ImportSnapshotTasks).toHaveLength(1);
    fake.forgetTask(ids[0]);
    expect(await describeTask(ids[0])).toBeUndefined();
  });
});

describe('AMIs RegisterImage makes in the fake', () => {
  test('pending, then available; found by name and by tag filters; a second AMI of the same name is refused', async () => {
    const snapshotId = await completedSnapshot();
    const { ImageId } = await ec2.send(new RegisterImageCommand(register(snapshotId)));
    const byTag = (value: string) => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:owner', Values: [value] }] }));
    expect((await byTag('stack-a')).Images).toEqual([expect.objectContaining({ ImageId, State: 'pending', Architecture: 'arm64', Name: 'appliance-1.4' })]);
    expect((await byTag('stack-a')).Images![0]).toMatchObject({
      State: 'available',
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: expect.objectContaining({ SnapshotId: snapshotId }) }],
      Tags: [{ Key: 'owner', Value: 'stack-a' }],
    });
    expect((await byTag('stack-b')).Images).toEqual([]);
    expect((await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['appliance-1.4'] }] }))).Images).toHaveLength(1);
    await expect(ec2.send(new RegisterImageCommand(register(snapshotId)))).rejects.toMatchObject({ name: 'InvalidAMIName.Duplicate' });
    // An unknown filter name is refused rather than ignored.
    await expect(ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'tag-key', Values: ['owner'] }] }))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  test('refuses unknown snapshots, a root device outside the mappings, and tags on other resource types', async () => {
    const snapshotId = await completedSnapshot();
    await expect(ec2.send(new RegisterImageCommand(register('snap-0123456789abcdef0')))).rejects.toMatchObject({ name: 'InvalidSnapshot.NotFound' });
    await expect(ec2.send(new RegisterImageCommand(register(snapshotId, { RootDeviceName: '/dev/sda1' })))).rejects.toMatchObject({ name: 'InvalidBlockDeviceMapping' });
    await expect(ec2.send(new RegisterImageCommand(register(snapshotId, { TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'a', Value: 'b' }] }] }))))
      .rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  test('a registration can end failed with a state reason', async () => {
    fake.registerFailureMessage = 'snapshot is not bootable';
    const { ImageId } = await ec2.send(new RegisterImageCommand(register(await completedSnapshot())));
    await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }));
    const [image] = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images!;
    expect(image).toMatchObject({ State: 'failed', StateReason: { Message: 'snapshot is not bootable' } });
  });

  test('CreateTags and DeleteTags change AMIs and snapshots; each call records every resource\'s tags as they were', async () => {
    const snapshotId = await completedSnapshot();
    const { ImageId } = await ec2.send(new RegisterImageCommand(register(snapshotId)));
    await ec2.send(new CreateTagsCommand({ Resources: [ImageId!, snapshotId], Tags: [{ Key: 'team', Value: 'platform' }] }));
    await ec2.send(new DeleteTagsCommand({ Resources: [ImageId!], Tags: [{ Key: 'owner' }] }));
    expect(fake.tagsOf(ImageId!)).toEqual({ team: 'platform' });
    expect(fake.tagsOf(snapshotId)).toEqual({ team: 'platform' });
    expect(fake.callsOf('CreateTags')[0].resourceTagsById).toEqual({ [ImageId!]: { owner: 'stack-a' }, [snapshotId]: {} });
    expect(fake.callsOf('RegisterImage')[0].resourceTagsById).toEqual({ [snapshotId]: {} });
    const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:team', Values: ['platform'] }] }));
    expect(Snapshots!.map((x) => x.SnapshotId)).toEqual([snapshotId]);
    await expect(ec2.send(new CreateTagsCommand({ Resources: ['ami-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] }))).rejects.toMatchObject({ name: 'InvalidAMIID.NotFound' });
    await expect(ec2.send(new CreateTagsCommand({
      Resources: [snapshotId], Tags: Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })),
    }))).rejects.toMatchObject({ name: 'TagLimitExceeded' });
  });

  test('a snapshot of a registered AMI cannot be deleted until the AMI is deregistered', async () => {
    const snapshotId = await completedSnapshot();
    const { ImageId } = await ec2.send(new RegisterImageCommand(register(snapshotId)));
    await expect(ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }))).rejects.toMatchObject({ name: 'InvalidSnapshot.InUse' });
    await ec2.send(new DeregisterImageCommand({ ImageId }));
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    expect(fake.snapshots.has(snapshotId)).toBe(false);
    expect(fake.problems).toEqual([]);
  });
});
