/**
 * The fake AWS endpoint against the real SDK v3 clients (in this process): requests
 * decode back into exactly the input the SDK was given, answers parse into the
 * shapes the SDK promises, and what AWS would reject is recorded. If these pass,
 * a bundle test failing points at the handler, not at the fake.
 */
import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeImportImageTasksCommand,
  EC2Client, ImportImageCommand, ImportImageCommandInput,
} from '@aws-sdk/client-ec2';
import {
  CreateDistributionConfigurationCommand, CreateDistributionConfigurationCommandInput, DeleteImageCommand, GetImageCommand,
  ImagebuilderClient, ImportVmImageCommand, UntagResourceCommand,
} from '@aws-sdk/client-imagebuilder';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws } from './fake-aws';

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
  return { ec2: new EC2Client(config), imagebuilder: new ImagebuilderClient(config) };
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
