import { AmiDistributionOptions, renderAmiDistribution } from './ami-distribution';
import { ContainerDistributionOptions, renderContainerDistribution } from './container-distribution';
import { FastLaunchConfigurationOptions, renderFastLaunchConfiguration } from './fast-launch-configuration';
import { LaunchTemplateConfigurationOptions, renderLaunchTemplateConfiguration } from './launch-template-configuration';
import { renderSsmParameterConfiguration, SsmParameterConfigurationOptions } from './ssm-parameter-configuration';
import { renderVmDiskExport, VmDiskExportOptions } from './vm-disk-export';
import { nonEmpty } from '../private/distribution-helpers';

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

/** Everything one Region's `Distribution` entry collects. */
export interface RegionEntry {
  readonly region: string;
  s3Export?: VmDiskExportOptions;
  ami?: AmiDistributionOptions;
  container?: ContainerDistributionOptions;
  readonly launchTemplates: LaunchTemplateConfigurationOptions[];
  readonly licenseConfigurationArns: string[];
  readonly ssmParameters: SsmParameterConfigurationOptions[];
  readonly fastLaunches: FastLaunchConfigurationOptions[];
}

/** A Region with nothing to distribute yet. */
export function emptyRegionEntry(region: string): RegionEntry {
  return { region, launchTemplates: [], licenseConfigurationArns: [], ssmParameters: [], fastLaunches: [] };
}

/**
 * The API's `Distribution` for one Region. `exportRoleName` names the VM Export
 * role; it is needed only when the Region has an export.
 */
export function renderRegionEntry(entry: RegionEntry, exportRoleName: string | undefined): Record<string, unknown> {
  return {
    region: entry.region,
    s3ExportConfiguration: entry.s3Export && renderVmDiskExport(entry.s3Export, exportRoleName!),
    amiDistributionConfiguration: entry.ami && renderAmiDistribution(entry.ami),
    containerDistributionConfiguration: entry.container && renderContainerDistribution(entry.container),
    launchTemplateConfigurations: nonEmpty(entry.launchTemplates.map(renderLaunchTemplateConfiguration)),
    licenseConfigurationArns: nonEmpty(entry.licenseConfigurationArns),
    ssmParameterConfigurations: nonEmpty(entry.ssmParameters.map(renderSsmParameterConfiguration)),
    fastLaunchConfigurations: nonEmpty(entry.fastLaunches.map(renderFastLaunchConfiguration)),
  };
}
