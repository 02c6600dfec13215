/**
 * The lifecycles whose AWS calls the IAM proof collects. They follow the bundle
 * tests (test/bundle/*.test.ts): create, poll, tag-only update, replacing update
 * (and failed ones, which isComplete cleans up), rollback, cancel, delete of a
 * running / finished / forgotten / in-use resource, delete of what is already gone. Here the events carry the properties of the
 * synthesized stacks (test/iam/stacks.ts), so every ARN a call names is one the
 * template's policies were written for, and each step records which deployment's
 * policy was in force.
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

/** One handler invocation: the calls it made and the deployment whose policies applied. */
export interface Step {
  readonly label: string;
  readonly role: HandlerRole;
  readonly deployment: Deployment;
  readonly calls: RecordedCall[];
  readonly error?: Error;
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

  /** Runs one invocation; a handler error is recorded, not thrown (a failure still made its calls). */
  async invoke(label: string, role: HandlerRole, deployment: Deployment, run: () => Promise<any>): Promise<any> {
    const before = this.fake.calls.length;
    let value: any;
    let error: Error | undefined;
    try {
      value = await run();
    } catch (err) {
      error = err as Error;
    }
    this.steps.push({ label, role, deployment, calls: this.fake.calls.slice(before), error });
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

    /** onEvent, then isComplete until complete (or failed), as the Provider framework runs them. */
    const run = async (label: string, d: Deployment, request: Record<string, any>, deadline?: number) => {
      const started = await rec.invoke(`${label}: onEvent`, 'import onEvent', d, () => onEvent(request));
      if (started?.error) return started;
      if (request.RequestType === 'Delete') return started;
      const pollEvent = { ...isCompleteEvent(request, started), ...(deadline !== undefined ? { Deadline: deadline } : {}) };
      for (let i = 0; i < 10; i++) {
        const polled = await rec.invoke(`${label}: isComplete`, 'import isComplete', d, () => isComplete(pollEvent));
        if (polled?.error || polled?.IsComplete) return { ...started, ...polled };
      }
      throw new Error(`${label}: not complete after 10 polls`);
    };

    const d1 = deployments[1];
    // A first create that runs past its deadline; the rollback Delete cancels the
    // running task and the pending image, then deletes the image.
    fake.importPlan = { steps: 50, imageLag: 5 };
    const late = await run('web create, past deadline', d1, event('Create', d1, web, IMPORT_TYPE), Date.now() - 1000);
    fake.importPlan = {};
    if (!late.error) throw new Error('the late create should have failed');
    await run('web rollback delete (running task)', d1, event('Delete', d1, web, IMPORT_TYPE, { physicalResourceId: late.PhysicalResourceId }));
    // ImportVmImage refused: the create cancels the task it just started.
    fake.failNext({ service: 'imagebuilder', operations: ['ImportVmImage'], code: 'ForbiddenException', message: 'refused by the IAM scenario' });
    await run('web create, ImportVmImage refused', d1, event('Create', d1, web, IMPORT_TYPE));

    const webCreated = await run('web create', d1, event('Create', d1, web, IMPORT_TYPE));
    const dbCreated = await run('db create', d1, event('Create', d1, db, IMPORT_TYPE));

    const d2 = deployments[2];
    await run('web tag update', d2, event('Update', d2, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, old: d1 }));
    await run('db tag update', d2, event('Update', d2, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId, old: d1 }));

    const d3 = deployments[3];
    // Replacements that fail: isComplete removes the new import itself (CloudFormation may send
    // no Delete for the id of a failed update), which also frees the name and version for the retry.
    const replace = () => event('Update', d3, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, old: d2 });
    fake.importPlan = { steps: 1, imageFailureReason: 'refused by the IAM scenario' };
    const failedReplacement = await run('web replacing update, image FAILED', d3, replace());
    fake.importPlan = { steps: 50, imageLag: 5 };
    const lateReplacement = await run('web replacing update, past deadline', d3, replace(), Date.now() - 1000);
    fake.importPlan = {};
    if (!failedReplacement.error || !lateReplacement.error) throw new Error('the failed replacements should have failed');
    const webReplaced = await run('web replacing update', d3, event('Update', d3, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, old: d2 }));
    await run('web delete of the replaced image', d3, event('Delete', d3, web, IMPORT_TYPE, { physicalResourceId: webCreated.PhysicalResourceId, propsFrom: d2 }));

    // Web left the stack: CloudFormation deletes it after the policy stopped naming it.
    const d4 = deployments[4];
    await run('web delete after it left the stack', d4, event('Delete', d4, web, IMPORT_TYPE, { physicalResourceId: webReplaced.PhysicalResourceId, propsFrom: d3 }));

    // Stack delete: Db in use first (refused), then EC2 has forgotten its task.
    const dbImage = fakeImage(fake, dbCreated.Data.ImageArn);
    dbImage.inUse = true;
    await run('db delete while in use', d4, event('Delete', d4, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId }));
    dbImage.inUse = false;
    fake.forgetTask(dbCreated.Data.ImportTaskId);
    await run('db delete, task forgotten', d4, event('Delete', d4, db, IMPORT_TYPE, { physicalResourceId: dbCreated.PhysicalResourceId }));
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
    const run = (label: string, d: Deployment, request: Record<string, any>) => rec.invoke(label, 'distribution onEvent', d, () => onEvent(request));
    const config = (d: Deployment, name: string) => d.theOne(DISTRIBUTION_TYPE, (p) => p.Name === name);
    const nightly = config(deployments[1], NIGHTLY);
    const keep = config(deployments[1], KEEP);

    const d1 = deployments[1];
    // A first deploy that rolled back: its delete, then a retried delete of what is gone.
    const first = await run('nightly create', d1, event('Create', d1, nightly, DISTRIBUTION_TYPE));
    await run('nightly rollback delete', d1, event('Delete', d1, nightly, DISTRIBUTION_TYPE, { physicalResourceId: first.PhysicalResourceId }));
    await run('nightly delete again (gone)', d1, event('Delete', d1, nightly, DISTRIBUTION_TYPE, { physicalResourceId: first.PhysicalResourceId }));

    const created = await run('nightly create again', d1, event('Create', d1, nightly, DISTRIBUTION_TYPE));
    const keepCreated = await run('keep create', d1, event('Create', d1, keep, DISTRIBUTION_TYPE));

    const d2 = deployments[2];
    await run('nightly update in place', d2, event('Update', d2, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, old: d1 }));
    await run('keep tag update', d2, event('Update', d2, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId, old: d1 }));

    // Renamed: a new configuration, then the old one is deleted under a policy naming only the new.
    const d3 = deployments[3];
    const renamed = await run('nightly rename', d3, event('Update', d3, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, old: d2 }));
    await run('nightly delete of the old name', d3, event('Delete', d3, nightly, DISTRIBUTION_TYPE, { physicalResourceId: created.PhysicalResourceId, propsFrom: d2 }));

    const d4 = deployments[4];
    const leftDelete = event('Delete', d4, nightly, DISTRIBUTION_TYPE, { physicalResourceId: renamed.PhysicalResourceId, propsFrom: d3 });
    await run('nightly delete after it left the stack', d4, leftDelete);
    // Retried once it is gone: with its ownership tag gone too, AWS denies the delete
    // (handler-permissions.test.ts proves the policy does), and the handler reads it to see it is gone.
    fake.failNext({
      service: 'imagebuilder',
      operations: ['DeleteDistributionConfiguration'],
      code: 'AccessDeniedException',
      message: 'not authorized to perform: imagebuilder:DeleteDistributionConfiguration',
    });
    await run('nightly retried delete, gone after it left the stack', d4, leftDelete);
    // Stack delete: Keep is used by a pipeline first (the handler names it), then deleted, then deleted again.
    fake.addPipeline('nightly-export', keepCreated.PhysicalResourceId);
    await run('keep delete while a pipeline uses it', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }));
    fake.pipelines.length = 0;
    await run('keep delete', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }));
    await run('keep delete again (gone)', d4, event('Delete', d4, keep, DISTRIBUTION_TYPE, { physicalResourceId: keepCreated.PhysicalResourceId }));
    return { fake, steps: rec.steps, deployments };
  } finally {
    await fake.close();
  }
}
