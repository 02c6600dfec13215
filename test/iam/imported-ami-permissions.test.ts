/**
 * IAM proof for the ImportedAmi handler roles, as handler-permissions.test.ts proves the
 * other handlers': every AWS call the handlers make across their lifecycles
 * (imported-ami-lifecycles.ts) is allowed by the policies the synthesized template gives
 * that handler's role, the roles grant nothing more (every action is one some call needs;
 * every statement, action and resource is load-bearing), and what removes, cancels or tags
 * reaches only what carries the stack's ownership tag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AMI_FUNCTION_OF, AmiHandlerRole, AmiScenarioResult, AmiStep, commandsIn, outcomeMismatch, runImportedAmiLifecycles } from './imported-ami-lifecycles';
import { OWNER_TAG_KEY } from '../../src/private/handler-provider';
import { RecordedCall } from '../support/fake-aws';
import {
  asList, Deployment, grantedActions, IamRequest, iamRequestsFor, MODELED_OPERATIONS, NamedPolicy, simulate, Statement,
} from '../support/iam';

jest.setTimeout(120_000);

const ROLES: AmiHandlerRole[] = ['onEvent', 'isComplete'];
const OTHER_STACK = 'arn:aws:cloudformation:us-east-1:123456789012:stack/another-stack/00000000-0000-4000-8000-000000000000';

/**
 * Step Functions and CloudFormation requests, from iam-data (actions/states.json,
 * actions/cloudformation.json and their resourceTypes: the Service Authorization Reference):
 * states:StartExecution and ListExecutions on the state machine, StopExecution on the
 * execution (arn:...:execution:<machine>:<name>), cloudformation:DescribeStackResource and
 * DescribeStacks on the stack. The lifecycle work on main adds the same rules to
 * test/support/iam.ts; these stay local until both meet.
 */
const LOCAL_RULES: Record<string, (call: RecordedCall, name: string) => IamRequest[]> = {
  'sfn:StartExecution': (call, name) => [{ action: 'states:StartExecution', resource: call.input.stateMachineArn, context: {}, call: name }],
  'sfn:ListExecutions': (call, name) => [{ action: 'states:ListExecutions', resource: call.input.stateMachineArn, context: {}, call: name }],
  'sfn:StopExecution': (call, name) => [{ action: 'states:StopExecution', resource: call.input.executionArn, context: {}, call: name }],
  'cloudformation:DescribeStackResource': (call, name) => [{ action: 'cloudformation:DescribeStackResource', resource: call.input.StackName, context: {}, call: name }],
  'cloudformation:DescribeStacks': (call, name) => [{ action: 'cloudformation:DescribeStacks', resource: call.input.StackName, context: {}, call: name }],
};

function requestsFor(call: RecordedCall, scenario: AmiScenarioResult): IamRequest[] {
  const key = `${call.service}:${call.operation}`;
  return LOCAL_RULES[key]?.(call, key) ?? iamRequestsFor(call, scenario.fake);
}

let scenario: AmiScenarioResult;

beforeAll(async () => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  scenario = await runImportedAmiLifecycles();
});

afterAll(() => jest.restoreAllMocks());

function policiesOf(deployment: Deployment, role: AmiHandlerRole): NamedPolicy[] {
  return deployment.rolePolicies(deployment.functionRole(AMI_FUNCTION_OF[role]));
}

function simulateAs(
  role: AmiHandlerRole, deployment: Deployment, request: Pick<IamRequest, 'action' | 'resource' | 'context'>, policies?: NamedPolicy[],
) {
  const principal = deployment.roleArn(deployment.functionRole(AMI_FUNCTION_OF[role]));
  return simulate(request, policies ?? policiesOf(deployment, role), { principal });
}

interface Check {
  readonly step: AmiStep;
  readonly request: IamRequest;
}

function checksOf(role: AmiHandlerRole): Check[] {
  return scenario.steps.filter((s) => s.role === role)
    .flatMap((step) => step.calls.filter((call) => call.fault !== 'AccessDeniedException')
      .flatMap((call) => requestsFor(call, scenario).map((request) => ({ step, request }))));
}

function describeCheck(c: Check): string {
  return `${c.step.label}: ${c.request.action} on ${c.request.resource} ${JSON.stringify(c.request.context)}`;
}

function stageOf(deployment: Deployment): string {
  return Object.entries(scenario.deployments).find(([, d]) => d === deployment)![0];
}

function dedupe(checks: Check[]): Check[] {
  const seen = new Map<string, Check>();
  for (const c of checks) {
    const key = JSON.stringify([stageOf(c.step.deployment), c.request.action, c.request.resource, c.request.context]);
    if (!seen.has(key)) seen.set(key, c);
  }
  return [...seen.values()];
}

describe('the ImportedAmi lifecycles', () => {
  test('ended every step as it declared (so no call the proof covers went missing)', () => {
    expect(scenario.steps.length).toBeGreaterThan(30);
    expect(scenario.steps.map(outcomeMismatch).filter((m) => m !== undefined)).toEqual([]);
  });

  test('ran against a fake that accepted every request as AWS would', () => {
    expect(scenario.fake.problems).toEqual([]);
  });

  test('reach every AWS operation the ImportedAmi handlers call, and each has an IAM rule', () => {
    const dir = path.join(__dirname, '..', '..', 'src', 'handlers');
    const files = ['imported-ami', 'shared'].flatMap((sub) => fs.readdirSync(path.join(dir, sub)).map((f) => path.join(dir, sub, f)));
    const inSource = [...new Set(files.filter((f) => f.endsWith('.ts')).flatMap((f) => commandsIn(fs.readFileSync(f, 'utf8'))))].sort();
    const called = new Set(scenario.steps.flatMap((s) => s.calls.map((c) => c.operation)));
    expect(inSource.length).toBeGreaterThan(12);
    expect(inSource.filter((op) => !called.has(op))).toEqual([]);
    const modeled = new Set([...MODELED_OPERATIONS, ...Object.keys(LOCAL_RULES)].map((k) => k.split(':')[1]));
    expect([...called].filter((op) => !modeled.has(op))).toEqual([]);
  });
});

describe.each(ROLES)('the ImportedAmi %s role', (role) => {
  test('allows every call the handler made, under the policy deployed at the time', async () => {
    const checks = dedupe(checksOf(role));
    expect(checks.length).toBeGreaterThan(10);
    const denied: string[] = [];
    for (const check of checks) {
      const outcome = await simulateAs(role, check.step.deployment, check.request);
      if (!outcome.allowed) denied.push(`${describeCheck(check)} -> ${outcome.result}`);
    }
    expect(denied).toEqual([]);
  });

  test('grants nothing the handler does not use: every action (wildcards expanded) is one a recorded call needs, log writing aside', async () => {
    const needed = new Set(checksOf(role).map((c) => c.request.action));
    const granted = new Set<string>();
    for (const deployment of Object.values(scenario.deployments)) {
      (await grantedActions(policiesOf(deployment, role), isLogStatement)).forEach((a) => granted.add(a));
    }
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  test('every statement, every action of a statement, every resource is load-bearing: without it a recorded call is denied', async () => {
    const checks = dedupe(checksOf(role));
    const notLoadBearing: string[] = [];
    for (const mutation of mutationsOf(role)) {
      let denies = false;
      for (const check of checks.filter((c) => mutation.affects(c.request.action))) {
        if (!(await simulateAs(role, check.step.deployment, check.request, mutation.apply(policiesOf(check.step.deployment, role)))).allowed) {
          denies = true;
          break;
        }
      }
      if (!denies) notLoadBearing.push(mutation.label);
    }
    expect(notLoadBearing).toEqual([]);
  });
});

describe('what removes, cancels or tags reaches only what carries the stack\'s ownership tag', () => {
  const SCOPED = ['ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:CancelImportTask', 'ec2:DeleteTags'];

  test.each(ROLES)('%s: each such call is allowed with the tag, and denied without it or with another stack\'s', async (role) => {
    const checks = dedupe(checksOf(role)).filter((c) => SCOPED.includes(c.request.action)
      || (c.request.action === 'ec2:CreateTags' && c.request.context['ec2:CreateAction'] === undefined)
      || (c.request.action === 'ec2:RegisterImage' && c.request.resource.includes(':snapshot/')));
    expect(checks.length).toBeGreaterThan(2);
    for (const check of checks) {
      const d = check.step.deployment;
      expect([describeCheck(check), (await simulateAs(role, d, check.request)).allowed]).toEqual([describeCheck(check), true]);
      // Claiming a snapshot puts the tag in the request; everything else needs it on the resource.
      const key = check.request.context[`aws:ResourceTag/${OWNER_TAG_KEY}`] !== undefined ? `aws:ResourceTag/${OWNER_TAG_KEY}` : `aws:RequestTag/${OWNER_TAG_KEY}`;
      expect([describeCheck(check), check.request.context[key]]).toEqual([describeCheck(check), d.stackId]);
      const { [key]: _owner, ...without } = check.request.context;
      for (const context of [without, { ...check.request.context, [key]: OTHER_STACK }]) {
        const request = { ...check.request, context };
        const what = describeCheck({ ...check, request });
        expect([what, (await simulateAs(role, d, request)).allowed]).toEqual([what, false]);
      }
    }
  });

  test('the AMI of an import whose construct left the stack is removed under a policy that no longer names it', () => {
    const step = scenario.steps.find((s) => s.label === 'appliance delete after it left the stack: onEvent')!;
    expect(step.error).toBeUndefined();
    expect(step.calls.map((c) => c.operation)).toEqual(expect.arrayContaining(['DeregisterImage', 'DeleteSnapshot']));
    expect(JSON.stringify(step.deployment.template)).not.toContain('appliance/boot');
  });

  test('only the poll registers AMIs, and only at RegisterImage itself may it tag them', async () => {
    const d = scenario.deployments[1];
    const register = { action: 'ec2:RegisterImage', resource: 'arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0', context: {} };
    expect((await simulateAs('onEvent', d, register)).allowed).toBe(false);
    const tagAmi = { action: 'ec2:CreateTags', resource: 'arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0', context: { [`aws:RequestTag/${OWNER_TAG_KEY}`]: d.stackId } };
    expect((await simulateAs('isComplete', d, tagAmi)).allowed).toBe(false);
    expect((await simulateAs('isComplete', d, { ...tagAmi, context: { 'ec2:CreateAction': 'RegisterImage' } })).allowed).toBe(true);
  });
});

// ---------------------------------------------------------------- mutations (as handler-permissions.test.ts)

function isLogStatement(statement: Statement): boolean {
  return asList(statement.Action).every((a) => a.startsWith('logs:'));
}

interface Mutation {
  readonly label: string;
  readonly affects: (action: string) => boolean;
  readonly apply: (policies: NamedPolicy[]) => NamedPolicy[];
}

const familyOf = (s: Statement) => JSON.stringify([s.Effect, [...asList(s.Action)].sort(), s.Condition ?? null]);
const keyOf = (s: Statement) => JSON.stringify([familyOf(s), [...asList(s.Resource)].sort()]);

function mapStatements(policies: NamedPolicy[], f: (s: Statement) => Statement | undefined): NamedPolicy[] {
  return policies.map((p) => ({
    name: p.name,
    policy: { ...p.policy, Statement: p.policy.Statement.map(f).filter((s): s is Statement => s !== undefined) },
  }));
}

function mutationsOf(role: AmiHandlerRole): Mutation[] {
  const statements = Object.values(scenario.deployments)
    .flatMap((d) => policiesOf(d, role).flatMap((p) => p.policy.Statement))
    .filter((s) => !isLogStatement(s));
  const mutations: Mutation[] = [];
  for (const [family, s] of new Map(statements.map((st) => [familyOf(st), st]))) {
    for (const action of asList(s.Action)) {
      mutations.push({
        label: `${role}: ${action} from ${family}`,
        affects: (a) => a === action,
        apply: (policies) => mapStatements(policies, (t) => {
          if (familyOf(t) !== family) return t;
          const actions = asList(t.Action).filter((a) => a !== action);
          return actions.length === 0 ? undefined : { ...t, Action: actions };
        }),
      });
    }
  }
  for (const [key, s] of new Map(statements.map((st) => [keyOf(st), st]))) {
    const actions = new Set(asList(s.Action));
    mutations.push({ label: `${role}: statement ${key}`, affects: (a) => actions.has(a), apply: (policies) => mapStatements(policies, (t) => (keyOf(t) === key ? undefined : t)) });
    const resources = asList(s.Resource);
    if (resources.length < 2) continue;
    for (const resource of resources) {
      mutations.push({
        label: `${role}: resource ${resource} of ${key}`,
        affects: (a) => actions.has(a),
        apply: (policies) => mapStatements(policies,
          (t) => (keyOf(t) === key ? { ...t, Resource: asList(t.Resource).filter((r) => r !== resource) } : t)),
      });
    }
  }
  return mutations;
}
