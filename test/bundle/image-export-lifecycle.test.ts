/**
 * VmImageExport end to end against the local fake AWS endpoint, with the
 * properties of the synthesized two-Region stack (test/support/image-export-stacks.ts):
 * - the long wait on a simulated clock: the stack's export poller AS SYNTHESIZED runs in
 *   the ASL interpreter, its poll task is the export handler's isComplete entry in process
 *   with real SDK clients, the fake distributes by the same clock, and the signal crosses
 *   HTTP to the fake's wait condition handle;
 * - the shipped bundles (plain node, no node_modules) through the Provider contract:
 *   create, tag update, replacement, the rollback of a failed replacement with the new id,
 *   and deletes with the real id and with one CloudFormation invented.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetImageCommand, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Template } from 'aws-cdk-lib/assertions';
import { ExportDeps } from '../../src/handlers/image-export/common';
import { isComplete } from '../../src/handlers/image-export/is-complete';
import { onEvent } from '../../src/handlers/image-export/on-event';
import { ExportPollerState } from '../../src/handlers/image-export/poller';
import { sendSignal } from '../../src/handlers/import-image/signal';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FAKE_STACK_ID, FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { Deployment } from '../support/iam';
import { twoRegionExportStack } from '../support/image-export-stacks';
import { bundleFile, cfnEvent, invokeBundle, isCompleteEvent, waitUntilComplete } from '../support/run-bundle';
import { definitionFromTemplate, runStateMachine, SimulatedClock } from '../support/state-machine';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const EXPORT_TYPE = 'Custom::VmImageExport';
const SOURCE_NAME = 'web-server';

const stack = twoRegionExportStack();
const template = Template.fromStack(stack).toJSON();
const deployment = new Deployment(stack.stackName, template);
const exportId = deployment.theOne(EXPORT_TYPE, () => true);
const pollerDefinition = definitionFromTemplate(template, (id) => id.startsWith('VmImageExportProviderPoller'));

const currentFake = useFakeAwsPerTest();
let fake: FakeAws;

beforeEach(() => {
  fake = currentFake();
});

/** An imported image the export starts from: AVAILABLE, with its AMI (what VmImportImage leaves). */
function givenImportedImage(f: FakeAws): string {
  const arn = `arn:aws:imagebuilder:${f.region}:${f.account}:image/${SOURCE_NAME}/1.0.0/1`;
  const ami = 'ami-0a1b2c3d4e5f60718';
  f.amis.set(ami, { id: ami, snapshotIds: [], importTaskId: 'import-ami-0123456789abcdef0' });
  f.importTasks.set('import-ami-0123456789abcdef0', {
    id: 'import-ami-0123456789abcdef0',
    input: { DiskContainers: [] },
    plan: { steps: 1, failDeletingDescribes: 1 },
    status: 'completed',
    describeCount: 1,
    startedAt: 0,
    deletingDescribes: 0,
    imageId: ami,
    snapshotIds: [],
    cancelled: false,
    forgotten: false,
  });
  f.images.set(arn, {
    arn,
    name: SOURCE_NAME,
    version: '1.0.0',
    buildVersion: 1,
    platform: 'Linux',
    vmImportTaskId: 'import-ami-0123456789abcdef0',
    clientToken: 'import',
    input: {},
    dateCreated: new Date().toISOString(),
    tags: {},
    cancelled: false,
    getsAfterTaskEnded: 0,
    getsAfterCancel: 0,
    inUse: false,
  });
  return arn;
}

/** The distribution configuration the stack's VmDiskDistribution made: two Regions, VHD. */
function givenDistribution(f: FakeAws): string {
  const arn = `arn:aws:imagebuilder:${f.region}:${f.account}:distribution-configuration/web-vhd`;
  f.distributionConfigurations.set(arn, {
    arn,
    name: 'web-vhd',
    clientToken: 'dist',
    tags: {},
    distributions: [
      { region: 'us-east-1', s3ExportConfiguration: { roleName: 'export-role', diskImageFormat: 'VHD', s3Bucket: 'exports-east', s3Prefix: 'vhd/' } },
      { region: 'us-west-2', s3ExportConfiguration: { roleName: 'export-role', diskImageFormat: 'VHD', s3Bucket: 'vm-exports-us-west-2', s3Prefix: 'vhd/' } },
    ],
  });
  return arn;
}

/**
 * The export's properties as CloudFormation delivers them. The deploy-time values the
 * template cannot resolve offline are the fake's: the imported image (the import's read
 * step), the distribution configuration (its custom resource) and the handle's URL.
 */
function exportProperties(f: FakeAws, overrides: Record<string, unknown> = {}, stackId = FAKE_STACK_ID): Record<string, any> {
  const prepared = preparedFor(f);
  const raw = deployment.resource(exportId).Properties;
  const { ServiceToken: _token, ...props } = deployment.resolve({
    ...raw, SourceImage: prepared.image, DistributionConfigurationArn: prepared.config, SignalUrl: '',
  });
  return {
    ...props,
    Tags: { ...props.Tags, 'cdk-vm-import-export:stack-id': stackId },
    SignalUrl: f.waitConditionHandle(props.WaitConditionLogicalId, stackId),
    ...overrides,
  };
}

const prepared = new WeakMap<FakeAws, { image: string; config: string }>();
function preparedFor(f: FakeAws): { image: string; config: string } {
  let p = prepared.get(f);
  if (!p) {
    p = { image: givenImportedImage(f), config: givenDistribution(f) };
    prepared.set(f, p);
  }
  return p;
}

describe('the long wait on a simulated clock', () => {
  const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/export-long/11111111-2222-3333-4444-555555555555';
  let clock: SimulatedClock;
  let deps: ExportDeps;
  let lines: string[];

  beforeEach(() => {
    clock = new SimulatedClock(Date.UTC(2026, 0, 1));
    fake.now = () => clock.now();
    const config = {
      endpoint: fake.url,
      region: fake.region,
      credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY },
      maxAttempts: 1,
    };
    deps = {
      imagebuilder: new ImagebuilderClient(config),
      sfn: new SFNClient(config),
      cloudformation: new CloudFormationClient(config),
      signal: sendSignal,
      pollerStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:export-long-Poller',
      sleep: async (ms) => clock.advance(ms),
      now: () => clock.now(),
    };
    lines = [];
    jest.spyOn(console, 'log').mockImplementation((line: unknown) => { lines.push(String(line)); });
  });

  afterEach(() => jest.restoreAllMocks());

  function createEvent(): any {
    const props = exportProperties(fake, {}, STACK_ID);
    fake.setStack(STACK_ID, 'CREATE_IN_PROGRESS');
    fake.setStackResource(STACK_ID, props.WaitConditionLogicalId, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
    return {
      RequestType: 'Create',
      ServiceToken: 'x',
      ResponseURL: 'https://example.com/presigned',
      StackId: STACK_ID,
      RequestId: 'create-1',
      LogicalResourceId: exportId,
      ResourceType: EXPORT_TYPE,
      ResourceProperties: { ServiceToken: 'x', ...props },
    };
  }

  async function deployAndWait() {
    const event = createEvent();
    const started = await onEvent(event, deps) as any;
    expect(started.Wait).toBe('none');
    const executions = [...fake.executions.values()];
    expect(executions).toHaveLength(1);
    const startedAt = clock.now();
    const result = await runStateMachine(pollerDefinition, executions[0].input, {
      clock, invoke: async (_resource, state) => isComplete(state as ExportPollerState, deps), maxTransitions: 20_000,
    });
    const polls = result.invocations.filter((i) => i.state === 'PollImport');
    const signals = fake.signals.get(event.ResourceProperties.WaitConditionLogicalId) ?? [];
    return { event, started, startedAt, result, polls, signals };
  }

  test('a 3-hour export completes: SUCCESS within one interval, about a hundred polls, then the read step reports the image', async () => {
    fake.distributionPlan = { durationMs: 3 * HOUR };
    const { event, started, startedAt, result, polls, signals } = await deployAndWait();
    expect(result.status).toBe('SUCCEEDED');
    const arn = started.Data.ExportedImageArn;
    expect(signals).toEqual([{ Status: 'SUCCESS', Reason: expect.stringContaining('is complete'), UniqueId: expect.stringMatching(/^export-/), Data: arn }]);
    expect(polls.length).toBeGreaterThan(60);
    expect(polls.length).toBeLessThan(130);
    const detectedAt = polls[polls.length - 1].timestamp;
    expect(detectedAt - (startedAt + 3 * HOUR)).toBeGreaterThanOrEqual(0);
    expect(detectedAt - (startedAt + 3 * HOUR)).toBeLessThanOrEqual(120_000);
    const progress = lines.filter((l) => l.includes('"vm-export-progress"')).map((l) => JSON.parse(l));
    expect(progress).toHaveLength(polls.length);
    expect(progress[progress.length - 1]).toMatchObject({ result: 'available', amis: [{ region: 'us-east-1' }, { region: 'us-west-2' }] });

    const read = {
      RequestType: 'Create',
      StackId: STACK_ID,
      RequestId: 'complete-1',
      LogicalResourceId: `${exportId}Complete`,
      ResourceType: 'Custom::VmImageExportComplete',
      ServiceToken: 'x',
      ResponseURL: 'x',
      ResourceProperties: { ServiceToken: 'x', ExportedImageArn: arn, WaitCondition: 'w', TimeoutSeconds: '21600' },
    } as any;
    const readStarted = await onEvent(read, deps);
    expect(await isComplete({ ...read, ...readStarted } as any, deps)).toEqual({ IsComplete: true, Data: { ExportedImageArn: arn } });

    // The stack is deleted: the distributed image's record goes; the exported files stay (nothing touches S3).
    const deleting = await onEvent({ ...event, RequestType: 'Delete', RequestId: 'delete-1', PhysicalResourceId: started.PhysicalResourceId }, deps) as any;
    expect(deleting.Wait).toBe('none');
    expect(fake.images.has(arn)).toBe(false);
    expect(fake.images.size).toBe(1);
    expect(fake.calls.filter((c) => c.service !== 'imagebuilder' && c.service !== 'sfn' && c.service !== 'cloudformation')).toEqual([]);
  });

  test('an export that fails at one hour signals FAILURE with Image Builder\'s reason at once; the rollback removes its record', async () => {
    fake.distributionPlan = { durationMs: HOUR, failureReason: 'Distribution to us-west-2 failed: EXPORT_AMI: Access Denied writing to vm-exports-us-west-2' };
    const { event, started, startedAt, polls, signals } = await deployAndWait();
    expect(signals).toEqual([expect.objectContaining({ Status: 'FAILURE', Reason: expect.stringContaining('is FAILED: Distribution to us-west-2 failed: EXPORT_AMI: Access Denied') })]);
    expect(polls[polls.length - 1].timestamp - (startedAt + HOUR)).toBeLessThanOrEqual(120_000);
    fake.setStackResource(STACK_ID, event.ResourceProperties.WaitConditionLogicalId, { status: 'CREATE_FAILED', type: 'AWS::CloudFormation::WaitCondition' });
    const deleting = await onEvent({ ...event, RequestType: 'Delete', RequestId: 'delete-1', PhysicalResourceId: started.PhysicalResourceId }, deps) as any;
    expect(deleting.Wait).toBe('none');
    expect(fake.images.has(started.Data.ExportedImageArn)).toBe(false);
  });

  test('a stack deleted while the export runs: the poller is stopped, the distribution cancelled, and the delete waits for Image Builder to let it go', async () => {
    fake.distributionPlan = { durationMs: 5 * HOUR };
    const event = createEvent();
    const started = await onEvent(event, deps) as any;
    clock.advance(20 * 60_000);
    const deleteEvent = { ...event, RequestType: 'Delete', RequestId: 'delete-1', PhysicalResourceId: started.PhysicalResourceId };
    const deleting = await onEvent(deleteEvent, deps) as any;
    expect(deleting.Wait).toBe('delete');
    expect([...fake.executions.values()].map((e) => e.status)).toEqual(['ABORTED']);
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    let rounds = 0;
    let done = false;
    while (!done) {
      clock.advance(15_000);
      done = (await isComplete({ ...deleteEvent, ...deleting }, deps) as { IsComplete: boolean }).IsComplete;
      expect(++rounds).toBeLessThan(20);
    }
    // Image Builder kept it DISTRIBUTING for a few reads after the cancel (the fake's imageSettleGets), and refused DeleteImage meanwhile.
    expect(rounds).toBeGreaterThan(1);
    expect(fake.images.has(started.Data.ExportedImageArn)).toBe(false);
  });
});

describe('the shipped bundles through the Provider contract', () => {
  const onEventBundle = () => bundleFile('image-export', 'on-event');
  const isCompleteBundle = () => bundleFile('image-export', 'is-complete');
  const env = () => ({ POLLER_STATE_MACHINE_ARN: `arn:aws:states:${fake.region}:${fake.account}:stateMachine:bundle-test-Poller` });

  async function run(request: Record<string, any>): Promise<Record<string, any>> {
    const started = await invokeBundle(onEventBundle(), request, { endpoint: fake.url, env: env() });
    if (request.RequestType === 'Delete' && started.Wait === 'none') return started;
    const options = { endpoint: fake.url, env: env(), maxPolls: 12 };
    const { response } = await waitUntilComplete(isCompleteBundle(), isCompleteEvent(request, started), options);
    return response;
  }

  const event = (type: 'Create' | 'Update' | 'Delete', props: Record<string, unknown>, options: Record<string, any> = {}) =>
    cfnEvent(type, props, { resourceType: EXPORT_TYPE, logicalResourceId: exportId, ...options });

  test('create distributes and starts the poller; a tag update changes tags only; delete removes the record', async () => {
    const props = exportProperties(fake);
    const created = await run(event('Create', props));
    const arn = created.Data.ExportedImageArn;
    expect(created.PhysicalResourceId).toMatch(new RegExp(`^${arn.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\|[0-9a-f]{16}$`));
    expect(fake.callsOf('DistributeImage')).toHaveLength(1);
    expect(fake.images.get(arn)!.tags).toMatchObject({ 'cdk-vm-import-export:logical-id': exportId, 'cdk-vm-import-export:stack-id': FAKE_STACK_ID });
    expect([...fake.executions.values()]).toHaveLength(1);

    const retagged = { ...props, Tags: { ...props.Tags, team: 'exports' } };
    const updated = await run(event('Update', retagged, { physicalResourceId: created.PhysicalResourceId, oldResourceProperties: props }));
    expect(updated.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(fake.callsOf('DistributeImage')).toHaveLength(1);
    expect(fake.images.get(arn)!.tags.team).toBe('exports');

    fake.finishExecution([...fake.executions.keys()][0], 'SUCCEEDED');
    await run(event('Delete', retagged, { physicalResourceId: created.PhysicalResourceId }));
    expect(fake.images.has(arn)).toBe(false);
  });

  test('a replacement exports again; the rollback of its failure with the new id answers the original, then the new one is deleted', async () => {
    const original = exportProperties(fake);
    const created = await run(event('Create', original));
    const originalArn = created.Data.ExportedImageArn;
    // Finish the original export: its distribution ends AVAILABLE after its reads.
    const credentials = { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY };
    const reader = new ImagebuilderClient({ endpoint: fake.url, region: fake.region, credentials });
    for (let i = 0; i < 4; i++) await reader.send(new GetImageCommand({ imageBuildVersionArn: originalArn }));
    expect(fake.imageStatus(fake.images.get(originalArn)!).status).toBe('AVAILABLE');

    fake.distributionPlan = { steps: 1, failureReason: 'EXPORT_AMI failed' };
    const replacing = { ...original, Exports: [original.Exports[0]] };
    const replaced = await run(event('Update', replacing, { physicalResourceId: created.PhysicalResourceId, oldResourceProperties: original }));
    const newArn = replaced.Data.ExportedImageArn;
    expect(newArn).not.toBe(originalArn);
    expect(fake.images.get(newArn)!.tags['cdk-vm-import-export:replaces']).toBe(originalArn);

    // The wait condition failed; CloudFormation rolls back with the NEW id and the original properties.
    const rollback = await run(event('Update', original, { physicalResourceId: replaced.PhysicalResourceId, oldResourceProperties: replacing }));
    expect(rollback.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(fake.callsOf('DistributeImage')).toHaveLength(2);
    // The clean-up deletes the failed replacement's image.
    await run(event('Delete', replacing, { physicalResourceId: replaced.PhysicalResourceId }));
    expect(fake.images.has(newArn)).toBe(false);
    expect(fake.images.has(originalArn)).toBe(true);
  });

  test('a Delete with an id CloudFormation invented finds the export by its tags and removes it', async () => {
    const props = exportProperties(fake);
    // Other images of the account, listed before ours, in pages of one.
    for (const name of ['another-app', 'base-linux']) {
      const arn = `arn:aws:imagebuilder:${fake.region}:${fake.account}:image/${name}/2.0.0/1`;
      fake.images.set(arn, { ...fake.images.get(props.SourceImage)!, arn, name, version: '2.0.0', tags: { team: 'others' } });
    }
    fake.imageBuilderListPageSize = 1;
    const created = await run(event('Create', props));
    fake.finishExecution([...fake.executions.keys()][0], 'SUCCEEDED');
    await run(event('Delete', props, { physicalResourceId: `bundle-test-${exportId}-1A2B3C4D5E6F` }));
    expect(fake.images.has(created.Data.ExportedImageArn)).toBe(false);
    expect(fake.callsOf('ListImages')).toHaveLength(3);
    expect(fake.images.size).toBe(3);
  });

  test('a rejected DistributeImage fails with AWS\'s code and message and leaves nothing running', async () => {
    fake.failNext({ service: 'imagebuilder', operations: ['DistributeImage'], code: 'InvalidRequestException', message: 'The source image is not AVAILABLE' });
    await expect(run(event('Create', exportProperties(fake)))).rejects.toThrow(/Image Builder DistributeImage failed: InvalidRequestException: The source image is not AVAILABLE/);
    expect(fake.executions.size).toBe(0);
    expect([...fake.images.values()].filter((i) => i.distribution)).toEqual([]);
  });
});
