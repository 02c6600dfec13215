/**
 * The fake AWS endpoint against the real SDK v3 clients (in this process): requests
 * decode back into exactly the input the SDK was given, answers parse into the
 * shapes the SDK promises, and what AWS would reject is recorded. If these pass,
 * a bundle test failing points at the handler, not at the fake.
 */
import {
  CloudFormationClient, DescribeStackResourceCommand, DescribeStackResourceCommandInput, DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand,
  EC2Client, ImportImageCommand, ImportImageCommandInput,
} from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, CreateDistributionConfigurationCommand, CreateDistributionConfigurationCommandInput, DeleteImageCommand,
  GetImageCommand, GetImagePolicyCommand, ImagebuilderClient, ImportVmImageCommand, ListImageBuildVersionsCommand, ListImageRecipesCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-imagebuilder';
import {
  DescribeExecutionCommand, ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  CANCELLED_TASK_MESSAGE, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FAKE_STACK_ID, FakeAws,
} from './fake-aws';

let fake: FakeAws;

beforeEach(async () => {
  fake = await FakeAws.start();
});

afterEach(async () => {
  await fake.close();
});

function clients(secretAccessKey = FAKE_SECRET_ACCESS_KEY) {
  const config = {
    region: 'us-east-1',
    endpoint: fake.url,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey, sessionToken: 'session' },
    maxAttempts: 1,
  };
  return {
    ec2: new EC2Client(config),
    imagebuilder: new ImagebuilderClient(config),
    cloudformation: new CloudFormationClient(config),
    sfn: new SFNClient(config),
  };
}

const IMPORT: ImportImageCommandInput = {
  Architecture: 'x86_64',
  BootMode: 'uefi',
  ClientToken: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
  Description: 'round trip',
  DiskContainers: [
    { Format: 'VMDK', UserBucket: { S3Bucket: 'bucket', S3Key: 'a.vmdk' }, DeviceName: '/dev/sda1' },
    { Format: 'RAW', Url: 's3://bucket/b.raw' },
  ],
  Encrypted: true,
  KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
  LicenseSpecifications: [{ LicenseConfigurationArn: 'arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123' }],
  LicenseType: 'BYOL',
  Platform: 'Linux',
  RoleName: 'vmimport',
  TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }],
};

describe('fake AWS, EC2 query protocol', () => {
  test('decodes ImportImage back into the SDK input, and its answers parse', async () => {
    const { ec2 } = clients();
    fake.importPlan = { steps: 1 };
    const started = await ec2.send(new ImportImageCommand(IMPORT));
    expect(fake.calls).toEqual([{ service: 'ec2', operation: 'ImportImage', input: IMPORT }]);
    expect(started).toMatchObject({ Status: 'active', StatusMessage: 'pending', Platform: 'Linux' });

    const { ImportImageTasks } = await ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [started.ImportTaskId!] }));
    expect(ImportImageTasks).toHaveLength(1);
    const task = ImportImageTasks![0];
    expect(task.Status).toBe('completed');
    expect(task.ImageId).toMatch(/^ami-/);
    expect(task.SnapshotDetails!.map((d) => d.SnapshotId)).toEqual(fake.task(started.ImportTaskId!).snapshotIds);
    expect(task.Tags).toEqual([{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);

    const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [task.ImageId!] }));
    expect(Images![0].BlockDeviceMappings!.map((m) => m.Ebs?.SnapshotId)).toEqual(fake.task(started.ImportTaskId!).snapshotIds);
    await ec2.send(new DeregisterImageCommand({ ImageId: task.ImageId! }));
    for (const id of fake.task(started.ImportTaskId!).snapshotIds) await ec2.send(new DeleteSnapshotCommand({ SnapshotId: id }));
    expect([fake.amis.size, fake.snapshots.size]).toEqual([0, 0]);
    expect(fake.problems).toEqual([]);
  });

  test('errors arrive with EC2 codes: faults, throttling (503), state errors', async () => {
    const { ec2 } = clients();
    fake.throttle('ec2', 1);
    await expect(ec2.send(new DescribeImportImageTasksCommand({}))).rejects.toMatchObject({
      name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 },
    });
    const { ImportTaskId } = await ec2.send(new ImportImageCommand(IMPORT));
    await ec2.send(new CancelImportTaskCommand({ ImportTaskId }));
    await expect(ec2.send(new CancelImportTaskCommand({ ImportTaskId }))).rejects.toMatchObject({ name: 'IncorrectState' });
    await expect(ec2.send(new DeleteSnapshotCommand({ SnapshotId: 'snap-0123456789abcdef0' }))).rejects.toMatchObject({
      name: 'InvalidSnapshot.NotFound', message: "The snapshot 'snap-0123456789abcdef0' does not exist.",
    });
    expect(fake.problems).toEqual([]);
  });

  test('a bad signature is recorded and rejected', async () => {
    const { ec2 } = clients('not-the-secret');
    await expect(ec2.send(new DescribeImportImageTasksCommand({}))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(fake.problems).toEqual([expect.stringContaining('SignatureDoesNotMatch')]);
  });
});

describe('fake AWS, Image Builder rest-json', () => {
  test('decodes body, query and uri labels back into the SDK input', async () => {
    const { ec2, imagebuilder } = clients();
    const { ImportTaskId } = await ec2.send(new ImportImageCommand(IMPORT));
    const importVm = {
      name: 'round-trip',
      semanticVersion: '1.2.3',
      platform: 'Linux' as const,
      vmImportTaskId: ImportTaskId!,
      tags: { a: '1', b: '2' },
      clientToken: '11111111-2222-4333-8444-555555555555',
    };
    const { imageArn } = await imagebuilder.send(new ImportVmImageCommand(importVm));
    expect(fake.callsOf('ImportVmImage')[0].input).toEqual(importVm);
    expect(imageArn).toBe('arn:aws:imagebuilder:us-east-1:123456789012:image/round-trip/1.2.3/1');

    const { image } = await imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }));
    expect(image).toMatchObject({ arn: imageArn, state: { status: 'PENDING' }, tags: { a: '1', b: '2' } });
    expect(fake.callsOf('GetImage')[0].input).toEqual({ imageBuildVersionArn: imageArn });

    await imagebuilder.send(new UntagResourceCommand({ resourceArn: imageArn, tagKeys: ['a', 'b'] }));
    expect(fake.callsOf('UntagResource')[0].input).toEqual({ resourceArn: imageArn, tagKeys: ['a', 'b'] });
    expect(fake.images.get(imageArn!)!.tags).toEqual({});

    // Deleting a building image is refused; a missing one is ResourceNotFoundException (404).
    await expect(imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ResourceDependencyException', $metadata: { httpStatusCode: 400 },
    });
    fake.images.delete(imageArn!);
    await expect(imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 },
    });
    expect(fake.problems).toEqual([]);
  });

  test('typed JSON members round-trip; a request the model rejects is recorded and answered 400', async () => {
    const { imagebuilder } = clients();
    const input: CreateDistributionConfigurationCommandInput = {
      name: 'round-trip',
      distributions: [{
        region: 'us-east-1',
        fastLaunchConfigurations: [{ enabled: true, maxParallelLaunches: 6 }],
        s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'VMDK', s3Bucket: 'b' },
      }],
      clientToken: '11111111-2222-4333-8444-555555555556',
    };
    await imagebuilder.send(new CreateDistributionConfigurationCommand(input));
    expect(fake.calls[0].input).toEqual(input);

    fake.throttle('imagebuilder', 1);
    await expect(imagebuilder.send(new CreateDistributionConfigurationCommand(input))).rejects.toMatchObject({
      name: 'ThrottlingException', $metadata: { httpStatusCode: 429 },
    });
    expect(fake.calls.map((c) => c.fault)).toEqual([undefined, 'ThrottlingException']);

    // SDK v3 sends whatever it is given: a string where the model wants a boolean.
    const bad = { ...input, name: 'bad', distributions: [{ region: 'us-east-1', fastLaunchConfigurations: [{ enabled: 'true' as unknown as boolean }] }] };
    await expect(imagebuilder.send(new CreateDistributionConfigurationCommand(bad))).rejects.toMatchObject({
      name: 'ValidationException', $metadata: { httpStatusCode: 400 },
    });
    expect(fake.problems).toEqual([expect.stringContaining('fastLaunchConfigurations[0].enabled: expected a boolean')]);
    expect(fake.distributionConfigurations.size).toBe(1);
  });
});

/** An import task with its own tags; no ClientToken, so each call makes a new task. */
async function startImport(ec2: EC2Client, tags: Record<string, string> = {}, extra: Partial<ImportImageCommandInput> = {}): Promise<string> {
  const { ImportTaskId } = await ec2.send(new ImportImageCommand({
    ...IMPORT,
    ClientToken: undefined,
    TagSpecifications: [{ ResourceType: 'import-image-task', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    ...extra,
  }));
  return ImportTaskId!;
}

async function describeTask(ec2: EC2Client, id: string) {
  const { ImportImageTasks } = await ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [id] }));
  return ImportImageTasks![0];
}

/** A message near the 4096-byte response limit: CJK (3 bytes each in UTF-8) and an astral emoji (4 bytes, a surrogate pair). */
const MULTI_BYTE_MESSAGE = `ClientError: 不支持的内核版本 🚫 ${'磁盘验证失败，'.repeat(180)}终`;

describe('fake AWS, EC2 import tasks are slow to cancel and fail', () => {
  test('a cancelled task reads deleting for taskCancelDescribes describes, then deleted; it never gets an AMI', async () => {
    const { ec2 } = clients();
    const id = await startImport(ec2);
    expect(await ec2.send(new CancelImportTaskCommand({ ImportTaskId: id, CancelReason: 'stack deleted' }))).toMatchObject({
      ImportTaskId: id, PreviousState: 'active', State: 'deleting',
    });
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const t = await describeTask(ec2, id);
      seen.push([t.Status, t.StatusMessage, t.ImageId]);
    }
    expect(seen).toEqual([
      ['deleting', 'cancelling', undefined],
      ['deleting', 'cancelling', undefined],
      ['deleted', CANCELLED_TASK_MESSAGE, undefined],
      ['deleted', CANCELLED_TASK_MESSAGE, undefined],
    ]);
    expect(fake.task(id).cancelReason).toBe('stack deleted');
    expect([fake.amis.size, fake.snapshots.size]).toEqual([0, 0]);
    // Not active any more: the configured error, while deleting and once deleted.
    await expect(ec2.send(new CancelImportTaskCommand({ ImportTaskId: id }))).rejects.toMatchObject({ name: 'IncorrectState', $metadata: { httpStatusCode: 400 } });
    expect(fake.problems).toEqual([]);
  });

  test('taskCancelDescribes and cancelInactiveTaskErrorCode are configurable; a completed task keeps its AMI and snapshots', async () => {
    const { ec2 } = clients();
    fake.taskCancelDescribes = 0;
    fake.cancelInactiveTaskErrorCode = 'InvalidConversionTaskId.Malformed';
    const cancelled = await startImport(ec2);
    await ec2.send(new CancelImportTaskCommand({ ImportTaskId: cancelled }));
    expect((await describeTask(ec2, cancelled)).Status).toBe('deleted');

    fake.importPlan = { steps: 1 };
    const done = await startImport(ec2);
    const completed = await describeTask(ec2, done);
    expect(completed.Status).toBe('completed');
    await expect(ec2.send(new CancelImportTaskCommand({ ImportTaskId: done }))).rejects.toMatchObject({ name: 'InvalidConversionTaskId.Malformed' });
    expect(fake.task(done).status).toBe('completed');
    expect(fake.amis.has(completed.ImageId!)).toBe(true);
    expect(completed.SnapshotDetails!.map((d) => d.SnapshotId)).toEqual(fake.task(done).snapshotIds);
    fake.task(done).snapshotIds.forEach((snap) => expect(fake.snapshots.has(snap)).toBe(true));
  });

  test('a failed task reads deleting, then deleted, with a long multi-byte StatusMessage intact; no AMI', async () => {
    const { ec2 } = clients();
    fake.importPlan = { steps: 2, failMessage: MULTI_BYTE_MESSAGE };
    const id = await startImport(ec2, { 名前: '値 ✓' });
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const t = await describeTask(ec2, id);
      seen.push([t.Status, t.StatusMessage === MULTI_BYTE_MESSAGE ? 'the message' : t.StatusMessage]);
    }
    expect(seen).toEqual([['active', 'converting'], ['deleting', 'the message'], ['deleted', 'the message'], ['deleted', 'the message']]);
    expect(Buffer.byteLength(MULTI_BYTE_MESSAGE)).toBeGreaterThan(3000);
    expect((await describeTask(ec2, id)).Tags).toEqual([{ Key: '名前', Value: '値 ✓' }]);
    expect(fake.amis.size).toBe(0);

    fake.importPlan = { steps: 1, failMessage: 'ClientError: Unknown OS / Missing OS files', failDeletingDescribes: 0 };
    expect((await describeTask(ec2, await startImport(ec2))).Status).toBe('deleted');
    expect(fake.problems).toEqual([]);
  });

  test('a listing shows every task EC2 still describes, with its Tags, in small pages; task-state filters it', async () => {
    const { ec2 } = clients();
    fake.importPlan = { steps: 1 };
    const done = await startImport(ec2, { n: '0' });
    await describeTask(ec2, done);
    fake.importPlan = { steps: 50 };
    const active = [await startImport(ec2, { n: '1' }), await startImport(ec2, { n: '2' }), await startImport(ec2, { n: '3' })];
    const forgotten = await startImport(ec2, { n: 'forgotten' }, {
      // Tags for another resource type are not the task's tags.
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'n', Value: 'forgotten' }] }, { ResourceType: 'snapshot', Tags: [{ Key: 's', Value: 'x' }] }],
    });
    fake.forgetTask(forgotten);

    const pages: Array<Array<[string, string]>> = [];
    let NextToken: string | undefined;
    do {
      const page = await ec2.send(new DescribeImportImageTasksCommand({ NextToken }));
      pages.push(page.ImportImageTasks!.map((t) => [t.ImportTaskId!, t.Tags!.map((tag) => `${tag.Key}=${tag.Value}`).join()]));
      NextToken = page.NextToken;
    } while (NextToken);
    expect(pages).toEqual([
      [[done, 'n=0'], [active[0], 'n=1']],
      [[active[1], 'n=2'], [active[2], 'n=3']],
    ]);

    const filtered = await ec2.send(new DescribeImportImageTasksCommand({ Filters: [{ Name: 'task-state', Values: ['active'] }], MaxResults: 10 }));
    expect(filtered.ImportImageTasks!.map((t) => t.ImportTaskId)).toEqual(active);
    expect(filtered.NextToken).toBeUndefined();
    // Undocumented filters are ignored, not applied: a handler must check tags itself.
    const tagFilter = await ec2.send(new DescribeImportImageTasksCommand({ Filters: [{ Name: 'tag:n', Values: ['2'] }], MaxResults: 10 }));
    expect(tagFilter.ImportImageTasks).toHaveLength(4);
    await expect(ec2.send(new DescribeImportImageTasksCommand({ NextToken: 'not-a-token' }))).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(fake.problems).toEqual([]);
  });

  test('maxActiveImportTasks: ImportImage beyond the quota answers importQuotaErrorCode until a task ends', async () => {
    const { ec2 } = clients();
    fake.maxActiveImportTasks = 1;
    fake.importPlan = { steps: 1 };
    const first = await startImport(ec2);
    await expect(startImport(ec2)).rejects.toMatchObject({ name: 'ResourceCountLimitExceeded', $metadata: { httpStatusCode: 400 } });
    fake.importQuotaErrorCode = 'ResourceLimitExceeded';
    await expect(startImport(ec2)).rejects.toMatchObject({ name: 'ResourceLimitExceeded' });
    await describeTask(ec2, first);
    await startImport(ec2);
    expect(fake.importTasks.size).toBe(2);
    expect(fake.problems).toEqual([]);
  });
});

describe('fake AWS, Image Builder settles slowly after a failure or cancel', () => {
  async function importedImage(ec2: EC2Client, imagebuilder: ImagebuilderClient, name = 'settle', version = '1.0.0', clientToken = randomToken()) {
    const id = await startImport(ec2);
    const { imageArn } = await imagebuilder.send(new ImportVmImageCommand({
      name, semanticVersion: version, platform: 'Linux', vmImportTaskId: id, clientToken, tags: { stack: 'テスト' },
    }));
    return { id, imageArn: imageArn! };
  }

  async function statuses(imagebuilder: ImagebuilderClient, imageArn: string, n: number): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push((await imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }))).image!.state!.status!);
    return seen;
  }

  test('after a task failure the image reads BUILDING for imageSettleGets GetImage calls, then FAILED; DeleteImage refuses until then', async () => {
    const { ec2, imagebuilder } = clients();
    fake.importPlan = { steps: 1, failMessage: MULTI_BYTE_MESSAGE };
    const { id, imageArn } = await importedImage(ec2, imagebuilder);
    expect(await statuses(imagebuilder, imageArn, 1)).toEqual(['PENDING']);
    await describeTask(ec2, id);
    expect(await statuses(imagebuilder, imageArn, 2)).toEqual(['BUILDING', 'BUILDING']);
    await expect(imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ResourceDependencyException', message: expect.stringContaining('cannot be deleted while it is being created'),
    });
    expect(await statuses(imagebuilder, imageArn, 2)).toEqual(['BUILDING', 'FAILED']);
    const { image } = await imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }));
    // The reason carries the task's message, cut at the model's 1024 characters without splitting the emoji.
    expect(image!.state!.reason).toBe([...`VM import task ${id} failed: ${MULTI_BYTE_MESSAGE}`].slice(0, 1024).join(''));
    expect(image!.tags).toEqual({ stack: 'テスト' });
    await imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }));
    expect(fake.images.size).toBe(0);
    expect(fake.problems).toEqual([]);
  });

  test('CancelImageCreation: PENDING while the task runs, BUILDING after, CANCELLED after imageSettleGets; cancelling a terminal image fails', async () => {
    const { ec2, imagebuilder } = clients();
    fake.imageSettleGets = 3;
    const { id, imageArn } = await importedImage(ec2, imagebuilder);
    await imagebuilder.send(new CancelImageCreationCommand({ imageBuildVersionArn: imageArn }));
    expect(await statuses(imagebuilder, imageArn, 1)).toEqual(['PENDING']);
    await ec2.send(new CancelImportTaskCommand({ ImportTaskId: id }));
    expect(await statuses(imagebuilder, imageArn, 1)).toEqual(['BUILDING']);
    await expect(imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({ name: 'ResourceDependencyException' });
    // A second cancel while it settles is accepted.
    await imagebuilder.send(new CancelImageCreationCommand({ imageBuildVersionArn: imageArn }));
    expect(await statuses(imagebuilder, imageArn, 2)).toEqual(['BUILDING', 'CANCELLED']);

    await expect(imagebuilder.send(new CancelImageCreationCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'InvalidParameterValueException', $metadata: { httpStatusCode: 400 },
    });
    fake.cancelTerminalErrorCode = 'ResourceInUseException';
    await expect(imagebuilder.send(new CancelImageCreationCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ResourceInUseException', $metadata: { httpStatusCode: 400 },
    });
    // A code the model does not list still answers 400.
    fake.cancelTerminalErrorCode = 'ImageAlreadyTerminal';
    await expect(imagebuilder.send(new CancelImageCreationCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ImageAlreadyTerminal', $metadata: { httpStatusCode: 400 },
    });
    await imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }));
    expect(fake.problems).toEqual([]);
  });

  test('the same name and version makes the next build version; ListImageBuildVersions pages them with state, tags and AMIs', async () => {
    const { ec2, imagebuilder } = clients();
    fake.importPlan = { steps: 1 };
    const first = await importedImage(ec2, imagebuilder, 'builds');
    await describeTask(ec2, first.id);
    const second = await importedImage(ec2, imagebuilder, 'builds');
    const third = await importedImage(ec2, imagebuilder, 'builds');
    const versionArn = 'arn:aws:imagebuilder:us-east-1:123456789012:image/builds/1.0.0';
    expect([first.imageArn, second.imageArn, third.imageArn]).toEqual([`${versionArn}/1`, `${versionArn}/2`, `${versionArn}/3`]);

    const page1 = await imagebuilder.send(new ListImageBuildVersionsCommand({ imageVersionArn: versionArn }));
    expect(page1.imageSummaryList!.map((s) => s.arn)).toEqual([first.imageArn, second.imageArn]);
    expect(page1.imageSummaryList![0]).toMatchObject({
      name: 'builds',
      version: '1.0.0',
      state: { status: 'AVAILABLE' },
      tags: { stack: 'テスト' },
      owner: '123456789012',
      outputResources: { amis: [{ image: fake.task(first.id).imageId, region: 'us-east-1' }] },
    });
    expect(page1.imageSummaryList![1]).toMatchObject({ state: { status: 'PENDING' }, outputResources: { amis: [] } });
    const page2 = await imagebuilder.send(new ListImageBuildVersionsCommand({ imageVersionArn: versionArn, nextToken: page1.nextToken }));
    expect(page2.imageSummaryList!.map((s) => s.arn)).toEqual([third.imageArn]);
    expect(page2.nextToken).toBeUndefined();
    const filtered = await imagebuilder.send(new ListImageBuildVersionsCommand({
      imageVersionArn: versionArn, maxResults: 25, filters: [{ name: 'platform', values: ['Windows'] }],
    }));
    expect(filtered.imageSummaryList).toEqual([]);
    await expect(imagebuilder.send(new ListImageBuildVersionsCommand({
      imageVersionArn: versionArn, filters: [{ name: 'owner', values: ['Self'] }],
    }))).rejects.toMatchObject({ name: 'InvalidParameterValueException' });

    fake.refuseSameNameVersion = true;
    await expect(importedImage(ec2, imagebuilder, 'builds')).rejects.toMatchObject({ name: 'ResourceAlreadyExistsException' });
    expect(fake.problems).toEqual([]);
  });

  test('a recipe built on the image, or a resource policy, keeps DeleteImage refused; ListImageRecipes filters by parentImage', async () => {
    const { ec2, imagebuilder } = clients();
    fake.importPlan = { steps: 1 };
    const { id, imageArn } = await importedImage(ec2, imagebuilder, 'parent');
    await describeTask(ec2, id);
    const other = fake.addRecipe('unrelated', 'arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2-x86/x.x.x');
    const recipe = fake.addRecipe('child', imageArn);
    const { imageRecipeSummaryList } = await imagebuilder.send(new ListImageRecipesCommand({ filters: [{ name: 'parentImage', values: [imageArn] }] }));
    expect(imageRecipeSummaryList!.map((r) => r.arn)).toEqual([recipe]);
    expect((await imagebuilder.send(new ListImageRecipesCommand({ owner: 'Amazon' }))).imageRecipeSummaryList).toEqual([]);
    const all = await imagebuilder.send(new ListImageRecipesCommand({ maxResults: 1 }));
    expect([all.imageRecipeSummaryList!.map((r) => r.arn), typeof all.nextToken]).toEqual([[other], 'string']);

    await expect(imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({
      name: 'ResourceDependencyException', message: expect.stringContaining(recipe),
    });
    fake.removeRecipe(recipe);
    await expect(imagebuilder.send(new GetImagePolicyCommand({ imageArn }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    fake.images.get(imageArn)!.policy = '{"Version":"2012-10-17","Statement":[]}';
    expect((await imagebuilder.send(new GetImagePolicyCommand({ imageArn }))).policy).toBe(fake.images.get(imageArn)!.policy);
    await expect(imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }))).rejects.toMatchObject({ name: 'ResourceDependencyException' });
    delete fake.images.get(imageArn)!.policy;
    await imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }));
    expect(fake.problems).toEqual([]);
  });
});

describe('fake AWS, CloudFormation query protocol', () => {
  const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/my-stack/0a1b2c3d-0000-4000-8000-00000000000a';

  test('DescribeStackResource answers the StackResourceDetail a test set, by stack id or name; inputs decode back', async () => {
    const { cloudformation } = clients();
    fake.setStack(STACK_ID, 'UPDATE_IN_PROGRESS');
    fake.setStackResource(STACK_ID, 'ImportedImage', { status: 'CREATE_IN_PROGRESS', type: 'Custom::VmImportImage', physicalId: 'arn:aws:imagebuilder:x|import-ami-0|abc' });
    const input: DescribeStackResourceCommandInput = { StackName: STACK_ID, LogicalResourceId: 'ImportedImage' };
    const { StackResourceDetail } = await cloudformation.send(new DescribeStackResourceCommand(input));
    expect(fake.callsOf('DescribeStackResource')[0]).toEqual({ service: 'cloudformation', operation: 'DescribeStackResource', input });
    expect(StackResourceDetail).toEqual({
      StackName: 'my-stack',
      StackId: STACK_ID,
      LogicalResourceId: 'ImportedImage',
      PhysicalResourceId: 'arn:aws:imagebuilder:x|import-ami-0|abc',
      ResourceType: 'Custom::VmImportImage',
      LastUpdatedTimestamp: expect.any(Date),
      ResourceStatus: 'CREATE_IN_PROGRESS',
    });
    const byName = await cloudformation.send(new DescribeStackResourceCommand({ StackName: 'my-stack', LogicalResourceId: 'ImportedImage' }));
    expect(byName.StackResourceDetail!.ResourceStatus).toBe('CREATE_IN_PROGRESS');

    fake.removeStackResource(STACK_ID, 'ImportedImage');
    await expect(cloudformation.send(new DescribeStackResourceCommand({ StackName: 'my-stack', LogicalResourceId: 'ImportedImage' }))).rejects.toMatchObject({
      name: 'ValidationError', message: 'Resource ImportedImage does not exist for stack my-stack', $metadata: { httpStatusCode: 400 },
    });
    expect(fake.problems).toEqual([]);
  });

  test('DescribeStacks: status by name or id; a deleted stack by id only; an unknown one is a ValidationError; throttling is Throttling 400', async () => {
    const { cloudformation } = clients();
    fake.setStack(STACK_ID, 'ROLLBACK_IN_PROGRESS', 'Resource creation cancelled');
    const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: 'my-stack' }));
    expect(Stacks).toEqual([{
      StackId: STACK_ID, StackName: 'my-stack', CreationTime: expect.any(Date), StackStatus: 'ROLLBACK_IN_PROGRESS', StackStatusReason: 'Resource creation cancelled',
    }]);
    fake.setStack(STACK_ID, 'DELETE_COMPLETE');
    expect((await cloudformation.send(new DescribeStacksCommand({ StackName: STACK_ID }))).Stacks![0].StackStatus).toBe('DELETE_COMPLETE');
    await expect(cloudformation.send(new DescribeStacksCommand({ StackName: 'my-stack' }))).rejects.toMatchObject({
      name: 'ValidationError', message: 'Stack with id my-stack does not exist', $metadata: { httpStatusCode: 400 },
    });
    fake.removeStack(STACK_ID);
    await expect(cloudformation.send(new DescribeStackResourceCommand({ StackName: STACK_ID, LogicalResourceId: 'X' }))).rejects.toMatchObject({
      name: 'ValidationError', message: `Stack with id ${STACK_ID} does not exist`,
    });
    fake.throttle('cloudformation', 1);
    await expect(cloudformation.send(new DescribeStacksCommand({}))).rejects.toMatchObject({ name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    expect((await cloudformation.send(new DescribeStacksCommand({}))).Stacks).toEqual([]);
    expect(fake.problems).toEqual([]);
  });
});

describe('fake AWS, Step Functions awsJson1_0', () => {
  const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:import-poller';

  test('StartExecution is idempotent for the same name and input while running; otherwise ExecutionAlreadyExists', async () => {
    const { sfn } = clients();
    const input = JSON.stringify({ importTaskId: 'import-ami-0123456789abcdef0', note: 'ü' });
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'req-1', input }));
    expect(started.executionArn).toBe('arn:aws:states:us-east-1:123456789012:execution:import-poller:req-1');
    expect(started.startDate).toBeInstanceOf(Date);
    expect(fake.callsOf('StartExecution')[0]).toEqual({ service: 'sfn', operation: 'StartExecution', input: { stateMachineArn: MACHINE, name: 'req-1', input } });
    expect(await sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'req-1', input }))).toMatchObject({
      executionArn: started.executionArn, startDate: started.startDate,
    });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'req-1', input: '{}' }))).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists', $metadata: { httpStatusCode: 400 },
    });
    const execution = fake.executions.get(started.executionArn!)!;
    expect(execution).toMatchObject({ name: 'req-1', status: 'RUNNING', input: { importTaskId: 'import-ami-0123456789abcdef0', note: 'ü' } });
    fake.finishExecution(started.executionArn!, 'SUCCEEDED', { output: { ok: true } });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'req-1', input }))).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    expect(fake.executions.size).toBe(1);

    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'has space' }))).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, input: 'not json' }))).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:123456789012:activity:x' }))).rejects.toMatchObject({ name: 'InvalidArn' });
    expect(fake.problems).toEqual([]);
  });

  test('StopExecution aborts a running execution with error and cause; on a finished one it changes nothing (or answers the configured code)', async () => {
    const { sfn } = clients();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'stop-me' }));
    const { stopDate } = await sfn.send(new StopExecutionCommand({ executionArn, error: 'StackDeleted', cause: 'the Delete arrived first' }));
    expect(stopDate).toBeInstanceOf(Date);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described).toMatchObject({
      executionArn, stateMachineArn: MACHINE, name: 'stop-me', status: 'ABORTED', input: '{}', error: 'StackDeleted', cause: 'the Delete arrived first',
    });
    expect(described.stopDate!.getTime()).toBe(stopDate!.getTime());

    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Again' }));
    expect(fake.executions.get(executionArn!)).toMatchObject({ status: 'ABORTED', error: 'StackDeleted' });
    fake.stopFinishedExecutionErrorCode = 'ValidationException';
    await expect(sfn.send(new StopExecutionCommand({ executionArn }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: `${executionArn}-x` }))).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
    expect(fake.problems).toEqual([]);
  });

  test('ListExecutions: newest first, statusFilter, small pages; throttling is ThrottlingException 400; a model violation is recorded', async () => {
    const { sfn } = clients();
    const arns: string[] = [];
    for (const name of ['a', 'b', 'c']) arns.push((await sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name }))).executionArn!);
    fake.finishExecution(arns[1], 'FAILED', { error: 'Import.Failed', cause: 'ClientError' });
    const page1 = await sfn.send(new ListExecutionsCommand({ stateMachineArn: MACHINE }));
    expect(page1.executions!.map((e) => [e.name, e.status])).toEqual([['c', 'RUNNING'], ['b', 'FAILED']]);
    const page2 = await sfn.send(new ListExecutionsCommand({ stateMachineArn: MACHINE, nextToken: page1.nextToken }));
    expect([page2.executions!.map((e) => e.name), page2.nextToken]).toEqual([['a'], undefined]);
    const running = await sfn.send(new ListExecutionsCommand({ stateMachineArn: MACHINE, statusFilter: 'RUNNING', maxResults: 10 }));
    expect(running.executions!.map((e) => e.name)).toEqual(['c', 'a']);
    await expect(sfn.send(new ListExecutionsCommand({ stateMachineArn: MACHINE, nextToken: 'bogus' }))).rejects.toMatchObject({ name: 'InvalidToken' });

    fake.throttle('sfn', 1, ['DescribeExecution']);
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: arns[0] }))).rejects.toMatchObject({
      name: 'ThrottlingException', $metadata: { httpStatusCode: 400 },
    });
    expect(fake.problems).toEqual([]);
    // SDK v3 sends what it is given: a name over the model's 80 characters.
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: MACHINE, name: 'n'.repeat(81) }))).rejects.toMatchObject({ name: 'ValidationException' });
    expect(fake.problems).toEqual([expect.stringContaining('name: length 81 is above the maximum 80')]);
  });
});

describe('fake AWS, wait condition signals (presigned S3 PUT)', () => {
  /** A signal sent the way the user guide's curl example sends it: PUT, no Content-Type. */
  function signal(url: string, body: unknown, headers: Record<string, string> = {}, method = 'PUT') {
    // A Uint8Array body: fetch adds no Content-Type (a string body would get text/plain).
    return fetch(url, { method, headers, body: method === 'GET' ? undefined : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)) });
  }

  test('the handle URL looks like CloudFormation\'s; a PUT without Content-Type is recorded and answered 200 with an empty body', async () => {
    const url = fake.waitConditionHandle('ImportWaitHandle');
    expect(fake.waitConditionHandle('ImportWaitHandle')).toBe(url);
    expect(url).toMatch(new RegExp(`^${fake.url}/cloudformation-waitcondition-us-east-1/arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/bundle-test/`
      + '[0-9a-f-]{36}/ImportWaitHandle\\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=\\d{8}T\\d{6}Z&X-Amz-SignedHeaders=host&X-Amz-Expires=86399'
      + '&X-Amz-Credential=AKIA[A-Z0-9]{16}%2F\\d{8}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=[0-9a-f]{64}$'));
    expect(url).toContain(encodeURIComponent(FAKE_STACK_ID.split('/')[0]));

    const ok = { Status: 'SUCCESS', Reason: 'image AVAILABLE ✓', UniqueId: 'import-ami-0', Data: '{"ImageId":"ami-0"}' };
    const res = await signal(url, ok);
    expect([res.status, await res.text()]).toEqual([200, '']);
    expect(fake.signals.get('ImportWaitHandle')).toEqual([ok]);

    // The same UniqueId again is a retransmission: ignored (user guide), or replacing (signalReuse 'replace').
    const retry = { ...ok, Status: 'FAILURE', Reason: 'late' };
    expect((await signal(url, retry)).status).toBe(200);
    expect(fake.signals.get('ImportWaitHandle')).toEqual([ok]);
    fake.signalReuse = 'replace';
    await signal(url, retry);
    expect(fake.signals.get('ImportWaitHandle')).toEqual([retry]);
    await signal(url, { ...ok, UniqueId: 'second' });
    expect(fake.signals.get('ImportWaitHandle')!.map((s) => s.UniqueId)).toEqual(['import-ami-0', 'second']);
    expect(fake.problems).toEqual([]);
    expect(fake.calls).toEqual([]);
  });

  test('a Content-Type, another method, a tampered URL or a malformed body are refused or not counted, and reported', async () => {
    const url = fake.waitConditionHandle('H');
    const ok = { Status: 'SUCCESS', Reason: 'r', UniqueId: 'u', Data: 'd' };

    const typed = await signal(url, ok, { 'content-type': 'application/json' });
    expect(typed.status).toBe(403);
    expect(await typed.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect((await signal(url, ok, {}, 'POST')).status).toBe(403);
    expect((await signal(url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'), ok)).status).toBe(403);
    // Double encoding changes the object key, so the signature no longer matches.
    expect((await signal(url.replace(/%3A/g, '%253A'), ok)).status).toBe(403);
    expect((await signal(url, { Status: 'DONE', Reason: 'r', UniqueId: 'u', Data: 'd' })).status).toBe(200);
    expect((await signal(url, { Status: 'SUCCESS', UniqueId: 'u', Data: 'd' })).status).toBe(200);
    expect(fake.signals.get('H')).toEqual([]);
    expect(fake.problems).toHaveLength(6);
    expect(fake.problems.slice(0, 3)).toEqual([
      expect.stringContaining('SignatureDoesNotMatch'), expect.stringContaining('SignatureDoesNotMatch'), expect.stringContaining('SignatureDoesNotMatch'),
    ]);
    expect(fake.problems.join('\n')).not.toContain('SigV4');
    expect(fake.signalAttempts.map((a) => a.status)).toEqual([403, 403, 403, 403, 200, 200]);

    // Lenient mode: what a SigV4 handle URL signed for host only would accept.
    fake.signalContentTypeStrict = false;
    fake.problems.length = 0;
    expect((await signal(url, ok, { 'content-type': 'application/json' })).status).toBe(200);
    expect(fake.signals.get('H')).toEqual([ok]);

    // Other paths are not signals: still a 400 and a problem.
    expect((await fetch(`${fake.url}/somewhere-else`, { method: 'PUT', body: new Uint8Array([1]) })).status).toBe(400);
    expect(fake.problems).toEqual(['unsigned request to no wait condition handle: PUT /somewhere-else']);
  });
});

function randomToken(): string {
  return `${Math.random().toString(16).slice(2, 10)}-0000-4000-8000-${Date.now().toString(16).padStart(12, '0').slice(-12)}`;
}
