/**
 * The lifecycles whose AWS calls the IAM proof collects. They follow the bundle
 * tests (test/bundle/*.test.ts) and the import lifecycle of the design: creates
 * that start a Step Functions poller which signals the wait condition (the poller
 * run as synthesized, its poll steps by the isComplete function), creates queued
 * for the import quota and started by isComplete, the read step after the wait
 * (Custom::VmImportImageAvailable), tag-only updates, replacing updates and the
 * rollback of failed ones (arriving with the new id), updates of an image deleted
 * outside CloudFormation, deletes that stop pollers, cancel, and wait in
 * isComplete until Image Builder lets the image go, deletes of an id CloudFormation
 * invented or of a queued id (found by tags), of an image in use, of what is
 * already gone. Some steps use the properties of an older template (no wait
 * condition, the resource itself waits), whose events the handlers still serve.
 * Here the events carry the properties of the synthesized stacks
 * (test/iam/stacks.ts), so every ARN a call names is one the template's policies
 * were written for, and each step records which deployment's policy was in force.
 * Each step also declares how it must end (SUCCEEDS, or the deliberate failure's
 * message), and the proof checks it did: a step that fails early would otherwise
 * silently shrink the set of calls the proof covers.
 *
 * The handlers run in process (their lambda entry points, as bundled), with the
 * SDK clients pointed at the fake AWS endpoint: the calls are the bundles' calls,
 * without a node process per invocation. Wait condition signals (HTTP PUTs to the
 * presigned handle URL, which need no IAM) reach the fake's handles.
 */
import { DB_IMAGE, distributionStack, importStack, KEEP, NIGHTLY, Stage, WEB_IMAGE } from './stacks';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../../src/handlers/import-image/clients';
import { CREATE_FAILED_MARKER } from '../../src/handlers/import-image/delete';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, RecordedCall, WaitConditionSignal } from '../support/fake-aws';
import { Deployment, RuntimeValues } from '../support/iam';
import { cfnEvent, isCompleteEvent } from '../support/run-bundle';
import { definitionFromTemplate, lambdaInvoker, runStateMachine, SimulatedClock } from '../support/state-machine';

export type HandlerRole = 'import onEvent' | 'import isComplete' | 'distribution onEvent';

/**
 * What a step must do: succeed, or fail with an error whose message matches (the
 * deliberate failures). A step that fails otherwise made fewer calls than the
 * scenario meant, and the proof would silently cover less.
 */
export const SUCCEEDS = 'succeeds';
export type Outcome = typeof SUCCEEDS | RegExp;

/** One handler invocation: the calls it made, the deployment whose policies applied, how it was meant to end and how it did. */
export interface Step {
  readonly label: string;
  readonly role: HandlerRole;
  readonly deployment: Deployment;
  readonly calls: RecordedCall[];
  readonly expected: Outcome;
  readonly error?: Error;
}

/** Why a step did not end as it declared, or undefined when it did. */
export function outcomeMismatch(step: Step): string | undefined {
  const what = `${step.label} (${step.role})`;
  if (step.expected === SUCCEEDS) {
    return step.error ? `${what}: expected to succeed, but failed: ${step.error.message}` : undefined;
  }
  if (!step.error) return `${what}: expected to fail with ${step.expected}, but succeeded`;
  return step.expected.test(step.error.message) ? undefined : `${what}: expected to fail with ${step.expected}, but failed with: ${step.error.message}`;
}

export interface ScenarioResult {
  readonly fake: FakeAws;
  readonly steps: Step[];
  readonly deployments: Record<Stage, Deployment>;
}

type Handler = (event: any) => Promise<any>;

/** The SDK clients the handlers construct (src/handlers/import-image/clients.ts, the distribution handler). */
const SDK_CLIENTS: Array<[string, string]> = [
  ['@aws-sdk/client-ec2', 'EC2Client'],
  ['@aws-sdk/client-imagebuilder', 'ImagebuilderClient'],
  ['@aws-sdk/client-sfn', 'SFNClient'],
  ['@aws-sdk/client-cloudformation', 'CloudFormationClient'],
];

/**
 * Loads a lambda entry point in its own module registry, with the SDK client
 * classes it constructs pointed at the fake (endpoint, region, the fake's
 * credentials), and the waits between the handlers' own retries skipped (they
 * cost time, not calls). Nothing else of the handler changes.
 */
function loadHandler(fake: FakeAws, entry: string): Handler {
  const config = {
    endpoint: fake.url,
    region: fake.region,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, sessionToken: 'FakeSessionTokenForIamTests' },
  };
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    for (const [pkg, cls] of SDK_CLIENTS) {
      jest.doMock(pkg, () => {
        const actual = jest.requireActual(pkg);
        const Base = actual[cls];
        return { ...actual, [cls]: class extends Base { constructor(c: object = {}) { super({ ...c, ...config }); } } };
      });
    }
    jest.doMock('../../src/handlers/shared/util', () => ({ ...jest.requireActual('../../src/handlers/shared/util'), sleep: async () => undefined }));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require(entry).handler;
  });
  return handler!;
}

class Recorder {
  readonly steps: Step[] = [];
  constructor(private readonly fake: FakeAws) {}

  /**
   * Runs one invocation; a handler error is recorded, not thrown (a failure still made
   * its calls). Whether it ended as `expected` is checked by the test (outcomeMismatch).
   */
  async invoke(label: string, role: HandlerRole, deployment: Deployment, expected: Outcome, run: () => Promise<any>): Promise<any> {
    const { value, error } = await this.record(label, role, deployment, expected, run);
    return error ? { error } : value;
  }

  /** As invoke, but the error is thrown on as well (a state machine's task fails with it). */
  async invokeOrThrow(label: string, role: HandlerRole, deployment: Deployment, expected: Outcome, run: () => Promise<any>): Promise<any> {
    const { value, error } = await this.record(label, role, deployment, expected, run);
    if (error) throw error;
    return value;
  }

  /** The step's declared outcome, once the scenario knows which step ends a wait. */
  expectLast(outcome: Outcome): void {
    const last = this.steps.pop()!;
    this.steps.push({ ...last, expected: outcome });
  }

  private async record(label: string, role: HandlerRole, deployment: Deployment, expected: Outcome, run: () => Promise<any>) {
    const before = this.fake.calls.length;
    let value: any;
    let error: Error | undefined;
    try {
      value = await run();
    } catch (err) {
      error = err as Error;
    }
    this.steps.push({ label, role, deployment, calls: this.fake.calls.slice(before), expected, error });
    return { value, error };
  }
}

interface EventOptions {
  readonly physicalResourceId?: string;
  /** The deployment whose properties are the old ones (Update). */
  readonly old?: Deployment;
  /** The deployment whose properties the event carries, when not the one in force. */
  readonly propsFrom?: Deployment;
  /** Values known only once deployed (handle URLs, custom resource attributes). */
  readonly runtime?: RuntimeValues;
  readonly oldRuntime?: RuntimeValues;
  /** Rewrites the properties (new and old), as an older template had them. */
  readonly rewrite?: (props: Record<string, any>) => Record<string, any>;
}

function event(type: 'Create' | 'Update' | 'Delete', deployment: Deployment, logicalId: string, resourceType: string, options: EventOptions = {}): Record<string, any> {
  const rewrite = options.rewrite ?? ((p: Record<string, any>) => p);
  const props = rewrite((options.propsFrom ?? deployment).customResourceProperties(logicalId, options.runtime));
  const old = options.old ? rewrite(options.old.customResourceProperties(logicalId, options.oldRuntime ?? options.runtime)) : undefined;
  const e = cfnEvent(type, props, {
    resourceType,
    logicalResourceId: logicalId,
    physicalResourceId: options.physicalResourceId,
    oldResourceProperties: old,
  });
  return { ...e, StackId: deployment.stackId };
}

// ---------------------------------------------------------------- VmImportImage

const IMPORT_TYPE = 'Custom::VmImportImage';
const AVAILABLE_TYPE = 'Custom::VmImportImageAvailable';
const WAIT_CONDITION_TYPE = 'AWS::CloudFormation::WaitCondition';

/** isComplete's error when the resource's deadline passed. */
const PAST_DEADLINE = /^VM import import-ami-\w+ did not make \S+ AVAILABLE within \d+ seconds/;

/**
 * The properties an import resource had in templates of versions before the
 * wait condition: the resource itself waits, for at most 55 minutes.
 */
function olderTemplate(props: Record<string, any>): Record<string, any> {
  const { SignalUrl: _url, WaitConditionLogicalId: _wait, PollIntervalSeconds: _first, MaxPollIntervalSeconds: _max, ...rest } = props;
  return { ...rest, TimeoutSeconds: '3300' };
}

/** ImportVmImage tries when every answer is lost: the handler's 5 (retryTransient) times the SDK's 3 (its standard retry). */
const LOST_IMPORT_VM_IMAGE_TRIES = 15;

/** The deliberate failure of an import lifecycle: its onEvent step, or the isComplete step that ends its wait. */
type ImportFailure = { readonly onEvent: RegExp; readonly isComplete?: undefined } | { readonly onEvent?: undefined; readonly isComplete: RegExp };

interface WaitOptions {
  /** Overrides the Deadline onEvent answered (epoch ms): the wait's time has run out. */
  readonly deadline?: number;
  /** isComplete calls before the scenario moves on without the wait having ended (CloudFormation stopped waiting). */
  readonly polls?: number;
  /** Runs before each isComplete call (0-based), to change the world between polls. */
  readonly beforePoll?: (poll: number) => void;
}

interface PollerOptions {
  /** Poll steps after which the scenario moves on while the execution still runs. */
  readonly maxPolls?: number;
  /** Hours pass before the first poll: the wait's deadline has come. */
  readonly pastDeadline?: boolean;
  /** The signal the poller must send its wait condition (when it runs to the end). */
  readonly signal?: WaitConditionSignal['Status'];
}

export async function runImportLifecycles(): Promise<ScenarioResult> {
  const deployments = { 1: importStack(1).deployment, 2: importStack(2).deployment, 3: importStack(3).deployment, 4: importStack(4).deployment };
  const fake = await FakeAws.start();
  const previousPoller = process.env[POLLER_STATE_MACHINE_ARN_ENV];
  // The functions' environment: the poller's ARN (the same in every deployment).
  process.env[POLLER_STATE_MACHINE_ARN_ENV] = pollerArnOf(Object.values(deployments));
  try {
    const onEvent = loadHandler(fake, '../../src/handlers/import-image/on-event.lambda');
    const isComplete = loadHandler(fake, '../../src/handlers/import-image/is-complete.lambda');
    const rec = new Recorder(fake);
    /** The attributes each import resource answered last (ImageArn, ImportTaskId, ...), by logical id. */
    const live = new Map<string, Record<string, string>>();
    const importId = (d: Deployment, name: string) => d.theOne(IMPORT_TYPE, (p) => p.ImageName === name);
    const web = importId(deployments[1], WEB_IMAGE);
    const db = importId(deployments[1], DB_IMAGE);
    const waitConditionOf = (d: Deployment, logicalId: string): string => d.resource(logicalId).Properties.WaitConditionLogicalId;
    const handleOf = (d: Deployment, logicalId: string): string => d.resource(logicalId).Properties.SignalUrl.Ref;
    const availableOf = (d: Deployment, logicalId: string) => d.theOne(AVAILABLE_TYPE, (p) => p.ImageArn?.['Fn::GetAtt']?.[0] === logicalId);

    /** Deploy-time values: the fake's handle URLs, the attributes the import resources answered (`data`, else `live`). */
    const runtime = (d: Deployment, data?: Record<string, Record<string, string>>): RuntimeValues => ({
      ref: (logicalId, type) => {
        if (type === 'AWS::CloudFormation::WaitConditionHandle') return fake.waitConditionHandle(logicalId, d.stackId);
        // What Ref of a wait condition returns is not documented here (unverified): the read step only orders on it.
        if (type === WAIT_CONDITION_TYPE) return `${d.stackId}/${logicalId}`;
        return undefined;
      },
      attribute: (logicalId, attribute, type) => {
        if (type !== IMPORT_TYPE) return undefined;
        const value = (data?.[logicalId] ?? live.get(logicalId))?.[attribute];
        if (value === undefined) throw new Error(`${logicalId}.${attribute}: the import resource has not answered it yet`);
        return value;
      },
    });
    const importEvent = (type: 'Create' | 'Update' | 'Delete', d: Deployment, logicalId: string, options: EventOptions & { older?: boolean } = {}) =>
      event(type, d, logicalId, IMPORT_TYPE, { runtime: runtime(d), ...(options.older ? { rewrite: olderTemplate } : {}), ...options });
    /** The read step of an import; an Update's old properties named the image the import answered before (`oldData`). */
    const availableEvent = (type: 'Create' | 'Update' | 'Delete', d: Deployment, importLogicalId: string, options: {
      physicalResourceId?: string; propsFrom?: Deployment; data?: Record<string, string>; old?: Deployment; oldData?: Record<string, string>;
    } = {}) => event(type, d, availableOf(options.propsFrom ?? d, importLogicalId), AVAILABLE_TYPE, {
      physicalResourceId: options.physicalResourceId,
      propsFrom: options.propsFrom,
      old: options.old,
      runtime: runtime(d, options.data ? { [importLogicalId]: options.data } : undefined),
      oldRuntime: options.oldData ? runtime(d, { [importLogicalId]: options.oldData }) : undefined,
    });

    /**
     * The isComplete calls of the Provider's waiter after onEvent answered, until complete
     * (or failed). With `failure`, the step that ends the wait must fail with it.
     */
    const waitFor = async (
      label: string, d: Deployment, request: Record<string, any>, started: Record<string, any>, failure?: RegExp, options: WaitOptions = {},
    ) => {
      const pollEvent = { ...isCompleteEvent(request, started), ...(options.deadline !== undefined ? { Deadline: options.deadline } : {}) };
      const limit = options.polls ?? 10;
      for (let i = 0; i < limit; i++) {
        options.beforePoll?.(i);
        const polled = await rec.invoke(`${label}: isComplete`, 'import isComplete', d, SUCCEEDS, () => isComplete(pollEvent));
        if (polled?.error || polled?.IsComplete) {
          if (failure) rec.expectLast(failure);
          return { ...started, ...polled };
        }
      }
      if (options.polls !== undefined) return started;
      throw new Error(`${label}: not complete after ${limit} polls`);
    };

    /** onEvent, then isComplete until complete (or failed), as the Provider framework runs them. */
    const run = async (
      label: string, d: Deployment, request: Record<string, any>, expected: typeof SUCCEEDS | ImportFailure, options: WaitOptions = {},
    ) => {
      const failure: { onEvent?: RegExp; isComplete?: RegExp } = expected === SUCCEEDS ? {} : expected;
      const started = await rec.invoke(`${label}: onEvent`, 'import onEvent', d, failure.onEvent ?? SUCCEEDS, () => onEvent(request));
      if (started?.error) return started;
      return waitFor(label, d, request, started, failure.isComplete, options);
    };

    /**
     * The import's poller execution (started through the fake), run as synthesized: the
     * state machine of the template in the ASL interpreter, its PollImport and SignalFailure
     * tasks invoking the isComplete function (in process). Run to its end, the execution
     * ends in the fake as it did here, and its wait condition must have the signal expected.
     */
    const runPoller = async (label: string, d: Deployment, importLogicalId: string, started: Record<string, any>, options: PollerOptions = {}) => {
      const taskId = started.Data.ImportTaskId;
      const running = [...fake.executions.values()].filter((e) => e.status === 'RUNNING' && e.name.startsWith(`${taskId}-`));
      if (running.length !== 1) throw new Error(`${label}: expected one running poller of ${taskId}, found ${running.length}`);
      const execution = running[0];
      const machineName = execution.stateMachineArn.split(':').pop();
      const definition = definitionFromTemplate(d.template,
        (_id, r) => r.Properties?.StateMachineName === machineName, (intrinsic) => d.resolve(intrinsic));
      const isCompleteArn = d.attribute(d.theOne('AWS::Lambda::Function', (p) => String(p.Description).includes(FUNCTION_DESCRIPTIONS.isComplete)), 'Arn');
      const input = execution.input as any;
      const first = options.pastDeadline ? { ...input, Poller: { ...input.Poller, Deadline: input.Poller.StartedAt } } : input;
      let polls = 0;
      const result = await runStateMachine(definition, first, {
        clock: new SimulatedClock(),
        executionName: execution.name,
        maxTransitions: 1000,
        stop: ({ state }) => state === 'PollImport' && options.maxPolls !== undefined && polls >= options.maxPolls,
        invoke: lambdaInvoker(async (pollEvent, context) => {
          if (context.functionName !== isCompleteArn) throw new Error(`${label}: the poller invoked ${context.functionName}, not the isComplete function`);
          polls++;
          return rec.invokeOrThrow(`${label}: poller step`, 'import isComplete', d, SUCCEEDS, () => isComplete(pollEvent));
        }),
      });
      if (options.maxPolls !== undefined) {
        if (result.status !== 'ABORTED' || polls !== options.maxPolls) throw new Error(`${label}: the poller ended ${result.status} after ${polls} polls`);
        return;
      }
      if (result.status !== 'SUCCEEDED') throw new Error(`${label}: the poller ended ${result.status}: ${result.error}: ${result.cause}`);
      fake.finishExecution(execution.arn, 'SUCCEEDED', { output: result.output });
      const signals = fake.signals.get(handleOf(d, importLogicalId)) ?? [];
      if (options.signal && !signals.some((s) => s.UniqueId === taskId && s.Status === options.signal)) {
        throw new Error(`${label}: the wait condition did not get ${options.signal} for ${taskId}: ${JSON.stringify(signals)}`);
      }
    };

    const d1 = deployments[1];
    fake.setStack(d1.stackId, 'CREATE_IN_PROGRESS');
    // Web's wait condition exists while its poller polls; Db's does not yet (see db create).
    fake.setStackResource(d1.stackId, waitConditionOf(d1, web), { status: 'CREATE_IN_PROGRESS', type: WAIT_CONDITION_TYPE });

    // A first create whose stack is deleted while Image Builder still makes the image (the
    // task is done): the Delete stops the running poller and cancels the image; isComplete
    // waits until Image Builder lets it go, then removes image, AMI and snapshots.
    fake.importPlan = { steps: 2, imageLag: 20 };
    const early = await run('web create, deleted while the image is made', d1, importEvent('Create', d1, web), SUCCEEDS);
    fake.importPlan = {};
    await runPoller('web poller, stopped by the delete', d1, web, early, { maxPolls: 4 });
    await run('web delete while its poller runs', d1, importEvent('Delete', d1, web, { physicalResourceId: early.PhysicalResourceId }), SUCCEEDS);

    // A create that runs past its deadline: the poller signals FAILURE; the rollback Delete
    // cancels the running task and the pending image, and waits. Meanwhile a recipe starts to
    // use the image version: DeleteImage refuses, and the error names the recipe.
    fake.importPlan = { steps: 50 };
    const late = await run('web create, past deadline', d1, importEvent('Create', d1, web), SUCCEEDS);
    fake.importPlan = {};
    await runPoller('web poller, past deadline', d1, web, late, { pastDeadline: true, signal: 'FAILURE' });
    const recipe = fake.addRecipe('uses-web', versionArnOf(late.Data.ImageArn));
    const lateDelete = () => importEvent('Delete', d1, web, { physicalResourceId: late.PhysicalResourceId });
    await run('web rollback delete (running task)', d1, lateDelete(), { isComplete: /^cannot delete Image Builder image \S+: it is in use \(parent of image recipe\(s\) \S+uses-web/ });
    fake.removeRecipe(recipe);
    await run('web delete again, the recipe gone', d1, lateDelete(), SUCCEEDS);

    // ImportVmImage refused: the create cancels the task it just started; the framework's
    // marker id then gets a Delete that makes no call.
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], code: 'ForbiddenException', message: 'refused by the IAM scenario' });
    await run('web create, ImportVmImage refused', d1, importEvent('Create', d1, web), {
      onEvent: /^Image Builder ImportVmImage failed: ForbiddenException: refused by the IAM scenario/,
    });
    await run('web delete of the failed create', d1, importEvent('Delete', d1, web, { physicalResourceId: CREATE_FAILED_MARKER }), SUCCEEDS);

    // An older template (the resource itself waits). CloudFormation stops waiting for the
    // Create (another resource failed) and sends a Delete with an id it invents: the Delete
    // finds the import (and the earlier ones, whose tasks EC2 still describes) by its tags,
    // cancels task and image, and isComplete removes them once Image Builder lets it.
    fake.importPlan = { steps: 50 };
    await run('web create (older template), abandoned by CloudFormation', d1, importEvent('Create', d1, web, { older: true }), SUCCEEDS, { polls: 1 });
    fake.importPlan = {};
    await run('web delete with an id CloudFormation invented', d1,
      importEvent('Delete', d1, web, { physicalResourceId: `${d1.stackName}-${web}-1QRX2Y3Z4W5V6`, older: true }), SUCCEEDS);

    // The account's other imports fill its concurrent import quota (the fake counts only its
    // own tasks: a quota of 0 stands for them). The create waits for room; once there is,
    // isComplete starts the import (ImportImage, ImportVmImage, the poller) and answers its id.
    fake.maxActiveImportTasks = 0;
    // Poll 4 of the poller asks CloudFormation whether the wait condition still waits.
    fake.importPlan = { steps: 6 };
    const webCreated = await run('web create, queued for quota', d1, importEvent('Create', d1, web), SUCCEEDS, {
      beforePoll: (poll) => {
        if (poll === 1) fake.maxActiveImportTasks = undefined;
      },
    });
    fake.importPlan = {};
    live.set(web, webCreated.Data);
    await runPoller('web poller', d1, web, webCreated, { signal: 'SUCCESS' });
    await run('web available create', d1, availableEvent('Create', d1, web), SUCCEEDS);

    // Queued too, and once it may start, every answer of ImportVmImage is lost (5xx): the image
    // may exist, so isComplete cancels the task, looks for the image by its tags, and fails.
    // CloudFormation's Delete of the queued id finds what it started by its tags.
    fake.maxActiveImportTasks = 0;
    const lostStart = fake.calls.length;
    const lost = await run('db create, queued, ImportVmImage answers lost', d1, importEvent('Create', d1, db), {
      isComplete: /^Image Builder ImportVmImage failed: ServiceUnavailableException: lost by the IAM scenario; the VM import was cancelled/,
    }, {
      beforePoll: (poll) => {
        if (poll !== 1) return;
        fake.maxActiveImportTasks = undefined;
        fake.failNext({
          service: 'imagebuilder',
          operations: ['ImportVmImage'],
          code: 'ServiceUnavailableException',
          message: 'lost by the IAM scenario',
          status: 503,
          count: LOST_IMPORT_VM_IMAGE_TRIES,
        });
      },
    });
    const lostTries = fake.calls.slice(lostStart).filter((c) => c.operation === 'ImportVmImage' && c.fault === 'ServiceUnavailableException').length;
    if (lostTries !== LOST_IMPORT_VM_IMAGE_TRIES) throw new Error(`db create: ImportVmImage was tried ${lostTries} times, not ${LOST_IMPORT_VM_IMAGE_TRIES}`);
    await run('db delete of the queued id', d1, importEvent('Delete', d1, db, { physicalResourceId: lost.PhysicalResourceId }), SUCCEEDS);

    fake.importPlan = { steps: 5 };
    const dbCreated = await run('db create', d1, importEvent('Create', d1, db), SUCCEEDS);
    fake.importPlan = {};
    live.set(db, dbCreated.Data);
    // Db's wait condition is not created yet when its poller asks (it follows the import): the
    // poller then asks whether the import resource still names this import.
    fake.setStackResource(d1.stackId, db, { status: 'CREATE_COMPLETE', type: IMPORT_TYPE, physicalId: dbCreated.PhysicalResourceId });
    await runPoller('db poller', d1, db, dbCreated, { signal: 'SUCCESS' });
    await run('db available create', d1, availableEvent('Create', d1, db), SUCCEEDS);
    fake.setStack(d1.stackId, 'CREATE_COMPLETE');

    // Tags change. Db's image was deleted outside CloudFormation (in the console): its update
    // fails and the stack rolls back; the rollback must succeed without the image, which the
    // handler learns from the stack's status.
    const d2 = deployments[2];
    fake.setStack(d2.stackId, 'UPDATE_IN_PROGRESS');
    await run('web tag update', d2, importEvent('Update', d2, web, { physicalResourceId: webCreated.PhysicalResourceId, old: d1 }), SUCCEEDS);
    fake.images.delete(dbCreated.Data.ImageArn);
    await run('db tag update, image deleted outside CloudFormation', d2, importEvent('Update', d2, db, { physicalResourceId: dbCreated.PhysicalResourceId, old: d1 }), {
      onEvent: /^Image Builder image \S+ no longer exists/,
    });
    fake.setStack(d2.stackId, 'UPDATE_ROLLBACK_IN_PROGRESS');
    await run('web tag update rolled back', d2, importEvent('Update', d2, web, { physicalResourceId: webCreated.PhysicalResourceId, old: d2, propsFrom: d1 }), SUCCEEDS);
    await run('db tag update rolled back, image gone', d2,
      importEvent('Update', d2, db, { physicalResourceId: dbCreated.PhysicalResourceId, old: d2, propsFrom: d1 }), SUCCEEDS);
    fake.setStack(d2.stackId, 'UPDATE_ROLLBACK_COMPLETE');

    // New image versions (the stack is at its first deployment's properties again).
    const d3 = deployments[3];
    fake.setStack(d3.stackId, 'UPDATE_IN_PROGRESS');
    const replaceWeb = (older: boolean) => importEvent('Update', d3, web, { physicalResourceId: webCreated.PhysicalResourceId, old: d1, older });
    // A failed replacement's rollback arrives with its NEW id and the original properties: the
    // original import is found by its tags and its id answered; then CloudFormation deletes the new one.
    const rollBackAndDelete = async (what: string, failed: Record<string, any>, older: boolean) => {
      fake.setStack(d3.stackId, 'UPDATE_ROLLBACK_IN_PROGRESS');
      await run(`web rollback of the ${what}, with its new id`, d3,
        importEvent('Update', d3, web, { physicalResourceId: failed.PhysicalResourceId, propsFrom: d1, old: d3, older }), SUCCEEDS);
      await run(`web delete of the ${what}`, d3, importEvent('Delete', d3, web, { physicalResourceId: failed.PhysicalResourceId, older }), SUCCEEDS);
      fake.setStack(d3.stackId, 'UPDATE_IN_PROGRESS');
    };
    // The new import's image fails: the poller signals FAILURE and the update rolls back. The
    // rollback names the original wait condition again, whose poller ran long ago: StartExecution
    // answers ExecutionAlreadyExists (an authorized call all the same), and the rollback goes on.
    fake.setStackResource(d3.stackId, waitConditionOf(d3, web), { status: 'CREATE_IN_PROGRESS', type: WAIT_CONDITION_TYPE });
    fake.importPlan = { steps: 1, imageFailureReason: 'refused by the IAM scenario' };
    const signalledFailure = await run('web replacing update, image FAILED', d3, replaceWeb(false), SUCCEEDS);
    fake.importPlan = {};
    await runPoller('web poller, image FAILED', d3, web, signalledFailure, { signal: 'FAILURE' });
    await rollBackAndDelete('replacement that failed its wait', signalledFailure, false);
    // Older templates wait in the resource: isComplete sees the failure and cancels the new import.
    fake.importPlan = { steps: 1, imageFailureReason: 'refused by the IAM scenario' };
    const failed = await run('web replacing update (older template), image FAILED', d3, replaceWeb(true), {
      isComplete: /^Image Builder image \S+ is FAILED: refused by the IAM scenario/,
    });
    fake.importPlan = {};
    await rollBackAndDelete('failed replacement', failed, true);
    fake.importPlan = { steps: 50, imageLag: 5 };
    const lateReplacement = await run('web replacing update (older template), past deadline', d3, replaceWeb(true), { isComplete: PAST_DEADLINE }, {
      deadline: Date.now() - 1000,
    });
    fake.importPlan = {};
    await rollBackAndDelete('late replacement', lateReplacement, true);

    fake.importPlan = { steps: 5 };
    const webReplaced = await run('web replacing update', d3, replaceWeb(false), SUCCEEDS);
    fake.importPlan = {};
    live.set(web, webReplaced.Data);
    await runPoller('web poller of the replacement', d3, web, webReplaced, { signal: 'SUCCESS' });
    // The read step gets the new image (a new id); CloudFormation then deletes the old one, and the old import.
    await run('web available update', d3, availableEvent('Update', d3, web, { physicalResourceId: webCreated.Data.ImageArn, old: d1, oldData: webCreated.Data }), SUCCEEDS);

    // Db follows the update's advice: a new imageVersion imports the VM again.
    fake.importPlan = { steps: 5 };
    const dbReplaced = await run('db replacing update, after its image was deleted', d3,
      importEvent('Update', d3, db, { physicalResourceId: dbCreated.PhysicalResourceId, old: d1 }), SUCCEEDS);
    fake.importPlan = {};
    live.set(db, dbReplaced.Data);
    fake.setStackResource(d3.stackId, db, { status: 'UPDATE_COMPLETE', type: IMPORT_TYPE, physicalId: dbReplaced.PhysicalResourceId });
    await runPoller('db poller of the replacement', d3, db, dbReplaced, { signal: 'SUCCESS' });
    await run('db available update', d3, availableEvent('Update', d3, db, { physicalResourceId: dbCreated.Data.ImageArn, old: d1, oldData: dbCreated.Data }), SUCCEEDS);

    // Clean-up of the update: the old read steps (no call), the replaced imports.
    await run('web available delete of the old image', d3,
      availableEvent('Delete', d3, web, { physicalResourceId: webCreated.Data.ImageArn, propsFrom: d1, data: webCreated.Data }), SUCCEEDS);
    await run('db available delete of the old image', d3,
      availableEvent('Delete', d3, db, { physicalResourceId: dbCreated.Data.ImageArn, propsFrom: d1, data: dbCreated.Data }), SUCCEEDS);
    await run('web delete of the replaced image', d3, importEvent('Delete', d3, web, { physicalResourceId: webCreated.PhysicalResourceId, propsFrom: d1 }), SUCCEEDS);
    await run('db delete of the original, its image gone', d3, importEvent('Delete', d3, db, { physicalResourceId: dbCreated.PhysicalResourceId, propsFrom: d1 }), SUCCEEDS);
    fake.setStack(d3.stackId, 'UPDATE_COMPLETE');

    // Web left the stack: CloudFormation deletes it (and its read step) after the policy stopped naming it.
    const d4 = deployments[4];
    fake.setStack(d4.stackId, 'UPDATE_IN_PROGRESS');
    await run('web available delete after it left the stack', d4,
      availableEvent('Delete', d4, web, { physicalResourceId: webReplaced.Data.ImageArn, propsFrom: d3 }), SUCCEEDS);
    await run('web delete after it left the stack', d4, importEvent('Delete', d4, web, { physicalResourceId: webReplaced.PhysicalResourceId, propsFrom: d3 }), SUCCEEDS);

    // Stack delete: Db in use by a recipe first (refused, naming it), then EC2 has forgotten its task.
    fake.setStack(d4.stackId, 'DELETE_IN_PROGRESS');
    await run('db available delete', d4, availableEvent('Delete', d4, db, { physicalResourceId: dbReplaced.Data.ImageArn }), SUCCEEDS);
    const dbRecipe = fake.addRecipe('uses-db', dbReplaced.Data.ImageArn, 'Windows');
    const dbDelete = () => importEvent('Delete', d4, db, { physicalResourceId: dbReplaced.PhysicalResourceId });
    await run('db delete while in use', d4, dbDelete(), {
      onEvent: /^cannot delete Image Builder image \S+: it is in use \(parent of image recipe\(s\) \S+uses-db/,
    });
    fake.removeRecipe(dbRecipe);
    fake.forgetTask(dbReplaced.Data.ImportTaskId);
    await run('db delete, task forgotten', d4, dbDelete(), SUCCEEDS);
    return { fake, steps: rec.steps, deployments };
  } finally {
    if (previousPoller === undefined) delete process.env[POLLER_STATE_MACHINE_ARN_ENV];
    else process.env[POLLER_STATE_MACHINE_ARN_ENV] = previousPoller;
    await fake.close();
  }
}

/** The import functions, by their descriptions (src/private/import-provider.ts). */
export const FUNCTION_DESCRIPTIONS = {
  onEvent: 'starts, updates and deletes VM imports',
  isComplete: 'waits for VM imports',
} as const;

/** The poller's ARN as both import functions' environment names it, the same in every deployment. */
function pollerArnOf(deployments: Deployment[]): string {
  const arns = new Set(deployments.flatMap((d) => Object.values(FUNCTION_DESCRIPTIONS).map((text) => {
    const fn = d.theOne('AWS::Lambda::Function', (p) => typeof p.Description === 'string' && p.Description.includes(text));
    return String(d.resolve(d.resource(fn).Properties.Environment?.Variables?.[POLLER_STATE_MACHINE_ARN_ENV]));
  })));
  if (arns.size !== 1) throw new Error(`the import functions name different pollers: ${[...arns].join(', ')}`);
  return [...arns][0];
}

/** arn:...:image/<name>/<version>/<build> -> arn:...:image/<name>/<version> (a recipe's parent may name all builds). */
function versionArnOf(imageArn: string): string {
  return imageArn.slice(0, imageArn.lastIndexOf('/'));
}

// ---------------------------------------------------------------- VmDiskDistribution

const DISTRIBUTION_TYPE = 'Custom::VmDiskDistribution';

export async function runDistributionLifecycles(): Promise<ScenarioResult> {
  const deployments = {
    1: distributionStack(1).deployment, 2: distributionStack(2).deployment, 3: distributionStack(3).deployment, 4: distributionStack(4).deployment,
  };
  const fake = await FakeAws.start();
  try {
    const onEvent = loadHandler(fake, '../../src/handlers/distribution/on-event.lambda');
    const rec = new Recorder(fake);
    const run = (label: string, d: Deployment, request: Record<string, any>, expected: Outcome) =>
      rec.invoke(label, 'distribution onEvent', d, expected, () => onEvent(request));
    const config = (d: Deployment, name: string) => d.theOne(DISTRIBUTION_TYPE, (p) => p.Name === name);
    const nightly = config(deployments[1], NIGHTLY);
    const keep = config(deployments[1], KEEP);

    const d1 = deployments[1];
    // A first deploy that rolled back: its delete, then a retried delete of what is gone.
    const first = await run('nightly create', d1, event('Create', d1, nightly, DISTRIBUTION_TYPE), SUCCEEDS);
    await run('nightly rollback delete', d1, event('Delete', d1, nightly, DISTRIBUTION_TYPE, { physicalResourceId: first.PhysicalResourceId }), SUCCEEDS);
    await run('nightly delete again (gone)', d1, event('Delete', d1, nightly, DISTRIBUTION_TYPE, { physicalResourceId: first.PhysicalResourceId }), SUCCEEDS);

    const created = await run('nightly create again', d1, event('Create', d1, nightly, DISTRIBUTION_TYPE), SUCCEEDS);
    const keepCreated = await run('keep create', d1, event('Create', d1, keep, DISTRIBUTION_TYPE), SUCCEEDS);

    const d2 = deployments[2];
    await run('nightly update in place', d2, event('Update', d2, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, old: d1 }), SUCCEEDS);
    await run('keep tag update', d2, event('Update', d2, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId, old: d1 }), SUCCEEDS);

    // Renamed: a new configuration, then the old one is deleted under a policy naming only the new.
    const d3 = deployments[3];
    const renamed = await run('nightly rename', d3, event('Update', d3, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, old: d2 }), SUCCEEDS);
    await run('nightly delete of the old name', d3, event('Delete', d3, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, propsFrom: d2 }), SUCCEEDS);

    const d4 = deployments[4];
    const leftDelete = event('Delete', d4, nightly, DISTRIBUTION_TYPE, { physicalResourceId: renamed.PhysicalResourceId, propsFrom: d3 });
    await run('nightly delete after it left the stack', d4, leftDelete, SUCCEEDS);
    // Retried once it is gone: with its ownership tag gone too, AWS denies the delete
    // (handler-permissions.test.ts proves the policy does), and the handler reads it to see it is gone.
    fake.failNext({
      service: 'imagebuilder',
      operations: ['DeleteDistributionConfiguration'],
      code: 'AccessDeniedException',
      message: 'not authorized to perform: imagebuilder:DeleteDistributionConfiguration',
    });
    await run('nightly retried delete, gone after it left the stack', d4, leftDelete, SUCCEEDS);
    // Stack delete: Keep is used by a pipeline first (the handler names it), then deleted, then deleted again.
    fake.addPipeline('nightly-export', keepCreated.PhysicalResourceId);
    await run('keep delete while a pipeline uses it', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }),
      /^cannot delete distribution configuration "keep-amis" \(\S+\): it is still used by image pipeline\(s\) "nightly-export"/);
    fake.pipelines.length = 0;
    await run('keep delete', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }), SUCCEEDS);
    await run('keep delete again (gone)', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }), SUCCEEDS);
    return { fake, steps: rec.steps, deployments };
  } finally {
    await fake.close();
  }
}
