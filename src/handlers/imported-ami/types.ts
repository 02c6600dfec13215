/**
 * The property contract between ImportedAmi (which writes these into the
 * template) and its handlers. As for every custom resource, CloudFormation
 * delivers each scalar as a STRING; the handlers parse them back. No SDK
 * imports here: the construct imports this file too.
 */

/** Resource type of the import (snapshot imports, then the AMI). */
export const IMPORTED_AMI_RESOURCE_TYPE = 'Custom::ImportedAmi';
/**
 * Resource type of the read step after the import's wait condition: it reports
 * the AMI and its snapshots, so that whatever uses `imageId` waits for the import.
 */
export const IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE = 'Custom::ImportedAmiAvailable';

/**
 * Tag of the snapshot import tasks, the snapshots and the AMI of one import:
 * the import's id, which the physical id also holds. Delete finds the AMI and
 * the snapshots by it (DescribeImages, DescribeSnapshots), without describing
 * the tasks, which EC2 forgets 7 days after they end.
 */
export const IMPORT_ID_TAG_KEY = 'cdk-vm-import-export:import-id';
/**
 * How many of the 50 tags EC2 allows per resource the library uses: the stack,
 * the logical id, the properties hash, the import id.
 */
export const IMPORTED_AMI_LIBRARY_TAG_COUNT = 4;

/** One disk, in ImportSnapshot's DiskContainer terms, with its place in the AMI. */
export interface SnapshotDiskProperties {
  /** VHD | VMDK | RAW. */
  readonly Format: string;
  /** https:// or s3:// URL of the disk. */
  readonly Url?: string;
  readonly S3Bucket?: string;
  readonly S3Key?: string;
  /** The disk's device in the AMI's block device mapping; the boot disk's is the root device name. */
  readonly DeviceName: string;
  readonly Description?: string;
}

/** ResourceProperties of Custom::ImportedAmi. */
export interface ImportedAmiProperties {
  /** RegisterImage Name: unique per account and Region. */
  readonly AmiName: string;
  readonly Description?: string;
  /** RegisterImage Architecture (i386 | x86_64 | arm64). */
  readonly Architecture: string;
  /** RegisterImage BootMode (legacy-bios | uefi | uefi-preferred). */
  readonly BootMode?: string;
  readonly RootDeviceName: string;
  /** 'true' | 'false'. */
  readonly EnaSupport?: string;
  /** 'v2.0', or absent. */
  readonly ImdsSupport?: string;
  /** 'v2.0', or absent. */
  readonly TpmSupport?: string;
  /** Base64 UEFI variable store. */
  readonly UefiData?: string;
  /** When present: ImportSnapshot Encrypted=true and KmsKeyId. */
  readonly KmsKeyId?: string;
  /** Name (not ARN) of the VM Import service role: ImportSnapshot RoleName. */
  readonly RoleName: string;
  /** Boot disk first. */
  readonly Disks: SnapshotDiskProperties[];
  /** Tags for the AMI, its snapshots and the import tasks. */
  readonly Tags?: Record<string, string>;
  /** Seconds the deployment waits for the AMI. */
  readonly TimeoutSeconds?: string;
  /** 'destroy' (default) | 'snapshot' (keep snapshots) | 'retain'. */
  readonly RemovalPolicy?: string;
  /** Presigned URL of the import's wait condition handle. Never logged. */
  readonly SignalUrl: string;
  /** Logical id of the wait condition: the poller stops once nothing waits for it. */
  readonly WaitConditionLogicalId?: string;
  readonly PollIntervalSeconds?: string;
  readonly MaxPollIntervalSeconds?: string;
}

/** Attributes (Data) of Custom::ImportedAmi. */
export interface ImportedAmiAttributes {
  readonly ImportId: string;
  readonly AmiName: string;
}

/** ResourceProperties of Custom::ImportedAmiAvailable. */
export interface ImportedAmiAvailableProperties {
  /** The import's id (GetAtt of the import resource). */
  readonly ImportId: string;
  readonly AmiName?: string;
  /** Ref of the wait condition: only makes this resource follow it. */
  readonly WaitCondition?: string;
  /** Seconds this step may itself wait (an import replaced without a new wait condition). */
  readonly TimeoutSeconds?: string;
}

/** Attributes (Data) of Custom::ImportedAmiAvailable. */
export interface ImportedAmiAvailableAttributes {
  readonly ImageId: string;
  /** The AMI's snapshots, boot disk first, comma-separated. */
  readonly SnapshotIds: string;
  readonly AmiName: string;
}

/**
 * The poll function's Lambda timeout (the provider's isComplete function). A
 * Delete that stopped a running poller repeats its removal until an invocation
 * in flight when the poller was stopped has surely ended: StopExecution does not
 * stop a Lambda invocation, which may still register the AMI.
 */
export const POLL_FUNCTION_TIMEOUT_SECONDS = 180;
