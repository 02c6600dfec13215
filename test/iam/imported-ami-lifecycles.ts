/**
 * The ImportedAmi lifecycles whose AWS calls the IAM proof collects: create (with a disk
 * that waits for quota), poll to the AMI, read step, tag updates, a replacement whose disk
 * fails, its rollback with the new id, a Delete while the poller runs (a task completed but
 * not tagged yet; a poll in flight that registers an AMI meanwhile), the delete of what a
 * replacement left, a delete after the construct left the stack, an update of a vanished
 * AMI during a rollback, an update while the poller runs, and a Delete with an id
 * CloudFormation invented. The events carry the properties of the synthesized stacks
 * (imported-ami-stacks.ts), and each step records which deployment's policy was in force.
 *
 * The handlers run in process (their lambda entry points, as bundled), with the SDK
 * clients pointed at the fake AWS endpoint, and the poller's signals cross HTTP to the
 * fake's wait condition handles.
 */
import { APPLIANCE_DISKS, importedAmiStack, Stage } from './imported-ami-stacks';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, RecordedCall } from '../support/fake-aws';
import { asList, Deployment } from '../support/iam';
import { cfnEvent } from '../support/run-bundle';

/** What a step must do: succeed, or fail with an error whose message matches (as lifecycles.ts declares its steps). */
export const SUCCEEDS = 'succeeds';
export type Outcome = typeof SUCCEEDS | RegExp;

/** Why a step did not end as it declared, or undefined when it did. */
export function outcomeMismatch(step: AmiStep): string | undefined {
  const what = `${step.label} (${step.role})`;
  if (step.expected === SUCCEEDS) return step.error ? `${what}: expected to succeed, but failed: ${step.error.message}` : undefined;
  if (!step.error) return `${what}: expected to fail with ${step.expected}, but succeeded`;
  return step.expected.test(step.error.message) ? undefined : `${what}: expected to fail with ${step.expected}, but failed with: ${step.error.message}`;
}

export type AmiHandlerRole = 'onEvent' | 'isComplete';

/** The Lambda function each handler role belongs to, by its description. */
export const AMI_FUNCTION_OF: Record<AmiHandlerRole, string> = {
  onEvent: 'starts, updates and deletes ImportedAmi imports',
  isComplete: 'finishes ImportedAmi imports',
};

export interface AmiStep {
  readonly label: string;
  readonly role: AmiHandlerRole;
  readonly deployment: Deployment;
  readonly calls: RecordedCall[];
  readonly expected: Outcome;
  readonly error?: Error;
}

export interface AmiScenarioResult {
  readonly fake: FakeAws;
  readonly steps: AmiStep[];
  readonly deployments: Record<Stage, Deployment>;
}

type Handler = (event: any) => Promise<any>;

/** The poller's ARN as the template names it (StateMachineName, known at synth). */
export function pollerArn(deployment: Deployment): string {
  const id = deployment.theOne('AWS::StepFunctions::StateMachine', (p) => typeof p.StateMachineName === 'string' && p.StateMachineName.includes('ImportedAmiProvider'));
  return `arn:aws:states:${'us-east-1'}:123456789012:stateMachine:${deployment.resource(id).Properties.StateMachineName}`;
}

/**
 * Loads a lambda entry point in its own module registry, with the SDK client classes it
 * constructs pointed at the fake (endpoint, region, credentials) and the poller's ARN in
 * its environment. Nothing else of the handler changes.
 */
function loadHandler(fake: FakeAws, entry: string, poller: string): Handler {
  const config = {
    endpoint: fake.url,
    region: fake.region,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, sessionToken: 'FakeSessionTokenForIamTests' },
  };
  let handler: Handler | undefined;
  // Read when the handler first makes its clients: set for the whole scenario (runImportedAmiLifecycles).
  process.env.POLLER_STATE_MACHINE_ARN = poller;
  jest.isolateModules(() => {
    for (const [pkg, cls] of [['@aws-sdk/client-ec2', 'EC2Client'], ['@aws-sdk/client-sfn', 'SFNClient'], ['@aws-sdk/client-cloudformation', 'CloudFormationClient']]) {
      jest.doMock(pkg, () => {
        const actual = jest.requireActual(pkg);
        const Base = actual[cls];
        return { ...actual, [cls]: class extends Base { constructor(c: object = {}) { super({ ...c, ...config }); } } };
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require(entry).handler;
  });
  return handler!;
}

class Recorder {
  readonly steps: AmiStep[] = [];
  constructor(private readonly fake: FakeAws) {}

  async invoke(label: string, role: AmiHandlerRole, deployment: Deployment, expected: Outcome, run: () => Promise<any>): Promise<any> {
    const before = this.fake.calls.length;
    let value: any;
    let error: Error | undefined;
    try {
      value = await run();
    } catch (err) {
      error = err as Error;
    }
    this.steps.push({ label, role, deployment, calls: this.fake.calls.slice(before), expected, error });
    return error ? { error } : value;
  }
}

/**
 * The properties of a construct's Custom::ImportedAmi as CloudFormation delivers them:
 * resolved, every scalar a string, the wait condition handle's Ref a handle of the fake.
 */
function importProperties(fake: FakeAws, d: Deployment, logicalId: string): Record<string, any> {
  const raw = d.resource(logicalId).Properties;
  const handle = raw.SignalUrl?.Ref;
  if (typeof handle !== 'string') throw new Error(`${logicalId} has no wait condition handle`);
  const resolved = d.resolve({ ...raw, SignalUrl: fake.waitConditionHandle(handle, d.stackId) });
  return JSON.parse(JSON.stringify(resolved, (_k, v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v)));
}

const TYPE = 'Custom::ImportedAmi';

export async function runImportedAmiLifecycles(): Promise<AmiScenarioResult> {
  const deployments = {
    1: importedAmiStack(1).deployment, 2: importedAmiStack(2).deployment, 3: importedAmiStack(3).deployment, 4: importedAmiStack(4).deployment,
  };
  const fake = await FakeAws.start();
  try {
    const poller = pollerArn(deployments[1]);
    const onEvent = loadHandler(fake, '../../src/handlers/imported-ami/on-event.lambda', poller);
    const isComplete = loadHandler(fake, '../../src/handlers/imported-ami/is-complete.lambda', poller);
    const rec = new Recorder(fake);
    const construct = (d: Deployment, path: string) => d.theOne(TYPE, (p) => JSON.stringify(p).includes(path));
    const appliance = (d: Deployment) => construct(d, APPLIANCE_DISKS(d === deployments[3] ? 3 : 1)[0]);
    const edge = (d: Deployment) => construct(d, 's3://edge-disks/boot.vmdk');

    const event = (type: 'Create' | 'Update' | 'Delete', d: Deployment, logicalId: string, options: {
      physicalResourceId?: string; old?: Record<string, any>; props?: Record<string, any>; requestId?: string;
    } = {}) => ({
      ...cfnEvent(type, options.props ?? importProperties(fake, d, logicalId), {
        resourceType: TYPE,
        logicalResourceId: logicalId,
        physicalResourceId: options.physicalResourceId,
        oldResourceProperties: options.old,
        requestId: options.requestId,
      }),
      StackId: d.stackId,
    });
    const waitFor = (d: Deployment, logicalId: string) => {
      fake.setStack(d.stackId, 'CREATE_IN_PROGRESS');
      const waitId = d.resolve(d.resource(logicalId).Properties.WaitConditionLogicalId);
      fake.setStackResource(d.stackId, waitId, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });
    };
    /** The newest execution of the import this response started. */
    const executionOf = (response: any) => {
      const importId = String(response.PhysicalResourceId).split('|')[0];
      const found = [...fake.executions.values()].filter((e) => e.name.startsWith(`${importId}-`));
      if (found.length === 0) throw new Error(`no poller execution for ${importId}`);
      return found[found.length - 1];
    };
    /** Runs the poller of an import with the poll function, as the state machine would, until done or `maxPolls`. */
    const poll = async (label: string, d: Deployment, response: any, expected: Outcome, maxPolls = 12) => {
      let state: any = executionOf(response).input;
      for (let i = 0; i < maxPolls && !state.Done; i++) {
        const next = await rec.invoke(`${label}: poll`, 'isComplete', d, expected, () => isComplete(state));
        if (next?.error) throw next.error;
        state = next;
      }
      return state;
    };
    const finish = (response: any) => {
      const execution = executionOf(response);
      if (execution.status === 'RUNNING') fake.finishExecution(execution.arn, 'SUCCEEDED');
    };
    const onEventStep = (label: string, d: Deployment, request: any, expected: Outcome = SUCCEEDS) =>
      rec.invoke(`${label}: onEvent`, 'onEvent', d, expected, () => onEvent(request));
    /** A Delete as the Provider runs it: onEvent, then isComplete until complete. */
    const remove = async (label: string, d: Deployment, request: any, settleNow = true) => {
      const started = await onEventStep(label, d, request);
      if (started?.error || started?.Wait !== 'delete') return started;
      const pending = { ...request, ...started, ...(settleNow ? { SettleUntil: 0 } : {}) };
      return rec.invoke(`${label}: isComplete`, 'isComplete', d, SUCCEEDS, () => isComplete(pending));
    };

    // ---- 1: first deploy; the quota leaves a disk of each import to its poller.
    const d1 = deployments[1];
    const a1 = appliance(d1);
    const e1 = edge(d1);
    waitFor(d1, a1);
    waitFor(d1, e1);
    fake.maxActiveSnapshotTasks = 1;
    fake.snapshotPlan = { steps: 2 };
    const applianceCreated = await onEventStep('appliance create', d1, event('Create', d1, a1, { requestId: 'appliance-create' }));
    const edgeCreated = await onEventStep('edge create', d1, event('Create', d1, e1, { requestId: 'edge-create' }));
    await poll('appliance', d1, applianceCreated, SUCCEEDS, 16);
    finish(applianceCreated);
    await poll('edge', d1, edgeCreated, SUCCEEDS, 16);
    // Edge's execution stays RUNNING in the fake (it runs none): stage 4 updates Edge while "its poller runs".
    fake.maxActiveSnapshotTasks = undefined;
    const applianceImport = applianceCreated.Data.ImportId;
    await rec.invoke('appliance read step: isComplete', 'isComplete', d1, SUCCEEDS, () => isComplete({
      ...cfnEvent('Create', { ImportId: applianceImport, AmiName: 'appliance-arm64', TimeoutSeconds: '21600' }, {
        resourceType: 'Custom::ImportedAmiAvailable', logicalResourceId: `${a1}Available`,
      }),
      StackId: d1.stackId,
    }));

    // ---- 2: tags changed, in place.
    const d2 = deployments[2];
    await onEventStep('appliance tag update', d2, event('Update', d2, a1, { physicalResourceId: applianceCreated.PhysicalResourceId, old: importProperties(fake, d1, a1) }));
    await onEventStep('edge tag update', d2, event('Update', d2, e1, { physicalResourceId: edgeCreated.PhysicalResourceId, old: importProperties(fake, d1, e1) }));

    // ---- 3: Appliance replaced (other disks, other name).
    const d3 = deployments[3];
    const a3 = appliance(d3);
    waitFor(d3, a3);
    const old3 = importProperties(fake, d2, a1);
    // A replacement whose boot disk fails: the poll cancels the other disk; the rollback keeps the original.
    fake.snapshotPlanByDisk = { 'appliance/boot-v2.raw': { steps: 1, failMessage: 'ClientError: Disk validation failed [Invalid RAW disk]' }, 'appliance/data.raw': { steps: 50 } };
    const failed = await onEventStep('appliance failed replacement', d3, event('Update', d3, a3, { physicalResourceId: applianceCreated.PhysicalResourceId, old: old3, requestId: 'replace-1' }));
    await poll('appliance failed replacement', d3, failed, SUCCEEDS);
    finish(failed);
    await onEventStep('appliance rollback with the new id', d3, event('Update', d2, a1, {
      physicalResourceId: failed.PhysicalResourceId, old: importProperties(fake, d3, a3), props: old3,
    }));
    await remove('appliance cleanup of the failed replacement', d3, event('Delete', d3, a3, { physicalResourceId: failed.PhysicalResourceId }));

    // A replacement deleted while its poller runs (the stack rolls back for another resource): the boot
    // disk's task completes untagged, the data disk still runs, and a poll in flight registers an AMI meanwhile.
    fake.snapshotPlanByDisk = { 'appliance/boot-v2.raw': { steps: 2 }, 'appliance/data.raw': { steps: 50 } };
    const racing = await onEventStep('appliance replacement deleted while polling', d3, event('Update', d3, a3, {
      physicalResourceId: applianceCreated.PhysicalResourceId, old: old3, requestId: 'replace-2',
    }));
    await poll('appliance replacement deleted while polling', d3, racing, SUCCEEDS, 1);
    fake.beforeOperation = (_service, operation, input) => {
      if (operation !== 'DeleteSnapshot') return;
      fake.beforeOperation = undefined;
      fake.registerImageNow({
        Name: 'registered-by-a-poll-in-flight',
        Architecture: 'arm64',
        RootDeviceName: '/dev/xvda',
        VirtualizationType: 'hvm',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: input.SnapshotId } }],
        TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(fake.tagsOf(input.SnapshotId)).map(([Key, Value]) => ({ Key, Value })) }],
      });
    };
    await remove('appliance replacement deleted while polling', d3, event('Delete', d3, a3, { physicalResourceId: racing.PhysicalResourceId }));
    fake.beforeOperation = undefined;

    // The replacement that succeeds, then the delete of the original under the new policy.
    fake.snapshotPlanByDisk = {};
    const replaced = await onEventStep('appliance replacement', d3, event('Update', d3, a3, {
      physicalResourceId: applianceCreated.PhysicalResourceId, old: old3, requestId: 'replace-3',
    }));
    await poll('appliance replacement', d3, replaced, SUCCEEDS);
    finish(replaced);
    await remove('appliance delete of the original', d3, event('Delete', d3, a3, { physicalResourceId: applianceCreated.PhysicalResourceId, props: old3 }));

    // ---- 4: Appliance left the stack; Edge waits longer (a new wait condition).
    const d4 = deployments[4];
    const e4 = edge(d4);
    await remove('appliance delete after it left the stack', d4, event('Delete', d4, a3, {
      physicalResourceId: replaced.PhysicalResourceId, props: importProperties(fake, d3, a3),
    }));
    // Edge's AMI deregistered outside CloudFormation, while its poller "still runs": the update restarts it.
    const edgeAmi = [...fake.amis.values()].find((ami) => fake.tagsOf(ami.id)['cdk-vm-import-export:import-id'] === edgeCreated.Data.ImportId)!;
    fake.amis.delete(edgeAmi.id);
    const old4 = importProperties(fake, d2, e1);
    await onEventStep('edge update while its poller runs', d4, event('Update', d4, e4, { physicalResourceId: edgeCreated.PhysicalResourceId, old: old4 }));
    for (const execution of fake.executions.values()) if (execution.status === 'RUNNING') fake.finishExecution(execution.arn, 'SUCCEEDED');
    fake.setStack(d4.stackId, 'UPDATE_ROLLBACK_IN_PROGRESS');
    await onEventStep('edge update of a vanished AMI during a rollback', d4, event('Update', d4, e4, {
      physicalResourceId: edgeCreated.PhysicalResourceId, old: old4, requestId: 'edge-rollback',
    }));
    await remove('edge delete with an id CloudFormation invented', d4, event('Delete', d4, e4, { physicalResourceId: 'ImportedAmiIam-Edge-1A2B3C4D5E6F' }));
    await remove('edge delete', d4, event('Delete', d4, e4, { physicalResourceId: edgeCreated.PhysicalResourceId }));
    return { fake, steps: rec.steps, deployments };
  } finally {
    delete process.env.POLLER_STATE_MACHINE_ARN;
    await fake.close();
  }
}

/** Every Lambda-side operation name of the ImportedAmi handlers. */
export function commandsIn(text: string): string[] {
  return asList([...text.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]));
}
