/**
 * The SHIPPED import handlers (assets/handlers/import-image/*.lambda/index.js), run by
 * plain `node` against the fake AWS (EC2, Image Builder, CloudFormation, Step Functions,
 * wait condition handles), through the Provider framework's contract: onEvent, then
 * isComplete until complete, the framework merging onEvent's result (PhysicalResourceId,
 * Wait, Targets, StartedAt, Deadline) into each isComplete event. The poller state
 * machine is driven by hand: its poll step is the is-complete bundle, fed its own
 * output, as the state machine's loop does.
 *
 * Every test ends clean: no request AWS would reject (fake.problems), and nothing left
 * running or behind unless the test says what stays.
 */
import {
  IMPORT_TASK_TAG_KEY, LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY, VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE,
  VM_IMPORT_IMAGE_RESOURCE_TYPE,
} from '../../src/handlers/types';
import { FakeAws, FAKE_ACCOUNT, FAKE_REGION, FAKE_STACK_ID, FakeExecution, useFakeAwsPerTest } from '../support/fake-aws';
import { BundleError, bundleFile, cfnEvent, isCompleteEvent, runBundle, RunBundleOptions, WaitResult } from '../support/run-bundle';

jest.setTimeout(60_000);

const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';
const ROLE_NOT_READY = 'The service role vmimport provided does not exist or does not have sufficient permissions';
const UNKNOWN_OS = 'ClientError: Unknown OS / Missing OS files';
const POLLER_ARN = `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:stateMachine:ImportPoller`;
const LOGICAL_ID = 'ImportedImage';
/** The id CloudFormation invents for a Create it stopped waiting for: `<stack>-<logicalId>-<suffix>`. */
const INVENTED_ID = `bundle-test-${LOGICAL_ID}-ABCDEF123456`;

let fake: FakeAws;
let onEventFile: string;
let isCompleteFile: string;
/** Presigned URLs (and their signatures) handed to the handlers in this test: never to be logged. */
let secrets: string[];
/** stdout + stderr of every invocation of this test. */
let logs: string[];

beforeAll(() => {
  onEventFile = bundleFile('import-image', 'on-event');
  isCompleteFile = bundleFile('import-image', 'is-complete');
});

const currentFake = useFakeAwsPerTest();
beforeEach(() => {
  fake = currentFake();
  secrets = [];
  logs = [];
});

function opts(): RunBundleOptions {
  // Both functions get the poller's ARN, as import-provider.ts configures them.
  return { endpoint: fake.url, env: { POLLER_STATE_MACHINE_ARN: POLLER_ARN } };
}

/** A wait condition handle's presigned URL (the `Ref` CloudFormation passes as SignalUrl). */
function handle(name: string): string {
  const url = fake.waitConditionHandle(name);
  secrets.push(url, new URL(url).searchParams.get('X-Amz-Signature')!);
  return url;
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

/** The properties of an import that waits through the wait condition `name` (as VmImportImage renders them). */
function waited(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return props({
    TimeoutSeconds: '21600',
    SignalUrl: handle(name),
    WaitConditionLogicalId: name,
    PollIntervalSeconds: '15',
    MaxPollIntervalSeconds: '120',
    ...overrides,
  });
}

function event(type: 'Create' | 'Update' | 'Delete', p: Record<string, unknown>, options: Parameters<typeof cfnEvent>[2] = {}) {
  return cfnEvent(type, p, { resourceType: VM_IMPORT_IMAGE_RESOURCE_TYPE, logicalResourceId: LOGICAL_ID, ...options });
}

/**
 * One invocation, as Lambda reports it. Fails the test when the handler logged a
 * presigned URL (ResponseURL, or a wait condition handle's).
 */
async function invoke(file: string, input: any): Promise<any> {
  const result = await runBundle(file, input, opts());
  const logged = result.stdout + result.stderr;
  logs.push(logged);
  for (const secret of [input?.ResponseURL, ...secrets]) {
    if (typeof secret === 'string' && secret !== '' && logged.includes(secret)) {
      throw new Error(`the handler logged a presigned URL or its signature:\n${logged}`);
    }
  }
  if (!result.ok) throw new BundleError(result);
  return result.value;
}

const onEvent = (request: Record<string, any>) => invoke(onEventFile, request);
const poll = (request: unknown) => invoke(isCompleteFile, request);

/**
 * isComplete until IsComplete, as the framework runs it (the rules of
 * run-bundle's waitUntilComplete: Data only with IsComplete true, the final
 * response merges event and result), with this file's log checks.
 */
async function waitForIt(request: Record<string, any>, onEventResult: Record<string, any> | null, maxPolls = 8): Promise<WaitResult> {
  const input = isCompleteEvent(request, onEventResult);
  const polls: Array<Record<string, any>> = [];
  for (let i = 0; i < maxPolls; i++) {
    const result = await poll(input);
    polls.push(result);
    if (result?.IsComplete === true) return { response: { ...input, ...result, Data: { ...input.Data, ...result.Data } }, polls };
    if (result?.IsComplete !== false) throw new Error(`isComplete returned no boolean IsComplete: ${JSON.stringify(result)}`);
    if (result.Data && Object.keys(result.Data).length > 0) throw new Error('"Data" is not allowed if "IsComplete" is "False"');
  }
  throw new Error(`not complete after ${maxPolls} polls: ${JSON.stringify(polls)}`);
}

/** onEvent, then isComplete until complete: what onEvent answered, every poll, and the final response. */
async function provider(request: Record<string, any>, maxPolls = 8) {
  const started = await onEvent(request);
  const { response, polls } = await waitForIt(request, started, maxPolls);
  return { started, polls, response };
}

async function run(request: Record<string, any>, maxPolls = 8): Promise<Record<string, any>> {
  return (await provider(request, maxPolls)).response;
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

function running(): FakeExecution[] {
  return [...fake.executions.values()].filter((e) => e.status === 'RUNNING');
}

/** The poller execution of one import (named `<taskId>-<hash of the handle URL>`). */
function pollerOf(importTaskId: string): FakeExecution {
  const found = [...fake.executions.values()].filter((e) => e.name.startsWith(`${importTaskId}-`));
  expect(found).toHaveLength(1);
  return found[0];
}

/**
 * The state machine's loop (Wait $.Next, PollImport, Done?): the poll step is the
 * is-complete bundle, each output the next input. With `finish`, the execution then
 * ends SUCCEEDED, as the state machine's Done choice makes it.
 */
async function runPoller(execution: FakeExecution, options: { finish?: boolean; maxPolls?: number } = {}): Promise<any[]> {
  const states: any[] = [];
  let state: any = execution.input;
  for (let i = 0; i < (options.maxPolls ?? 10); i++) {
    state = await poll(state);
    states.push(state);
    expect(state.Polls).toBe(i + 1);
    if (state.Done) {
      if (options.finish ?? true) fake.finishExecution(execution.arn, 'SUCCEEDED', { output: state });
      return states;
    }
    expect(state.Next).toBeGreaterThanOrEqual(1);
  }
  throw new Error(`the poller was not done after ${states.length} polls: ${JSON.stringify(states.map((s) => ({ Polls: s.Polls, Next: s.Next })))}`);
}

/**
 * An import created with wait condition Wait1, whose poller signalled it; then a stack
 * update begins. The wait condition exists and got its signal: CloudFormation will not wait on it again.
 */
async function createdAndSignalled() {
  const original = waited('Wait1');
  const first = await run(event('Create', original));
  await runPoller(pollerOf(first.Data.ImportTaskId));
  fake.setStackResource(FAKE_STACK_ID, 'Wait1', { status: 'CREATE_COMPLETE', type: 'AWS::CloudFormation::WaitCondition' });
  fake.setStack(FAKE_STACK_ID, 'UPDATE_IN_PROGRESS');
  return { original, first };
}

/** The Available read step (Custom::VmImportImageAvailable) through the framework. */
function availableEvent(type: 'Create' | 'Delete', imageArn: string, importTaskId: string, physicalResourceId?: string) {
  return cfnEvent(type, {
    ImageArn: imageArn,
    ImportTaskId: importTaskId,
    WaitCondition: `${FAKE_STACK_ID}/Wait1`,
    TimeoutSeconds: '21600',
  }, { resourceType: VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE, logicalResourceId: 'Available', ...(physicalResourceId ? { physicalResourceId } : {}) });
}

function tagList(tags: Record<string, string>) {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function hashOf(physicalId: string): string {
  return physicalId.split('|')[2];
}

function activeTasks() {
  return [...fake.importTasks.values()].filter((t) => t.status === 'active');
}

/** The end of every test: no request AWS would reject, nothing running, and only `kept` images (with their AMIs and snapshots) left. */
function expectClean(kept: { images?: string[]; tasks?: string[] } = {}) {
  expect(fake.problems).toEqual([]);
  expect(running().map((e) => e.name)).toEqual([]);
  expect(activeTasks().map((t) => t.id)).toEqual(kept.tasks ?? []);
  expect([...fake.images.keys()].sort()).toEqual([...(kept.images ?? [])].sort());
  const keptTasks = [...fake.images.values()].filter((i) => kept.images?.includes(i.arn)).map((i) => fake.task(i.vmImportTaskId));
  expect([...fake.amis.keys()].sort()).toEqual(keptTasks.map((t) => t.imageId).filter((id) => id !== undefined).sort());
  expect([...fake.snapshots].sort()).toEqual(keptTasks.flatMap((t) => t.snapshotIds).sort());
}

/** CloudFormation's Delete of an import (a stack delete), through the framework. */
async function deleteImport(importProps: Record<string, unknown>, physicalId: string) {
  return run(event('Delete', importProps, { physicalResourceId: physicalId }));
}

// ---------------------------------------------------------------- the rows of "Every CloudFormation sequence ends clean"

describe('every CloudFormation sequence ends clean (wait condition, poller, read step)', () => {
  test('1. create: the import starts, one poller, complete at once; the poll step signals SUCCESS with the AMI; the read step answers it', async () => {
    fake.importPlan = { steps: 5 };
    const importProps = waited('Wait1');
    const create = event('Create', importProps);
    const { started, polls, response } = await provider(create);
    // Complete at once: the wait condition waits, not the custom resource.
    expect(started.Wait).toBe('none');
    expect(polls).toEqual([{ IsComplete: true }]);
    const task = [...fake.importTasks.values()][0];
    expect(fake.importTasks.size).toBe(1);
    expect(task.status).toBe('active');
    const imageArn = 'arn:aws:imagebuilder:us-east-1:123456789012:image/bundle-test-image/1.0.0/1';
    expect(response.PhysicalResourceId).toMatch(new RegExp(`^${imageArn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\|${task.id}\\|[0-9a-f]{16}$`));
    expect(response.Data).toEqual({ ImageArn: imageArn, ImageName: 'bundle-test-image', ImageVersion: '1.0.0', ImportTaskId: task.id });
    const hash = hashOf(response.PhysicalResourceId);

    // What crossed the wire, decoded back into API members: the runtime tags find this import without its id.
    const runtime = { [OWNER_TAG_KEY]: FAKE_STACK_ID, [LOGICAL_ID_TAG_KEY]: LOGICAL_ID, [PROPERTIES_HASH_TAG_KEY]: hash };
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
    });
    expect(importImage.TagSpecifications).toEqual([{ ResourceType: 'import-image-task', Tags: tagList({ team: 'platform', stage: 'test', ...runtime }) }]);
    expect(importImage.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.callsOf('ImportVmImage')[0].input).toMatchObject({
      name: 'bundle-test-image',
      semanticVersion: '1.0.0',
      platform: 'Linux',
      osVersion: 'Ubuntu 22',
      vmImportTaskId: task.id,
      loggingConfiguration: { logGroupName: '/aws/imagebuilder/bundle-test' },
      tags: { team: 'platform', stage: 'test', ...runtime, [IMPORT_TASK_TAG_KEY]: task.id },
    });

    // One poller, for this import and this handle; its input holds the presigned URL, which no log shows.
    expect(fake.executions.size).toBe(1);
    const execution = pollerOf(task.id);
    expect(execution.stateMachineArn).toBe(POLLER_ARN);
    expect(execution.name).toMatch(new RegExp(`^${task.id}-[0-9a-f]{16}$`));
    expect(execution.input).toMatchObject({
      Poller: {
        ImageArn: imageArn,
        ImportTaskId: task.id,
        StackId: FAKE_STACK_ID,
        LogicalResourceId: LOGICAL_ID,
        WaitConditionLogicalId: 'Wait1',
        SignalUrl: importProps.SignalUrl,
        PollIntervalSeconds: 15,
        MaxPollIntervalSeconds: 120,
      },
      Polls: 0,
      Done: false,
    });
    const onEventLog = logs[0];
    expect(onEventLog).toContain(task.id);
    expect(onEventLog).not.toContain(execution.rawInput);

    // The stack as CloudFormation shows it meanwhile: the 4th poll asks whether the wait condition still waits.
    fake.setStackResource(FAKE_STACK_ID, LOGICAL_ID, { status: 'CREATE_COMPLETE', type: VM_IMPORT_IMAGE_RESOURCE_TYPE, physicalId: response.PhysicalResourceId });
    fake.setStackResource(FAKE_STACK_ID, 'Wait1', { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
    const states = await runPoller(execution);
    expect(states.map((s) => s.Done)).toEqual([false, false, false, false, true]);
    expect(fake.callsOf('DescribeStackResource').map((c) => c.input.LogicalResourceId)).toEqual(['Wait1']);
    expect(task.status).toBe('completed');
    expect(fake.signals.get('Wait1')).toEqual([{ Status: 'SUCCESS', Reason: expect.stringContaining(task.imageId!), UniqueId: task.id, Data: task.imageId }]);
    // Signals carry no Content-Type: the presigned PUT was signed without one.
    expect(fake.signalAttempts.map((a) => [a.method, a.status, a.contentType])).toEqual([['PUT', 200, undefined]]);

    // The read step after the wait condition: imageArn and imageId come from it.
    const available = await provider(availableEvent('Create', imageArn, task.id));
    expect(available.response.PhysicalResourceId).toBe(imageArn);
    expect(available.response.Data).toEqual({ ImageArn: imageArn, ImageId: task.imageId });

    // The stack delete: the read step makes no call, the import goes with its AMI and snapshots.
    const before = fake.calls.length;
    await run(availableEvent('Delete', imageArn, task.id, imageArn));
    expect(fake.calls.slice(before)).toEqual([]);
    const deleted = await provider(event('Delete', importProps, { physicalResourceId: response.PhysicalResourceId }));
    expect(deleted.started.Wait).toBe('none');
    // Image first, then the AMI, then its snapshots.
    expect(fake.calls.slice(before).map((c) => c.operation).filter((op) => ['DeleteImage', 'DeregisterImage', 'DeleteSnapshot'].includes(op)))
      .toEqual(['DeleteImage', 'DeregisterImage', 'DeleteSnapshot', 'DeleteSnapshot']);
    expectClean();
  });

  test('2. failure: the poll step signals FAILURE with the message verbatim; the rollback Delete stops the poller, waits for Image Builder, removes all', async () => {
    fake.importPlan = { steps: 2, failMessage: UNKNOWN_OS };
    const importProps = waited('Wait1');
    const create = event('Create', importProps);
    const { response } = await provider(create);
    const taskId = response.Data.ImportTaskId;
    const execution = pollerOf(taskId);

    // The signal goes out inside the poll step, before the execution ends: the rollback can reach the handler first.
    const states = await runPoller(execution, { finish: false });
    expect(states.at(-1).Done).toBe(true);
    const [signal] = fake.signals.get('Wait1')!;
    expect(signal).toEqual({ Status: 'FAILURE', Reason: `VM import ${taskId} failed: ${UNKNOWN_OS}`, UniqueId: taskId, Data: '' });

    const del = event('Delete', importProps, { physicalResourceId: response.PhysicalResourceId });
    const started = await onEvent(del);
    expect(started).toMatchObject({ PhysicalResourceId: response.PhysicalResourceId, Wait: 'delete', Targets: [{ imageArn: response.Data.ImageArn, importTaskId: taskId }] });
    expect(execution.status).toBe('ABORTED');
    // A failed task is not cancelled again; the image, still BUILDING, is.
    expect(fake.callsOf('CancelImportTask')).toHaveLength(0);
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    const { polls } = await waitForIt(del, started);
    // Image Builder takes several polls to let the image go; DeleteImage is sent once, when it has.
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(fake.callsOf('DeleteImage')).toHaveLength(1);
    expectClean();
  });

  test('3. delete while the import runs: poller stopped, task and image creation cancelled, the Delete waits for Image Builder, then removes', async () => {
    fake.importPlan = { steps: 20 };
    const importProps = waited('Wait1');
    const { response } = await provider(event('Create', importProps));
    const taskId = response.Data.ImportTaskId;
    const execution = pollerOf(taskId);
    // The poller is mid-way when the stack delete (or a rollback) comes.
    const state = await poll(execution.input);
    expect(state).toMatchObject({ Polls: 1, Done: false });

    const del = event('Delete', importProps, { physicalResourceId: response.PhysicalResourceId });
    const started = await onEvent(del);
    expect(started.Wait).toBe('delete');
    expect(fake.callsOf('StopExecution').map((c) => c.input.executionArn)).toEqual([execution.arn]);
    expect(fake.callsOf('CancelImportTask').map((c) => c.input.ImportTaskId)).toEqual([taskId]);
    expect(fake.callsOf('CancelImageCreation').map((c) => c.input.imageBuildVersionArn)).toEqual([response.Data.ImageArn]);
    const { polls } = await waitForIt(del, started);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(fake.task(taskId).status).toBe('deleted');
    expect(fake.task(taskId).imageId).toBeUndefined();
    expect(fake.signals.get('Wait1')).toEqual([]);
    expectClean();
  });

  test('4. delete with an id CloudFormation invented: the import is found by its tags and removed; another resource\'s import is untouched', async () => {
    fake.importPlan = { steps: 20 };
    // Another resource of the stack, same image name and version: its build is .../1.0.0/1.
    const other = await onEvent(event('Create', props(), { logicalResourceId: 'OtherImage' }));
    // Without a wait condition (a template of an earlier version) the Create waits in isComplete...
    const create = event('Create', props());
    const started = await onEvent(create);
    expect(started.Wait).toBe('import');
    expect(started.Data.ImageArn).toMatch(/\/1\.0\.0\/2$/);
    expect(await poll(isCompleteEvent(create, started))).toEqual({ IsComplete: false });

    // ...until CloudFormation stops waiting (another resource failed) and sends a Delete with an id of its own.
    fake.setStackResource(FAKE_STACK_ID, LOGICAL_ID, { status: 'DELETE_IN_PROGRESS', type: VM_IMPORT_IMAGE_RESOURCE_TYPE, physicalId: INVENTED_ID });
    const mark = fake.calls.length;
    const del = event('Delete', props(), { physicalResourceId: INVENTED_ID });
    const deleting = await onEvent(del);
    expect(deleting).toMatchObject({ PhysicalResourceId: INVENTED_ID, Wait: 'delete', Targets: [{ imageArn: started.Data.ImageArn, importTaskId: started.Data.ImportTaskId }] });
    await waitForIt(del, deleting);

    // The framework's waiter of the abandoned Create polls on; about once a minute it asks CloudFormation, and stops.
    const late = { ...isCompleteEvent(create, started), StartedAt: Date.now() - 61_000 };
    const stopped = await failure(poll(late));
    expect(stopped.message).toContain('CloudFormation no longer waits for this resource');

    // The other import: still running, its image there, and no call named either.
    expect(fake.task(other.Data.ImportTaskId).status).toBe('active');
    expect(fake.task(other.Data.ImportTaskId).cancelled).toBe(false);
    const named = fake.calls.slice(mark).filter((c) => c.input?.ImportTaskId === other.Data.ImportTaskId
      || c.input?.imageBuildVersionArn === other.Data.ImageArn || c.input?.ImportTaskIds?.includes(other.Data.ImportTaskId));
    expect(named).toEqual([]);
    expectClean({ images: [other.Data.ImageArn], tasks: [other.Data.ImportTaskId] });
  });

  test('5. rollback of a failed replacing update, with the NEW id and the ORIGINAL properties: no new import, the original id; the Delete of the new id removes the replacement', async () => {
    const original = waited('Wait1', { Tags: { team: 'platform' } });
    const first = await run(event('Create', original));
    await runPoller(pollerOf(first.Data.ImportTaskId));
    const originalTask = fake.task(first.Data.ImportTaskId);

    // A replacement (new disk, new version) gets a new wait condition; its import fails.
    fake.importPlan = { steps: 2, failMessage: UNKNOWN_OS };
    const changed = waited('Wait2', { ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'broken.vmdk' }], Tags: { team: 'other' } });
    const update = await provider(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: original }));
    expect(update.started).toMatchObject({ NewImport: true, Wait: 'none' });
    const replacement = update.response;
    expect(replacement.PhysicalResourceId).not.toBe(first.PhysicalResourceId);
    await runPoller(pollerOf(replacement.Data.ImportTaskId));
    expect(fake.signals.get('Wait2')).toEqual([expect.objectContaining({ Status: 'FAILURE', Reason: expect.stringContaining(UNKNOWN_OS) })]);

    // The wait condition failed: CloudFormation rolls the resource back, naming its current (new) id.
    fake.importPlan = {};
    const imports = fake.callsOf('ImportImage').length;
    const executions = fake.executions.size;
    const rollback = await provider(event('Update', original, { physicalResourceId: replacement.PhysicalResourceId, oldResourceProperties: changed }));
    expect(rollback.response.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(rollback.response.NewImport).toBeUndefined();
    expect(rollback.response.Data).toMatchObject({ ImageArn: first.Data.ImageArn, ImportTaskId: originalTask.id, ImageId: originalTask.imageId });
    expect(rollback.polls).toEqual([{ IsComplete: true }]);
    expect(fake.callsOf('ImportImage')).toHaveLength(imports);
    // Nothing new polls: the original wait condition got its signal long ago.
    expect(fake.executions.size).toBe(executions);
    expect(fake.images.get(first.Data.ImageArn)!.tags).toMatchObject({ team: 'platform' });

    // The id changed back, so CloudFormation deletes the failed replacement's id.
    await run(event('Delete', changed, { physicalResourceId: replacement.PhysicalResourceId }));
    expectClean({ images: [first.Data.ImageArn] });
  });

  test('5b. a replacement the template cannot tell (a deploy-time value changed, the wait condition is the same and signalled): the resource itself waits for the new import, with no second poller; past its deadline it says to change imageVersion', async () => {
    const { original, first } = await createdAndSignalled();
    const executions = fake.executions.size;

    // Same template values for the wait, another disk object behind a parameter.
    const redeployed = waited('Wait1', { Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'from-a-parameter.vmdk' }] });
    const update = await provider(event('Update', redeployed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: original }));
    expect(update.started).toMatchObject({ NewImport: true, Wait: 'import' });
    // isComplete polled until the image was AVAILABLE: whatever uses imageArn follows this resource, so it waited too.
    expect(update.polls.length).toBeGreaterThan(1);
    const task = fake.task(update.response.Data.ImportTaskId);
    expect(task.status).toBe('completed');
    expect(update.response.Data).toMatchObject({ ImageId: task.imageId });
    expect(fake.executions.size).toBe(executions);
    expect(fake.callsOf('DescribeStackResource').map((c) => c.input.LogicalResourceId)).toContain('Wait1');

    // An import that takes longer than the resource may wait fails with the fix.
    fake.importPlan = { steps: 50 };
    const again = waited('Wait1', { Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'slow.vmdk' }] });
    const request = event('Update', again, { physicalResourceId: update.response.PhysicalResourceId, oldResourceProperties: redeployed });
    const started = await onEvent(request);
    expect(started.Wait).toBe('import');
    const err = await failure(poll({ ...isCompleteEvent(request, started), Deadline: Date.now() - 1000 }));
    expect(err.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(err.message).toContain('did not wait for this import again: a deploy-time value');
    expect(err.message).toContain('Change imageVersion');
    expect(fake.executions.size).toBe(executions);
  });

  test('5c. a replacing update whose new wait condition does not exist yet starts a poller and completes at once', async () => {
    const { original, first } = await createdAndSignalled();
    const changed = waited('Wait2', { ImageVersion: '2.0.0' });
    const update = await provider(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: original }));
    expect(update.started).toMatchObject({ NewImport: true, Wait: 'none' });
    expect(update.polls).toEqual([{ IsComplete: true }]);
    await runPoller(pollerOf(update.response.Data.ImportTaskId));
    expect(fake.signals.get('Wait2')).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
  });

  test('6. tag-only update of a finished import: no import, no wait; an image deleted outside CloudFormation fails the update, and its rollback succeeds', async () => {
    const importProps = waited('Wait1');
    const first = await run(event('Create', importProps));
    await runPoller(pollerOf(first.Data.ImportTaskId));
    const task = fake.task(first.Data.ImportTaskId);

    const tagged = { ...importProps, Tags: { team: 'platform', owner: 'bundle' } };
    const update = await provider(event('Update', tagged, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: importProps }));
    expect(update.started.Wait).toBe('none');
    expect(update.polls).toEqual([{ IsComplete: true }]);
    expect(update.response.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(update.response.Data.ImageId).toBe(task.imageId);
    expect(fake.callsOf('ImportImage')).toHaveLength(1);
    expect(fake.executions.size).toBe(1);
    expect(fake.callsOf('UntagResource').map((c) => c.input)).toEqual([{ resourceArn: first.Data.ImageArn, tagKeys: ['stage'] }]);
    expect(fake.images.get(first.Data.ImageArn)!.tags).toMatchObject({ team: 'platform', owner: 'bundle' });
    expect(fake.images.get(first.Data.ImageArn)!.tags.stage).toBeUndefined();

    // Someone deletes the image by hand (DeleteImage leaves the AMI and snapshots).
    fake.images.delete(first.Data.ImageArn);
    fake.setStack(FAKE_STACK_ID, 'UPDATE_IN_PROGRESS');
    const retagged = { ...importProps, Tags: { team: 'platform', owner: 'someone-else' } };
    const err = await failure(onEvent(event('Update', retagged, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: tagged })));
    expect(err.message).toContain(`Image Builder image ${first.Data.ImageArn} no longer exists (deleted outside CloudFormation?)`);

    // The rollback of that update must succeed, or the stack ends in UPDATE_ROLLBACK_FAILED.
    fake.setStack(FAKE_STACK_ID, 'UPDATE_ROLLBACK_IN_PROGRESS');
    const rollback = await run(event('Update', tagged, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: retagged }));
    expect(rollback.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(fake.callsOf('ImportImage')).toHaveLength(1);

    // The stack delete still removes the AMI and snapshots, from the task.
    await deleteImport(tagged, first.PhysicalResourceId);
    expectClean();
  });

  test('7. throttled clean-up on a failure path (rollback of a running import): CancelImportTask and DeleteImage are retried, and it ends clean', async () => {
    fake.importPlan = { steps: 20 };
    const importProps = waited('Wait1');
    const { response } = await provider(event('Create', importProps));
    fake.throttle('ec2', 2, ['CancelImportTask']);
    fake.throttle('imagebuilder', 2, ['DeleteImage']);
    await run(event('Delete', importProps, { physicalResourceId: response.PhysicalResourceId }));
    expect(fake.callsOf('CancelImportTask').map((c) => c.fault)).toEqual(['RequestLimitExceeded', 'RequestLimitExceeded', undefined]);
    expect(fake.callsOf('DeleteImage').map((c) => c.fault)).toEqual(['ThrottlingException', 'ThrottlingException', undefined]);
    expectClean();
  });

  test('8. queue: with the import quota full the Create answers a queued id; it starts with the same token once there is room, and completes with the real id', async () => {
    fake.maxActiveImportTasks = 1;
    const otherCreate = event('Create', props({ ImageName: 'other-image' }), { logicalResourceId: 'OtherImage' });
    const other = await onEvent(otherCreate);

    const importProps = waited('Wait1');
    const create = event('Create', importProps);
    const queued = await onEvent(create);
    expect(queued.PhysicalResourceId).toMatch(new RegExp(`^queued:${LOGICAL_ID}:[0-9a-f]{16}$`));
    expect(queued.Wait).toBe('queue');
    expect(queued.Data).toBeUndefined();
    expect(fake.importTasks.size).toBe(1);
    expect(fake.executions.size).toBe(0);
    const request = isCompleteEvent(create, queued);
    expect(await poll(request)).toEqual({ IsComplete: false });
    expect(await poll(request)).toEqual({ IsComplete: false });
    // Each poll asked again; the quota kept refusing (only the other import exists).
    expect(fake.callsOf('ImportImage')).toHaveLength(4);
    expect(fake.importTasks.size).toBe(1);
    expect(fake.callsOf('ImportVmImage')).toHaveLength(1);

    // The other import finishes (its own waiter describes it to the end): room for ours.
    await waitForIt(otherCreate, other);
    const { response, polls } = await waitForIt(create, queued);
    expect(polls).toHaveLength(1);
    const tokens = fake.callsOf('ImportImage').slice(1).map((c) => c.input.ClientToken);
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens).size).toBe(1);
    expect(fake.importTasks.size).toBe(2);
    const task = [...fake.importTasks.values()].find((t) => t.clientToken === tokens[0])!;
    // The real id, made from the same properties as the queued one.
    expect(response.PhysicalResourceId).toBe(`${response.Data.ImageArn}|${task.id}|${queued.PhysicalResourceId.split(':')[2]}`);
    expect(response.Data).toMatchObject({ ImportTaskId: task.id, ImageName: 'bundle-test-image' });
    await runPoller(pollerOf(task.id));
    expect(fake.signals.get('Wait1')).toEqual([expect.objectContaining({ Status: 'SUCCESS', Data: task.imageId })]);

    await deleteImport(importProps, response.PhysicalResourceId);
    await deleteImport(props({ ImageName: 'other-image' }), other.PhysicalResourceId);
    expectClean();
  });

  // Real time: the handler retries ImportVmImage 4 times (1 + 2 + 4 + 8 s of sleep), so this test takes about 16 s.
  test('9. ImportVmImage answers 500 through every retry: the task is cancelled, the resource fails with an id of its own, whose Delete removes the image', async () => {
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], status: 500, code: 'ServiceException', message: 'Internal service error', count: 5 });
    const importProps = waited('Wait1');
    const create = event('Create', importProps);
    const started = await onEvent(create);
    expect(started.PhysicalResourceId).toMatch(new RegExp(`^queued:${LOGICAL_ID}:[0-9a-f]{16}$`));
    expect(started.Wait).toBe('fail');
    expect(fake.callsOf('ImportVmImage').map((c) => c.fault)).toEqual(Array(5).fill('ServiceException'));
    const task = [...fake.importTasks.values()][0];
    expect(task.cancelled).toBe(true);
    expect(fake.executions.size).toBe(0);
    // The framework reports FAILED with onEvent's id (not the CREATE_FAILED marker), so CloudFormation's Delete gets it.
    const err = await failure(waitForIt(create, started));
    expect(err.message).toContain('Image Builder ImportVmImage failed: ServiceException: Internal service error');
    expect(err.message).toContain('the rollback removes the image if Image Builder made it');

    // The fake answers a fault before doing the work; here Image Builder made the image before its answer was lost.
    const sent = fake.callsOf('ImportVmImage')[0].input;
    const arn = 'arn:aws:imagebuilder:us-east-1:123456789012:image/bundle-test-image/1.0.0/1';
    fake.images.set(arn, {
      arn,
      name: sent.name,
      version: sent.semanticVersion,
      buildVersion: 1,
      platform: sent.platform,
      osVersion: sent.osVersion,
      vmImportTaskId: sent.vmImportTaskId,
      clientToken: sent.clientToken,
      input: sent,
      dateCreated: new Date().toISOString(),
      tags: { ...sent.tags },
      cancelled: false,
      getsAfterTaskEnded: 0,
      getsAfterCancel: 0,
      inUse: false,
    });
    const del = event('Delete', importProps, { physicalResourceId: started.PhysicalResourceId });
    const deleting = await onEvent(del);
    expect(deleting).toMatchObject({ Wait: 'delete', Targets: [{ imageArn: arn, importTaskId: task.id }] });
    await waitForIt(del, deleting);
    expectClean();
  });

  test('10. a wrongly typed property fails at once, and no AWS call is made', async () => {
    const err = await failure(onEvent(event('Create', waited('Wait1', { Disks: 'boot.vmdk' }))));
    expect(err.message).toContain('invalid property Disks: expected a non-empty list of disks, got "boot.vmdk"');
    const update = await failure(onEvent(event('Update', props({ Tags: 'team=platform' }), {
      physicalResourceId: 'arn:aws:imagebuilder:us-east-1:123456789012:image/bundle-test-image/1.0.0/1|import-ami-0123456789abcdef0|0123456789abcdef',
      oldResourceProperties: props(),
    })));
    expect(update.message).toContain('invalid property Tags: expected a map of strings, got "team=platform"');
    expect(fake.calls).toEqual([]);
    expectClean();
  });

  test('11. a 3,000-character multi-byte failure message: the signal Reason and the thrown error are at most 1000 UTF-8 bytes', async () => {
    // 2-, 3- and 4-byte characters (the last a surrogate pair in JavaScript): 9,000 bytes.
    const message = `ClientError: ${'é日🙂'.repeat(1000)}`;
    fake.importPlan = { steps: 1, failMessage: message };
    const waitedProps = waited('Wait1');
    const first = await run(event('Create', waitedProps));
    await runPoller(pollerOf(first.Data.ImportTaskId));
    const [signal] = fake.signals.get('Wait1')!;
    expect(signal.Status).toBe('FAILURE');
    expect(Buffer.byteLength(signal.Reason, 'utf8')).toBeLessThanOrEqual(1000);
    expect(signal.Reason).not.toContain('\uFFFD');
    const reasonKept = signal.Reason.replace(/\.\.\.$/, '');
    expect(`VM import ${first.Data.ImportTaskId} failed: ${message}`.startsWith(reasonKept)).toBe(true);
    expect(reasonKept.length).toBeGreaterThan(300);

    // A template without a wait condition: the resource's own wait fails with the message, cut the same way.
    const oldTemplate = props();
    const create = event('Create', oldTemplate, { logicalResourceId: 'OtherImage' });
    const started = await onEvent(create);
    const err = await failure(waitForIt(create, started));
    expect(Buffer.byteLength(err.message, 'utf8')).toBeLessThanOrEqual(1000);
    expect(err.message).toContain(`VM import ${started.Data.ImportTaskId} failed: ClientError: é日🙂`);
    expect(err.message).not.toContain('\uFFFD');
    // The framework's FAILED response (provider-framework/runtime/cfn-response.js) stays under 4096 bytes.
    const responseBody = JSON.stringify({
      Status: 'FAILED',
      Reason: err.message,
      StackId: create.StackId,
      RequestId: create.RequestId,
      PhysicalResourceId: started.PhysicalResourceId,
      LogicalResourceId: create.LogicalResourceId,
      NoEcho: false,
      Data: {},
    });
    expect(Buffer.byteLength(responseBody, 'utf8')).toBeLessThan(4096);

    await deleteImport(waitedProps, first.PhysicalResourceId);
    await run(event('Delete', oldTemplate, { physicalResourceId: started.PhysicalResourceId, logicalResourceId: 'OtherImage' }));
    expectClean();
  });
});

// ---------------------------------------------------------------- creates

describe('creates over the wire', () => {
  test('ImportImage rejected: the error carries the EC2 code and message, and nothing is started', async () => {
    fake.failNext({
      service: 'ec2',
      operations: ['ImportImage'],
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: iam:PassRole',
    });
    const err = await failure(onEvent(event('Create', waited('Wait1'))));
    expect(err.message).toContain('EC2 ImportImage failed: UnauthorizedOperation: You are not authorized to perform this operation.');
    expect(fake.importTasks.size).toBe(0);
    expect(fake.callsOf('ImportVmImage')).toHaveLength(0);
    // The framework then gives the CREATE_FAILED marker, whose Delete makes no call.
    const before = fake.calls.length;
    await run(event('Delete', waited('Wait1'), { physicalResourceId: CREATE_FAILED_MARKER }));
    expect(fake.calls.slice(before)).toEqual([]);
    expectClean();
  });

  test('ImportVmImage rejected: the error carries the Image Builder code and message, the task is cancelled, and no poller starts', async () => {
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], code: 'ForbiddenException', message: 'Not authorized to ImportVmImage' });
    const err = await failure(onEvent(event('Create', waited('Wait1'))));
    expect(err.message).toContain('ForbiddenException: Not authorized to ImportVmImage');
    const task = [...fake.importTasks.values()][0];
    expect(task.cancelled).toBe(true);
    expect(task.cancelReason).toBeDefined();
    expect(fake.images.size).toBe(0);
    expect(fake.executions.size).toBe(0);
    expectClean();
  });

  test('a just-created service role that is not visible yet is retried with the same token: one task', async () => {
    // The bundle really sleeps (2 s) before its retry, so the role fails once only.
    fake.failNext({ service: 'ec2', operations: ['ImportImage'], code: 'InvalidParameter', message: ROLE_NOT_READY });
    const importProps = waited('Wait1');
    const started = await onEvent(event('Create', importProps));
    const calls = fake.callsOf('ImportImage');
    expect(calls).toHaveLength(2);
    expect(calls[1].input.ClientToken).toBe(calls[0].input.ClientToken);
    expect(fake.importTasks.size).toBe(1);
    expect(started.Data.ImportTaskId).toBe([...fake.importTasks.keys()][0]);
    expect(fake.images.size).toBe(1);
    await deleteImport(importProps, started.PhysicalResourceId);
    expectClean();
  });

  test('the same Create delivered twice (same RequestId) makes one task, one image and one poller', async () => {
    const importProps = waited('Wait1');
    const create = event('Create', importProps);
    const first = await onEvent(create);
    const again = await onEvent(create);
    expect(again.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(fake.callsOf('ImportImage')).toHaveLength(2);
    expect(fake.callsOf('ImportVmImage')).toHaveLength(2);
    expect(fake.callsOf('StartExecution')).toHaveLength(2);
    expect(fake.importTasks.size).toBe(1);
    expect(fake.images.size).toBe(1);
    expect(fake.executions.size).toBe(1);
    await deleteImport(importProps, first.PhysicalResourceId);
    expectClean();
  });

  test('the poller cannot start: the task and the image creation are cancelled, the Create fails with an id of its own, and its Delete removes the image', async () => {
    fake.failNext({ service: 'sfn', operations: ['StartExecution'], code: 'AccessDeniedException', message: 'not authorized to perform: states:StartExecution' });
    const create = event('Create', waited('Wait1'));
    const started = await onEvent(create);
    expect(started).toMatchObject({ PhysicalResourceId: expect.stringMatching(/^queued:/), Wait: 'fail' });
    const err = await failure(poll(isCompleteEvent(create, started)));
    expect(err.message).toContain('could not start the poller');
    expect(err.message).toContain('AccessDeniedException');
    const task = [...fake.importTasks.values()][0];
    expect(task.cancelled).toBe(true);
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    expect(fake.executions.size).toBe(0);
    // The framework reports FAILED with that id; CloudFormation's Delete of it finds the image by its tags.
    await run(event('Delete', waited('Wait1'), { physicalResourceId: started.PhysicalResourceId }), 12);
    expectClean();
  });

  test('a replacing update that keeps name and version makes build 2; the old import\'s Delete removes build 1 only', async () => {
    const first = await run(event('Create', props()));
    const changed = props({ Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'other.vmdk' }] });
    const replaced = await run(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: props() }));
    expect(first.Data.ImageArn).toMatch(/\/bundle-test-image\/1\.0\.0\/1$/);
    expect(replaced.Data.ImageArn).toMatch(/\/bundle-test-image\/1\.0\.0\/2$/);
    expect(replaced.NewImport).toBe(true);
    await run(event('Delete', props(), { physicalResourceId: first.PhysicalResourceId }));
    expectClean({ images: [replaced.Data.ImageArn] });
  });

  test('where Image Builder refuses a taken name and version, the replacing update fails with an actionable message and cancels its new task', async () => {
    const first = await run(event('Create', props()));
    fake.refuseSameNameVersion = true;
    const changed = props({ Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'other.vmdk' }] });
    const err = await failure(onEvent(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: props() })));
    expect(err.message).toContain('bump imageVersion');
    expect(err.message).toContain('ResourceAlreadyExistsException');
    const tasks = [...fake.importTasks.values()];
    expect(tasks.map((t) => [t.status, t.cancelled])).toEqual([['completed', false], ['deleting', true]]);
    expectClean({ images: [first.Data.ImageArn] });
  });
});

// ---------------------------------------------------------------- templates without a wait condition (the resource waits)

describe('templates of earlier versions: the resource itself waits (Wait import)', () => {
  test('create, poll, tag-only update, replacing update, then both deletes leave nothing behind', async () => {
    const create = event('Create', props());
    const started = await onEvent(create);
    expect(started.Wait).toBe('import');
    expect(Object.keys(started).sort()).toEqual(['Data', 'Deadline', 'PhysicalResourceId', 'StartedAt', 'Wait']);
    const waitedFor = await waitForIt(create, started);
    // Pending, converting, booting, then completed: no Data before completion.
    expect(waitedFor.polls.slice(0, -1)).toEqual([{ IsComplete: false }, { IsComplete: false }]);
    const task = [...fake.importTasks.values()][0];
    expect(task.status).toBe('completed');
    const first = waitedFor.response;
    expect(first.Data).toEqual({
      ImageArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/bundle-test-image/1.0.0/1',
      ImageName: 'bundle-test-image',
      ImageVersion: '1.0.0',
      ImportTaskId: task.id,
      ImageId: task.imageId,
    });
    expect(fake.executions.size).toBe(0);

    // Tags only: same id, no new import, tags changed on the image, the AMI still reported, no waiting.
    const tagged = props({ Tags: { team: 'platform', owner: 'bundle' } });
    const tagUpdate = await provider(event('Update', tagged, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: props() }));
    expect(tagUpdate.polls).toEqual([{ IsComplete: true }]);
    expect(tagUpdate.response.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(tagUpdate.response.Data.ImageId).toBe(task.imageId);
    expect(fake.callsOf('ImportImage')).toHaveLength(1);
    expect(fake.images.get(first.Data.ImageArn)!.tags).toMatchObject({ team: 'platform', owner: 'bundle' });
    expect(fake.callsOf('UntagResource')[0].input).toEqual({ resourceArn: first.Data.ImageArn, tagKeys: ['stage'] });

    // Another disk (and version): a new import under a new id.
    const changed = props({ ImageVersion: '1.0.1', Tags: { team: 'platform', owner: 'bundle' }, Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'boot-v2.vmdk' }] });
    const replaced = await run(event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: tagged }));
    expect(replaced.PhysicalResourceId).not.toBe(first.PhysicalResourceId);
    expect(replaced.NewImport).toBe(true);
    const second = fake.task(replaced.Data.ImportTaskId);
    expect(replaced.Data.ImageId).toBe(second.imageId);

    // CloudFormation deletes the replaced resource after the update (terminal: at once), then the stack delete removes the new one.
    const oldDelete = await provider(event('Delete', tagged, { physicalResourceId: first.PhysicalResourceId }));
    expect(oldDelete.started.Wait).toBe('none');
    expect(fake.images.has(first.Data.ImageArn)).toBe(false);
    expect(fake.amis.has(task.imageId!)).toBe(false);
    task.snapshotIds.forEach((s) => expect(fake.snapshots.has(s)).toBe(false));
    expectClean({ images: [replaced.Data.ImageArn] });

    await run(event('Delete', changed, { physicalResourceId: replaced.PhysicalResourceId }));
    expectClean();
  });

  test('throttling and 5xx while polling answer IsComplete false; the wait then completes', async () => {
    const create = event('Create', props());
    const started = await onEvent(create);
    const request = isCompleteEvent(create, started);

    fake.throttle('ec2', 1, ['DescribeImportImageTasks']);
    expect(await poll(request)).toEqual({ IsComplete: false });
    fake.throttle('imagebuilder', 1, ['GetImage']);
    expect(await poll(request)).toEqual({ IsComplete: false });
    fake.failNext({ service: 'imagebuilder', operations: ['GetImage'], code: 'ServiceException', message: 'Internal error' });
    expect(await poll(request)).toEqual({ IsComplete: false });
    // Each poll above really met its fault (an active task alone also answers false).
    expect(fake.calls.filter((call) => call.fault).map((call) => call.fault)).toEqual(['RequestLimitExceeded', 'ThrottlingException', 'ServiceException']);

    const { response } = await waitForIt(create, started);
    expect(response.Data.ImageId).toBe([...fake.importTasks.values()][0].imageId);
    await run(event('Delete', props(), { physicalResourceId: response.PhysicalResourceId }));
    expectClean();
  });

  // Image Builder's own throttling error (modeled: CallRateLimitExceededException, HTTP 429).
  test('CallRateLimitExceededException while polling answers IsComplete false', async () => {
    const create = event('Create', props());
    const started = await onEvent(create);
    fake.throttle('imagebuilder', 1, ['GetImage'], 'CallRateLimitExceededException');
    expect(await poll(isCompleteEvent(create, started))).toEqual({ IsComplete: false });
    expect(fake.callsOf('GetImage').map((c) => c.fault)).toEqual(['CallRateLimitExceededException']);
    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    expectClean();
  });

  test('a task that ends deleted fails with its StatusMessage verbatim; the rollback Delete waits for Image Builder and removes the image', async () => {
    fake.importPlan = { steps: 2, failMessage: UNKNOWN_OS };
    const create = event('Create', props());
    const started = await onEvent(create);
    const err = await failure(waitForIt(create, started, 5));
    expect(err.message).toContain(`VM import ${started.Data.ImportTaskId} failed: ${UNKNOWN_OS}`);

    const del = await provider(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    expect(del.started.Wait).toBe('delete');
    expect(del.polls.filter((p) => !p.IsComplete).length).toBeGreaterThanOrEqual(2);
    expect(fake.callsOf('CancelImportTask')).toHaveLength(0);
    expectClean();
  });

  test('an image that ends FAILED fails with its reason; the rollback Delete removes image, AMI and snapshots', async () => {
    fake.importPlan = { steps: 1, imageFailureReason: 'Image Builder could not register the imported AMI' };
    const create = event('Create', props());
    const started = await onEvent(create);
    const err = await failure(waitForIt(create, started, 5));
    expect(err.message).toContain('is FAILED: Image Builder could not register the imported AMI');
    expect(fake.amis.size).toBe(1);

    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    expectClean();
  });

  test('past the deadline the wait fails; the Delete that follows cancels the running import and image, waits, and removes it', async () => {
    // The image still reads PENDING right after the task is cancelled, so its creation is cancelled too.
    fake.importPlan = { steps: 50, imageLag: 5 };
    const create = event('Create', props());
    const started = await onEvent(create);
    // The framework passes onEvent's Deadline on; one in the past stands for the time that went by.
    const late = { ...isCompleteEvent(create, started), Deadline: Date.now() - 1000 };
    const err = await failure(poll(late));
    expect(err.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(err.message).toContain('raise `timeout` (up to 12 hours');

    await run(event('Delete', props(), { physicalResourceId: started.PhysicalResourceId }));
    const task = fake.task(started.Data.ImportTaskId);
    expect(task.status).toBe('deleted');
    expect(fake.callsOf('CancelImportTask').map((c) => c.input.ImportTaskId)).toEqual([task.id]);
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);
    expectClean();
  });

  test('a failed replacing update cancels its new import; the rollback (new id, original properties) answers the original; the Delete of the new id removes it', async () => {
    const original = props({ Tags: { team: 'platform' } });
    const first = await run(event('Create', original));
    const originalTask = fake.task(first.Data.ImportTaskId);
    const changed = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'broken.vmdk' }], Tags: { team: 'other' } });

    fake.importPlan = { steps: 2, failMessage: UNKNOWN_OS };
    const update = event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: original });
    const started = await onEvent(update);
    expect(started.NewImport).toBe(true);
    const err = await failure(waitForIt(update, started, 5));
    expect(err.message).toContain(UNKNOWN_OS);
    // The failed update's image creation is stopped at once; CloudFormation keeps the failed update's id.
    expect(fake.callsOf('CancelImageCreation').map((c) => c.input.imageBuildVersionArn)).toEqual([started.Data.ImageArn]);

    fake.importPlan = {};
    const rollback = await run(event('Update', original, { physicalResourceId: started.PhysicalResourceId, oldResourceProperties: changed }));
    expect(rollback.PhysicalResourceId).toBe(first.PhysicalResourceId);
    expect(rollback.Data.ImageId).toBe(originalTask.imageId);
    expect(fake.callsOf('ImportImage')).toHaveLength(2);
    expect(fake.images.get(first.Data.ImageArn)!.tags).toMatchObject({ team: 'platform' });

    await run(event('Delete', changed, { physicalResourceId: started.PhysicalResourceId }));
    expectClean({ images: [first.Data.ImageArn] });
  });

  test('a replacing update that times out cancels its new task and image creation; the Delete of its id removes the image', async () => {
    const first = await run(event('Create', props()));
    fake.importPlan = { steps: 50, imageLag: 5 };
    const changed = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'slow.vmdk' }] });
    const update = event('Update', changed, { physicalResourceId: first.PhysicalResourceId, oldResourceProperties: props() });
    const started = await onEvent(update);
    const late = { ...isCompleteEvent(update, started), Deadline: Date.now() - 1000 };
    const err = await failure(poll(late));
    expect(err.message).toMatch(/did not make .* AVAILABLE within 3300 seconds/);
    expect(fake.task(started.Data.ImportTaskId).cancelled).toBe(true);
    expect(fake.callsOf('CancelImageCreation')).toHaveLength(1);

    await run(event('Delete', changed, { physicalResourceId: started.PhysicalResourceId }));
    expectClean({ images: [first.Data.ImageArn] });
  });
});

// ---------------------------------------------------------------- deletes

describe('deletes over the wire', () => {
  test('Delete of a task EC2 no longer describes (over 7 days) works from the ids kept in the physical id', async () => {
    const done = await run(event('Create', props()));
    fake.forgetTask(done.Data.ImportTaskId);
    await run(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId }));
    expectClean();
  });

  test('a Delete that fails midway names the AMI and snapshots left; a retry removes them', async () => {
    const done = await run(event('Create', props()));
    const task = fake.task(done.Data.ImportTaskId);
    fake.failNext({ service: 'ec2', operations: ['DeregisterImage'], status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' });
    const err = await failure(onEvent(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId })));
    expect(err.message).toContain(`still to clean up: AMI ${task.imageId}; snapshots ${task.snapshotIds.join(', ')}.`);
    expect(err.message).toContain('EC2 DeregisterImage failed: UnauthorizedOperation');
    // The image went first; the task (described for 7 days) still names the AMI and snapshots.
    expect(fake.images.has(done.Data.ImageArn)).toBe(false);

    await run(event('Delete', props(), { physicalResourceId: done.PhysicalResourceId }));
    expectClean();
  });

  test('an image in use keeps its AMI and snapshots and names the recipe; policy snapshot keeps the snapshots; retain removes (a rollback); the CREATE_FAILED marker makes no call', async () => {
    const done = await run(event('Create', props({ RemovalPolicy: 'snapshot' })));
    const task = fake.task(done.Data.ImportTaskId);
    const recipe = fake.addRecipe('golden-base', done.Data.ImageArn);
    const err = await failure(onEvent(event('Delete', props({ RemovalPolicy: 'snapshot' }), { physicalResourceId: done.PhysicalResourceId })));
    expect(err.message).toContain(`cannot delete Image Builder image ${done.Data.ImageArn}: it is in use (parent of image recipe(s) ${recipe})`);
    expect(err.message).toContain(`AMI ${task.imageId}`);
    expect(err.message).toContain('ResourceDependencyException');
    expectClean({ images: [done.Data.ImageArn] });
    fake.removeRecipe(recipe);

    await run(event('Delete', props({ RemovalPolicy: 'snapshot' }), { physicalResourceId: done.PhysicalResourceId }));
    expect(fake.images.size).toBe(0);
    expect(fake.amis.size).toBe(0);
    expect([...fake.snapshots].sort()).toEqual([...task.snapshotIds].sort());
    task.snapshotIds.forEach((s) => fake.snapshots.delete(s));

    // RETAIN is CloudFormation's (DeletionPolicy RetainExceptOnCreate): a Delete reaching the handler is a rollback, and removes.
    const retained = await run(event('Create', props({ ImageVersion: '1.0.1', RemovalPolicy: 'retain' })));
    await run(event('Delete', props({ ImageVersion: '1.0.1', RemovalPolicy: 'retain' }), { physicalResourceId: retained.PhysicalResourceId }));
    expectClean();

    const before = fake.calls.length;
    await run(event('Delete', props(), { physicalResourceId: CREATE_FAILED_MARKER }));
    expect(fake.calls.slice(before)).toEqual([]);
    expectClean();
  });
});
