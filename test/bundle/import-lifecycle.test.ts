/**
 * The SHIPPED import handlers (assets/handlers/import-image/*.lambda/index.js), run by
 * plain `node` against the fake EC2 and Image Builder endpoints, through the
 * Provider framework's contract. Proves the bundles load, sign, serialize and parse
 * real protocol traffic, and that the lifecycle holds on the wire.
 */
import { FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { BundleError, bundleFile, cfnEvent, invokeBundle, isCompleteEvent, RunBundleOptions, waitUntilComplete } from '../support/run-bundle';

jest.setTimeout(60_000);

const RESOURCE_TYPE = 'Custom::VmImportImage';
const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';
const ROLE_NOT_READY = 'The service role vmimport provided does not exist or does not have sufficient permissions';

let fake: FakeAws;
let onEventFile: string;
let isCompleteFile: string;

beforeAll(() => {
  onEventFile = bundleFile('import-image', 'on-event');
  isCompleteFile = bundleFile('import-image', 'is-complete');
});

const currentFake = useFakeAwsPerTest();
beforeEach(() => {
  fake = currentFake();
});

function opts(): RunBundleOptions {
  return { endpoint: fake.url };
}

/** ResourceProperties as CloudFormation delivers them: every scalar a string. */
function props(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ImageName: 'bundle-test-image',
    ImageVersion: '1.0.0',
    Description: 'imported by the bundle test',
    Platform: 'Linux',
    OsVersion: 'Ubuntu 22',
    Architecture: 'x86_64',
    BootMode: 'uefi',
    LicenseType: 'BYOL',
    RoleName: 'vmimport',
    Disks: [
      { Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'boot.vmdk' },
      { Format: 'VMDK', Url: 's3://vm-disks/data.vmdk' },
    ],
    LogGroupName: '/aws/imagebuilder/bundle-test',
    Tags: { team: 'platform', stage: 'test' },
    WaitForAvailable: 'true',
    TimeoutSeconds: '3300',
    RemovalPolicy: 'destroy',
    ...overrides,
  };
}

function event(type: 'Create' | 'Update' | 'Delete', p: Record<string, unknown>, options: Parameters<typeof cfnEvent>[2] = {}) {
  return cfnEvent(type, p, { resourceType: RESOURCE_TYPE, logicalResourceId: 'ImportedImage', ...options });
}

async function onEvent(request: Record<string, any>): Promise<any> {
  return invokeBundle(onEventFile, request, opts());
}

/** One isComplete call; returns its result. */
async function poll(request: Record<string, any>): Promise<any> {
  return invokeBundle(isCompleteFile, request, opts());
}

/** onEvent, then isComplete until done, as the framework runs them: the final response. */
async function run(request: Record<string, any>): Promise<Record<string, any>> {
  const result = await onEvent(request);
  return (await waitUntilComplete(isCompleteFile, isCompleteEvent(request, result), { ...opts(), maxPolls: 8 })).response;
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

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function theOnlyTask() {
  expect(fake.importTasks.size).toBe(1);
  return [...fake.importTasks.values()][0];
}

describe('import-image bundles over the wire', () => {
  test('create, poll, tag-only update, replacing update, then both deletes leave nothing behind', async () => {
    const create = event('Create', props());
    const started = await onEvent(create);
    expect(Object.keys(started).sort()).toEqual(['Data', 'Deadline', 'PhysicalResourceId']);
    const waited = await waitUntilComplete(isCompleteFile, isCompleteEvent(create, started), { ...opts(), maxPolls: 8 });
    // Pending, converting, booting, then completed: no Data before completion.
    expect(waited.polls.slice(0, -1)).toEqual([{ IsComplete: false }, { IsComplete: false }]);
    const task = theOnlyTask();
    expect(task.status).toBe('completed');
    const first = waited.response;
    expect(first.Data).toEqual({
      ImageArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/bundle-test-image/1.0.0/1',
      ImageName: 'bundle-test-image',
      ImageVersion: '1.0.0',
      ImportTaskId: task.id,
      ImageId: task.imageId,
    });
    // The third segment is the hash of the properties the import was made from.
    expect(first.PhysicalResourceId).toMatch(new RegExp(`^${escape(first.Data.ImageArn)}\\|${task.id}\\|[0-9a-f]{16}$`));

    // What crossed the wire, decoded back into API members.
    const importImage = fake.callsOf('ImportImage')[0].input;
    expect(importImage).toMatchObject({
      Platform: 'Linux',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      LicenseType: 'BYOL',
      RoleName: 'vmimport',
      Description: 'imported by the bundle test',
      DiskContainers: [
        { Format: 'VMDK', UserBucket: { S3Bucket: 'vm-disks', S3Key: 'boot.vmdk' } },
        { Format: 'VMDK', Url: 's3://vm-disks/data.vmdk' },
      ],
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'team', Value: 'platform' }, { Key: 'stage', Value: 'test' }] }],
    });
    expect(importImage.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.callsOf('ImportVmImage')[0].input).toMatchObject({
      name: 'bundle-test-image',
      semanticVersion: '1.0.0',
      platform: 'Linux',
      osVersion: 'Ubuntu 22',
      vmImportTaskId: task.id,
      loggingConfiguration: { logGroupName: '/aws/imagebuilder/bundle-test' },
      tags: { team: 'platform', stage: 'test' },
    });

    // Tags only: same id, no new import, tags changed on the image, the AMI still reported.
    const tagged = props({ Tags: { team: 'platform', owner: 'bundle' } });
    const tagUpdate = await run(event('Update', tagged, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: props() }));
    expect(tagUpdate.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(tagUpdate.Data.ImageId).toBe(task.imageId);
    expect(fake.callsOf('ImportImage')).toHaveLength(1);
    expect(fake.images.get(first.Data.ImageArn)!.tags).toEqual({ team: 'platform', owner: 'bundle' });
    expect(fake.callsOf('UntagResource')[0].input).toEqual({ resourceArn: first.Data.ImageArn, tagKeys: ['stage'] });

    // Another disk (and version): a new import under a new id.
    const changed = props({
      ImageVersion: '1.0.1',
      Tags: { team: 'platform', owner: 'bundle' },
      Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'boot-v2.vmdk' }],
    });
    const replaced = await run(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: tagged }));
    expect(replaced.PhysicalResourceId).not.toBe(first.PhysicalResourceId);
    expect(replaced.NewImport).toBe(true);
    expect(fake.importTasks.size).toBe(2);
    const second = fake.task(replaced.Data.ImportTaskId);
    expect(replaced.Data.ImageId).toBe(second.imageId);

    // CloudFormation deletes the replaced resource after the update, then the stack delete removes the new one.
    await run(event('Delete', tagged, { physicalResourceId: first.PhysicalResourceId }));
    expect(fake.images.has(first.Data.ImageArn)).toBe(false);
    expect(fake.amis.has(task.imageId!)).toBe(false);
    task.snapshotIds.forEach((s) => expect(fake.snapshots.has(s)).toBe(false));
    expect(fake.images.has(replaced.Data.ImageArn)).toBe(true);

    await run(event('Delete', changed, { physicalResourceId: replaced.PhysicalResourceId }));
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
  });

  test('ImportImage rejected: the error carries the EC2 code and message, and nothing is started', async () => {
    fake.failNext({
      service: 'ec2',
      operations: ['ImportImage'],
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: iam:PassRole',
    });
    const err = await failure(onEvent(event('Create', props())));
    expect(err.message).toContain('EC2 ImportImage failed: UnauthorizedOperation: You are not authorized to perform this operation.');
    expect(fake.importTasks.size).toBe(0);
    expect(fake.callsOf('ImportVmImage')).toHaveLength(0);
  });

  test('ImportVmImage rejected: the error carries the Image Builder code and message, and the import task is cancelled', async () => {
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], code: 'ForbiddenException', message: 'Not authorized to ImportVmImage' });
    const err = await failure(onEvent(event('Create', props())));
    expect(err.message).toContain('ForbiddenException: Not authorized to ImportVmImage');
    const task = theOnlyTask();
    expect(task.status).toBe('deleted');
    expect(task.cancelReason).toBeDefined();
    expect(fake.images.size).toBe(0);
  });

  test('a just-created service role that is not visible yet is retried with the same token: one task', async () => {
    // The bundle really sleeps (2 s) before its retry, so the role fails once only.
    fake.failNext({ service: 'ec2', operations: ['ImportImage'], code: 'InvalidParameter', message: ROLE_NOT_READY });
    const started = await onEvent(event('Create', props()));
    const calls = fake.callsOf('ImportImage');
    expect(calls).toHaveLength(2);
    expect(calls[1].input.ClientToken).toBe(calls[0].input.ClientToken);
    expect(started.Data.ImportTaskId).toBe(theOnlyTask().id);
    expect(fake.images.size).toBe(1);
  });

  test('the same Create delivered twice (same RequestId) makes one task and one image', async () => {
    const create = event('Create', props());
    const first = await onEvent(create);
    const again = await onEvent(create);
    expect(again.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(fake.callsOf('ImportImage')).toHaveLength(2);
    expect(fake.callsOf('ImportVmImage')).toHaveLength(2);
    theOnlyTask();
    expect(fake.images.size).toBe(1);
  });

  test('throttling and 5xx while polling answer IsComplete false; the wait then completes', async () => {
    const create = event('Create', props());
    const request = isCompleteEvent(create, await onEvent(create));

    fake.throttle('ec2', 1, ['DescribeImportImageTasks']);
    expect(await poll(request)).toEqual({ IsComplete: false });
    fake.throttle('imagebuilder', 1, ['GetImage']);
    expect(await poll(request)).toEqual({ IsComplete: false });
    fake.failNext({ service: 'imagebuilder', operations: ['GetImage'], code: 'ServiceException', message: 'Internal error' });
    expect(await poll(request)).toEqual({ IsComplete: false });
    // Each poll above really met its fault (an active task alone also answers false).
    expect(fake.calls.filter((call) => call.fault).map((call) => call.fault)).toEqual(['RequestLimitExceeded', 'ThrottlingException', 'ServiceException']);

    const { response } = await waitUntilComplete(isCompleteFile, request, { ...opts(), maxPolls: 8 });
    expect(response.Data.ImageId).toBe(theOnlyTask().imageId);
  });

  // Image Builder's own throttling error (modeled: CallRateLimitExceededException, HTTP 429).
  test('CallRateLimitExceededException while polling answers IsComplete false', async () => {
    const create = event('Create', props());
    const request = isCompleteEvent(create, await onEvent(create));
    fake.throttle('imagebuilder', 1, ['GetImage'], 'CallRateLimitExceededException');
    expect(await poll(request)).toEqual({ IsComplete: false });
    expect(fake.callsOf('GetImage')).toHaveLength(1);
  });

  test('a task that ends deleted fails with its StatusMessage verbatim; the rollback Delete removes the image', async () => {
    const message = 'ClientError: Unknown OS / Missing OS files';
    fake.importPlan = { steps: 2, failMessage: message };
    const create = event('Create', props());
    const started = await onEvent(create);
    const err = await failure(waitUntilComplete(isCompleteFile, isCompleteEvent(create, started), { ...opts(), maxPolls: 5 }));
    expect(err.message).toContain(message);
    expect(err.message).toContain(started.Data.ImportTaskId);

    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    expect(fake.callsOf('CancelImportTask')).toHaveLength(0);
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
  });

  test('a very long StatusMessage is cut so the response stays under 4096 bytes', async () => {
    const message = `ClientError: Unsupported kernel version ${'x'.repeat(6000)}`;
    fake.importPlan = { steps: 1, failMessage: message };
    const create = event('Create', props());
    const err = await failure(poll(isCompleteEvent(create, await onEvent(create))));
    expect(err.message).toContain('ClientError: Unsupported kernel version xxx');
    expect(Buffer.byteLength(err.message)).toBeLessThan(2048);
  });

  test('an image that ends FAILED fails with its reason; the rollback Delete removes image, AMI and snapshots', async () => {
    fake.importPlan = { steps: 1, imageFailureReason: 'Image Builder could not register the imported AMI' };
    const create = event('Create', props());
    const started = await onEvent(create);
    const err = await failure(waitUntilComplete(isCompleteFile, isCompleteEvent(create, started), { ...opts(), maxPolls: 5 }));
    expect(err.message).toContain('is FAILED: Image Builder could not register the imported AMI');
    expect(fake.amis.size).toBe(1);

    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
  });

  test('past the deadline the wait fails; the Delete that follows cancels the running import and image', async () => {
    // The image still reads PENDING right after the task is cancelled, so its creation is cancelled too.
    fake.importPlan = { steps: 50, imageLag: 5 };
    const create = event('Create', props());
    const started = await onEvent(create);
    // The framework passes onEvent's Deadline on; one in the past stands for the time that went by.
    const late = { ...isCompleteEvent(create, started), Deadline: Date.now() - 1000 };
    const err = await failure(poll(late));
    expect(err.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);

    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    const task = theOnlyTask();
    expect(task.status).toBe('deleted');
    expect(fake.callsOf('CancelImportTask')[0].input).toMatchObject({ ImportTaskId: task.id });
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    expect(fake.images.size).toBe(0);
  });

  test('Delete of a task EC2 no longer describes (over 7 days) works from the ids kept in the physical id', async () => {
    const done = await run(event('Create', props()));
    fake.forgetTask(done.Data.ImportTaskId);
    await run(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId }));
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
  });

  test('a Delete that fails midway names the AMI and snapshots left and keeps the image, so a retry after 7 days still finds them', async () => {
    const done = await run(event('Create', props()));
    const task = theOnlyTask();
    fake.forgetTask(done.Data.ImportTaskId);
    fake.failNext({ service: 'ec2', operations: ['DeregisterImage'], status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' });
    const err = await failure(onEvent(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId })));
    expect(err.message).toContain(`still to clean up: AMI ${task.imageId}; snapshots ${task.snapshotIds.join(', ')}.`);
    expect(err.message).toContain('EC2 DeregisterImage failed: UnauthorizedOperation');
    expect(fake.images.has(done.Data.ImageArn)).toBe(true);

    await run(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId }));
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
  });

  test('an image in use fails Delete with an actionable message; policy snapshot keeps the snapshots; retain and the CREATE_FAILED marker make no calls', async () => {
    const done = await run(event('Create', props({ RemovalPolicy: 'snapshot' })));
    const task = theOnlyTask();
    // In use (e.g. by a recipe): an actionable failure. The image goes last, so the AMI is gone and the image stays for the retry.
    fake.images.get(done.Data.ImageArn)!.inUse = true;
    const err = await failure(onEvent(event('Delete', props({ RemovalPolicy: 'snapshot' }), { physicalResourceId: done.PhysicalResourceId })));
    expect(err.message).toContain('it is in use');
    expect(err.message).toContain('ResourceDependencyException');
    expect(fake.amis.size).toBe(0);
    expect(fake.images.has(done.Data.ImageArn)).toBe(true);
    fake.images.get(done.Data.ImageArn)!.inUse = false;

    await run(event('Delete', props({ RemovalPolicy: 'snapshot' }), { physicalResourceId: done.PhysicalResourceId }));
    expect(fake.amis.size).toBe(0);
    expect([...fake.snapshots].sort()).toEqual([...task.snapshotIds].sort());

    const before = fake.calls.length;
    await run(event('Delete', props({ RemovalPolicy: 'retain' }), { physicalResourceId: done.PhysicalResourceId }));
    await run(event('Delete', props(), { physicalResourceId: CREATE_FAILED_MARKER }));
    expect(fake.calls.slice(before)).toEqual([]);
  });

  test('a replacing update that keeps name and version fails with an actionable message and cancels its new task', async () => {
    const done = await run(event('Create', props()));
    const changed = props({ Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'other.vmdk' }] });
    const err = await failure(onEvent(event('Update', changed, { physicalResourceId: done.PhysicalResourceId, oldResourceProperties: props() })));
    expect(err.message).toContain('bump imageVersion');
    expect(err.message).toContain('ResourceAlreadyExistsException');
    const tasks = [...fake.importTasks.values()];
    expect(tasks.map((t) => t.status)).toEqual(['completed', 'deleted']);
    expect(fake.images.size).toBe(1);
  });

  test('a failed replacing update removes its own new import; the rollback Update keeps the original: no second import', async () => {
    const original = props({ Tags: { team: 'platform' } });
    const done = await run(event('Create', original));
    const task = theOnlyTask();
    const changed = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'broken.vmdk' }], Tags: { team: 'other' } });

    fake.importPlan = { steps: 2, failMessage: 'ClientError: Unknown OS / Missing OS files' };
    const update = event('Update', changed, { physicalResourceId: done.PhysicalResourceId, oldResourceProperties: original });
    const started = await onEvent(update);
    expect(started.NewImport).toBe(true);
    const err = await failure(waitUntilComplete(isCompleteFile, isCompleteEvent(update, started), { ...opts(), maxPolls: 5 }));
    expect(err.message).toContain('ClientError: Unknown OS / Missing OS files');
    // isComplete removed the failed update's image: CloudFormation may never send a Delete for its id.
    expect(fake.images.has(started.Data.ImageArn)).toBe(false);
    expect([...fake.images.keys()]).toEqual([done.Data.ImageArn]);

    // The rollback: the original properties again, for the original id.
    fake.importPlan = {};
    const rollback = await run(event('Update', original, { physicalResourceId: done.PhysicalResourceId, oldResourceProperties: changed }));
    expect(rollback.PhysicalResourceId).toBe(done.PhysicalResourceId);
    expect(rollback.NewImport).toBeUndefined();
    expect(rollback.Data.ImageId).toBe(task.imageId);
    expect(fake.callsOf('ImportImage')).toHaveLength(2);
    expect(fake.images.get(done.Data.ImageArn)!.tags).toEqual({ team: 'platform' });
  });

  test('a replacing update that times out cancels its new task and image creation, and deletes the image', async () => {
    const done = await run(event('Create', props()));
    fake.importPlan = { steps: 50, imageLag: 5 };
    const changed = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'slow.vmdk' }] });
    const update = event('Update', changed, { physicalResourceId: done.PhysicalResourceId, oldResourceProperties: props() });
    const started = await onEvent(update);
    const late = { ...isCompleteEvent(update, started), Deadline: Date.now() - 1000 };
    const err = await failure(poll(late));
    expect(err.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(err.message).toContain('increase `timeout` (at most 55 minutes)');

    expect(fake.task(started.Data.ImportTaskId).status).toBe('deleted');
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    expect(fake.images.has(started.Data.ImageArn)).toBe(false);
    expect(fake.images.has(done.Data.ImageArn)).toBe(true);
  });
});
