import {
  Annotations, CfnResource, CfnWaitCondition, CfnWaitConditionHandle, CustomResource, Duration, ITaggable, Lazy, RemovalPolicy, Resource,
  Stack, TagManager, TagType,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { validateVmDiskExport, VmDiskExport } from './distribution/vm-disk-export';
import { ExportSource, VM_EXPORT_LIMITS_URL } from './export-source';
import {
  EXPORT_LIBRARY_TAG_COUNT, ExportTargetProperties, VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE, VM_IMAGE_EXPORT_RESOURCE_TYPE,
  VmImageExportCompleteProperties, VmImageExportProperties,
} from './handlers/types';
import { ExportExecutionRole } from './private/export-execution-role';
import { OWNER_TAG_KEY } from './private/handler-provider';
import { EXPORT_PROVIDER_MAX_WAIT, VmImageExportProvider } from './private/image-export-provider';
import { synthKey } from './private/synth-key';
import {
  MAX_POLL_INTERVAL, MAX_WAIT, MIN_POLL_INTERVAL, MIN_WAIT, validateWholeSeconds, waitConditionTimeout,
} from './private/wait-condition';
import { IVmDiskDistribution } from './vm-disk-distribution';

/** The most tags an Image Builder image accepts. */
const MAX_TAGS = 50;
/** Exporting large disks takes hours; a hung export fails after this. Failures fail at once. */
const DEFAULT_TIMEOUT = Duration.hours(6);
const DEFAULT_POLL_INTERVAL = Duration.seconds(15);
const DEFAULT_MAX_POLL_INTERVAL = Duration.minutes(2);

/**
 * Properties of a VmImageExport.
 */
export interface VmImageExportProps {
  /**
   * The image to export: `ExportSource.fromImage(image)`, `fromAmiId('ami-...')`,
   * `fromSsmParameter(parameter)` or `fromImageArn(arn)`.
   */
  readonly source: ExportSource;

  /**
   * The distribution configuration whose exports (and other settings) Image Builder
   * applies to the source, such as a `VmDiskDistribution` with `exports`. Give it its
   * exports before the VmImageExport is defined.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_DistributeImage.html
   */
  readonly distribution: IVmDiskDistribution;

  /**
   * The role Image Builder assumes to distribute the image (DistributeImage
   * `executionRole`). It must trust imagebuilder.amazonaws.com. A given role is also
   * allowed to pass the distribution's export role to VM Export and to write the
   * distribution's logs.
   *
   * @default - a role made for the stack with what an export needs: copying and exporting AMIs, tagging what Image Builder creates, passing the export role, writing logs under /aws/imagebuilder/. Distributions that also share AMIs with other accounts, update launch templates, write SSM parameters or set up fast launch need a role of your own.
   * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-image-workflows.html
   */
  readonly executionRole?: iam.IRole;

  /**
   * The log group Image Builder writes the distribution's logs to.
   *
   * @default - Image Builder's default log group, under /aws/imagebuilder/
   */
  readonly logGroup?: logs.ILogGroup;

  /**
   * Whether the deployment waits until the export is complete (the distributed image
   * AVAILABLE, the disks in S3).
   *
   * @default true
   */
  readonly waitForCompletion?: boolean;

  /**
   * How long the deployment waits for the export before it fails (the distribution is
   * then cancelled). From 1 minute to 12 hours: the deployment waits through an
   * `AWS::CloudFormation::WaitCondition` that a Step Functions poller signals, as
   * `VmImportImage` does. A failed export fails the deployment within one poll interval.
   *
   * @default Duration.hours(6)
   */
  readonly timeout?: Duration;

  /**
   * The wait before the first poll of the export; later intervals grow with the time
   * elapsed (a tenth of it), up to `maxPollInterval`.
   *
   * @default Duration.seconds(15)
   */
  readonly pollInterval?: Duration;

  /**
   * The longest wait between two polls of the export: completion or failure is noticed
   * within this long. From `pollInterval` to 30 minutes.
   *
   * @default Duration.minutes(2)
   */
  readonly maxPollInterval?: Duration;

  /**
   * What deleting the export means. The exported disk files always stay in S3 (the
   * handler has no access to the buckets; remove them with a lifecycle rule or by hand),
   * and so do AMIs the distribution copied to other Regions. DESTROY deletes the
   * distributed image's Image Builder record; RETAIN keeps it too (DeletionPolicy
   * RetainExceptOnCreate: a failed create is still rolled back). A distribution still
   * running is cancelled whatever the policy.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Tags of the distributed image. `Tags.of(scope)` reaches them too. The image also
   * carries the library's own tags (`cdk-vm-import-export:*`), which let the stack find
   * and delete it: at most 46 tags of your own.
   *
   * @default - none
   */
  readonly tags?: { [key: string]: string };
}

/**
 * Exports an existing image (an Image Builder image such as a `VmImportImage`, an
 * AMI, or an SSM parameter holding an AMI id) as VM disks to S3, with Image Builder's
 * DistributeImage and a distribution configuration that has exports: no recipe, no
 * pipeline, no build instance. The export runs again when the source or the
 * distribution's exports change; a tag change does not export again.
 *
 * @resource Custom::VmImageExport
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/distribution-enhanced_functionality.html
 */
export class VmImageExport extends Resource implements ITaggable {
  /**
   * The ARN of the image build version DistributeImage made (GetImage reads it).
   * With `waitForCompletion` (the default), whatever uses it waits for the export.
   *
   * @attribute
   */
  public readonly exportedImageArn: string;
  /** The role Image Builder assumes for this export. */
  public readonly executionRole: iam.IRole;
  /** Tags of the distributed image. */
  public readonly tags: TagManager;

  private readonly resource: CustomResource;
  private removalPolicy: RemovalPolicy;

  /**
   * @param scope the scope of the construct, in a stack
   * @param id the construct id
   * @param props the source image, the distribution and the export settings
   */
  constructor(scope: Construct, id: string, props: VmImageExportProps) {
    super(scope, id);
    const timeout = props.timeout ?? DEFAULT_TIMEOUT;
    const pollInterval = props.pollInterval ?? DEFAULT_POLL_INTERVAL;
    const maxPollInterval = props.maxPollInterval ?? DEFAULT_MAX_POLL_INTERVAL;
    const waitForCompletion = props.waitForCompletion ?? true;
    validateWholeSeconds('timeout', timeout, MIN_WAIT, MAX_WAIT,
      `the deployment can wait ${MAX_WAIT.toHumanString()} at most (an AWS::CloudFormation::WaitCondition's limit)`);
    validateWholeSeconds('pollInterval', pollInterval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, 'use whole seconds');
    validateWholeSeconds('maxPollInterval', maxPollInterval, pollInterval, MAX_POLL_INTERVAL, 'use whole seconds, no less than pollInterval');
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    validateRemovalPolicy(this.removalPolicy);

    const source = props.source.bind(this);
    const distribution = props.distribution;
    // The exports as they are now: they are part of what the export is (and of its identity).
    const exports = distribution.exports?.map((exp, i): VmDiskExport => {
      const region = exp.region ?? Stack.of(this).region;
      return { ...validateVmDiskExport(this, `distribution exports[${i}]`, region, exp), region };
    });
    this.node.addValidation({ validate: () => this.validateDistribution(distribution, exports) });

    const provider = VmImageExportProvider.of(this);
    const madeRole = props.executionRole ? undefined : ExportExecutionRole.of(this);
    this.executionRole = props.executionRole ?? madeRole!.role;
    provider.grantPassExecutionRole(this.executionRole);
    if (distribution.exportRole) {
      grantPassExportRole(this.executionRole, distribution.exportRole, madeRole);
    } else if (!props.executionRole && exports?.length !== 0) {
      throw new Error(`distribution ${distribution.node.path} does not say which role VM Export uses (a configuration referred to by ARN), so the export's ` +
        'execution role cannot be allowed to pass it: give executionRole, a role that trusts imagebuilder.amazonaws.com and may pass the export role ' +
        '(iam:PassRole, iam:PassedToService vmie.amazonaws.com) and export AMIs');
    }
    if (madeRole) madeRole.grantWriteLogs(props.logGroup);
    else grantWriteLogs(this.executionRole, props.logGroup);
    if (source.parameter) {
      provider.grantReadSourceParameter(source.parameter);
      this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [source.parameter.parameterArn] }));
    }

    this.tags = new TagManager(TagType.MAP, VM_IMAGE_EXPORT_RESOURCE_TYPE, props.tags);
    this.node.addValidation({
      validate: () => {
        const count = Object.keys(this.tags.tagValues()).length;
        const room = MAX_TAGS - EXPORT_LIBRARY_TAG_COUNT;
        return count > room
          ? [`the export has ${count} tags; Image Builder accepts ${MAX_TAGS} on an image, ${EXPORT_LIBRARY_TAG_COUNT} of which the library sets (cdk-vm-import-export:*): remove ${count - room}`]
          : [];
      },
    });

    // What the export is made of: the handler exports again when any of it changes.
    const exportSettings = {
      SourceImage: source.sourceImage,
      DistributionConfigurationArn: distribution.distributionConfigurationArn,
      ...(exports ? { Exports: exports.map((exp) => renderTarget(exp, exp.region ?? Stack.of(this).region)) } : {}),
    };
    const waitKey = waitForCompletion
      ? synthKey(this, { ...exportSettings, revision: source.revision, timeout: timeout.toSeconds() })
      : undefined;
    const handle = waitKey ? new CfnWaitConditionHandle(this, `Signal${waitKey}`) : undefined;
    const waitLogicalId = `Wait${waitKey}`;

    const properties: VmImageExportProperties = {
      ...exportSettings,
      ExecutionRole: this.executionRole.roleArn,
      LogGroupName: props.logGroup?.logGroupName,
      Tags: Lazy.any({ produce: () => ({ ...this.tags.renderTags(), [OWNER_TAG_KEY]: Stack.of(this).stackId }) }) as any,
      WaitForCompletion: String(waitForCompletion),
      TimeoutSeconds: String(timeout.toSeconds()),
      RemovalPolicy: Lazy.string({ produce: () => (this.removalPolicy === RemovalPolicy.DESTROY ? 'destroy' : 'retain') }),
      ...(handle ? {
        SignalUrl: handle.ref,
        WaitConditionLogicalId: Lazy.string({ produce: () => Stack.of(this).getLogicalId(this.node.findChild(waitLogicalId) as CfnWaitCondition) }),
        PollIntervalSeconds: String(pollInterval.toSeconds()),
        MaxPollIntervalSeconds: String(maxPollInterval.toSeconds()),
      } : {}),
    };
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: VM_IMAGE_EXPORT_RESOURCE_TYPE,
      properties,
      // Creates answer at once; deletes may wait for Image Builder, queued exports for quota.
      serviceTimeout: EXPORT_PROVIDER_MAX_WAIT,
    });
    this.applyCfnRemovalPolicy();
    // The execution role's policies must be attached before Image Builder assumes it.
    this.resource.node.addDependency(madeRole ?? this.executionRole);

    let complete: CustomResource | undefined;
    if (handle) {
      const wait = new CfnWaitCondition(this, waitLogicalId, { handle: handle.ref, count: 1, timeout: waitConditionTimeout(timeout) });
      // Starts counting once the export and its poller have started.
      wait.addDependency(this.resource.node.defaultChild as CfnResource);
      const completeProps: VmImageExportCompleteProperties = {
        ExportedImageArn: this.resource.getAttString('ExportedImageArn'),
        WaitCondition: wait.ref,
        TimeoutSeconds: String(timeout.toSeconds()),
      };
      // The read step after the wait: exportedImageArn comes from it, so whatever uses it waits too.
      complete = new CustomResource(this, 'Complete', {
        serviceToken: provider.serviceToken,
        resourceType: VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE,
        properties: completeProps,
        serviceTimeout: EXPORT_PROVIDER_MAX_WAIT,
      });
    }
    this.exportedImageArn = (complete ?? this.resource).getAttString('ExportedImageArn');
  }

  /**
   * Sets what deleting the export means; see `removalPolicy`.
   */
  public applyRemovalPolicy(policy: RemovalPolicy): void {
    validateRemovalPolicy(policy);
    this.removalPolicy = policy;
    this.applyCfnRemovalPolicy();
  }

  private applyCfnRemovalPolicy(): void {
    const cfn = this.resource.node.defaultChild as CfnResource;
    cfn.applyRemovalPolicy(this.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE);
  }

  private validateDistribution(distribution: IVmDiskDistribution, exportsAtDefinition: VmDiskExport[] | undefined): string[] {
    const now = distribution.exports;
    if (now === undefined) return [];
    if (exportsAtDefinition !== undefined && now.length !== exportsAtDefinition.length) {
      return [`distribution ${distribution.node.path} had ${exportsAtDefinition.length} export(s) when ${this.node.path} was defined and has ${now.length} now; ` +
        'give the distribution its exports before defining the VmImageExport (the export, its role and its identity follow them)'];
    }
    if (now.length === 0) {
      Annotations.of(this).addWarningV2('cdk-vm-import-export:exportWithoutExports',
        `distribution ${distribution.node.path} has no export, so DistributeImage would only copy AMIs and write no VM disk ` +
        `(${VM_EXPORT_LIMITS_URL}): give it exports, e.g. exports: [{ bucket, format: VmDiskFormat.VMDK }]`);
    }
    return [];
  }
}

function validateRemovalPolicy(policy: RemovalPolicy): void {
  if (policy !== RemovalPolicy.DESTROY && policy !== RemovalPolicy.RETAIN && policy !== RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE) {
    throw new Error(`removalPolicy ${policy} is not supported by a VmImageExport (an export has no snapshots of its own); use RemovalPolicy.DESTROY or RemovalPolicy.RETAIN`);
  }
}

function renderTarget(exp: VmDiskExport, region: string): ExportTargetProperties {
  return {
    Region: region,
    Bucket: exp.bucket.bucketName,
    Prefix: exp.prefix || undefined,
    Format: exp.format,
  };
}

/** The export role, passed to VM Export: on the made role with its condition, on a given role likewise. */
function grantPassExportRole(executionRole: iam.IRole, exportRole: iam.IRole, madeRole: ExportExecutionRole | undefined): void {
  if (madeRole) {
    madeRole.grantPassExportRole(exportRole);
    return;
  }
  executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['iam:PassRole'],
    resources: [exportRole.roleArn],
    conditions: { StringEquals: { 'iam:PassedToService': 'vmie.amazonaws.com' } },
  }));
}

function grantWriteLogs(role: iam.IRole, logGroup: logs.ILogGroup | undefined): void {
  if (!logGroup) return;
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
}

