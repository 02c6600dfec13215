/**
 * The lifecycles whose AWS calls the IAM proof collects. They follow the bundle
 * tests (test/bundle/*.test.ts): create, poll, tag-only update, replacing update
 * (and failed ones, which isComplete cleans up), rollback, cancel, delete of a
 * running / finished / forgotten / in-use resource, delete of what is already gone. Here the events carry the properties of the
 * synthesized stacks (test/iam/stacks.ts), so every ARN a call names is one the
 * template's policies were written for, and each step records which deployment's
 * policy was in force. Each step also declares how it must end (SUCCEEDS, or the
 * deliberate failure's message), and the proof checks it did: a step that fails
 * early would otherwise silently shrink the set of calls the proof covers.
 *
 * The handlers run in process (their lambda entry points, as bundled), with the
 * SDK clients pointed at the fake AWS endpoint: the calls are the bundles' calls,
 * without a node process per invocation.
 */
import { DB_IMAGE, distributionStack, importStack, KEEP, NIGHTLY, Stage, WEB_IMAGE } from './stacks';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, RecordedCall } from '../support/fake-aws';
import { Deployment } from '../support/iam';
import { cfnEvent, isCompleteEvent } from '../support/run-bundle';

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

/**
 * Loads a lambda entry point in its own module registry, with the SDK client
 * classes it constructs pointed at the fake (endpoint, region, the fake's
 * credentials). Nothing else of the handler changes.
 */
function loadHandler(fake: FakeAws, entry: string): Handler {
  const config = {
    endpoint: fake.url,
    region: fake.region,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, sessionToken: 'FakeSessionTokenForIamTests' },
  };
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    for (const [pkg, cls] of [['@aws-sdk/client-ec2', 'EC2Client'], ['@aws-sdk/client-imagebuilder', 'ImagebuilderClient']]) {
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
  readonly steps: Step[] = [];
  constructor(private readonly fake: FakeAws) {}

  /**
   * Runs one invocation; a handler error is recorded, not thrown (a failure still made
   * its calls). Whether it ended as `expected` is checked by the test (outcomeMismatch).
   */
  async invoke(label: string, role: HandlerRole, deployment: Deployment, expected: Outcome, run: () => Promise<any>): Promise<any> {
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

function event(type: 'Create' | 'Update' | 'Delete', deployment: Deployment, logicalId: string, resourceType: string, options: {
  physicalResourceId?: string; old?: Deployment; propsFrom?: Deployment;
} = {}): Record<string, any> {
  const props = (options.propsFrom ?? deployment).customResourceProperties(logicalId);
  const e = cfnEvent(type, props, {
    resourceType,
    logicalResourceId: logicalId,
    physicalResourceId: options.physicalResourceId,
    oldResourceProperties: options.old?.customResourceProperties(logicalId),
  });
  return { ...e, StackId: deployment.stackId };
}

// ---------------------------------------------------------------- VmImportImage

const IMPORT_TYPE = 'Custom::VmImportImage';

/** The deliberate failure of an import lifecycle: its onEvent step, or its isComplete steps, fail with a matching error. */
type ImportFailure = { readonly onEvent: RegExp; readonly isComplete?: undefined } | { readonly onEvent?: undefined; readonly isComplete: RegExp };

/** isComplete's error when the resource's deadline passed. */
const PAST_DEADLINE = /^VM import import-ami-\w+ did not make \S+ AVAILABLE within \d+ seconds/;

export async function runImportLifecycles(): Promise<ScenarioResult> {
  const deployments = { 1: importStack(1).deployment, 2: importStack(2).deployment, 3: importStack(3).deployment, 4: importStack(4).deployment };
  const fake = await FakeAws.start();
  try {
    const onEvent = loadHandler(fake, '../../src/handlers/import-image/on-event.lambda');
    const isComplete = loadHandler(fake, '../../src/handlers/import-image/is-complete.lambda');
    const rec = new Recorder(fake);
    const image = (d: Deployment, name: string) => d.theOne(IMPORT_TYPE, (p) => p.ImageName === name);
    const web = image(deployments[1], WEB_IMAGE);
    const db = image(deployments[1], DB_IMAGE);

    /**
     * onEvent, then isComplete until complete (or failed), as the Provider framework runs them.
     * `expected`: SUCCEEDS, or the error the onEvent step or every isComplete step fails with.
     */
    const run = async (label: string, d: Deployment, request: Record<string, any>, expected: typeof SUCCEEDS | ImportFailure, deadline?: number) => {
      const failure: { onEvent?: RegExp; isComplete?: RegExp } = expected === SUCCEEDS ? {} : expected;
      const started = await rec.invoke(`${label}: onEvent`, 'import onEvent', d, failure.onEvent ?? SUCCEEDS, () => onEvent(request));
      if (started?.error) return started;
      if (request.RequestType === 'Delete') return started;
      const pollEvent = { ...isCompleteEvent(request, started), ...(deadline !== undefined ? { Deadline: deadline } : {}) };
      for (let i = 0; i < 10; i++) {
        const polled = await rec.invoke(`${label}: isComplete`, 'import isComplete', d, failure.isComplete ?? SUCCEEDS, () => isComplete(pollEvent));
        if (polled?.error || polled?.IsComplete) return { ...started, ...polled };
      }
      throw new Error(`${label}: not complete after 10 polls`);
    };

    const d1 = deployments[1];
    // A first create that runs past its deadline; the rollback Delete cancels the
    // running task and the pending image, then deletes the image.
    fake.importPlan = { steps: 50, imageLag: 5 };
    const late = await run('web create, past deadline', d1, event('Create', d1, web, IMPORT_TYPE), { isComplete: PAST_DEADLINE }, Date.now() - 1000);
    fake.importPlan = {};
    await run('web rollback delete (running task)', d1, event('Delete', d1, web, IMPORT_TYPE, { physicalResourceId: late.PhysicalResourceId }), SUCCEEDS);
    // ImportVmImage refused: the create cancels the task it just started.
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], code: 'ForbiddenException', message: 'refused by the IAM scenario' });
    await run('web create, ImportVmImage refused', d1, event('Create', d1, web, IMPORT_TYPE), {
      onEvent: /^Image Builder ImportVmImage failed: ForbiddenException: refused by the IAM scenario/,
    });

    const webCreated = await run('web create', d1, event('Create', d1, web, IMPORT_TYPE), SUCCEEDS);
    const dbCreated = await run('db create', d1, event('Create', d1, db, IMPORT_TYPE), SUCCEEDS);

    const d2 = deployments[2];
    await run('web tag update', d2, event('Update', d2, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, old: d1 }), SUCCEEDS);
    await run('db tag update', d2, event('Update', d2, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId, old: d1 }), SUCCEEDS);

    const d3 = deployments[3];
    // Replacements that fail: isComplete removes the new import itself (CloudFormation may send
    // no Delete for the id of a failed update), which also frees the name and version for the retry.
    const replace = () => event('Update', d3, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, old: d2 });
    fake.importPlan = { steps: 1, imageFailureReason: 'refused by the IAM scenario' };
    await run('web replacing update, image FAILED', d3, replace(), { isComplete: /^Image Builder image \S+ is FAILED: refused by the IAM scenario/ });
    fake.importPlan = { steps: 50, imageLag: 5 };
    await run('web replacing update, past deadline', d3, replace(), { isComplete: PAST_DEADLINE }, Date.now() - 1000);
    fake.importPlan = {};
    const webReplaced = await run('web replacing update', d3, replace(), SUCCEEDS);
    await run('web delete of the replaced image', d3, event('Delete', d3, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, propsFrom: d2 }), SUCCEEDS);

    // Web left the stack: CloudFormation deletes it after the policy stopped naming it.
    const d4 = deployments[4];
    await run('web delete after it left the stack', d4, event('Delete', d4, web, IMPORT_TYPE, { physicalResourceId: webReplaced.PhysicalResourceId, propsFrom: d3 }), SUCCEEDS);

    // Stack delete: Db in use first (refused), then EC2 has forgotten its task.
    const dbImage = fakeImage(fake, dbCreated.Data.ImageArn);
    dbImage.inUse = true;
    await run('db delete while in use', d4, event('Delete', d4, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId }), {
      onEvent: /^cannot delete Image Builder image \S+: it is in use .*ResourceDependencyException/,
    });
    dbImage.inUse = false;
    fake.forgetTask(dbCreated.Data.ImportTaskId);
    await run('db delete, task forgotten', d4, event('Delete', d4, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId }), SUCCEEDS);
    return { fake, steps: rec.steps, deployments };
  } finally {
    await fake.close();
  }
}

function fakeImage(fake: FakeAws, arn: string) {
  const image = fake.images.get(arn);
  if (!image) throw new Error(`the fake has no image ${arn}`);
  return image;
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
