/**
 * The property contract between the constructs (which write these into the
 * template) and the handlers (which read them from the custom resource event).
 *
 * CloudFormation delivers every scalar as a STRING ("true", "3600"), so every
 * scalar member here is typed `string` and parsed explicitly by the handler.
 * Keep this file free of SDK imports: the constructs import it too.
 */

/** Resource type of the import custom resource. */
export const VM_IMPORT_IMAGE_RESOURCE_TYPE = 'Custom::VmImportImage';
/** Resource type of the distribution custom resource. */
export const VM_DISK_DISTRIBUTION_RESOURCE_TYPE = 'Custom::VmDiskDistribution';

/** One disk of an import, in EC2 ImportImage's DiskContainer terms. */
export interface DiskContainerProperties {
  /** OVA | VHD | VHDX | VMDK | RAW. Absent for snapshots. */
  readonly Format?: string;
  /** https:// or s3:// URL of the disk. */
  readonly Url?: string;
  readonly S3Bucket?: string;
  readonly S3Key?: string;
  /** An existing EBS snapshot to import instead of a file. */
  readonly SnapshotId?: string;
  readonly DeviceName?: string;
  readonly Description?: string;
}

/** ResourceProperties of Custom::VmImportImage. */
export interface VmImportImageProperties {
  /** Image Builder image name (ImportVmImage `name`). */
  readonly ImageName: string;
  /** x.y.z (ImportVmImage `semanticVersion`). */
  readonly ImageVersion: string;
  readonly Description?: string;
  /** 'Linux' | 'Windows': sent to ImportImage and to ImportVmImage. */
  readonly Platform: string;
  readonly OsVersion?: string;
  /** ImportImage Architecture (i386 | x86_64 | arm64). */
  readonly Architecture?: string;
  /** ImportImage BootMode (legacy-bios | uefi). */
  readonly BootMode?: string;
  /** ImportImage LicenseType (AWS | BYOL). */
  readonly LicenseType?: string;
  readonly UsageOperation?: string;
  readonly LicenseConfigurationArns?: string[];
  /** When present: ImportImage Encrypted=true and KmsKeyId. */
  readonly KmsKeyId?: string;
  /** Name (not ARN) of the VM Import service role: ImportImage RoleName. */
  readonly RoleName: string;
  /** Boot disk first. */
  readonly Disks: DiskContainerProperties[];
  /** Image Builder loggingConfiguration.logGroupName. */
  readonly LogGroupName?: string;
  /** Tags for the Image Builder image and the import task. */
  readonly Tags?: Record<string, string>;
  /** 'true' (default) | 'false'. */
  readonly WaitForAvailable?: string;
  /** Seconds the resource may wait for AVAILABLE before it fails. */
  readonly TimeoutSeconds?: string;
  /** 'destroy' (default) | 'snapshot' (keep snapshots) | 'retain' (touch nothing). */
  readonly RemovalPolicy?: string;
}

/** Attributes (Data) of Custom::VmImportImage. */
export interface VmImportImageAttributes {
  readonly ImageArn: string;
  readonly ImageName: string;
  readonly ImageVersion: string;
  readonly ImportTaskId: string;
  /** The AMI id: only once the image is AVAILABLE. */
  readonly ImageId?: string;
}

/**
 * The physical id of an import keeps what Delete needs even after
 * DescribeImportImageTasks has forgotten the task (7 days):
 * `<imageArn>|<importTaskId>|<propertiesHash>`, where propertiesHash (16 hex
 * characters of a sha256) covers the properties that force a new import, so an
 * Update (a rollback among them) can tell whether this import already matches.
 * Ids written by older versions lack the hash (`<imageArn>|<importTaskId>`)
 * and are still accepted.
 */
export const PHYSICAL_ID_SEPARATOR = '|';

/** ResourceProperties of Custom::VmDiskDistribution. */
export interface VmDiskDistributionProperties {
  /** DistributionConfiguration name; changing it replaces the resource. */
  readonly Name: string;
  readonly Description?: string;
  /**
   * Image Builder API `Distribution` objects (camelCase, exactly the API shape),
   * except that numbers and booleans arrive as strings and are restored by the handler.
   */
  readonly Distributions: Array<Record<string, unknown>>;
  readonly Tags?: Record<string, string>;
}

/** Attributes (Data) of Custom::VmDiskDistribution. */
export interface VmDiskDistributionAttributes {
  readonly Arn: string;
  readonly Name: string;
}
