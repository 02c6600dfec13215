/**
 * IAM proof for the handler roles: every AWS call the handlers make across their
 * lifecycles (test/iam/lifecycles.ts) is allowed by the policies the synthesized
 * template gives that handler's role, and the roles grant nothing more: every
 * action is one some call needs, and every statement, action and resource is
 * load-bearing (dropping it denies a recorded call).
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  FUNCTION_DESCRIPTIONS, HandlerRole, outcomeMismatch, runDistributionLifecycles, runImportLifecycles, ScenarioResult, Step, SUCCEEDS,
} from './lifecycles';
import { DB_SNAPSHOT, NIGHTLY, NIGHTLY_LAUNCH_TEMPLATE, NIGHTLY_RENAMED, WEB_IMAGE } from './stacks';
import { OWNER_TAG_KEY } from '../../src/private/handler-provider';
import {
  asList, Deployment, EXPORT_ROLE_PASSED_TO, grantedActions, iamRequestsFor, IamRequest, IMAGE_BUILDER_SERVICE_LINKED_ROLE, MODELED_OPERATIONS,
  NamedPolicy, simulate, Statement,
} from '../support/iam';

jest.setTimeout(60_000);

/** The Lambda function each handler role belongs to, by its description. */
const FUNCTION_OF: Record<HandlerRole, string> = {
  'import onEvent': FUNCTION_DESCRIPTIONS.onEvent,
  'import isComplete': FUNCTION_DESCRIPTIONS.isComplete,
  'distribution onEvent': 'Image Builder distribution configurations',
};

let scenarios: ScenarioResult[];
let steps: Step[];

beforeAll(async () => {
  // The handlers log progress; the proof is in the recorded calls.
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  scenarios = [await runImportLifecycles(), await runDistributionLifecycles()];
  steps = scenarios.flatMap((s) => s.steps);
});

afterAll(() => jest.restoreAllMocks());

/** The role's policies in a deployment. */
function policiesOf(deployment: Deployment, role: HandlerRole): NamedPolicy[] {
  return deployment.rolePolicies(deployment.functionRole(FUNCTION_OF[role]));
}

/** Simulates a request as the handler role (its policies in that deployment, or the ones given). */
function simulateAs(role: HandlerRole, deployment: Deployment, request: Pick<IamRequest, 'action' | 'resource' | 'context'>, policies?: NamedPolicy[]) {
  return simulate(request, policies ?? policiesOf(deployment, role), { principal: deployment.roleArn(deployment.functionRole(FUNCTION_OF[role])) });
}

interface Check {
  readonly step: Step;
  readonly request: IamRequest;
  /** The fake answered the call AccessDeniedException, as AWS does when IAM denies it. */
  readonly denied: boolean;
}

/** Every IAM request of every recorded call of a role, with the step (and so the deployment) it ran in. */
function checksOf(role: HandlerRole): Check[] {
  const result: Check[] = [];
  for (const scenario of scenarios) {
    for (const step of scenario.steps.filter((s) => s.role === role)) {
      for (const call of step.calls) {
        const denied = call.fault === 'AccessDeniedException';
        for (const request of iamRequestsFor(call, scenario.fake)) result.push({ step, request, denied });
      }
    }
  }
  return result;
}

/** The checks of calls IAM let through: what the role must allow, and all that justifies a grant. */
function allowedChecksOf(role: HandlerRole): Check[] {
  return checksOf(role).filter((c) => !c.denied);
}

function describeCheck(c: Check): string {
  return `${c.step.label}: ${c.request.action} on ${c.request.resource} ${JSON.stringify(c.request.context)}`;
}

const ROLES: HandlerRole[] = ['import onEvent', 'import isComplete', 'distribution onEvent'];

describe('the lifecycles', () => {
  test('ended every step as it declared: success, or the deliberate failure (so no call the proof covers went missing)', () => {
    expect(steps.filter((s) => s.expected !== SUCCEEDS).length).toBeGreaterThan(0);
    expect(steps.map(outcomeMismatch).filter((m) => m !== undefined)).toEqual([]);
  });

  test('ran against a fake that accepted every request as AWS would', () => {
    for (const scenario of scenarios) expect(scenario.fake.problems).toEqual([]);
  });

  test('had denied by the fake (AccessDeniedException) only calls the deployed policy denies', async () => {
    const denied = ROLES.flatMap((role) => checksOf(role).filter((c) => c.denied).map((check) => ({ role, check })));
    expect(denied.length).toBeGreaterThan(0);
    for (const { role, check } of denied) {
      expect([describeCheck(check), await simulateAs(role, check.step.deployment, check.request)])
        .toEqual([describeCheck(check), { allowed: false, result: 'ImplicitlyDenied' }]);
    }
  });

  test('reach every AWS operation the handlers call, and each has an IAM rule', () => {
    const called = new Set(steps.flatMap((s) => s.calls.map((c) => c.operation)));
    const inSource = handlerOperations();
    expect(inSource.length).toBeGreaterThan(10);
    expect(inSource.filter((op) => !called.has(op))).toEqual([]);
    const modeled = new Set(MODELED_OPERATIONS.map((k) => k.split(':')[1]));
    expect([...called].filter((op) => !modeled.has(op))).toEqual([]);
  });
});

describe.each(ROLES)('the %s role', (role) => {
  test('allows every call the handler made, under the policy deployed at the time', async () => {
    const checks = allowedChecksOf(role);
    expect(checks.length).toBeGreaterThan(0);
    const denied: string[] = [];
    for (const check of dedupe(checks)) {
      const outcome = await simulateAs(role, check.step.deployment, check.request);
      if (!outcome.allowed) denied.push(`${describeCheck(check)} -> ${outcome.result}`);
    }
    expect(denied).toEqual([]);
  });
});

/** Identical requests under the same deployment need one simulation. */
function dedupe(checks: Check[]): Check[] {
  const seen = new Map<string, Check>();
  for (const c of checks) {
    const key = JSON.stringify([c.step.deployment.stackName, stageOf(c.step.deployment), c.request.action, c.request.resource, c.request.context]);
    if (!seen.has(key)) seen.set(key, c);
  }
  return [...seen.values()];
}

function stageOf(deployment: Deployment): string {
  for (const scenario of scenarios) {
    for (const [stage, d] of Object.entries(scenario.deployments)) if (d === deployment) return stage;
  }
  throw new Error('unknown deployment');
}

/** Operation names of every SDK command (and paginator) the handler sources construct. */
function handlerOperations(): string[] {
  const dir = path.join(__dirname, '..', '..', 'src', 'handlers');
  // The export handlers' and ImportedAmi's calls have their own proofs (image-export-permissions.test.ts, imported-ami-permissions.test.ts).
  const files = fs.readdirSync(dir, { recursive: true }).map(String)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('image-export') && !f.startsWith('imported-ami'));
  const ops = new Set<string>();
  for (const file of files) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/new (\w+)Command\(/g)) ops.add(m[1]);
    for (const m of text.matchAll(/\bpaginate(\w+)\(/g)) ops.add(m[1]);
  }
  return [...ops].sort();
}

/** A role's own log-writing statements: the one exception to "every action is one a recorded call needs". */
function isOwnLogStatement(deployment: Deployment, role: HandlerRole, statement: Statement): boolean {
  const actions = asList(statement.Action);
  if (!actions.every((a) => a.startsWith('logs:'))) return false;
  // The function's logs go to its own log group, and nowhere else.
  const fn = deployment.theOne('AWS::Lambda::Function', (p) => typeof p.Description === 'string' && p.Description.includes(FUNCTION_OF[role]));
  const logGroup = deployment.resource(fn).Properties.LoggingConfig?.LogGroup?.Ref;
  if (typeof logGroup !== 'string') throw new Error(`${fn} has no log group of its own`);
  expect([...actions].sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  expect(asList(statement.Resource)).toEqual([deployment.attribute(logGroup, 'Arn')]);
  return true;
}

describe.each(ROLES)('the %s role grants nothing the handler does not use', (role) => {
  test('every granted action (wildcards expanded) is one a recorded call needs; log writing to its own log group is the only exception', async () => {
    const needed = new Set(allowedChecksOf(role).map((c) => c.request.action));
    const granted = new Set<string>();
    for (const deployment of deploymentsOf(role)) {
      const actions = await grantedActions(policiesOf(deployment, role), (s) => isOwnLogStatement(deployment, role, s));
      actions.forEach((a) => granted.add(a));
    }
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  test('every statement, every action of a statement family, every resource is load-bearing: without it a recorded call is denied', async () => {
    const notLoadBearing: string[] = [];
    const checks = dedupe(allowedChecksOf(role));
    for (const mutation of mutationsOf(role)) {
      if (!await deniesSome(role, checks, mutation)) notLoadBearing.push(mutation.label);
    }
    expect(notLoadBearing).toEqual([]);
  });
});

describe('the issue\'s examples: removing one permission of src/private/*-provider.ts denies a call the handlers make', () => {
  test.each([
    ['import onEvent', 'iam:PassRole', 'ImportImage'],
    ['import onEvent', 'ec2:CancelImportTask', 'CancelImportTask'],
    ['import onEvent', 'ec2:ImportImage', 'ImportImage'],
    ['import onEvent', 'imagebuilder:DeleteImage', 'DeleteImage'],
    ['import isComplete', 'imagebuilder:GetImage', 'GetImage'],
    ['distribution onEvent', 'iam:PassRole', 'CreateDistributionConfiguration'],
    ['distribution onEvent', 'imagebuilder:ListImagePipelines', 'ListImagePipelines'],
    ['distribution onEvent', 'imagebuilder:GetDistributionConfiguration', 'GetDistributionConfiguration'],
    ['distribution onEvent', 'iam:GetRole', 'CreateDistributionConfiguration'],
    ['distribution onEvent', 'ec2:DescribeLaunchTemplates', 'CreateDistributionConfiguration'],
    ['distribution onEvent', 'ec2:CreateLaunchTemplateVersion', 'CreateDistributionConfiguration'],
    ['distribution onEvent', 'ec2:ModifyLaunchTemplate', 'CreateDistributionConfiguration'],
  ] as Array<[HandlerRole, string, string]>)('%s without %s cannot call %s', async (role, action, operation) => {
    const mutation = withoutAction(role, action);
    const checks = dedupe(allowedChecksOf(role)).filter((c) => c.request.call.endsWith(`:${operation}`));
    expect(checks.length).toBeGreaterThan(0);
    const denied: string[] = [];
    for (const check of checks) {
      const policies = mutation.apply(policiesOf(check.step.deployment, role));
      const outcome = await simulateAs(role, check.step.deployment, check.request, policies);
      if (!outcome.allowed) denied.push(describeCheck(check));
    }
    expect(denied.length).toBeGreaterThan(0);
  });
});

/**
 * What the long-wait lifecycle added (the poller, the stack checks, tag look-ups, the
 * read step, queued imports): each call is made by the role the design gives it, and
 * dropping the statement that grants it denies that call. The generic load-bearing
 * check covers every statement; this names the new ones.
 */
describe('the long-wait lifecycle\'s calls', () => {
  const NEW_CALLS: Array<[HandlerRole, string, string]> = [
    ['import onEvent', 'states:StartExecution', 'StartExecution'],
    ['import onEvent', 'states:ListExecutions', 'ListExecutions'],
    ['import onEvent', 'states:StopExecution', 'StopExecution'],
    ['import onEvent', 'cloudformation:DescribeStacks', 'DescribeStacks'],
    ['import onEvent', 'imagebuilder:ListImageBuildVersions', 'ListImageBuildVersions'],
    ['import onEvent', 'imagebuilder:ListImageRecipes', 'ListImageRecipes'],
    ['import isComplete', 'cloudformation:DescribeStackResource', 'DescribeStackResource'],
    ['import isComplete', 'states:StartExecution', 'StartExecution'],
    ['import isComplete', 'ec2:ImportImage', 'ImportImage'],
    ['import isComplete', 'ec2:CreateTags', 'ImportImage'],
    ['import isComplete', 'iam:PassRole', 'ImportImage'],
    ['import isComplete', 'imagebuilder:ImportVmImage', 'ImportVmImage'],
    ['import isComplete', 'imagebuilder:TagResource', 'ImportVmImage'],
    ['import onEvent', 'iam:GetRole', 'ImportVmImage'],
    ['import isComplete', 'iam:GetRole', 'ImportVmImage'],
    ['import isComplete', 'imagebuilder:ListImageBuildVersions', 'ListImageBuildVersions'],
    ['import isComplete', 'imagebuilder:ListImageRecipes', 'ListImageRecipes'],
    ['import isComplete', 'ec2:DeregisterImage', 'DeregisterImage'],
    ['import isComplete', 'ec2:DeleteSnapshot', 'DeleteSnapshot'],
  ];

  test.each(NEW_CALLS)('%s: %s (%s) is allowed, and denied without each statement that grants it', async (role, action, operation) => {
    const checks = dedupe(allowedChecksOf(role)).filter((c) => c.request.action === action && c.request.call.endsWith(`:${operation}`));
    expect(checks.length).toBeGreaterThan(0);
    for (const check of checks) {
      expect([describeCheck(check), await simulateAs(role, check.step.deployment, check.request)])
        .toEqual([describeCheck(check), { allowed: true, result: 'Allowed' }]);
    }
    // One family per granting line of src/ (several constructs' grants merge into one statement).
    const granting = [...new Set(statementsOf(role).filter((s) => asList(s.Action).includes(action)).map(familyOf))];
    expect(granting.length).toBeGreaterThan(0);
    for (const key of granting) {
      const drop = (policies: NamedPolicy[]) => mapStatements(policies, (t) => (familyOf(t) === key ? undefined : t));
      const denied: string[] = [];
      for (const check of checks) {
        const outcome = await simulateAs(role, check.step.deployment, check.request, drop(policiesOf(check.step.deployment, role)));
        if (!outcome.allowed) denied.push(describeCheck(check));
      }
      expect([key, denied.length > 0]).toEqual([key, true]);
    }
  });

  test('the poller signalled its wait conditions through the fake\'s handles (presigned PUTs, no IAM request)', () => {
    const attempts = scenarios[0].fake.signalAttempts;
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.filter((a) => a.method !== 'PUT' || a.status !== 200)).toEqual([]);
    const signals = [...scenarios[0].fake.signals.values()].flat().map((s) => s.Status);
    expect(new Set(signals)).toEqual(new Set(['SUCCESS', 'FAILURE']));
  });
});

describe('passing the export role', () => {
  test('is allowed whichever service iam:PassedToService names (unverified), and only for the export role', async () => {
    const passes = dedupe(allowedChecksOf('distribution onEvent')).filter((c) => c.request.action === 'iam:PassRole');
    expect(new Set(passes.map((c) => c.request.context['iam:PassedToService']))).toEqual(new Set(EXPORT_ROLE_PASSED_TO));
    for (const check of passes) {
      expect([describeCheck(check), await simulateAs('distribution onEvent', check.step.deployment, check.request)])
        .toEqual([describeCheck(check), { allowed: true, result: 'Allowed' }]);
      const otherRole = { ...check.request, resource: 'arn:aws:iam::123456789012:role/some-other-role' };
      expect((await simulateAs('distribution onEvent', check.step.deployment, otherRole)).allowed).toBe(false);
    }
  });
});

describe('what Image Builder checks with the caller\'s credentials when a configuration is created', () => {
  const createChecks = (action: string) => dedupe(allowedChecksOf('distribution onEvent'))
    .filter((c) => c.request.call.endsWith(':CreateDistributionConfiguration') && c.request.action === action);

  test('reading Image Builder\'s service-linked role is allowed, reading another role or creating one is not', async () => {
    const reads = createChecks('iam:GetRole');
    expect(reads.length).toBeGreaterThan(0);
    for (const check of reads) {
      expect(check.request.resource).toBe(IMAGE_BUILDER_SERVICE_LINKED_ROLE);
      const d = check.step.deployment;
      expect((await simulateAs('distribution onEvent', d, check.request)).allowed).toBe(true);
      const otherRole = { ...check.request, resource: 'arn:aws:iam::123456789012:role/some-other-role' };
      expect((await simulateAs('distribution onEvent', d, otherRole)).allowed).toBe(false);
      const create = { action: 'iam:CreateServiceLinkedRole', resource: IMAGE_BUILDER_SERVICE_LINKED_ROLE, context: { 'iam:AWSServiceName': 'imagebuilder.amazonaws.com' } };
      expect((await simulateAs('distribution onEvent', d, create)).allowed).toBe(false);
    }
  });

  test('the launch-template actions are allowed on the configured launch template only, and only while a configuration names one', async () => {
    const changes = [...createChecks('ec2:CreateLaunchTemplateVersion'), ...createChecks('ec2:ModifyLaunchTemplate')];
    expect(changes.length).toBeGreaterThan(0);
    for (const check of changes) {
      expect(check.request.resource).toMatch(new RegExp(`:launch-template/${NIGHTLY_LAUNCH_TEMPLATE}$`));
      const d = check.step.deployment;
      expect((await simulateAs('distribution onEvent', d, check.request)).allowed).toBe(true);
      const otherTemplate = { ...check.request, resource: check.request.resource.replace(NIGHTLY_LAUNCH_TEMPLATE, 'lt-0fedcba9876543210') };
      expect((await simulateAs('distribution onEvent', d, otherTemplate)).allowed).toBe(false);
    }
    // Stage 4: Nightly, the only configuration with a launch template, left the stack.
    const actions = policiesOf(scenarios[1].deployments[4], 'distribution onEvent').flatMap((p) => p.policy.Statement.flatMap((st) => asList(st.Action)));
    expect(actions.filter((a) => a.startsWith('ec2:'))).toEqual([]);
  });
});

describe('scoping the wildcards cannot reach', () => {
  test('ImportImage may use the EBS snapshots the stack imports, and no other', async () => {
    const d = scenarios[0].deployments[1];
    const importFrom = (id: string) => ({ action: 'ec2:ImportImage', resource: `arn:aws:ec2:us-east-1::snapshot/${id}`, context: {} });
    expect((await simulateAs('import onEvent', d, importFrom(DB_SNAPSHOT))).allowed).toBe(true);
    expect((await simulateAs('import onEvent', d, importFrom('snap-0fedcba9876543210'))).allowed).toBe(false);
  });
});

describe('resources whose construct left the stack (or was renamed)', () => {
  const IMPORT_STAGE_4 = () => scenarios[0].deployments[4];
  const DISTRIBUTION_STAGE_3 = () => scenarios[1].deployments[3];
  const DISTRIBUTION_STAGE_4 = () => scenarios[1].deployments[4];

  test('are deleted under a policy that no longer names them, thanks to the ownership tag', async () => {
    const importPolicy = JSON.stringify(policiesOf(IMPORT_STAGE_4(), 'import onEvent'));
    expect(importPolicy).not.toContain(`image/${WEB_IMAGE}`);
    expect(JSON.stringify(policiesOf(DISTRIBUTION_STAGE_3(), 'distribution onEvent'))).not.toContain(`distribution-configuration/${NIGHTLY}"`);
    expect(JSON.stringify(policiesOf(DISTRIBUTION_STAGE_4(), 'distribution onEvent'))).not.toContain(`distribution-configuration/${NIGHTLY_RENAMED}`);

    const leftDeletes = [
      ...leftStackChecks('import onEvent', 'web delete after it left the stack', ['DeleteImage']),
      ...leftStackChecks('distribution onEvent', 'nightly delete of the old name', ['DeleteDistributionConfiguration']),
      ...leftStackChecks('distribution onEvent', 'nightly delete after it left the stack', ['DeleteDistributionConfiguration']),
    ];
    expect(leftDeletes).toHaveLength(3);
    for (const { role, check } of leftDeletes) {
      expect(check.request.context[`aws:ResourceTag/${OWNER_TAG_KEY}`]).toBe(check.step.deployment.stackId);
      expect(await simulateAs(role, check.step.deployment, check.request)).toEqual({ allowed: true, result: 'Allowed' });
    }
  });

  test('are NOT deleted (or cancelled) when they lack this stack\'s ownership tag, or carry another stack\'s', async () => {
    const cancel = leftStackChecks('import onEvent', 'web rollback delete (running task)', ['CancelImageCreation'])[0];
    const candidates = [
      ...leftStackChecks('import onEvent', 'web delete after it left the stack', ['DeleteImage']),
      // The cancel, as if the image had left the stack: evaluated under the last policy.
      { role: cancel.role, check: { ...cancel.check, step: { ...cancel.check.step, deployment: IMPORT_STAGE_4() } } },
      ...leftStackChecks('distribution onEvent', 'nightly delete after it left the stack', ['DeleteDistributionConfiguration']),
    ];
    expect(candidates).toHaveLength(3);
    const otherStack = 'arn:aws:cloudformation:us-east-1:123456789012:stack/another-stack/00000000-0000-4000-8000-000000000000';
    for (const { role, check } of candidates) {
      const d = check.step.deployment;
      const withoutTags = { ...check.request, context: {} };
      const othersTag = { ...check.request, context: { ...check.request.context, [`aws:ResourceTag/${OWNER_TAG_KEY}`]: otherStack } };
      expect([describeCheck(check), await simulateAs(role, d, withoutTags)]).toEqual([describeCheck(check), { allowed: false, result: 'ImplicitlyDenied' }]);
      expect([describeCheck(check), await simulateAs(role, d, othersTag)]).toEqual([describeCheck(check), { allowed: false, result: 'ImplicitlyDenied' }]);
    }
  });
});

describe('cancelling an import task', () => {
  /** Every recorded CancelImportTask, of both import roles. */
  const cancelChecks = () => (['import onEvent', 'import isComplete'] as HandlerRole[])
    .flatMap((role) => allowedChecksOf(role).filter((c) => c.request.action === 'ec2:CancelImportTask').map((check) => ({ role, check })));

  test('is allowed for the tasks the stack started (they carry its ownership tag), by both import roles', async () => {
    const cancels = cancelChecks();
    expect(new Set(cancels.map((c) => c.role))).toEqual(new Set(['import onEvent', 'import isComplete']));
    for (const { role, check } of cancels) {
      // The fake recorded the task's tags (its TagSpecifications) as the call's resource tags.
      expect([describeCheck(check), check.request.context[`aws:ResourceTag/${OWNER_TAG_KEY}`]]).toEqual([describeCheck(check), check.step.deployment.stackId]);
      expect([describeCheck(check), await simulateAs(role, check.step.deployment, check.request)])
        .toEqual([describeCheck(check), { allowed: true, result: 'Allowed' }]);
    }
  });

  test('is denied for a task without this stack\'s ownership tag, or with another stack\'s', async () => {
    const cancels = cancelChecks();
    expect(cancels.length).toBeGreaterThan(0);
    const otherStack = 'arn:aws:cloudformation:us-east-1:123456789012:stack/another-stack/00000000-0000-4000-8000-000000000000';
    for (const { role, check } of cancels) {
      const d = check.step.deployment;
      const { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: _owner, ...otherTags } = check.request.context;
      const untagged = { ...check.request, context: otherTags };
      const othersTag = { ...check.request, context: { ...check.request.context, [`aws:ResourceTag/${OWNER_TAG_KEY}`]: otherStack } };
      for (const request of [untagged, othersTag]) {
        expect([describeCheck({ ...check, request }), await simulateAs(role, d, request)])
          .toEqual([describeCheck({ ...check, request }), { allowed: false, result: 'ImplicitlyDenied' }]);
      }
    }
  });
});

describe('a retried delete of a configuration that left the stack and is already gone', () => {
  test('is denied (no ownership tag left to match), and the read that shows it is gone is allowed', async () => {
    const label = 'nightly retried delete, gone after it left the stack';
    const step = steps.find((s) => s.label === label)!;
    expect(step.error).toBeUndefined();
    const checks = checksOf('distribution onEvent').filter((c) => c.step === step);
    expect(checks.map((c) => [c.request.action, c.denied, c.request.context])).toEqual([
      ['imagebuilder:DeleteDistributionConfiguration', true, {}],
      ['imagebuilder:GetDistributionConfiguration', false, {}],
    ]);
    for (const check of checks) {
      expect((await simulateAs('distribution onEvent', step.deployment, check.request)).allowed).toBe(!check.denied);
    }
  });
});

function leftStackChecks(role: HandlerRole, label: string, operations: string[]): Array<{ role: HandlerRole; check: Check }> {
  return allowedChecksOf(role)
    .filter((c) => c.step.label.startsWith(label) && operations.some((op) => c.request.call.endsWith(`:${op}`)))
    .map((check) => ({ role, check }));
}

// ---------------------------------------------------------------- mutations

interface Mutation {
  readonly label: string;
  /** Only requests of these actions can be affected. */
  readonly affects: (action: string) => boolean;
  readonly apply: (policies: NamedPolicy[]) => NamedPolicy[];
}

function deploymentsOf(role: HandlerRole): Deployment[] {
  const scenario = role.startsWith('import') ? scenarios[0] : scenarios[1];
  return Object.values(scenario.deployments);
}

/** Statements of a role outside its own log writing, across every deployment. */
function statementsOf(role: HandlerRole): Statement[] {
  return deploymentsOf(role).flatMap((d) => policiesOf(d, role).flatMap((p) => p.policy.Statement)
    .filter((s) => !asList(s.Action).every((a) => a.startsWith('logs:'))));
}

/** Statements written by the same line of src/ share their actions and condition; only resources differ. */
const familyOf = (s: Statement) => JSON.stringify([s.Effect, [...asList(s.Action)].sort(), s.Condition ?? null]);

function mapStatements(policies: NamedPolicy[], f: (s: Statement) => Statement | undefined): NamedPolicy[] {
  return policies.map((p) => ({
    name: p.name,
    policy: { ...p.policy, Statement: p.policy.Statement.map(f).filter((s): s is Statement => s !== undefined) },
  }));
}

function withoutAction(role: HandlerRole, action: string, family?: string): Mutation {
  return {
    label: `${role}: ${action}${family ? ` from ${family}` : ''}`,
    affects: (a) => a === action,
    apply: (policies) => mapStatements(policies, (s) => {
      if (family !== undefined && familyOf(s) !== family) return s;
      const actions = asList(s.Action).filter((a) => a !== action);
      return actions.length === 0 ? undefined : { ...s, Action: actions };
    }),
  };
}

/**
 * Every way of removing one permission: an action from every statement of its
 * family (a line of src/), and one resource from every statement of its family,
 * in every deployment: one construct's grant (grants of several constructs with
 * the same actions are one statement, src/private/grants.ts grantMerged), or a
 * whole statement when its family names one resource.
 */
function mutationsOf(role: HandlerRole): Mutation[] {
  const statements = statementsOf(role);
  const mutations: Mutation[] = [];
  const families = new Map<string, Statement[]>();
  for (const s of statements) families.set(familyOf(s), [...(families.get(familyOf(s)) ?? []), s]);
  for (const [family, members] of families) {
    for (const action of asList(members[0].Action)) mutations.push(withoutAction(role, action, family));
    const actions = new Set(asList(members[0].Action));
    const resources = new Set(members.flatMap((s) => asList(s.Resource)));
    for (const resource of resources) {
      mutations.push({
        label: `${role}: resource ${resource} of ${family}`,
        affects: (a) => actions.has(a),
        apply: (policies) => mapStatements(policies, (t) => {
          if (familyOf(t) !== family) return t;
          const rest = asList(t.Resource).filter((r) => r !== resource);
          return rest.length === 0 ? undefined : { ...t, Resource: rest };
        }),
      });
    }
  }
  return mutations;
}

async function deniesSome(role: HandlerRole, checks: Check[], mutation: Mutation): Promise<boolean> {
  for (const check of checks.filter((c) => mutation.affects(c.request.action))) {
    const policies = mutation.apply(policiesOf(check.step.deployment, role));
    if (!(await simulateAs(role, check.step.deployment, check.request, policies)).allowed) return true;
  }
  return false;
}
