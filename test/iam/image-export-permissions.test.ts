/**
 * IAM proof for VmImageExport, on the two-Region stack (test/support/image-export-stacks.ts):
 * - the handler roles: every AWS call the export handlers make across their lifecycle
 *   (create, poll, read step, tag update, replacement and its failure, queued export,
 *   deletes with the real id, with a running poller and with an invented id, the update
 *   of a vanished export while rolling back) is allowed by the synthesized policy of the
 *   role that made it, under the deployment in force; every granted action is one some
 *   call needs; every statement is load-bearing; the tag conditions hold;
 * - the execution role Image Builder assumes: trusted only by Image Builder of this
 *   account, allowed the distribution's EC2 work and passing the export role to VM Export
 *   only, and nothing in S3 (VM Export writes with the export role).
 * The handlers run in process (their lambda entry points) with real SDK clients pointed
 * at the fake AWS endpoint, so the calls are the bundles' calls.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeAws, RecordedCall } from '../support/fake-aws';
import {
  ACCOUNT, asList, Deployment, EXPORT_MODELED_OPERATIONS, grantedActions, iamRequestsFor, IamRequest, MODELED_OPERATIONS, NamedPolicy, REGION,
  simulate, Statement,
} from '../support/iam';
import { twoRegionExportStack, WEST_BUCKET } from '../support/image-export-stacks';
import { cfnEvent, isCompleteEvent } from '../support/run-bundle';

jest.setTimeout(120_000);

type Role = 'export onEvent' | 'export isComplete';
const FUNCTION_OF: Record<Role, string> = {
  'export onEvent': 'starts, updates and deletes image exports',
  'export isComplete': 'polls long exports',
};
const EXPORT_TYPE = 'Custom::VmImageExport';
const OWNER = 'cdk-vm-import-export:stack-id';
const ENV = { account: ACCOUNT, region: REGION };

/** 1: first deploy; 2: tags changed; 3: a new version of the imported image (a new export). */
type Stage = 1 | 2 | 3;
const stacks = { 1: twoRegionExportStack({ env: ENV, exportTags: { stage: 'test' } }), 2: twoRegionExportStack({ env: ENV, exportTags: { team: 'exports' } }), 3: twoRegionExportStack({ env: ENV, imageVersion: '1.0.1' }) };
const deployments: Record<Stage, Deployment> = {
  1: new Deployment(stacks[1].stackName, Template.fromStack(stacks[1]).toJSON()),
  2: new Deployment(stacks[2].stackName, Template.fromStack(stacks[2]).toJSON()),
  3: new Deployment(stacks[3].stackName, Template.fromStack(stacks[3]).toJSON()),
};
const d1 = deployments[1];
const exportId = d1.theOne(EXPORT_TYPE, () => true);

interface Step {
  readonly label: string;
  readonly role: Role;
  readonly deployment: Deployment;
  readonly calls: RecordedCall[];
  readonly expected: 'succeeds' | RegExp;
  readonly error?: Error;
}

let fake: FakeAws;
const steps: Step[] = [];

type Handler = (event: any) => Promise<any>;

/** A lambda entry point in its own module registry, its SDK clients pointed at the fake. */
function loadHandler(entry: string): Handler {
  const config = {
    endpoint: fake.url,
    region: fake.region,
    credentials: { accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, sessionToken: 'FakeSessionTokenForIamTests' },
  };
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    for (const [pkg, cls] of [
      ['@aws-sdk/client-imagebuilder', 'ImagebuilderClient'], ['@aws-sdk/client-sfn', 'SFNClient'], ['@aws-sdk/client-cloudformation', 'CloudFormationClient'],
    ]) {
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

async function record(label: string, role: Role, deployment: Deployment, expected: Step['expected'], run: () => Promise<any>): Promise<any> {
  const before = fake.calls.length;
  let value: any;
  let error: Error | undefined;
  try {
    value = await run();
  } catch (err) {
    error = err as Error;
  }
  steps.push({ label, role, deployment, calls: fake.calls.slice(before), expected, error });
  return error ? { error } : value;
}

/** The export's properties in a deployment, with the deploy-time values of the fake. */
function exportProps(deployment: Deployment, sourceImage: string, configArn: string, overrides: Record<string, unknown> = {}): Record<string, any> {
  const raw = deployment.resource(exportId).Properties;
  const resolved = deployment.resolve({ ...raw, SourceImage: sourceImage, DistributionConfigurationArn: configArn, SignalUrl: '' });
  return { ...resolved, SignalUrl: fake.waitConditionHandle(resolved.WaitConditionLogicalId, deployment.stackId), ...overrides };
}

function event(type: 'Create' | 'Update' | 'Delete', deployment: Deployment, props: Record<string, any>, options: { physicalResourceId?: string; old?: Record<string, any>; resourceType?: string; logicalId?: string } = {}) {
  const e = cfnEvent(type, props, {
    resourceType: options.resourceType ?? EXPORT_TYPE,
    logicalResourceId: options.logicalId ?? exportId,
    physicalResourceId: options.physicalResourceId,
    oldResourceProperties: options.old,
  });
  return { ...e, StackId: deployment.stackId };
}

function givenSource(version: string): string {
  const arn = `arn:aws:imagebuilder:${fake.region}:${fake.account}:image/web-server/${version}/1`;
  const ami = `ami-0a1b2c3d4e5f6071${version.slice(-1)}`;
  fake.amis.set(ami, { id: ami, snapshotIds: [], importTaskId: 'import-ami-0123456789abcdef0' });
  fake.images.set(arn, {
    arn,
    name: 'web-server',
    version,
    buildVersion: 1,
    platform: 'Linux',
    vmImportTaskId: 'import-ami-0123456789abcdef0',
    clientToken: `import-${version}`,
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

beforeAll(async () => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  fake = await FakeAws.start();
  const pollerArn = d1.resolve(d1.resource(d1.theOne('AWS::Lambda::Function', (p) => String(p.Description).includes(FUNCTION_OF['export onEvent'])))
    .Properties.Environment.Variables.POLLER_STATE_MACHINE_ARN);
  process.env.POLLER_STATE_MACHINE_ARN = pollerArn;
  try {
    const onEvent = loadHandler('../../src/handlers/image-export/on-event.lambda');
    const isComplete = loadHandler('../../src/handlers/image-export/is-complete.lambda');
    // The import task the sources came from (the fake's image status follows it).
    fake.importTasks.set('import-ami-0123456789abcdef0', {
      id: 'import-ami-0123456789abcdef0',
      input: { DiskContainers: [] },
      plan: { steps: 1, failDeletingDescribes: 1 },
      status: 'completed',
      describeCount: 1,
      startedAt: 0,
      deletingDescribes: 0,
      snapshotIds: [],
      cancelled: false,
      forgotten: false,
    });
    const source1 = givenSource('1.0.0');
    const source3 = givenSource('1.0.1');
    const configArn = `arn:aws:imagebuilder:${fake.region}:${fake.account}:distribution-configuration/web-vhd`;
    fake.distributionConfigurations.set(configArn, {
      arn: configArn,
      name: 'web-vhd',
      clientToken: 'c',
      tags: {},
      distributions: [{ region: 'us-east-1' }, { region: 'us-west-2' }],
    });
    const p1 = exportProps(d1, source1, configArn);
    const p2 = exportProps(deployments[2], source1, configArn);
    const p3 = exportProps(deployments[3], source3, configArn);
    fake.setStack(d1.stackId, 'CREATE_IN_PROGRESS');
    fake.setStackResource(d1.stackId, p1.WaitConditionLogicalId, { status: 'CREATE_IN_PROGRESS', type: 'AWS::CloudFormation::WaitCondition' });

    /** Runs the poller execution onEvent started, poll by poll, as the state machine does. */
    const poll = async (label: string, d: Deployment) => {
      const execution = [...fake.executions.values()].filter((e) => e.status === 'RUNNING').pop()!;
      let state: any = execution.input;
      for (let i = 0; i < 20 && !state.Done; i++) state = await record(`${label}: poll`, 'export isComplete', d, 'succeeds', () => isComplete(state));
      fake.finishExecution(execution.arn, 'SUCCEEDED');
    };

    fake.distributionPlan = { steps: 5 };
    const created = await record('create', 'export onEvent', d1, 'succeeds', () => onEvent(event('Create', d1, p1)));
    await poll('create', d1);
    const readProps = { ExportedImageArn: created.Data.ExportedImageArn, WaitCondition: 'w', TimeoutSeconds: '21600' };
    const read = event('Create', d1, readProps, { resourceType: 'Custom::VmImageExportComplete', logicalId: `${exportId}Complete` });
    const readStarted = await record('read step', 'export onEvent', d1, 'succeeds', () => onEvent(read));
    await record('read step', 'export isComplete', d1, 'succeeds', () => isComplete(isCompleteEvent(read, readStarted)));

    const d2 = deployments[2];
    await record('tag update', 'export onEvent', d2, 'succeeds', () => onEvent(event('Update', d2, p2, { physicalResourceId: created.PhysicalResourceId, old: p1 })));

    const d3 = deployments[3];
    const replaced = await record('replacement', 'export onEvent', d3, 'succeeds', () => onEvent(event('Update', d3, p3, { physicalResourceId: created.PhysicalResourceId, old: p2 })));
    await record('delete of the replaced export', 'export onEvent', d3, 'succeeds',
      () => onEvent(event('Delete', d3, p2, { physicalResourceId: created.PhysicalResourceId })));
    // The stack is deleted while the new export runs: its poller is stopped, the distribution cancelled, the delete waits.
    const deleteRunning = event('Delete', d3, p3, { physicalResourceId: replaced.PhysicalResourceId });
    const deleting = await record('delete while running', 'export onEvent', d3, 'succeeds', () => onEvent(deleteRunning));
    for (let i = 0; i < 10; i++) {
      const done = await record('delete while running: wait', 'export isComplete', d3, 'succeeds', () => isComplete(isCompleteEvent(deleteRunning, deleting)));
      if (done.IsComplete) break;
    }

    // A full quota: the export waits for room, then starts in isComplete.
    fake.maxRunningDistributions = 0;
    const queuedCreate = event('Create', d1, p1);
    const queued = await record('queued create', 'export onEvent', d1, 'succeeds', () => onEvent(queuedCreate));
    fake.maxRunningDistributions = undefined;
    const started = await record('queued create: room', 'export isComplete', d1, 'succeeds', () => isComplete(isCompleteEvent(queuedCreate, queued)));
    expect(started.IsComplete).toBe(true);
    // CloudFormation gave up on that create and deletes it with an id it invented: found by its tags.
    const invented = event('Delete', d1, p1, { physicalResourceId: `${d1.stackName}-${exportId}-1A2B3C4D5E6F` });
    const inventedDelete = await record('delete with an invented id', 'export onEvent', d1, 'succeeds', () => onEvent(invented));
    for (let i = 0; i < 10 && inventedDelete.Wait === 'delete'; i++) {
      const done = await record('delete with an invented id: wait', 'export isComplete', d1, 'succeeds', () => isComplete(isCompleteEvent(invented, inventedDelete)));
      if (done.IsComplete) break;
    }

    // The update of an export deleted meanwhile, while the stack rolls back, succeeds.
    fake.setStack(d1.stackId, 'UPDATE_ROLLBACK_IN_PROGRESS');
    await record('rollback update of a vanished export', 'export onEvent', d1, 'succeeds',
      () => onEvent(event('Update', d1, p1, { physicalResourceId: created.PhysicalResourceId, old: p2 })));

    // A replacement without a wait condition (an older template) that fails: isComplete cancels its own export.
    fake.distributionPlan = { steps: 1, failureReason: 'EXPORT_AMI failed' };
    const noWait = { ...p3, SignalUrl: undefined, WaitConditionLogicalId: undefined };
    const failing = event('Update', d3, noWait, { physicalResourceId: created.PhysicalResourceId, old: p2 });
    const failingStarted = await record('replacement without a wait condition', 'export onEvent', d3, 'succeeds', () => onEvent(failing));
    // The fake's distribution reads PENDING once, then FAILED.
    await record('replacement without a wait condition: poll', 'export isComplete', d3, 'succeeds', () => isComplete(isCompleteEvent(failing, failingStarted)));
    await record('replacement without a wait condition: failed', 'export isComplete', d3, /is FAILED: EXPORT_AMI failed/,
      () => isComplete(isCompleteEvent(failing, failingStarted)));
  } finally {
    await fake.close();
  }
});

afterAll(() => jest.restoreAllMocks());

function policiesOf(deployment: Deployment, role: Role): NamedPolicy[] {
  return deployment.rolePolicies(deployment.functionRole(FUNCTION_OF[role]));
}

function simulateAs(role: Role, deployment: Deployment, request: Pick<IamRequest, 'action' | 'resource' | 'context'>, policies?: NamedPolicy[]) {
  return simulate(request, policies ?? policiesOf(deployment, role), { principal: deployment.roleArn(deployment.functionRole(FUNCTION_OF[role])) });
}

interface Check { readonly step: Step; readonly request: IamRequest }

function checksOf(role: Role): Check[] {
  const seen = new Map<string, Check>();
  for (const step of steps.filter((s) => s.role === role)) {
    for (const call of step.calls) {
      for (const request of iamRequestsFor(call, fake)) {
        const stage = Object.values(deployments).indexOf(step.deployment);
        const key = JSON.stringify([stage, request.action, request.resource, request.context]);
        if (!seen.has(key)) seen.set(key, { step, request });
      }
    }
  }
  return [...seen.values()];
}

const describeCheck = (c: Check) => `${c.step.label}: ${c.request.action} on ${c.request.resource} ${JSON.stringify(c.request.context)}`;
const ROLES: Role[] = ['export onEvent', 'export isComplete'];

describe('the export lifecycle', () => {
  test('ended every step as it declared, against a fake that accepted every request', () => {
    const mismatches = steps.filter((s) => (s.expected === 'succeeds' ? s.error !== undefined : !(s.error && s.expected.test(s.error.message))))
      .map((s) => `${s.label}: ${s.error?.message ?? 'succeeded'}`);
    expect(mismatches).toEqual([]);
    expect(steps.some((s) => s.expected !== 'succeeds')).toBe(true);
    expect(fake.problems).toEqual([]);
  });

  test('called every operation the export handlers construct, and each has an IAM rule', () => {
    const called = new Set(steps.flatMap((s) => s.calls.map((c) => c.operation)));
    const inSource = ['DistributeImage', 'GetImage', 'ListImages', 'ListImageBuildVersions', 'CancelImageCreation', 'DeleteImage', 'TagResource', 'UntagResource',
      'StartExecution', 'ListExecutions', 'StopExecution', 'DescribeStackResource', 'DescribeStacks'];
    expect(inSource.filter((op) => !called.has(op))).toEqual([]);
    const modeled = new Set([...MODELED_OPERATIONS, ...EXPORT_MODELED_OPERATIONS].map((k) => k.split(':')[1]));
    expect([...called].filter((op) => !modeled.has(op))).toEqual([]);
  });
});

describe.each(ROLES)('the %s role', (role) => {
  test('allows every call the handler made, under the policy deployed at the time', async () => {
    const checks = checksOf(role);
    expect(checks.length).toBeGreaterThan(5);
    const denied: string[] = [];
    for (const check of checks) {
      const outcome = await simulateAs(role, check.step.deployment, check.request);
      if (!outcome.allowed) denied.push(`${describeCheck(check)} -> ${outcome.result}`);
    }
    expect(denied).toEqual([]);
  });

  test('grants no action a recorded call does not need (log writing to its own group aside)', async () => {
    const needed = new Set(checksOf(role).map((c) => c.request.action));
    const granted = new Set<string>();
    for (const deployment of Object.values(deployments)) {
      (await grantedActions(policiesOf(deployment, role), (s) => asList(s.Action).every((a) => a.startsWith('logs:')))).forEach((a) => granted.add(a));
    }
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  test('every statement, and every action of a statement, is load-bearing: without it a recorded call is denied', async () => {
    const checks = checksOf(role);
    const notLoadBearing: string[] = [];
    const statements = new Map<string, Statement>();
    for (const deployment of Object.values(deployments)) {
      for (const s of policiesOf(deployment, role).flatMap((p) => p.policy.Statement)) {
        if (!asList(s.Action).every((a) => a.startsWith('logs:'))) statements.set(JSON.stringify(s), s);
      }
    }
    for (const [key, statement] of statements) {
      for (const action of [undefined, ...asList(statement.Action)]) {
        const drop = (policies: NamedPolicy[]) => policies.map((p) => ({
          name: p.name,
          policy: {
            ...p.policy,
            Statement: p.policy.Statement.flatMap((t) => {
              if (JSON.stringify(t) !== key) return [t];
              const rest = action === undefined ? [] : asList(t.Action).filter((a) => a !== action);
              return rest.length > 0 ? [{ ...t, Action: rest }] : [];
            }),
          },
        }));
        let denies = false;
        const affected = checks.filter((c) => asList(statement.Action).includes(c.request.action)
          && (action === undefined || c.request.action === action));
        for (const check of affected) {
          if (!(await simulateAs(role, check.step.deployment, check.request, drop(policiesOf(check.step.deployment, role)))).allowed) {
            denies = true;
            break;
          }
        }
        if (!denies) notLoadBearing.push(`${action ?? 'statement'} of ${key}`);
      }
    }
    expect(notLoadBearing).toEqual([]);
  });
});

describe('the tag conditions', () => {
  const otherStack = 'arn:aws:cloudformation:us-east-1:123456789012:stack/another-stack/00000000-0000-4000-8000-000000000000';

  test('DistributeImage is allowed only with this stack\'s ownership tag in the request', async () => {
    const distributes = checksOf('export onEvent').filter((c) => c.request.action === 'imagebuilder:DistributeImage');
    expect(distributes.length).toBeGreaterThan(0);
    for (const check of distributes) {
      const { [`aws:RequestTag/${OWNER}`]: _owner, ...rest } = check.request.context;
      for (const context of [rest, { ...check.request.context, [`aws:RequestTag/${OWNER}`]: otherStack }]) {
        expect([describeCheck(check), (await simulateAs('export onEvent', check.step.deployment, { ...check.request, context })).allowed])
          .toEqual([describeCheck(check), false]);
      }
    }
  });

  test('cancelling, deleting and tagging need this stack\'s tag on the image', async () => {
    const checks = ROLES.flatMap((role) => checksOf(role)
      .filter((c) => ['imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage', 'imagebuilder:TagResource', 'imagebuilder:UntagResource'].includes(c.request.action))
      .map((check) => ({ role, check })));
    expect(new Set(checks.map((c) => c.check.request.action)).size).toBe(4);
    for (const { role, check } of checks) {
      expect(check.request.context[`aws:ResourceTag/${OWNER}`]).toBe(check.step.deployment.stackId);
      const others = { ...check.request, context: { ...check.request.context, [`aws:ResourceTag/${OWNER}`]: otherStack } };
      expect([describeCheck(check), (await simulateAs(role, check.step.deployment, others)).allowed]).toEqual([describeCheck(check), false]);
    }
  });

  test('only the execution role may be passed', async () => {
    const passes = checksOf('export onEvent').filter((c) => c.request.action === 'iam:PassRole');
    expect(passes.length).toBeGreaterThan(0);
    for (const check of passes) {
      const other = { ...check.request, resource: `arn:aws:iam::${ACCOUNT}:role/some-other-role` };
      expect((await simulateAs('export onEvent', check.step.deployment, other)).allowed).toBe(false);
    }
  });
});

describe('the execution role Image Builder assumes', () => {
  const role = d1.theOne('AWS::IAM::Role', (p) => String(p.Description).includes('for DistributeImage'));
  const exportRole = d1.theOne('AWS::IAM::Role', (p) => String(p.Description).includes('writes the disks an Image Builder distribution exports'));
  const may = async (action: string, resource: string, context: Record<string, string> = {}) =>
    (await simulate({ action, resource, context }, d1.rolePolicies(role), { principal: d1.roleArn(role) })).allowed;

  test('is trusted by Image Builder of this account only', async () => {
    const mayAssume = async (principal: string, context: Record<string, string>) => (await simulate(
      { action: 'sts:AssumeRole', resource: d1.roleArn(role), context }, [], { principal, resourcePolicy: d1.trustPolicy(role) })).allowed;
    expect(await mayAssume('imagebuilder.amazonaws.com', { 'aws:SourceAccount': ACCOUNT })).toBe(true);
    expect(await mayAssume('imagebuilder.amazonaws.com', { 'aws:SourceAccount': '210987654321' })).toBe(false);
    expect(await mayAssume('ec2.amazonaws.com', { 'aws:SourceAccount': ACCOUNT })).toBe(false);
    expect(await mayAssume('vmie.amazonaws.com', { 'aws:SourceAccount': ACCOUNT })).toBe(false);
  });

  test('may copy and export AMIs in the distribution\'s Regions, tag what it creates, and read images and export tasks', async () => {
    for (const region of ['us-east-1', 'us-west-2']) {
      const image = `arn:aws:ec2:${region}::image/ami-0123456789abcdef0`;
      const task = `arn:aws:ec2:${region}:${ACCOUNT}:export-image-task/export-ami-0123456789abcdef0`;
      expect([region, await may('ec2:ExportImage', image), await may('ec2:ExportImage', task)]).toEqual([region, true, true]);
      expect(await may('ec2:CopyImage', image)).toBe(true);
      expect(await may('ec2:CopyImage', `arn:aws:ec2:${region}::snapshot/snap-0123456789abcdef0`)).toBe(true);
      expect(await may('ec2:CreateTags', task, { 'ec2:CreateAction': 'ExportImage' })).toBe(true);
      expect(await may('ec2:CancelExportTask', task, { 'ec2:ResourceTag/CreatedBy': 'EC2 Image Builder' })).toBe(true);
      expect(await may('ec2:CancelExportTask', task, { 'ec2:ResourceTag/CreatedBy': 'someone' })).toBe(false);
    }
    expect(await may('ec2:DescribeImages', '*')).toBe(true);
    expect(await may('ec2:DescribeExportImageTasks', '*')).toBe(true);
  });

  test('may pass the distribution\'s export role to VM Export only, and no other role', async () => {
    const arn = d1.roleArn(exportRole);
    expect(await may('iam:PassRole', arn, { 'iam:PassedToService': 'vmie.amazonaws.com' })).toBe(true);
    expect(await may('iam:PassRole', arn, { 'iam:PassedToService': 'ec2.amazonaws.com' })).toBe(false);
    expect(await may('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/vmimport`, { 'iam:PassedToService': 'vmie.amazonaws.com' })).toBe(false);
  });

  test('writes logs only under /aws/imagebuilder/, and reaches nothing in S3: VM Export writes the disks with the export role', async () => {
    expect(await may('logs:PutLogEvents', `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/imagebuilder/web-server:log-stream:1.0.0/2`)).toBe(true);
    expect(await may('logs:PutLogEvents', `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/other:log-stream:x`)).toBe(false);
    const home = d1.attribute(d1.logicalIds('AWS::S3::Bucket').find((id) => id.startsWith('Exports'))!, 'Arn');
    for (const bucket of [home, `arn:aws:s3:::${WEST_BUCKET}`]) {
      expect(await may('s3:PutObject', `${bucket}/vhd/export-ami-0123456789abcdef0.vhd`)).toBe(false);
      expect(await may('s3:GetBucketAcl', bucket)).toBe(false);
    }
    expect(await may('ec2:DeregisterImage', 'arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0')).toBe(false);
    expect(await may('ec2:ModifyImageAttribute', 'arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0')).toBe(false);
  });
});
