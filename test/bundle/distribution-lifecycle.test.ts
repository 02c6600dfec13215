/**
 * The SHIPPED distribution handler (assets/handlers/distribution/on-event.lambda/index.js),
 * run by plain `node` against the fake Image Builder endpoint. Proves the bundle turns
 * CloudFormation's strings back into the API's booleans and integers ON THE WIRE,
 * and that create, update and delete behave against a stateful service.
 */
import { FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { BundleError, bundleFile, cfnEvent, invokeBundle, RunBundleOptions } from '../support/run-bundle';

jest.setTimeout(60_000);

const RESOURCE_TYPE = 'Custom::VmDiskDistribution';
const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';
const LAUNCH_TEMPLATE = 'lt-0123456789abcdef0';

let fake: FakeAws;
let onEventFile: string;

beforeAll(() => {
  onEventFile = bundleFile('distribution', 'on-event');
});

const currentFake = useFakeAwsPerTest();
beforeEach(() => {
  fake = currentFake();
});

function opts(): RunBundleOptions {
  return { endpoint: fake.url };
}

/** ResourceProperties as CloudFormation delivers them: booleans and numbers as strings. */
function props(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: 'bundle-test-distribution',
    Description: 'VM disks for the datacenter',
    Distributions: [
      {
        region: 'us-east-1',
        amiDistributionConfiguration: { name: 'exported-{{ imagebuilder:buildDate }}', amiTags: { purpose: 'export' } },
        s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'VMDK', s3Bucket: 'vm-exports', s3Prefix: 'images/' },
        launchTemplateConfigurations: [{ launchTemplateId: LAUNCH_TEMPLATE, setDefaultVersion: 'true' }],
        fastLaunchConfigurations: [{
          enabled: 'false',
          maxParallelLaunches: '6',
          snapshotConfiguration: { targetResourceCount: '5' },
          launchTemplate: { launchTemplateId: LAUNCH_TEMPLATE, launchTemplateVersion: '1' },
        }],
      },
      {
        region: 'eu-west-1',
        s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'RAW', s3Bucket: 'vm-exports-eu' },
      },
    ],
    Tags: { team: 'platform', stage: 'test' },
    ...overrides,
  };
}

function event(type: 'Create' | 'Update' | 'Delete', p: Record<string, unknown>, options: Parameters<typeof cfnEvent>[2] = {}) {
  return cfnEvent(type, p, { resourceType: RESOURCE_TYPE, logicalResourceId: 'Distribution', ...options });
}

async function onEvent(request: Record<string, any>): Promise<any> {
  return invokeBundle(onEventFile, request, opts());
}

async function failure(promise: Promise<unknown>): Promise<BundleError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof BundleError) return err;
    throw err;
  }
  throw new Error('the handler succeeded; a failure was expected');
}

describe('distribution bundle over the wire', () => {
  test('create, in-place update, rename, then both deletes: typed members on the wire, nothing left behind', async () => {
    const created = await onEvent(event('Create', props()));
    const arn = 'arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/bundle-test-distribution';
    expect(created).toEqual({ PhysicalResourceId: arn, Data: { Arn: arn, Name: 'bundle-test-distribution' } });

    // The JSON that crossed the wire has real booleans and integers.
    const sent = fake.callsOf('CreateDistributionConfiguration')[0].input;
    expect(sent.distributions[0].launchTemplateConfigurations[0].setDefaultVersion).toBe(true);
    expect(sent.distributions[0].fastLaunchConfigurations[0]).toEqual({
      enabled: false,
      maxParallelLaunches: 6,
      snapshotConfiguration: { targetResourceCount: 5 },
      launchTemplate: { launchTemplateId: LAUNCH_TEMPLATE, launchTemplateVersion: '1' },
    });
    expect(sent.distributions[1]).toEqual((props().Distributions as any[])[1]);
    expect(sent).toMatchObject({ name: 'bundle-test-distribution', description: 'VM disks for the datacenter', tags: { team: 'platform', stage: 'test' } });
    expect(sent.clientToken).toMatch(/^[0-9a-f-]{36}$/);

    // Same name: updated in place, tags brought in line.
    const base = props() as { Distributions: any[] };
    const updatedProps = props({
      Description: 'VM disks, updated',
      Distributions: [{ ...base.Distributions[0], fastLaunchConfigurations: [{ enabled: 'true', maxParallelLaunches: '8' }] }],
      Tags: { team: 'platform', owner: 'bundle' },
    });
    const updated = await onEvent(event('Update', updatedProps, { physicalResourceId: arn, oldResourceProperties: props() }));
    expect(updated.PhysicalResourceId).toBe(arn);
    const stored = fake.distributionConfigurations.get(arn)!;
    expect(stored.description).toBe('VM disks, updated');
    expect(stored.distributions).toHaveLength(1);
    expect(stored.distributions[0].fastLaunchConfigurations).toEqual([{ enabled: true, maxParallelLaunches: 8 }]);
    expect(stored.tags).toEqual({ team: 'platform', owner: 'bundle' });

    // A new name: a new configuration and a new id; CloudFormation then deletes the old one.
    const renamedProps = { ...updatedProps, Name: 'bundle-test-distribution-2' };
    const renamed = await onEvent(event('Update', renamedProps, { physicalResourceId: arn, oldResourceProperties: updatedProps }));
    expect(renamed.PhysicalResourceId).toBe(`${arn}-2`);
    expect(fake.distributionConfigurations.size).toBe(2);

    await onEvent(event('Delete', updatedProps, { physicalResourceId: arn }));
    await onEvent(event('Delete', renamedProps, { physicalResourceId: renamed.PhysicalResourceId }));
    expect(fake.distributionConfigurations.size).toBe(0);
  });

  test('a rename that fails, then CloudFormation\'s rollback Update (old name, old id): updated in place, nothing created', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));
    // The new name is taken by another stack's configuration: the rename fails and the id stays.
    const renamedProps = props({ Name: 'taken-name' });
    await onEvent(event('Create', renamedProps));
    const err = await failure(onEvent(event('Update', renamedProps, { physicalResourceId: arn, oldResourceProperties: props() })));
    expect(err.message).toContain('ResourceAlreadyExistsException');

    const rolledBack = await onEvent(event('Update', props(), { physicalResourceId: arn, oldResourceProperties: renamedProps }));
    expect(rolledBack).toEqual({ PhysicalResourceId: arn, Data: { Arn: arn, Name: 'bundle-test-distribution' } });
    expect(fake.callsOf('UpdateDistributionConfiguration').map((c) => c.input.distributionConfigurationArn)).toEqual([arn]);
    expect(fake.callsOf('CreateDistributionConfiguration')).toHaveLength(3);
    expect(fake.distributionConfigurations.size).toBe(2);
  });

  test('the same Create delivered twice (same RequestId) makes one configuration', async () => {
    const create = event('Create', props());
    const first = await onEvent(create);
    const again = await onEvent(create);
    expect(again.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(fake.callsOf('CreateDistributionConfiguration')).toHaveLength(2);
    expect(fake.distributionConfigurations.size).toBe(1);
  });

  test('a rejected create fails with the Image Builder code and message', async () => {
    await onEvent(event('Create', props()));
    // Another stack's resource with the same name (another RequestId, so another token).
    const err = await failure(onEvent(event('Create', props())));
    expect(err.message).toContain('CreateDistributionConfiguration failed for distribution configuration "bundle-test-distribution"');
    expect(err.message).toContain('ResourceAlreadyExistsException: The distribution configuration');
  });

  test('throttled creates are retried by the bundled client and succeed', async () => {
    fake.throttle('imagebuilder', 2, ['CreateDistributionConfiguration']);
    const created = await onEvent(event('Create', props()));
    expect(fake.callsOf('CreateDistributionConfiguration')).toHaveLength(3);
    expect(fake.distributionConfigurations.has(created.PhysicalResourceId)).toBe(true);
  });

  // Image Builder refuses to change a configuration while an image build distributes with it
  // (ResourceInUseException, "retry later" in the API model); the fake injects that answer.
  const inUse = {
    service: 'imagebuilder' as const,
    operations: ['UpdateDistributionConfiguration'],
    code: 'ResourceInUseException',
    message: 'The distribution configuration is in use by an image build that is distributing.',
  };

  test('an update refused while a build distributes is retried and applied; its rollback, already as asked, succeeds at once', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));
    const updatedProps = props({ Description: 'VM disks, updated' });

    fake.failNext(inUse);
    await expect(onEvent(event('Update', updatedProps, { physicalResourceId: arn, oldResourceProperties: props() })))
      .resolves.toEqual({ PhysicalResourceId: arn, Data: { Arn: arn, Name: 'bundle-test-distribution' } });
    const updates = fake.callsOf('UpdateDistributionConfiguration');
    expect(updates.map((c) => c.fault)).toEqual(['ResourceInUseException', undefined]);
    expect(updates[1].input.clientToken).not.toBe(updates[0].input.clientToken);
    expect(fake.distributionConfigurations.get(arn)!.description).toBe('VM disks, updated');

    // The same settings again while in use (as a rollback to what the configuration already has).
    fake.failNext(inUse);
    await expect(onEvent(event('Update', updatedProps, { physicalResourceId: arn, oldResourceProperties: props() })))
      .resolves.toMatchObject({ PhysicalResourceId: arn });
    expect(fake.callsOf('UpdateDistributionConfiguration').map((c) => c.fault)).toEqual(['ResourceInUseException', undefined, 'ResourceInUseException']);
    expect(fake.callsOf('GetDistributionConfiguration')).toHaveLength(2);
  });

  test('delete while a pipeline uses it names the pipeline; afterwards delete, delete again and the marker succeed', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));
    // Two pages of pipelines: the one that matters is on the second.
    fake.pipelinePageSize = 1;
    fake.addPipeline('unrelated-pipeline', 'arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/other');
    fake.addPipeline('nightly-export', arn);
    const err = await failure(onEvent(event('Delete', props(), { physicalResourceId: arn })));
    expect(err.message).toContain('"nightly-export"');
    expect(err.message).not.toContain('unrelated-pipeline');
    expect(err.message).toContain('ResourceDependencyException');
    expect(fake.distributionConfigurations.has(arn)).toBe(true);

    fake.pipelines.length = 0;
    await onEvent(event('Delete', props(), { physicalResourceId: arn }));
    expect(fake.distributionConfigurations.size).toBe(0);
    // Already gone counts as deleted.
    await onEvent(event('Delete', props(), { physicalResourceId: arn }));
    const before = fake.calls.length;
    await onEvent(event('Delete', props(), { physicalResourceId: CREATE_FAILED_MARKER }));
    expect(fake.calls.length).toBe(before);
  });

  // A configuration that left the stack may be deleted only while it carries the stack's
  // ownership tag, so AWS denies a retried delete of one that is gone (its tag went with it).
  const denial = (arn: string) => ({
    service: 'imagebuilder' as const,
    operations: ['DeleteDistributionConfiguration'],
    code: 'AccessDeniedException',
    message: `User: arn:aws:sts::123456789012:assumed-role/handler/fn is not authorized to perform: imagebuilder:DeleteDistributionConfiguration on resource: ${arn}`,
  });

  test('a delete retried after it succeeded, and denied because the configuration is gone, succeeds', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));
    const del = event('Delete', props(), { physicalResourceId: arn });
    await onEvent(del);
    expect(fake.distributionConfigurations.size).toBe(0);

    fake.failNext(denial(arn));
    await expect(onEvent(del)).resolves.toEqual({ PhysicalResourceId: arn });
    expect(fake.callsOf('DeleteDistributionConfiguration').map((c) => c.fault)).toEqual([undefined, 'AccessDeniedException']);
    expect(fake.callsOf('GetDistributionConfiguration').map((c) => c.input)).toEqual([{ distributionConfigurationArn: arn }]);
  });

  test('a retried delete refused with Image Builder\'s ForbiddenException (HTTP 403) of a configuration that is gone succeeds', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));
    const del = event('Delete', props(), { physicalResourceId: arn });
    await onEvent(del);

    // The code Image Builder's model declares for a refused DeleteDistributionConfiguration; the fake sends it with status 403.
    fake.failNext({ ...denial(arn), code: 'ForbiddenException' });
    await expect(onEvent(del)).resolves.toEqual({ PhysicalResourceId: arn });
    expect(fake.callsOf('DeleteDistributionConfiguration').map((c) => c.fault)).toEqual([undefined, 'ForbiddenException']);
    expect(fake.callsOf('GetDistributionConfiguration').map((c) => c.input)).toEqual([{ distributionConfigurationArn: arn }]);
  });

  test('a denied delete of a configuration that still exists fails with the denial and leaves it', async () => {
    const { PhysicalResourceId: arn } = await onEvent(event('Create', props()));

    fake.failNext(denial(arn));
    const err = await failure(onEvent(event('Delete', props(), { physicalResourceId: arn })));
    expect(err.message).toContain(`DeleteDistributionConfiguration failed for distribution configuration "bundle-test-distribution" (${arn}): AccessDeniedException: User:`);
    expect(fake.callsOf('GetDistributionConfiguration')).toHaveLength(1);
    expect(fake.distributionConfigurations.has(arn)).toBe(true);
  });

  test('a value that is not a boolean fails before any call', async () => {
    const bad = props({ Distributions: [{ region: 'us-east-1', launchTemplateConfigurations: [{ launchTemplateId: LAUNCH_TEMPLATE, setDefaultVersion: 'yes' }] }] });
    const err = await failure(onEvent(event('Create', bad)));
    expect(err.message).toContain('Distributions[0].launchTemplateConfigurations[0].setDefaultVersion');
    expect(fake.calls).toEqual([]);
  });
});
