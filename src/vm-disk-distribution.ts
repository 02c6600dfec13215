import {
  Annotations, ArnFormat, CfnResource, CustomResource, Duration, IResource, ITaggable, Lazy, Names,
  RemovalPolicy, Resource, Stack, TagManager, TagType, Token,
} from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { VM_DISK_DISTRIBUTION_RESOURCE_TYPE, VmDiskDistributionProperties } from './handlers/types';
import { VmDiskDistributionProvider } from './private/distribution-provider';
import { grantWriteExport } from './private/grants';
import { OWNER_TAG_KEY } from './private/handler-provider';
import { validateImageName } from './private/validation';
import { VmImportExportServiceRole } from './service-role';

/** The most tags an Image Builder resource accepts (one is the stack's ownership tag). */
const MAX_TAGS = 50;
const MAX_DESCRIPTION = 1024;
const MAX_LAUNCH_TEMPLATES = 100;
const MAX_LICENSE_CONFIGURATIONS = 50;
const MAX_FAST_LAUNCH_CONFIGURATIONS = 1000;
/** EC2 EnableFastLaunch launches at least 6 instances in parallel. */
const MIN_PARALLEL_LAUNCHES = 6;
const MAX_TARGET_SNAPSHOTS = 10000;

// Patterns of the Image Builder API model (imagebuilder 2019-12-02).
const ACCOUNT_ID = /^[0-9]{12}$/;
const AMI_NAME = /^[-_A-Za-z0-9{][-_A-Za-z0-9\s:{}.]+[-_A-Za-z0-9}]$/;
const LAUNCH_TEMPLATE_ID = /^lt-[a-z0-9-_]{17}$/;
const LICENSE_CONFIGURATION_ARN = /^arn:aws[^:]*:license-manager:[^:]+:[0-9]{12}:license-configuration:lic-[a-z0-9-_]{32}$/;
const SSM_PARAMETER_NAME = /^[a-zA-Z0-9_.\-/]{1,1011}$/;

/**
 * The file format VM Export writes an image's disk in.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_S3ExportConfiguration.html
 */
export enum VmDiskFormat {
  /** Stream-optimized VMDK, for VMware ESX and vSphere. */
  VMDK = 'VMDK',
  /** A raw disk image. */
  RAW = 'RAW',
  /** VHD, for Citrix Xen and Microsoft Hyper-V. */
  VHD = 'VHD',
}

/**
 * Where and how to export the image of one Region as a VM disk.
 */
export interface VmDiskExportOptions {
  /**
   * The bucket VM Export writes the disk file to. It must be in the Region of the
   * export and must not use SSE-KMS encryption.
   *
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/vmexport.html#limits-image-export
   */
  readonly bucket: s3.IBucket;

  /**
   * The file format of the disk.
   */
  readonly format: VmDiskFormat;

  /**
   * The key prefix of the disk file; the file is named `<prefix>export-ami-<id>.<format>`,
   * so end the prefix with "/" to use it as a folder.
   *
   * @default - the root of the bucket
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_S3ExportConfiguration.html
   */
  readonly prefix?: string;
}

/**
 * An export of the image as a VM disk to an S3 bucket, in one Region.
 */
export interface VmDiskExport extends VmDiskExportOptions {
  /**
   * The Region whose image is exported; the bucket must be in it.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Who may launch the distributed AMI.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchPermissionConfiguration.html
 */
export interface AmiLaunchPermission {
  /**
   * Ids of the AWS accounts that may launch the AMI.
   *
   * @default - none
   */
  readonly userIds?: string[];

  /**
   * Groups that may launch the AMI; `all` makes it public.
   *
   * @default - none
   */
  readonly userGroups?: string[];

  /**
   * ARNs of the AWS Organizations whose accounts may launch the AMI.
   *
   * @default - none
   */
  readonly organizationArns?: string[];

  /**
   * ARNs of the organizational units whose accounts may launch the AMI.
   *
   * @default - none
   */
  readonly organizationalUnitArns?: string[];
}

/**
 * Settings of the AMI distributed to one Region.
 */
export interface AmiDistributionOptions {
  /**
   * The name of the distributed AMI. AMI names must be unique: include
   * `{{ imagebuilder:buildDate }}` so that every build gets its own.
   *
   * @default - Image Builder derives it from the recipe
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_AmiDistributionConfiguration.html
   */
  readonly amiName?: string;

  /**
   * A description of the AMI.
   *
   * @default - none
   */
  readonly description?: string;

  /**
   * Tags of the distributed AMI.
   *
   * @default - none
   */
  readonly amiTags?: { [key: string]: string };

  /**
   * Encrypts the AMI's snapshots with this key, which must be in the Region of
   * the distribution. VM Export cannot export AMIs with encrypted snapshots.
   *
   * @default - the account's default EBS encryption
   * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-distribution-settings.html
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Ids of the AWS accounts the AMI is copied to.
   *
   * @default - only this account
   */
  readonly targetAccountIds?: string[];

  /**
   * Who may launch the AMI.
   *
   * @default - only the owning account
   */
  readonly launchPermission?: AmiLaunchPermission;
}

/**
 * The AMI distributed to one Region.
 */
export interface AmiDistribution extends AmiDistributionOptions {
  /**
   * The Region the AMI is distributed to.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Where a container image built by a container recipe is distributed to, in one Region.
 */
export interface ContainerDistributionOptions {
  /**
   * The ECR repository the container image is pushed to.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ContainerDistributionConfiguration.html
   */
  readonly repository: ecr.IRepository;

  /**
   * A description of the container distribution.
   *
   * @default - none
   */
  readonly description?: string;

  /**
   * Tags given to the pushed container image.
   *
   * @default - none
   */
  readonly containerTags?: string[];
}

/**
 * A container distribution in one Region.
 */
export interface ContainerDistribution extends ContainerDistributionOptions {
  /**
   * The Region the container image is distributed to.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * An EC2 launch template that gets a new version with the distributed AMI.
 */
export interface LaunchTemplateConfigurationOptions {
  /**
   * The id of the launch template, `lt-` and 17 characters.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchTemplateConfiguration.html
   */
  readonly launchTemplateId: string;

  /**
   * The account that owns the launch template.
   *
   * @default - this account
   */
  readonly accountId?: string;

  /**
   * Whether the new version becomes the launch template's default version.
   *
   * @default false
   */
  readonly setDefaultVersion?: boolean;
}

/**
 * A launch template updated with the AMI distributed to one Region.
 */
export interface LaunchTemplateConfiguration extends LaunchTemplateConfigurationOptions {
  /**
   * The Region of the launch template.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * License Manager license configurations associated with the AMI of one Region.
 */
export interface LicenseConfigurationDistribution {
  /**
   * ARNs of the license configurations.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_Distribution.html
   */
  readonly licenseConfigurationArns: string[];

  /**
   * The Region of the AMI.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * An SSM parameter that receives the id of the distributed AMI.
 */
export interface SsmParameterConfigurationOptions {
  /**
   * The name of the parameter; the distribution creates it if it does not exist.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_SsmParameterConfiguration.html
   */
  readonly parameterName: string;

  /**
   * The account that owns the parameter. It must be one of the AMI distribution's
   * `targetAccountIds` for the Region.
   *
   * @default - this account
   */
  readonly amiAccountId?: string;

  /**
   * The data type of the parameter.
   *
   * @default - Image Builder's default (text)
   */
  readonly dataType?: ssm.ParameterDataType;
}

/**
 * An SSM parameter in one Region that receives the id of the AMI distributed there.
 */
export interface SsmParameterConfiguration extends SsmParameterConfigurationOptions {
  /**
   * The Region of the parameter.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * The launch template Windows faster launching uses to pre-provision snapshots.
 * Give exactly one of `launchTemplateId` and `launchTemplateName`.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchLaunchTemplateSpecification.html
 */
export interface FastLaunchLaunchTemplate {
  /**
   * The id of the launch template.
   *
   * @default - `launchTemplateName` is used
   */
  readonly launchTemplateId?: string;

  /**
   * The name of the launch template.
   *
   * @default - `launchTemplateId` is used
   */
  readonly launchTemplateName?: string;

  /**
   * The version of the launch template.
   *
   * @default - the default version
   */
  readonly launchTemplateVersion?: string;
}

/**
 * Windows faster launching for the distributed AMI.
 */
export interface FastLaunchConfigurationOptions {
  /**
   * Whether faster launching is on; false turns it off.
   *
   * @default true
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchConfiguration.html
   */
  readonly enabled?: boolean;

  /**
   * The most instances launched at once to create pre-provisioned snapshots; at least 6.
   *
   * @default - EC2's default (6)
   * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableFastLaunch.html
   */
  readonly maxParallelLaunches?: number;

  /**
   * How many pre-provisioned snapshots to keep (snapshotConfiguration.targetResourceCount), 1 to 10000.
   *
   * @default - EC2's default (10)
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchSnapshotConfiguration.html
   */
  readonly targetSnapshotCount?: number;

  /**
   * The launch template used to launch the pre-provisioning instances.
   *
   * @default - EC2 launches them with its defaults
   */
  readonly launchTemplate?: FastLaunchLaunchTemplate;

  /**
   * The account that owns the AMI faster launching applies to.
   *
   * @default - this account
   */
  readonly accountId?: string;
}

/**
 * Windows faster launching for the AMI distributed to one Region.
 */
export interface FastLaunchConfiguration extends FastLaunchConfigurationOptions {
  /**
   * The Region of the AMI.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Any part of the distribution to one Region, in the shape of the Image Builder
 * API's `Distribution`. Parts already set for the Region by other calls are merged.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_Distribution.html
 */
export interface RegionDistribution {
  /**
   * The Region.
   *
   * @default - the stack's Region
   */
  readonly region?: string;

  /**
   * The export of the image as a VM disk to S3.
   *
   * @default - no export
   */
  readonly s3Export?: VmDiskExportOptions;

  /**
   * The AMI distributed to the Region.
   *
   * @default - no AMI settings
   */
  readonly amiDistribution?: AmiDistributionOptions;

  /**
   * The container image distributed to the Region.
   *
   * @default - no container distribution
   */
  readonly containerDistribution?: ContainerDistributionOptions;

  /**
   * Launch templates updated with the AMI.
   *
   * @default - none
   */
  readonly launchTemplateConfigurations?: LaunchTemplateConfigurationOptions[];

  /**
   * ARNs of License Manager license configurations associated with the AMI.
   *
   * @default - none
   */
  readonly licenseConfigurationArns?: string[];

  /**
   * SSM parameters that receive the AMI id.
   *
   * @default - none
   */
  readonly ssmParameterConfigurations?: SsmParameterConfigurationOptions[];

  /**
   * Windows faster launching for the AMI.
   *
   * @default - none
   */
  readonly fastLaunchConfigurations?: FastLaunchConfigurationOptions[];
}

/**
 * An EC2 Image Builder distribution configuration.
 *
 * Its members have the names `@aws-cdk/aws-imagebuilder-alpha`'s
 * `IDistributionConfiguration` uses.
 */
export interface IVmDiskDistribution extends IResource {
  /**
   * The ARN of the distribution configuration.
   *
   * @attribute
   */
  readonly distributionConfigurationArn: string;

  /**
   * The name of the distribution configuration.
   *
   * @attribute
   */
  readonly distributionConfigurationName: string;

  /**
   * Grants the given principal the given Image Builder actions on this distribution configuration.
   */
  grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant;

  /**
   * Grants the given principal permission to read this distribution configuration.
   */
  grantRead(grantee: iam.IGrantable): iam.Grant;
}

/**
 * Properties of a VmDiskDistribution.
 */
export interface VmDiskDistributionProps {
  /**
   * The name of the distribution configuration. Changing it replaces the configuration.
   *
   * @default - a name derived from the construct path
   */
  readonly distributionName?: string;

  /**
   * A description of the distribution configuration, 1 to 1024 characters.
   *
   * @default - no description
   */
  readonly description?: string;

  /**
   * Exports of the image as VM disks to S3, at most one per Region.
   * More can be added with `addExport`.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-distribution-settings.html
   */
  readonly exports?: VmDiskExport[];

  /**
   * The role VM Export assumes to write the disks. It is allowed to write to the
   * export buckets and prefixes; it must trust vmie.amazonaws.com with the external id `vmimport`.
   *
   * @default - a `VmImportExportServiceRole` made for this distribution when it has an export
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role
   */
  readonly exportRole?: iam.IRole;

  /**
   * AMI settings, at most one per Region. More can be added with `addAmiDistribution`.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_AmiDistributionConfiguration.html
   */
  readonly amiDistributions?: AmiDistribution[];

  /**
   * Container distributions, at most one per Region.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ContainerDistributionConfiguration.html
   */
  readonly containerDistributions?: ContainerDistribution[];

  /**
   * Launch templates updated with the distributed AMIs.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchTemplateConfiguration.html
   */
  readonly launchTemplateConfigurations?: LaunchTemplateConfiguration[];

  /**
   * License Manager license configurations associated with the distributed AMIs.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_Distribution.html
   */
  readonly licenseConfigurations?: LicenseConfigurationDistribution[];

  /**
   * SSM parameters that receive the ids of the distributed AMIs.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_SsmParameterConfiguration.html
   */
  readonly ssmParameterConfigurations?: SsmParameterConfiguration[];

  /**
   * Windows faster launching for the distributed AMIs.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchConfiguration.html
   */
  readonly fastLaunchConfigurations?: FastLaunchConfiguration[];

  /**
   * What happens to the distribution configuration when it leaves the stack:
   * DESTROY deletes it, RETAIN keeps it. Deleting fails while an image pipeline uses it.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Tags of the distribution configuration. `Tags.of(scope)` reaches them too. The
   * configuration also carries the tag `cdk-vm-import-export:stack-id`, which lets
   * the stack delete it after a rename.
   *
   * @default - none
   */
  readonly tags?: { [key: string]: string };
}

abstract class VmDiskDistributionBase extends Resource implements IVmDiskDistribution {
  public abstract readonly distributionConfigurationArn: string;
  public abstract readonly distributionConfigurationName: string;

  public grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.distributionConfigurationArn] });
  }

  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.grant(grantee, 'imagebuilder:GetDistributionConfiguration');
  }
}

/** Everything one Region's `Distribution` entry collects. */
interface RegionEntry {
  readonly region: string;
  s3Export?: VmDiskExportOptions;
  ami?: AmiDistributionOptions;
  container?: ContainerDistributionOptions;
  readonly launchTemplates: LaunchTemplateConfigurationOptions[];
  readonly licenseConfigurationArns: string[];
  readonly ssmParameters: SsmParameterConfigurationOptions[];
  readonly fastLaunches: FastLaunchConfigurationOptions[];
}

/**
 * An EC2 Image Builder distribution configuration that can export the built image
 * as a VM disk (VMDK, RAW or VHD) to S3, which CloudFormation's
 * `AWS::ImageBuilder::DistributionConfiguration` cannot, alongside everything it can:
 * AMI, container, launch template, license, SSM parameter and faster-launch settings.
 *
 * Give its `distributionConfigurationArn` to an image pipeline.
 *
 * @resource Custom::VmDiskDistribution
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-distribution-settings.html
 */
export class VmDiskDistribution extends VmDiskDistributionBase implements ITaggable {
  /**
   * Refers to an existing distribution configuration by ARN. Its name is read
   * from the ARN, which holds it lowercased with spaces turned into hyphens.
   */
  public static fromDistributionConfigurationArn(scope: Construct, id: string, distributionConfigurationArn: string): IVmDiskDistribution {
    const name = Stack.of(scope).splitArn(distributionConfigurationArn, ArnFormat.SLASH_RESOURCE_NAME).resourceName ?? '';
    class Import extends VmDiskDistributionBase {
      public readonly distributionConfigurationArn = distributionConfigurationArn;
      public readonly distributionConfigurationName = name;
    }
    return new Import(scope, id);
  }

  public readonly distributionConfigurationArn: string;
  public readonly distributionConfigurationName: string;
  /** Tags of the distribution configuration. */
  public readonly tags: TagManager;

  private readonly distributionName: string;
  private readonly resource: CustomResource;
  private readonly provider: VmDiskDistributionProvider;
  private readonly entries = new Map<string, RegionEntry>();
  private readonly givenExportRole?: iam.IRole;
  private createdExportRole?: VmImportExportServiceRole;
  private removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: VmDiskDistributionProps = {}) {
    super(scope, id);
    this.distributionName = props.distributionName
      ?? Names.uniqueResourceName(this, { maxLength: 128, separator: '-', allowedSpecialCharacters: '-_' });
    validateImageName('distributionName', this.distributionName);
    if (props.description !== undefined && !Token.isUnresolved(props.description)
      && (props.description.length === 0 || props.description.length > MAX_DESCRIPTION)) {
      throw new Error(`description is ${props.description.length} characters long; Image Builder accepts 1 to ${MAX_DESCRIPTION}: shorten it, or leave it out for no description`);
    }
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    validateRemovalPolicy(this.removalPolicy);
    this.givenExportRole = props.exportRole;
    this.provider = VmDiskDistributionProvider.of(this);
    this.provider.grantForConfiguration(this.configurationArnPattern());

    this.tags = new TagManager(TagType.MAP, VM_DISK_DISTRIBUTION_RESOURCE_TYPE, props.tags);
    this.node.addValidation({
      validate: () => {
        const errors: string[] = [];
        if (this.entries.size === 0) {
          errors.push('the distribution has no Region to distribute to; give exports, amiDistributions or another kind of distribution, or call addExport / addDistribution');
        }
        const count = Object.keys(this.tags.tagValues()).filter((key) => key !== OWNER_TAG_KEY).length;
        if (count > MAX_TAGS - 1) {
          errors.push(`the distribution has ${count} tags; Image Builder accepts ${MAX_TAGS}, one of which is ${OWNER_TAG_KEY}: remove ${count - MAX_TAGS + 1}`);
        }
        return errors;
      },
    });

    const properties: VmDiskDistributionProperties = {
      Name: this.distributionName,
      Description: props.description,
      Distributions: Lazy.any({ produce: () => this.renderDistributions() }) as any,
      Tags: Lazy.any({
        produce: () => ({ ...this.tags.renderTags(), [OWNER_TAG_KEY]: Stack.of(this).stackId }),
      }) as any,
    };
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: VM_DISK_DISTRIBUTION_RESOURCE_TYPE,
      properties,
      serviceTimeout: Duration.minutes(10),
    });
    this.applyCfnRemovalPolicy();
    this.distributionConfigurationArn = this.resource.getAttString('Arn');
    this.distributionConfigurationName = this.resource.getAttString('Name');

    (props.exports ?? []).forEach((exp, i) => this.addExportAt(`exports[${i}]`, exp.region, exp));
    (props.amiDistributions ?? []).forEach((ami, i) => this.addAmiAt(`amiDistributions[${i}]`, ami.region, ami));
    (props.containerDistributions ?? []).forEach((c, i) => this.addContainerAt(`containerDistributions[${i}]`, c.region, c));
    (props.launchTemplateConfigurations ?? []).forEach((lt, i) =>
      this.addLaunchTemplatesAt(`launchTemplateConfigurations[${i}]`, lt.region, [lt]));
    (props.licenseConfigurations ?? []).forEach((lic, i) =>
      this.addLicensesAt(`licenseConfigurations[${i}]`, lic.region, lic.licenseConfigurationArns));
    (props.ssmParameterConfigurations ?? []).forEach((p, i) =>
      this.addSsmParametersAt(`ssmParameterConfigurations[${i}]`, p.region, [p]));
    (props.fastLaunchConfigurations ?? []).forEach((f, i) =>
      this.addFastLaunchesAt(`fastLaunchConfigurations[${i}]`, f.region, [f]));
  }

  /**
   * The role VM Export assumes to write the disks: the one given as `exportRole`,
   * or the one made for this distribution. Undefined until the distribution has an export.
   */
  public get exportRole(): iam.IRole | undefined {
    return this.createdExportRole ?? (this.hasExport() ? this.givenExportRole : undefined);
  }

  /**
   * Exports the image of a Region as a VM disk to S3. A Region has at most one export.
   */
  public addExport(exp: VmDiskExport): void {
    this.addExportAt('addExport', exp.region, exp);
  }

  /**
   * Sets the AMI settings of a Region. A Region has at most one AMI distribution.
   */
  public addAmiDistribution(ami: AmiDistribution): void {
    this.addAmiAt('addAmiDistribution', ami.region, ami);
  }

  /**
   * Sets the container distribution of a Region. A Region has at most one.
   */
  public addContainerDistribution(container: ContainerDistribution): void {
    this.addContainerAt('addContainerDistribution', container.region, container);
  }

  /**
   * Adds a launch template to update with the AMI of a Region.
   */
  public addLaunchTemplateConfiguration(config: LaunchTemplateConfiguration): void {
    this.addLaunchTemplatesAt('addLaunchTemplateConfiguration', config.region, [config]);
  }

  /**
   * Associates License Manager license configurations with the AMI of a Region.
   */
  public addLicenseConfiguration(config: LicenseConfigurationDistribution): void {
    this.addLicensesAt('addLicenseConfiguration', config.region, config.licenseConfigurationArns);
  }

  /**
   * Adds an SSM parameter that receives the AMI id of a Region.
   */
  public addSsmParameterConfiguration(config: SsmParameterConfiguration): void {
    this.addSsmParametersAt('addSsmParameterConfiguration', config.region, [config]);
  }

  /**
   * Adds Windows faster-launch settings for the AMI of a Region.
   */
  public addFastLaunchConfiguration(config: FastLaunchConfiguration): void {
    this.addFastLaunchesAt('addFastLaunchConfiguration', config.region, [config]);
  }

  /**
   * Adds any part of the distribution to one Region, merged with what the Region already has.
   */
  public addDistribution(distribution: RegionDistribution): void {
    const where = 'addDistribution';
    const { region } = distribution;
    const parts = [
      distribution.s3Export, distribution.amiDistribution, distribution.containerDistribution,
      distribution.launchTemplateConfigurations?.length, distribution.licenseConfigurationArns?.length,
      distribution.ssmParameterConfigurations?.length, distribution.fastLaunchConfigurations?.length,
    ];
    if (parts.every((part) => !part)) {
      throw new Error(`${where}: the distribution to ${describeRegion(this.resolveRegion(region))} sets nothing but the Region; give s3Export, amiDistribution or another setting`);
    }
    if (distribution.s3Export) this.addExportAt(`${where}.s3Export`, region, distribution.s3Export);
    if (distribution.amiDistribution) this.addAmiAt(`${where}.amiDistribution`, region, distribution.amiDistribution);
    if (distribution.containerDistribution) this.addContainerAt(`${where}.containerDistribution`, region, distribution.containerDistribution);
    this.addLaunchTemplatesAt(`${where}.launchTemplateConfigurations`, region, distribution.launchTemplateConfigurations ?? []);
    this.addLicensesAt(`${where}.licenseConfigurationArns`, region, distribution.licenseConfigurationArns ?? []);
    this.addSsmParametersAt(`${where}.ssmParameterConfigurations`, region, distribution.ssmParameterConfigurations ?? []);
    this.addFastLaunchesAt(`${where}.fastLaunchConfigurations`, region, distribution.fastLaunchConfigurations ?? []);
  }

  /**
   * Sets what happens to the distribution configuration when it leaves the stack; see `removalPolicy`.
   */
  public applyRemovalPolicy(policy: RemovalPolicy): void {
    validateRemovalPolicy(policy);
    this.removalPolicy = policy;
    this.applyCfnRemovalPolicy();
  }

  private applyCfnRemovalPolicy(): void {
    (this.resource.node.defaultChild as CfnResource).applyRemovalPolicy(this.removalPolicy);
  }

  private addExportAt(where: string, regionProp: string | undefined, exp: VmDiskExportOptions): void {
    const region = this.resolveRegion(regionProp);
    const existing = this.entries.get(region);
    if (existing?.s3Export) {
      throw new Error(`${where}: ${describeRegion(region)} already has an export (to bucket ${describeBucket(existing.s3Export.bucket)}); Image Builder exports once per Region: remove one, or give it another region`);
    }
    const bucketRegion = knownRegionOf(exp.bucket);
    if (bucketRegion !== undefined && !Token.isUnresolved(region) && bucketRegion !== region) {
      throw new Error(`${where}: bucket ${describeBucket(exp.bucket)} is in ${bucketRegion} but the export is from ${region}; VM Export writes only to a bucket in the Region of the export: use a bucket in ${region}, or set region: '${bucketRegion}'`);
    }
    const prefix = exp.prefix ?? '';
    if (!Token.isUnresolved(prefix) && prefix.startsWith('/')) {
      throw new Error(`${where}: prefix "${prefix}" starts with "/"; S3 keys do not: use "${prefix.replace(/^\/+/, '')}"`);
    }
    if (usesSseKms(exp.bucket)) {
      Annotations.of(this).addWarningV2('cdk-vm-import-export:exportBucketKms',
        `${where}: bucket ${describeBucket(exp.bucket)} is encrypted with a KMS key; VM Export cannot write to SSE-KMS buckets: use SSE-S3 (BucketEncryption.S3_MANAGED)`);
    }
    if (existing?.ami?.encryptionKey) warnEncryptedExport(this, where, region);

    grantWriteExport(this.exportRoleForGrants(), exp.bucket, prefix);
    this.entry(region).s3Export = { ...exp, prefix };
  }

  private addAmiAt(where: string, regionProp: string | undefined, ami: AmiDistributionOptions): void {
    const region = this.resolveRegion(regionProp);
    const existing = this.entries.get(region);
    if (existing?.ami) {
      throw new Error(`${where}: ${describeRegion(region)} already has an AMI distribution; Image Builder takes one per Region: merge the two`);
    }
    if (ami.amiName !== undefined && !Token.isUnresolved(ami.amiName) && (ami.amiName.length > 127 || !AMI_NAME.test(ami.amiName))) {
      throw new Error(`${where}: amiName "${ami.amiName}" is not a valid AMI name: use 3 to 127 letters, digits, spaces and "-_:.{}" (pattern ${AMI_NAME.source}), e.g. "web-{{ imagebuilder:buildDate }}"`);
    }
    validateDescription(`${where}.description`, ami.description);
    (ami.targetAccountIds ?? []).forEach((a, i) => validateAccountId(`${where}.targetAccountIds[${i}]`, a));
    (ami.launchPermission?.userIds ?? []).forEach((a, i) => validateAccountId(`${where}.launchPermission.userIds[${i}]`, a));
    const keyRegion = ami.encryptionKey?.env.region;
    if (keyRegion !== undefined && !Token.isUnresolved(keyRegion) && !Token.isUnresolved(region) && keyRegion !== region) {
      throw new Error(`${where}: encryptionKey ${ami.encryptionKey!.node.path} is in ${keyRegion} but the AMI is distributed to ${region}; EBS encrypts only with a key of the same Region: use a key (or multi-Region replica) in ${region}`);
    }
    if (ami.encryptionKey && existing?.s3Export) warnEncryptedExport(this, where, region);
    this.entry(region).ami = ami;
  }

  private addContainerAt(where: string, regionProp: string | undefined, container: ContainerDistributionOptions): void {
    const region = this.resolveRegion(regionProp);
    if (this.entries.get(region)?.container) {
      throw new Error(`${where}: ${describeRegion(region)} already has a container distribution; Image Builder takes one per Region: remove one`);
    }
    validateDescription(`${where}.description`, container.description);
    this.entry(region).container = container;
  }

  private addLaunchTemplatesAt(where: string, regionProp: string | undefined, configs: LaunchTemplateConfigurationOptions[]): void {
    if (configs.length === 0) return;
    configs.forEach((config, i) => {
      const at = configs.length > 1 ? `${where}[${i}]` : where;
      if (!Token.isUnresolved(config.launchTemplateId) && !LAUNCH_TEMPLATE_ID.test(config.launchTemplateId)) {
        throw new Error(`${at}: launchTemplateId "${config.launchTemplateId}" is not a launch template id; use the id ("lt-" and 17 characters), e.g. launchTemplate.launchTemplateId`);
      }
      if (config.accountId !== undefined) validateAccountId(`${at}.accountId`, config.accountId);
    });
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.launchTemplates.length ?? 0) + configs.length;
    if (count > MAX_LAUNCH_TEMPLATES) {
      throw new Error(`${where}: ${describeRegion(region)} would have ${count} launch template configurations; Image Builder accepts at most ${MAX_LAUNCH_TEMPLATES} per Region`);
    }
    this.entry(region).launchTemplates.push(...configs);
  }

  private addLicensesAt(where: string, regionProp: string | undefined, arns: string[]): void {
    if (arns.length === 0) return;
    arns.forEach((arn, i) => {
      if (!Token.isUnresolved(arn) && !LICENSE_CONFIGURATION_ARN.test(arn)) {
        throw new Error(`${where}: "${arn}" (item ${i}) is not a License Manager license configuration ARN (arn:aws:license-manager:REGION:ACCOUNT:license-configuration:lic-...)`);
      }
    });
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.licenseConfigurationArns.length ?? 0) + arns.length;
    if (count > MAX_LICENSE_CONFIGURATIONS) {
      throw new Error(`${where}: ${describeRegion(region)} would have ${count} license configurations; Image Builder accepts at most ${MAX_LICENSE_CONFIGURATIONS} per Region`);
    }
    this.entry(region).licenseConfigurationArns.push(...arns);
  }

  private addSsmParametersAt(where: string, regionProp: string | undefined, configs: SsmParameterConfigurationOptions[]): void {
    if (configs.length === 0) return;
    configs.forEach((config, i) => {
      const at = configs.length > 1 ? `${where}[${i}]` : where;
      if (!Token.isUnresolved(config.parameterName) && !SSM_PARAMETER_NAME.test(config.parameterName)) {
        throw new Error(`${at}: parameterName "${config.parameterName}" is not a valid SSM parameter name: use 1 to 1011 letters, digits and "_.-/", e.g. "/images/web/latest"`);
      }
      if (config.amiAccountId !== undefined) validateAccountId(`${at}.amiAccountId`, config.amiAccountId);
    });
    this.entry(this.resolveRegion(regionProp)).ssmParameters.push(...configs);
  }

  private addFastLaunchesAt(where: string, regionProp: string | undefined, configs: FastLaunchConfigurationOptions[]): void {
    if (configs.length === 0) return;
    configs.forEach((config, i) => validateFastLaunch(configs.length > 1 ? `${where}[${i}]` : where, config));
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.fastLaunches.length ?? 0) + configs.length;
    if (count > MAX_FAST_LAUNCH_CONFIGURATIONS) {
      throw new Error(`${where}: ${describeRegion(region)} would have ${count} fast launch configurations; Image Builder accepts at most ${MAX_FAST_LAUNCH_CONFIGURATIONS} per Region`);
    }
    this.entry(region).fastLaunches.push(...configs);
  }

  private resolveRegion(region: string | undefined): string {
    return region ?? Stack.of(this).region;
  }

  private entry(region: string): RegionEntry {
    let entry = this.entries.get(region);
    if (!entry) {
      entry = { region, launchTemplates: [], licenseConfigurationArns: [], ssmParameters: [], fastLaunches: [] };
      this.entries.set(region, entry);
    }
    return entry;
  }

  private hasExport(): boolean {
    return [...this.entries.values()].some((entry) => entry.s3Export !== undefined);
  }

  /** The export role, made on first use; the handler may pass it to VM Export. */
  private exportRoleForGrants(): iam.IRole {
    const first = !this.hasExport();
    const role = this.givenExportRole ?? (this.createdExportRole ??= new VmImportExportServiceRole(this, 'ExportRole', {
      description: 'Service role for EC2 VM Export (vmie.amazonaws.com): writes the disks an Image Builder distribution exports',
    }));
    if (first) {
      this.provider.grantPassExportRole(role);
      // The role and its policy must exist when Image Builder checks the configuration.
      this.resource.node.addDependency(role);
    }
    return role;
  }

  private renderDistributions(): Array<Record<string, unknown>> {
    return [...this.entries.values()].map((entry) => ({
      region: entry.region,
      s3ExportConfiguration: entry.s3Export && {
        roleName: this.exportRole!.roleName,
        diskImageFormat: entry.s3Export.format,
        s3Bucket: entry.s3Export.bucket.bucketName,
        // The API rejects an empty prefix (min length 1).
        s3Prefix: entry.s3Export.prefix || undefined,
      },
      amiDistributionConfiguration: entry.ami && renderAmi(entry.ami),
      containerDistributionConfiguration: entry.container && {
        description: entry.container.description,
        containerTags: entry.container.containerTags,
        targetRepository: { service: 'ECR', repositoryName: entry.container.repository.repositoryName },
      },
      launchTemplateConfigurations: nonEmpty(entry.launchTemplates.map((lt) => ({
        launchTemplateId: lt.launchTemplateId,
        accountId: lt.accountId,
        setDefaultVersion: lt.setDefaultVersion,
      }))),
      licenseConfigurationArns: nonEmpty(entry.licenseConfigurationArns),
      ssmParameterConfigurations: nonEmpty(entry.ssmParameters.map((p) => ({
        parameterName: p.parameterName,
        amiAccountId: p.amiAccountId,
        dataType: p.dataType,
      }))),
      fastLaunchConfigurations: nonEmpty(entry.fastLaunches.map(renderFastLaunch)),
    }));
  }

  private configurationArnPattern(): string {
    // The ARN holds the name lowercased with spaces turned into "-". Whether "_"
    // is kept or turned into "-" too is not documented: "?" matches either.
    const name = Token.isUnresolved(this.distributionName)
      ? '*'
      : this.distributionName.toLowerCase().replace(/ /g, '-').replace(/_/g, '?');
    return Stack.of(this).formatArn({ service: 'imagebuilder', resource: 'distribution-configuration', resourceName: name });
  }
}

function renderAmi(ami: AmiDistributionOptions): Record<string, unknown> {
  const permission = ami.launchPermission;
  return {
    name: ami.amiName,
    description: ami.description,
    targetAccountIds: nonEmpty(ami.targetAccountIds ?? []),
    amiTags: ami.amiTags && Object.keys(ami.amiTags).length > 0 ? ami.amiTags : undefined,
    kmsKeyId: ami.encryptionKey?.keyArn,
    launchPermission: permission && {
      userIds: nonEmpty(permission.userIds ?? []),
      userGroups: nonEmpty(permission.userGroups ?? []),
      organizationArns: nonEmpty(permission.organizationArns ?? []),
      organizationalUnitArns: nonEmpty(permission.organizationalUnitArns ?? []),
    },
  };
}

function renderFastLaunch(config: FastLaunchConfigurationOptions): Record<string, unknown> {
  const template = config.launchTemplate;
  return {
    enabled: config.enabled ?? true,
    maxParallelLaunches: config.maxParallelLaunches,
    snapshotConfiguration: config.targetSnapshotCount === undefined ? undefined : { targetResourceCount: config.targetSnapshotCount },
    launchTemplate: template && {
      launchTemplateId: template.launchTemplateId,
      launchTemplateName: template.launchTemplateName,
      launchTemplateVersion: template.launchTemplateVersion,
    },
    accountId: config.accountId,
  };
}

function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}

function warnEncryptedExport(scope: Construct, where: string, region: string): void {
  Annotations.of(scope).addWarningV2('cdk-vm-import-export:encryptedExport',
    `${where}: the AMI distributed to ${describeRegion(region)} is encrypted with a KMS key and is also exported; VM Export cannot export AMIs with encrypted snapshots: drop encryptionKey for that Region, or export from another one`);
}

function validateFastLaunch(where: string, config: FastLaunchConfigurationOptions): void {
  const parallel = config.maxParallelLaunches;
  if (parallel !== undefined && !Token.isUnresolved(parallel) && (!Number.isInteger(parallel) || parallel < MIN_PARALLEL_LAUNCHES)) {
    throw new Error(`${where}: maxParallelLaunches is ${parallel}; EC2 faster launching needs a whole number of at least ${MIN_PARALLEL_LAUNCHES}`);
  }
  const snapshots = config.targetSnapshotCount;
  if (snapshots !== undefined && !Token.isUnresolved(snapshots)
    && (!Number.isInteger(snapshots) || snapshots < 1 || snapshots > MAX_TARGET_SNAPSHOTS)) {
    throw new Error(`${where}: targetSnapshotCount is ${snapshots}; use a whole number from 1 to ${MAX_TARGET_SNAPSHOTS}`);
  }
  const template = config.launchTemplate;
  if (template && (template.launchTemplateId === undefined) === (template.launchTemplateName === undefined)) {
    throw new Error(`${where}: launchTemplate must give exactly one of launchTemplateId and launchTemplateName (got ${template.launchTemplateId === undefined ? 'neither' : 'both'})`);
  }
  const templateId = template?.launchTemplateId;
  if (templateId !== undefined && !Token.isUnresolved(templateId) && !LAUNCH_TEMPLATE_ID.test(templateId)) {
    throw new Error(`${where}: launchTemplate.launchTemplateId "${templateId}" is not a launch template id ("lt-" and 17 characters)`);
  }
  if (config.accountId !== undefined) validateAccountId(`${where}.accountId`, config.accountId);
}

function validateAccountId(where: string, value: string): void {
  if (Token.isUnresolved(value) || ACCOUNT_ID.test(value)) return;
  throw new Error(`${where} "${value}" is not an AWS account id; use the 12 digits, e.g. "123456789012"`);
}

function validateDescription(where: string, value: string | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (value.length === 0 || value.length > MAX_DESCRIPTION) {
    throw new Error(`${where} is ${value.length} characters long; Image Builder accepts 1 to ${MAX_DESCRIPTION}: shorten it, or leave it out`);
  }
}

function validateRemovalPolicy(policy: RemovalPolicy): void {
  if (policy !== RemovalPolicy.DESTROY && policy !== RemovalPolicy.RETAIN) {
    throw new Error(`removalPolicy ${policy} is not supported by a distribution configuration; use RemovalPolicy.DESTROY or RemovalPolicy.RETAIN`);
  }
}

function describeRegion(region: string): string {
  return Token.isUnresolved(region) ? "the stack's Region" : `Region ${region}`;
}

/**
 * The bucket's Region when it is really known, else undefined. A bucket imported
 * without a region (fromBucketName, fromBucketAttributes) reports the importing
 * stack's Region, which says nothing about where the bucket is.
 */
function knownRegionOf(bucket: s3.IBucket): string | undefined {
  const region = bucket.env.region;
  if (Token.isUnresolved(region)) return undefined;
  // Owned: defined in its stack, so in its Region. A Region unlike its stack's was given on import.
  if (Resource.isOwnedResource(bucket) || region !== Stack.of(bucket).region) return region;
  return undefined;
}

/** SSE-KMS algorithms: both need a KMS key, which VM Export cannot use. */
const SSE_KMS_ALGORITHMS = new Set(['aws:kms', 'aws:kms:dsse']);

/**
 * Whether the bucket is known to use SSE-KMS: it has a key object, or it is
 * defined here with an AWS managed KMS key (KMS_MANAGED, DSSE_MANAGED), which
 * leaves encryptionKey unset and shows only in the CfnBucket's encryption.
 */
function usesSseKms(bucket: s3.IBucket): boolean {
  if (bucket.encryptionKey) return true;
  const cfn = bucket.node.defaultChild;
  if (!CfnResource.isCfnResource(cfn) || cfn.cfnResourceType !== s3.CfnBucket.CFN_RESOURCE_TYPE_NAME) return false;
  const encryption = Stack.of(bucket).resolve((cfn as s3.CfnBucket).bucketEncryption);
  return sseAlgorithmsIn(encryption).some((algorithm) => SSE_KMS_ALGORITHMS.has(algorithm));
}

/** Every sseAlgorithm value in a resolved BucketEncryption (either key casing, as L1 props or as CloudFormation). */
function sseAlgorithmsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(sseAlgorithmsIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) =>
    key.toLowerCase() === 'ssealgorithm' && typeof v === 'string' ? [v] : sseAlgorithmsIn(v));
}

function describeBucket(bucket: s3.IBucket): string {
  return Token.isUnresolved(bucket.bucketName) ? bucket.node.path : `"${bucket.bucketName}"`;
}
