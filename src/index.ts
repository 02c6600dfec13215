export * from './enums';
export * from './disk-image';
export * from './disk-inspection';
export * from './service-role';
export * from './vm-import-image';
export * from './vm-disk-distribution';
export * from './vm-image-export';
export { ExportSource, type ExportSourceConfig } from './export-source';
export * from './imported-ami';
// The distribution kinds, by name: their files also hold the construct's
// validation and rendering, which are not part of the API.
export { VmDiskFormat, type VmDiskExport, type VmDiskExportOptions } from './distribution/vm-disk-export';
export type { AmiDistribution, AmiDistributionOptions, AmiLaunchPermission } from './distribution/ami-distribution';
export type { ContainerDistribution, ContainerDistributionOptions } from './distribution/container-distribution';
export type { LaunchTemplateConfiguration, LaunchTemplateConfigurationOptions } from './distribution/launch-template-configuration';
export type { LicenseConfigurationDistribution } from './distribution/license-configuration';
export type { SsmParameterConfiguration, SsmParameterConfigurationOptions } from './distribution/ssm-parameter-configuration';
export type {
  FastLaunchConfiguration, FastLaunchConfigurationOptions, FastLaunchLaunchTemplate,
} from './distribution/fast-launch-configuration';
export type { RegionDistribution } from './distribution/region-distribution';
