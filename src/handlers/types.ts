/**
 * The property contract between the constructs (which write these into the
 * template) and the handlers (which read them from the custom resource event).
 *
 * CloudFormation delivers every scalar as a STRING ("true", "3600"), so every
 * scalar member here is typed `string` and parsed explicitly by the handler.
 * Keep this file free of SDK imports: the constructs import it too.
 */

/**
 * The tag every image and distribution configuration of a stack carries, with the
 * stack's id as its value. It lets a handler delete a resource after a rename or
 * after its construct left the stack: CloudFormation deletes such resources only
 * after the handler's policy stopped naming them.
 */
export const OWNER_TAG_KEY = 'cdk-vm-import-export:stack-id';
/**
 * Tags the import handler adds at run time to the import task and the image, so
 * that an import can be found without its physical id: CloudFormation sends a
 * Delete with an id it invented when it stopped waiting for a Create, and the
 * rollback of a failed replacement may arrive with the new id.
 */
export const LOGICAL_ID_TAG_KEY = 'cdk-vm-import-export:logical-id';
export const PROPERTIES_HASH_TAG_KEY = 'cdk-vm-import-export:properties-hash';
/** On the image only: the task id is not known before ImportImage answers. */
export const IMPORT_TASK_TAG_KEY = 'cdk-vm-import-export:import-task-id';
/** How many of an image's 50 tags the library uses (owner, logical id, hash, task id). */
export const LIBRARY_TAG_COUNT = 4;

/**
 * What the import handler assumes for a property the template leaves out. The
 * construct leaves out a property that has this value, so that a stack of many
 * imports does not repeat in every resource what every resource would say alike.
 */
export const DEFAULT_POLL_INTERVAL_SECONDS = 15;
/** TimeoutSeconds when absent: the construct's default timeout, 6 hours. */
export const DEFAULT_TIMEOUT_SECONDS = 21600;
export const DEFAULT_MAX_POLL_INTERVAL_SECONDS = 120;
/** WaitForAvailable when absent. */
export const DEFAULT_WAIT_FOR_AVAILABLE = 'true';
/** RemovalPolicy when absent. */
export const DEFAULT_REMOVAL_POLICY = 'destroy';
/**
 * The longest any one custom resource request waits in isComplete (the
 * Provider's hour, less a margin): a read step's TimeoutSeconds above it means
 * this, so the construct leaves it out.
 */
export const MAX_PROVIDER_WAIT_SECONDS = 3300;

/** Resource type of the import custom resource. */
export const VM_IMPORT_IMAGE_RESOURCE_TYPE = 'Custom::VmImportImage';
/**
 * Resource type of the read step that follows an import's wait condition: it
 * reports the AMI once the image is AVAILABLE, so that whatever uses `imageId`
 * or `imageArn` waits for the import however long it takes.
 */
export const VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE = 'Custom::VmImportImageAvailable';
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
  /**
   * The presigned URL of the import's AWS::CloudFormation::WaitConditionHandle.
   * Present when the deployment waits through a wait condition (any wait longer
   * than a custom resource may take): the handler then completes at once and a
   * Step Functions poller signals this URL when the image is AVAILABLE or failed.
   * Never logged.
   */
  readonly SignalUrl?: string;
  /** Logical id of the wait condition: the poller stops once nothing waits for it. */
  readonly WaitConditionLogicalId?: string;
  /** Seconds before the first poll; later intervals grow with the elapsed time. */
  readonly PollIntervalSeconds?: string;
  /** The longest interval between two polls, in seconds. */
  readonly MaxPollIntervalSeconds?: string;
}

/** ResourceProperties of Custom::VmImportImageAvailable. */
export interface VmImportImageAvailableProperties {
  /** The import's image (GetAtt of the import resource). */
  readonly ImageArn: string;
  /**
   * The import task. Templates of older versions name it; newer ones leave it out,
   * and the handler reads it from the image's IMPORT_TASK_TAG_KEY tag when it needs it.
   */
  readonly ImportTaskId?: string;
  /** Ref of the wait condition: only makes this resource follow it. */
  readonly WaitCondition?: string;
  /**
   * Seconds this step may itself wait (an import replaced without a new wait
   * condition); at most, and when absent, MAX_PROVIDER_WAIT_SECONDS.
   */
  readonly TimeoutSeconds?: string;
}

/** Attributes (Data) of Custom::VmImportImageAvailable. */
export interface VmImportImageAvailableAttributes {
  readonly ImageArn: string;
  readonly ImageId: string;
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

/**
 * Environment variable with the ARN of the stack's poller state machine (set on the import
 * functions). Here, not in the handlers' clients module: the constructs read it at synth, and
 * that module loads the AWS SDK, which the published package does not ship.
 */
export const POLLER_STATE_MACHINE_ARN_ENV = 'POLLER_STATE_MACHINE_ARN';

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

/** Resource type of the export custom resource (VmImageExport). */
export const VM_IMAGE_EXPORT_RESOURCE_TYPE = 'Custom::VmImageExport';
/**
 * Resource type of the read step that follows an export's wait condition: it
 * reports the distributed image once it is AVAILABLE, so that whatever uses
 * `exportedImageArn` waits for the export however long it takes.
 */
export const VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE = 'Custom::VmImageExportComplete';

/** One export of the distribution, as the construct knows it at synth (informational, and part of the export's identity). */
export interface ExportTargetProperties {
  readonly Region: string;
  readonly Bucket: string;
  readonly Prefix?: string;
  /** VMDK | RAW | VHD. */
  readonly Format: string;
}

/** ResourceProperties of Custom::VmImageExport. */
export interface VmImageExportProperties {
  /** DistributeImage `sourceImage`: an AMI id, `ssm:<parameter>`, or an Image Builder image ARN. */
  readonly SourceImage: string;
  readonly DistributionConfigurationArn: string;
  /** ARN of the role Image Builder assumes to distribute (DistributeImage `executionRole`). */
  readonly ExecutionRole: string;
  /** Image Builder loggingConfiguration.logGroupName. */
  readonly LogGroupName?: string;
  /**
   * The distribution's exports, when the construct knows them: a change exports
   * again even though the configuration keeps its ARN (it is updated in place).
   */
  readonly Exports?: ExportTargetProperties[];
  /** Tags for the distributed image. */
  readonly Tags?: Record<string, string>;
  /** 'true' (default) | 'false'. */
  readonly WaitForCompletion?: string;
  /** Seconds the deployment may wait for the distributed image to become AVAILABLE. */
  readonly TimeoutSeconds?: string;
  /** 'destroy' (default: delete the distributed image record) | 'retain'. */
  readonly RemovalPolicy?: string;
  /** Presigned URL of the export's wait condition handle (see VmImportImageProperties.SignalUrl). Never logged. */
  readonly SignalUrl?: string;
  readonly WaitConditionLogicalId?: string;
  readonly PollIntervalSeconds?: string;
  readonly MaxPollIntervalSeconds?: string;
}

/** Attributes (Data) of Custom::VmImageExport and of its read step. */
export interface VmImageExportAttributes {
  /** The image build version DistributeImage made. */
  readonly ExportedImageArn: string;
}

/** ResourceProperties of Custom::VmImageExportComplete. */
export interface VmImageExportCompleteProperties {
  readonly ExportedImageArn: string;
  /** Ref of the wait condition: only makes this resource follow it. */
  readonly WaitCondition?: string;
  /** Seconds this step may itself wait (an export replaced without a new wait condition). */
  readonly TimeoutSeconds?: string;
}
/**
 * On a distributed image made by a replacing update: the image it replaces. The
 * rollback of a failed replacement may arrive with the new image's id and the
 * original properties; this tag leads back to the original export without a search.
 */
export const REPLACES_TAG_KEY = 'cdk-vm-import-export:replaces';
/** How many of a distributed image's 50 tags the library uses (owner, logical id, hash, replaces). */
export const EXPORT_LIBRARY_TAG_COUNT = 4;
