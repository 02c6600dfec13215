/**
 * The fake's DistributeImage and ListImages (test/support/fake-aws.ts), through real
 * SDK clients: as unkind as the export handlers must expect.
 */
import {
  CancelImageCreationCommand, DeleteImageCommand, DistributeImageCommand, GetImageCommand, ImagebuilderClient, ListImagesCommand,
} from '@aws-sdk/client-imagebuilder';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, useFakeAwsPerTest } from './fake-aws';

const currentFake = useFakeAwsPerTest();
let fake: FakeAws;
let client: ImagebuilderClient;
const AMI = 'ami-0a1b2c3d4e5f60718';
let configArn: string;

beforeEach(() => {
  fake = currentFake();
  client = new ImagebuilderClient({
    endpoint: fake.url,
    region: fake.region,
    maxAttempts: 1,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY },
  });
  fake.amis.set(AMI, { id: AMI, snapshotIds: [], importTaskId: 'import-ami-0123456789abcdef0' });
  configArn = `arn:aws:imagebuilder:${fake.region}:${fake.account}:distribution-configuration/two-regions`;
  fake.distributionConfigurations.set(configArn, {
    arn: configArn,
    name: 'two-regions',
    clientToken: 'c',
    tags: {},
    distributions: [{ region: 'us-east-1' }, { region: 'us-west-2' }],
  });
});

const distribute = (token: string, overrides: object = {}) => client.send(new DistributeImageCommand({
  sourceImage: AMI, distributionConfigurationArn: configArn, executionRole: 'export-execution', clientToken: token, tags: { a: 'b' }, ...overrides,
}));
const status = async (arn: string) => (await client.send(new GetImageCommand({ imageBuildVersionArn: arn }))).image!;

test('a distribution reads PENDING, then DISTRIBUTING for a few reads, then AVAILABLE with one AMI per Region', async () => {
  const { imageBuildVersionArn: arn } = await distribute('t1');
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) seen.push((await status(arn!)).state!.status!);
  expect(seen).toEqual(['PENDING', 'DISTRIBUTING', 'DISTRIBUTING', 'AVAILABLE', 'AVAILABLE']);
  expect((await status(arn!)).outputResources!.amis!.map((a) => a.region)).toEqual(['us-east-1', 'us-west-2']);
});

test('a failed distribution reads FAILED with its reason', async () => {
  fake.distributionPlan = { steps: 1, failureReason: 'EXPORT_AMI failed in us-west-2' };
  const { imageBuildVersionArn: arn } = await distribute('t1');
  await status(arn!);
  expect((await status(arn!)).state).toEqual({ status: 'FAILED', reason: 'EXPORT_AMI failed in us-west-2' });
});

test('the same client token answers the first distribution; other parameters with it are refused', async () => {
  const first = await distribute('t1');
  expect((await distribute('t1')).imageBuildVersionArn).toBe(first.imageBuildVersionArn);
  await expect(distribute('t1', { tags: { a: 'c' } })).rejects.toMatchObject({ name: 'IdempotentParameterMismatchException' });
});

test('an unknown AMI, a source image that is not AVAILABLE, or a missing configuration is refused', async () => {
  await expect(distribute('t1', { sourceImage: 'ami-0ffffffffffffffff' })).rejects.toMatchObject({ name: 'InvalidRequestException' });
  const { imageBuildVersionArn: pending } = await distribute('t2');
  await expect(distribute('t3', { sourceImage: pending })).rejects.toMatchObject({ name: 'InvalidRequestException' });
  await expect(distribute('t4', { distributionConfigurationArn: `${configArn}-gone` })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
});

test('a full quota answers ServiceQuotaExceededException', async () => {
  fake.maxRunningDistributions = 1;
  await distribute('t1');
  await expect(distribute('t2')).rejects.toMatchObject({ name: 'ServiceQuotaExceededException' });
});

test('a cancelled distribution stays DISTRIBUTING for a few reads (DeleteImage refuses it), then reads CANCELLED; a cancel after the end is refused', async () => {
  const { imageBuildVersionArn: arn } = await distribute('t1');
  await client.send(new CancelImageCreationCommand({ imageBuildVersionArn: arn, clientToken: 'c1' }));
  await expect(client.send(new DeleteImageCommand({ imageBuildVersionArn: arn }))).rejects.toMatchObject({ name: 'ResourceDependencyException' });
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) seen.push((await status(arn!)).state!.status!);
  expect(seen).toEqual(['DISTRIBUTING', 'DISTRIBUTING', 'DISTRIBUTING', 'CANCELLED']);
  await expect(client.send(new CancelImageCreationCommand({ imageBuildVersionArn: arn, clientToken: 'c2' })))
    .rejects.toMatchObject({ name: fake.cancelTerminalErrorCode });
  await client.send(new DeleteImageCommand({ imageBuildVersionArn: arn }));
  expect(fake.images.has(arn!)).toBe(false);
});

test('ListImages lists image versions (no tags) in pages', async () => {
  fake.imageBuilderListPageSize = 1;
  await distribute('t1');
  await distribute('t2', { sourceImage: 'ssm:/images/web' });
  const first = await client.send(new ListImagesCommand({}));
  expect(first.imageVersionList).toHaveLength(1);
  expect(first.imageVersionList![0]).not.toHaveProperty('tags');
  const second = await client.send(new ListImagesCommand({ nextToken: first.nextToken }));
  expect(second.nextToken).toBeUndefined();
  expect([...first.imageVersionList!, ...second.imageVersionList!].map((v) => v.arn)).toEqual([
    `arn:aws:imagebuilder:${fake.region}:${fake.account}:image/${AMI}/1.0.0`,
    `arn:aws:imagebuilder:${fake.region}:${fake.account}:image/ssm-images-web/1.0.0`,
  ]);
});
