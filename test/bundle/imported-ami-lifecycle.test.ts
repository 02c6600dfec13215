/**
 * The SHIPPED ImportedAmi handlers (assets/handlers/imported-ami/*.lambda/index.js), run by
 * plain `node` against the fake EC2, CloudFormation and Step Functions endpoints, through
 * the Provider framework's contract and the poller's: the bundles load, sign, serialize
 * and parse real protocol traffic, and the lifecycle holds on the wire.
 */
import { FAKE_STACK_ID, FakeAws, useFakeAwsPerTest } from '../support/fake-aws';
import { bundleFile, cfnEvent, invokeBundle, isCompleteEvent, runBundle, RunBundleOptions, waitUntilComplete } from '../support/run-bundle';

jest.setTimeout(120_000);

const RESOURCE_TYPE = 'Custom::ImportedAmi';
const WAIT_ID = 'ApplianceWait0A1B2C3D';
const POLLER_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:bundle-test-ImportedAmiProvider';

let fake: FakeAws;
let onEventFile: string;
let isCompleteFile: string;

beforeAll(() => {
  onEventFile = bundleFile('imported-ami', 'on-event');
  isCompleteFile = bundleFile('imported-ami', 'is-complete');
});

const currentFake = useFakeAwsPerTest();
beforeEach(() => {
  fake = currentFake();
  fake.setStack(FAKE_STACK_ID, 'CREATE_IN_PROGRESS');
  fake.setStackResource(FAKE_STACK_ID, WAIT_ID, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
});

function opts(): RunBundleOptions {
  return { endpoint: fake.url, env: { POLLER_STATE_MACHINE_ARN: POLLER_ARN } };
}

/** ResourceProperties as CloudFormation delivers them: every scalar a string. */
function props(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    AmiName: 'appliance-1.4',
    Description: 'imported by the bundle test',
    Architecture: 'arm64',
    BootMode: 'uefi',
    RootDeviceName: '/dev/xvda',
    EnaSupport: 'true',
    ImdsSupport: 'v2.0',
    TpmSupport: 'v2.0',
    RoleName: 'vmimport',
    Disks: [
      { Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'boot.raw', DeviceName: '/dev/xvda' },
      { Format: 'VMDK', Url: 's3://appliance-disks/data.vmdk', DeviceName: '/dev/sdf' },
    ],
    Tags: { 'team': 'platform', 'cdk-vm-import-export:stack-id': FAKE_STACK_ID },
    TimeoutSeconds: '21600',
    RemovalPolicy: 'destroy',
    SignalUrl: fake.waitConditionHandle(WAIT_ID),
    WaitConditionLogicalId: WAIT_ID,
    PollIntervalSeconds: '15',
    MaxPollIntervalSeconds: '120',
    ...overrides,
  };
}

function event(type: 'Create' | 'Update' | 'Delete', p: Record<string, unknown>, options: Parameters<typeof cfnEvent>[2] = {}) {
  return cfnEvent(type, p, { resourceType: RESOURCE_TYPE, logicalResourceId: 'Appliance', ...options });
}

/** Runs the poller's loop with the shipped poll function, one node process per poll, until it is done. */
async function runPoller(executionInput: unknown, maxPolls = 12): Promise<any> {
  let state: any = executionInput;
  for (let i = 0; i < maxPolls; i++) {
    const result = await runBundle(isCompleteFile, state, opts());
    if (!result.ok) throw new Error(`the poll failed: ${result.errorType}: ${result.errorMessage}\n${result.stdout}${result.stderr}`);
    // The handle's URL is presigned: never in a log line.
    expect(result.stdout + result.stderr).not.toContain(state.Poller.Properties.SignalUrl);
    state = result.value;
    if (state.Done) return state;
  }
  throw new Error(`the poller was not done after ${maxPolls} polls`);
}

function theExecution() {
  const running = [...fake.executions.values()].filter((e) => e.status === 'RUNNING');
  expect(running).toHaveLength(1);
  return running[0];
}

describe('imported-ami bundles over the wire', () => {
  test('create, poll to the AMI, read step, tag-only update, delete, delete again: nothing left behind', async () => {
    const create = event('Create', props());
    const started = await invokeBundle(onEventFile, create, opts());
    expect(started).toMatchObject({ Data: { AmiName: 'appliance-1.4', ImportId: expect.stringMatching(/^[0-9a-f-]{36}$/) }, Wait: 'none' });
    const importId = started.Data.ImportId;
    expect(started.PhysicalResourceId).toMatch(new RegExp(`^${importId}\\|[0-9a-f]{16}\\|import-snap-[0-9a-f]+,import-snap-[0-9a-f]+$`));
    // The framework's isComplete round completes at once: the wait condition waits.
    await expect(waitUntilComplete(isCompleteFile, isCompleteEvent(create, started), { ...opts(), maxPolls: 1 })).resolves.toBeDefined();

    // What crossed the wire, decoded back into API members.
    const imports = fake.callsOf('ImportSnapshot').map((c) => c.input);
    expect(imports).toEqual([
      expect.objectContaining({ DiskContainer: { Format: 'RAW', UserBucket: { S3Bucket: 'appliance-disks', S3Key: 'boot.raw' } }, RoleName: 'vmimport' }),
      expect.objectContaining({ DiskContainer: { Format: 'VMDK', Url: 's3://appliance-disks/data.vmdk' } }),
    ]);
    expect(imports[0].TagSpecifications[0].Tags).toEqual(expect.arrayContaining([{ Key: 'cdk-vm-import-export:import-id', Value: importId }]));
    expect(new Set(imports.map((i) => i.ClientToken)).size).toBe(2);

    const execution = theExecution();
    expect(execution.stateMachineArn).toBe(POLLER_ARN);
    const done = await runPoller(execution.input);
    const [ami] = [...fake.amis.values()];
    expect(fake.signals.get(WAIT_ID)).toEqual([{ Status: 'SUCCESS', Reason: `AMI ${ami.id} (appliance-1.4) is available`, UniqueId: importId, Data: ami.id }]);
    expect(done.Tagged).toEqual(ami.snapshotIds);
    expect(fake.callsOf('RegisterImage')).toHaveLength(1);
    expect(fake.callsOf('RegisterImage')[0].input).toMatchObject({
      Name: 'appliance-1.4',
      Architecture: 'arm64',
      BootMode: 'uefi',
      TpmSupport: 'v2.0',
      ImdsSupport: 'v2.0',
      EnaSupport: true,
      VirtualizationType: 'hvm',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: ami.snapshotIds.map((id, i) => ({ DeviceName: i === 0 ? '/dev/xvda' : '/dev/sdf', Ebs: { SnapshotId: id, DeleteOnTermination: true } })),
    });
    fake.finishExecution(execution.arn, 'SUCCEEDED', { output: done });

    // The read step after the wait condition.
    const read = cfnEvent('Create', { ImportId: importId, AmiName: 'appliance-1.4', WaitCondition: WAIT_ID, TimeoutSeconds: '21600' }, {
      resourceType: 'Custom::ImportedAmiAvailable', logicalResourceId: 'ApplianceAvailable',
    });
    const readStarted = await invokeBundle(onEventFile, read, opts());
    const readDone = await waitUntilComplete(isCompleteFile, isCompleteEvent(read, readStarted), { ...opts(), maxPolls: 3 });
    expect(readDone.response).toMatchObject({ PhysicalResourceId: ami.id, Data: { ImageId: ami.id, SnapshotIds: ami.snapshotIds.join(','), AmiName: 'appliance-1.4' } });

    // Tags only: in place, on the AMI and its snapshots.
    const newTags = { 'owner': 'ops', 'cdk-vm-import-export:stack-id': FAKE_STACK_ID };
    const update = event('Update', props({ Tags: newTags }), { physicalResourceId: started.PhysicalResourceId, oldResourceProperties: props() });
    const updated = await invokeBundle(onEventFile, update, opts());
    expect(updated.PhysicalResourceId).toBe(started.PhysicalResourceId);
    for (const id of [ami.id, ...ami.snapshotIds]) {
      expect(fake.tagsOf(id)).toMatchObject({ 'owner': 'ops', 'cdk-vm-import-export:import-id': importId });
      expect(fake.tagsOf(id).team).toBeUndefined();
    }
    expect(fake.callsOf('ImportSnapshot')).toHaveLength(2);

    const remove = event('Delete', props({ Tags: newTags }), { physicalResourceId: started.PhysicalResourceId });
    await expect(invokeBundle(onEventFile, remove, opts())).resolves.toMatchObject({ Wait: 'none' });
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(0);
    // A Delete retried once everything is gone: success, nothing to do.
    await expect(invokeBundle(onEventFile, remove, opts())).resolves.toMatchObject({ Wait: 'none' });
  });

  test('a disk that fails: FAILURE with AWS\'s message, the other cancelled; the rollback Delete leaves nothing', async () => {
    fake.snapshotPlanByDisk['s3://appliance-disks/data.vmdk'] = { steps: 2, failMessage: 'ClientError: Disk validation failed [Unsupported VMDK File Format]' };
    fake.snapshotPlanByDisk['boot.raw'] = { steps: 1 };
    const create = event('Create', props());
    const started = await invokeBundle(onEventFile, create, opts());
    await runPoller(theExecution().input);
    expect(fake.signals.get(WAIT_ID)).toEqual([expect.objectContaining({
      Status: 'FAILURE', Reason: expect.stringMatching(/disk 1 \(s3:\/\/appliance-disks\/data.vmdk\) failed: ClientError: Disk validation failed \[Unsupported VMDK File Format\]$/),
    })]);
    fake.finishExecution(theExecution().arn, 'SUCCEEDED');
    // The boot disk had completed and been tagged; no AMI was registered.
    expect(fake.amis.size).toBe(0);
    expect(fake.snapshots.size).toBe(1);
    await invokeBundle(onEventFile, event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }), opts());
    expect(fake.snapshots.size).toBe(0);
    expect(fake.problems).toEqual([]);
  });

  test('a Delete with an id CloudFormation invented finds the running import by its tags, stops its poller and cancels its tasks', async () => {
    fake.snapshotPlan = { steps: 50 };
    await invokeBundle(onEventFile, event('Create', props()), opts());
    const remove = event('Delete', props(), { physicalResourceId: 'bundle-test-Appliance-1A2B3C4D5E6F' });
    const deleting = await invokeBundle(onEventFile, remove, opts());
    // The poller was running: the Delete waits until a poll in flight has surely ended, removing again.
    expect(deleting).toMatchObject({ Wait: 'delete', Targets: [expect.objectContaining({ taskIds: expect.any(Array) })] });
    expect([...fake.executions.values()].map((e) => e.status)).toEqual(['ABORTED']);
    expect([...fake.snapshotTasks.values()].map((t) => t.cancelled)).toEqual([true, true]);
    const polled = await invokeBundle(isCompleteFile, isCompleteEvent(remove, deleting), opts());
    expect(polled).toEqual({ IsComplete: false });
    const settled = await invokeBundle(isCompleteFile, { ...isCompleteEvent(remove, deleting), SettleUntil: Date.now() - 1 }, opts());
    expect(settled).toEqual({ IsComplete: true });
  });

  test('a full quota at Create: the poller starts the waiting disk once there is room', async () => {
    fake.maxActiveSnapshotTasks = 1;
    fake.snapshotPlan = { steps: 2 };
    const started = await invokeBundle(onEventFile, event('Create', props()), opts());
    expect(started.PhysicalResourceId).toMatch(/\|import-snap-[0-9a-f]+,$/);
    await runPoller(theExecution().input, 16);
    expect(fake.signals.get(WAIT_ID)).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
    expect(fake.snapshotTasks.size).toBe(2);
  });
});
