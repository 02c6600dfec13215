import {
  ArnFormat, CfnResource, CustomResource, Duration, IResource, ITaggable, Lazy, Names,
  RemovalPolicy, Resource, Stack, TagManager, TagType, Token,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AmiDistribution, AmiDistributionOptions, validateAmiDistribution } from './distribution/ami-distribution';
import { ContainerDistribution, ContainerDistributionOptions, validateContainerDistribution } from './distribution/container-distribution';
import {
  FastLaunchConfiguration, FastLaunchConfigurationOptions, MAX_FAST_LAUNCH_CONFIGURATIONS, validateFastLaunchConfiguration,
} from './distribution/fast-launch-configuration';
import {
  LaunchTemplateConfiguration, LaunchTemplateConfigurationOptions, launchTemplateArns, MAX_LAUNCH_TEMPLATES,
  validateLaunchTemplateConfiguration,
} from './distribution/launch-template-configuration';
import {
  LicenseConfigurationDistribution, MAX_LICENSE_CONFIGURATIONS, validateLicenseConfigurationArns,
} from './distribution/license-configuration';
import { emptyRegionEntry, RegionDistribution, RegionEntry, renderRegionEntry } from './distribution/region-distribution';
import {
  SsmParameterConfiguration, SsmParameterConfigurationOptions, validateSsmParameterConfiguration,
} from './distribution/ssm-parameter-configuration';
import { validateVmDiskExport, VmDiskExport, VmDiskExportOptions, warnEncryptedExport } from './distribution/vm-disk-export';
import { VM_DISK_DISTRIBUTION_RESOURCE_TYPE, VmDiskDistributionProperties } from './handlers/types';
import { describeRegion, MAX_DESCRIPTION, validateEach, validateRegionCount } from './private/distribution-helpers';
import { VmDiskDistributionProvider } from './private/distribution-provider';
import { grantWriteExport } from './private/grants';
import { OWNER_TAG_KEY } from './private/handler-provider';
import { validateImageName } from './private/validation';
import { VmImportExportServiceRole } from './service-role';

/** The most tags an Image Builder resource accepts (one is the stack's ownership tag). */
const MAX_TAGS = 50;

/**
 * An EC2 Image Builder distribution configuration.
 *
 * Its members are those of `@aws-cdk/aws-imagebuilder-alpha`'s `IDistributionConfiguration`,
 * so TypeScript accepts it where the alpha wants one; in the other jsii languages pass the
 * alpha's `DistributionConfiguration.fromDistributionConfigurationArn(scope, id, dist.distributionConfigurationArn)`.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-distribution-settings.html
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
   * The role VM Export assumes to write the exported disks, when known.
   *
   * @default - unknown (a configuration referred to by ARN)
   */
  readonly exportRole?: iam.IRole;

  /**
   * The exports of the configuration, each with its Region, when known.
   *
   * @default - unknown (a configuration referred to by ARN)
   */
  readonly exports?: VmDiskExport[];

  /**
   * Grants the given principal the given Image Builder actions on this distribution configuration.
   *
   * @param grantee the principal
   * @param actions Image Builder actions, e.g. `imagebuilder:GetDistributionConfiguration`
   * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2imagebuilder.html
   */
  grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant;

  /**
   * Grants the given principal permission to read this distribution configuration
   * (`imagebuilder:GetDistributionConfiguration`).
   *
   * @param grantee the principal
   */
  grantRead(grantee: iam.IGrantable): iam.Grant;
}

/**
 * Properties of a VmDiskDistribution.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_CreateDistributionConfiguration.html
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

  /**
   * Grants the given principal the given Image Builder actions on this distribution configuration.
   *
   * @param grantee the principal
   * @param actions Image Builder actions
   */
  public grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.distributionConfigurationArn] });
  }

  /**
   * Grants the given principal permission to read this distribution configuration (`imagebuilder:GetDistributionConfiguration`).
   *
   * @param grantee the principal
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.grant(grantee, 'imagebuilder:GetDistributionConfiguration');
  }
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
   *
   * @param scope the scope of the reference
   * @param id the construct id of the reference
   * @param distributionConfigurationArn `arn:<partition>:imagebuilder:<region>:<account>:distribution-configuration/<name>`
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

  /**
   * @param scope the scope of the distribution configuration, in a stack
   * @param id the construct id
   * @param props what to distribute, per Region (at least one Region, here or with the add methods)
   */
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
   * The exports of the configuration so far, each with its Region.
   */
  public get exports(): VmDiskExport[] | undefined {
    return [...this.entries.values()].flatMap((entry) => (entry.s3Export ? [{ ...entry.s3Export, region: entry.region }] : []));
  }

  /**
   * Exports the image of a Region as a VM disk to S3. A Region has at most one export.
   *
   * @param exp the bucket, prefix, format and Region (default: the stack's) of the export
   */
  public addExport(exp: VmDiskExport): void {
    this.addExportAt('addExport', exp.region, exp);
  }

  /**
   * Sets the AMI settings of a Region. A Region has at most one AMI distribution.
   *
   * @param ami the AMI settings and their Region (default: the stack's)
   */
  public addAmiDistribution(ami: AmiDistribution): void {
    this.addAmiAt('addAmiDistribution', ami.region, ami);
  }

  /**
   * Sets the container distribution of a Region. A Region has at most one.
   *
   * @param container the repository, tags and Region (default: the stack's)
   */
  public addContainerDistribution(container: ContainerDistribution): void {
    this.addContainerAt('addContainerDistribution', container.region, container);
  }

  /**
   * Adds a launch template to update with the AMI of a Region.
   *
   * @param config the launch template and its Region (default: the stack's)
   */
  public addLaunchTemplateConfiguration(config: LaunchTemplateConfiguration): void {
    this.addLaunchTemplatesAt('addLaunchTemplateConfiguration', config.region, [config]);
  }

  /**
   * Associates License Manager license configurations with the AMI of a Region.
   *
   * @param config the license configuration ARNs and their Region (default: the stack's)
   */
  public addLicenseConfiguration(config: LicenseConfigurationDistribution): void {
    this.addLicensesAt('addLicenseConfiguration', config.region, config.licenseConfigurationArns);
  }

  /**
   * Adds an SSM parameter that receives the AMI id of a Region.
   *
   * @param config the parameter and its Region (default: the stack's)
   */
  public addSsmParameterConfiguration(config: SsmParameterConfiguration): void {
    this.addSsmParametersAt('addSsmParameterConfiguration', config.region, [config]);
  }

  /**
   * Adds Windows faster-launch settings for the AMI of a Region.
   *
   * @param config the faster-launch settings and their Region (default: the stack's)
   */
  public addFastLaunchConfiguration(config: FastLaunchConfiguration): void {
    this.addFastLaunchesAt('addFastLaunchConfiguration', config.region, [config]);
  }

  /**
   * Adds any part of the distribution to one Region, merged with what the Region already has.
   *
   * @param distribution the Region (default: the stack's) and what to distribute there
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
   *
   * @param policy DESTROY or RETAIN
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
    const checked = validateVmDiskExport(this, where, region, exp, existing?.s3Export);
    if (existing?.ami?.encryptionKey) warnEncryptedExport(this, where, region);
    grantWriteExport(this.exportRoleForGrants(), exp.bucket, checked.prefix);
    this.entry(region).s3Export = checked;
  }

  private addAmiAt(where: string, regionProp: string | undefined, ami: AmiDistributionOptions): void {
    const region = this.resolveRegion(regionProp);
    const existing = this.entries.get(region);
    validateAmiDistribution(where, region, ami, existing?.ami);
    if (ami.encryptionKey && existing?.s3Export) warnEncryptedExport(this, where, region);
    this.entry(region).ami = ami;
  }

  private addContainerAt(where: string, regionProp: string | undefined, container: ContainerDistributionOptions): void {
    const region = this.resolveRegion(regionProp);
    validateContainerDistribution(where, region, container, this.entries.get(region)?.container);
    this.entry(region).container = container;
  }

  private addLaunchTemplatesAt(where: string, regionProp: string | undefined, configs: LaunchTemplateConfigurationOptions[]): void {
    if (configs.length === 0) return;
    validateEach(where, configs, validateLaunchTemplateConfiguration);
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.launchTemplates.length ?? 0) + configs.length;
    validateRegionCount(where, region, count, MAX_LAUNCH_TEMPLATES, 'launch template configurations');
    this.provider.grantLaunchTemplates(launchTemplateArns(this, region, configs));
    this.entry(region).launchTemplates.push(...configs);
  }

  private addLicensesAt(where: string, regionProp: string | undefined, arns: string[]): void {
    if (arns.length === 0) return;
    validateLicenseConfigurationArns(where, arns);
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.licenseConfigurationArns.length ?? 0) + arns.length;
    validateRegionCount(where, region, count, MAX_LICENSE_CONFIGURATIONS, 'license configurations');
    this.entry(region).licenseConfigurationArns.push(...arns);
  }

  private addSsmParametersAt(where: string, regionProp: string | undefined, configs: SsmParameterConfigurationOptions[]): void {
    if (configs.length === 0) return;
    validateEach(where, configs, validateSsmParameterConfiguration);
    this.entry(this.resolveRegion(regionProp)).ssmParameters.push(...configs);
  }

  private addFastLaunchesAt(where: string, regionProp: string | undefined, configs: FastLaunchConfigurationOptions[]): void {
    if (configs.length === 0) return;
    validateEach(where, configs, validateFastLaunchConfiguration);
    const region = this.resolveRegion(regionProp);
    const count = (this.entries.get(region)?.fastLaunches.length ?? 0) + configs.length;
    validateRegionCount(where, region, count, MAX_FAST_LAUNCH_CONFIGURATIONS, 'fast launch configurations');
    this.entry(region).fastLaunches.push(...configs);
  }

  private resolveRegion(region: string | undefined): string {
    return region ?? Stack.of(this).region;
  }

  private entry(region: string): RegionEntry {
    let entry = this.entries.get(region);
    if (!entry) {
      entry = emptyRegionEntry(region);
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
    return [...this.entries.values()].map((entry) => renderRegionEntry(entry, this.exportRole?.roleName));
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

function validateRemovalPolicy(policy: RemovalPolicy): void {
  if (policy !== RemovalPolicy.DESTROY && policy !== RemovalPolicy.RETAIN) {
    throw new Error(`removalPolicy ${policy} is not supported by a distribution configuration; use RemovalPolicy.DESTROY or RemovalPolicy.RETAIN`);
  }
}
