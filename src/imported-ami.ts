import {
  CfnResource, CfnWaitCondition, CfnWaitConditionHandle, CustomResource, Duration, Fn, IResource, ITaggable, Lazy, Names,
  RemovalPolicy, Resource, Stack, TagManager, TagType, Token,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { DiskImage, DiskImageConfig } from './disk-image';
import { Architecture, BootMode, DiskImageFormat } from './enums';
import {
  IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE, IMPORTED_AMI_LIBRARY_TAG_COUNT, IMPORTED_AMI_RESOURCE_TYPE, ImportedAmiAvailableProperties,
  ImportedAmiProperties, SnapshotDiskProperties,
} from './handlers/imported-ami/types';
import { grantReadDisk, grantUseKey } from './private/grants';
import { OWNER_TAG_KEY } from './private/handler-provider';
import { IMPORTED_AMI_PROVIDER_MAX_WAIT, ImportedAmiProvider } from './private/imported-ami-provider';
import { importServiceRole } from './private/service-roles';
import { synthKey } from './private/synth-key';
import { validateDuration, validateEnumValue } from './private/validation';

/**
 * Whether instances launched from the AMI must use IMDSv2.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html#configure-IMDS-new-instances-ami-configuration
 */
export enum ImdsSupport {
  /** IMDSv2 is required (HttpTokens required, hop limit 2) on instances launched from the AMI. */
  V2_0 = 'v2.0',
  /** Nothing recorded in the AMI: instances follow the account's and the launch's metadata defaults. */
  INSTANCE_DEFAULTS = 'instance-defaults',
}

/**
 * The NitroTPM version the AMI enables.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/nitrotpm.html
 */
export enum TpmSupport {
  /** NitroTPM 2.0; needs UEFI boot. */
  V2_0 = 'v2.0',
}

/** The most disks one ImportedAmi takes (as VM Import takes for one image). */
const MAX_DISKS = 21;
/** The most tags EC2 allows per resource. */
const MAX_TAGS = 50;
const MAX_TIMEOUT = Duration.hours(12);
const MIN_TIMEOUT = Duration.minutes(1);
/** Disks take hours to import; a hung import fails after this. Failures fail at once, whatever the timeout. */
const DEFAULT_TIMEOUT = Duration.hours(6);
const DEFAULT_POLL_INTERVAL = Duration.seconds(15);
const DEFAULT_MAX_POLL_INTERVAL = Duration.minutes(2);
const MIN_POLL_INTERVAL = Duration.seconds(5);
const MAX_POLL_INTERVAL = Duration.minutes(30);
/** Time the wait condition gives the poller beyond `timeout`, so that a timeout fails with the poller's message. */
const SIGNAL_MARGIN = Duration.minutes(5);
/** RegisterImage Name: 3-128 of these characters (EC2 API reference, RegisterImage). */
const AMI_NAME_PATTERN = /^[A-Za-z0-9()[\] ./'@_-]{3,128}$/;
/** RegisterImage Description: at most 255 characters (ImageDescriptionRequest in the EC2 model). */
const MAX_DESCRIPTION = 255;
/** RegisterImage UefiData: at most 64000 characters of base64 (ImageUefiDataRequest in the EC2 model). */
const MAX_UEFI_DATA = 64000;
/**
 * The root device of the AMI: /dev/xvda or /dev/sda1 are reserved for it (EC2 user guide,
 * "Device names for volumes on Amazon EC2 instances"), whichever the OS expects; AWS documents
 * no difference between x86_64 and arm64. Amazon Linux uses /dev/xvda on both.
 */
const DEFAULT_ROOT_DEVICE = '/dev/xvda';
/** Data disks: /dev/sd[f-p] are recommended for EBS volumes, /dev/sd[q-z] available (same user guide page). */
const DATA_DEVICE_LETTERS = 'fghijklmnopqrstuvwxyz';
const FORMATS = [DiskImageFormat.VHD, DiskImageFormat.VMDK, DiskImageFormat.RAW];
const LIBRARY_TAG_PREFIX = 'cdk-vm-import-export:';

/**
 * An AMI, such as one imported from VM disks.
 */
export interface IImportedAmi extends IResource {
  /**
   * The AMI id, `ami-...`.
   *
   * @attribute
   */
  readonly imageId: string;
}

/**
 * Properties of an ImportedAmi.
 */
export interface ImportedAmiProps {
  /**
   * The disks of the VM, boot disk first: each a VHD, VMDK (stream-optimized) or RAW file,
   * imported as one EBS snapshot, unchanged. An OVA is refused: it holds a whole VM with
   * its own descriptor, which ImportSnapshot cannot read (use VmImportImage, or export the
   * disks from the OVA).
   *
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/import-modify-vm.html#import-without-modifications
   */
  readonly disks: DiskImage[];

  /**
   * The CPU architecture of the operating system on the disks.
   *
   * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html
   */
  readonly architecture: Architecture;

  /**
   * The boot mode of the AMI: the operating system on the boot disk must boot that way.
   *
   * @default - none recorded: instances boot in their instance type's default mode (UEFI on Graviton)
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html
   */
  readonly bootMode?: BootMode;

  /**
   * The AMI name, unique per account and Region: 3 to 128 letters, digits, spaces and `( ) [ ] . / ' @ _ -`.
   * An import replaced with other disks or settings registers a new AMI before the old one is
   * removed, so give a replacement a new name (the default changes with the import settings).
   *
   * @default - derived from the construct path and the import settings
   */
  readonly amiName?: string;

  /**
   * A description of the AMI and of the snapshot import tasks (at most 255 characters).
   *
   * @default - no description
   */
  readonly description?: string;

  /**
   * The device name of the boot disk (the root device), as the operating system expects it.
   *
   * @default '/dev/xvda'
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/device_naming.html
   */
  readonly rootDeviceName?: string;

  /**
   * Whether the AMI supports ENA enhanced networking. Current instance types need it, and
   * the operating system must have the ENA driver.
   *
   * @default true
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/enhanced-networking-ena.html
   */
  readonly enaSupport?: boolean;

  /**
   * Whether instances launched from the AMI require IMDSv2.
   *
   * @default ImdsSupport.V2_0
   */
  readonly imdsSupport?: ImdsSupport;

  /**
   * Enables NitroTPM. Needs `bootMode: BootMode.UEFI`.
   *
   * @default - no NitroTPM
   */
  readonly tpmSupport?: TpmSupport;

  /**
   * The UEFI variable store of the AMI, base64 (for example with Secure Boot keys, made with
   * the python-uefivars tool). Needs `bootMode: BootMode.UEFI`.
   *
   * @default - EC2's default variable store
   * @see https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/uefi-secure-boot.html
   */
  readonly uefiData?: string;

  /**
   * Encrypts the snapshots with this key. The service role is allowed to use it.
   *
   * @default - not encrypted, unless EBS encryption by default is on in the account
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * The role VM Import assumes to read the disks. It is allowed to read the disks given
   * here; it must trust vmie.amazonaws.com with the external id `vmimport`.
   *
   * @default - the stack's VM Import service role, shared with its VmImportImage constructs
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role
   */
  readonly serviceRole?: iam.IRole;

  /**
   * How long the deployment waits for the AMI before it fails (the import is then cancelled
   * and removed): from 1 minute to 12 hours, through an `AWS::CloudFormation::WaitCondition`
   * that a Step Functions poller signals, as for VmImportImage. A failed disk import fails
   * the deployment within one poll interval, whatever the timeout.
   *
   * @default Duration.hours(6)
   */
  readonly timeout?: Duration;

  /**
   * The wait before the first poll. Later intervals grow with the time elapsed (a tenth
   * of it), up to `maxPollInterval`.
   *
   * @default Duration.seconds(15)
   */
  readonly pollInterval?: Duration;

  /**
   * The longest wait between two polls: completion or failure is noticed within this long.
   * From `pollInterval` to 30 minutes.
   *
   * @default Duration.minutes(2)
   */
  readonly maxPollInterval?: Duration;

  /**
   * What happens to the AMI when it leaves the stack. DESTROY deregisters the AMI and
   * deletes its snapshots; SNAPSHOT deregisters the AMI and keeps the snapshots; RETAIN
   * keeps everything a successful deployment made (DeletionPolicy RetainExceptOnCreate,
   * UpdateReplacePolicy Retain), while a failed create is still rolled back. Running
   * snapshot imports are always cancelled.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Tags for the AMI, its snapshots and the snapshot import tasks. `Tags.of(scope)` reaches
   * them too. They also carry the library's own tags (`cdk-vm-import-export:*`), which let
   * the stack find and remove them: at most 46 tags of your own.
   *
   * @default - none
   */
  readonly tags?: { [key: string]: string };
}

/**
 * An AMI registered from VM disks imported unchanged as EBS snapshots (EC2
 * ImportSnapshot per disk, then RegisterImage): for arm64 VMs and operating
 * systems that VM Import's ImportImage rejects. Nothing inside the disks is
 * changed, so they must already boot on EC2.
 *
 * The deployment waits for the AMI as long as `timeout` allows (up to 12 hours);
 * whatever uses `imageId` waits with it.
 *
 * @resource Custom::ImportedAmi
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/import-modify-vm.html#import-without-modifications
 */
export class ImportedAmi extends Resource implements IImportedAmi, ITaggable {
  /**
   * Refers to an existing AMI by id.
   */
  public static fromImageId(scope: Construct, id: string, imageId: string): IImportedAmi {
    if (!Token.isUnresolved(imageId) && !/^ami-([0-9a-f]{8}|[0-9a-f]{17})$/.test(imageId)) {
      throw new Error(`imageId "${imageId}" is not an AMI id; expected "ami-" followed by 8 or 17 hex digits`);
    }
    class Import extends Resource implements IImportedAmi {
      public readonly imageId = imageId;
    }
    return new Import(scope, id);
  }

  public readonly imageId: string;
  /**
   * The AMI's snapshots, boot disk first.
   *
   * @attribute
   */
  public readonly snapshotIds: string[];
  /**
   * The AMI name.
   *
   * @attribute
   */
  public readonly amiName: string;
  /** Tags of the AMI, its snapshots and the import tasks. */
  public readonly tags: TagManager;
  /** The role VM Import assumes for this import. */
  public readonly serviceRole: iam.IRole;

  private readonly resource: CustomResource;
  private removalPolicy: RemovalPolicy;

  /**
   * @param scope the scope of the construct, in a stack
   * @param id the construct id
   * @param props the disks, architecture, boot mode and AMI settings
   */
  constructor(scope: Construct, id: string, props: ImportedAmiProps) {
    super(scope, id);
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const timeout = props.timeout ?? DEFAULT_TIMEOUT;
    const pollInterval = props.pollInterval ?? DEFAULT_POLL_INTERVAL;
    const maxPollInterval = props.maxPollInterval ?? DEFAULT_MAX_POLL_INTERVAL;
    const rootDeviceName = props.rootDeviceName ?? DEFAULT_ROOT_DEVICE;
    const imdsSupport = props.imdsSupport ?? ImdsSupport.V2_0;

    validateEnumValue('architecture', props.architecture, 'Architecture', Architecture);
    if (props.architecture === undefined) {
      throw new Error('architecture is missing; EC2 would register the AMI as i386: set it to the architecture of the OS on the disks, e.g. Architecture.ARM64');
    }
    validateEnumValue('bootMode', props.bootMode, 'BootMode', BootMode);
    validateEnumValue('imdsSupport', props.imdsSupport, 'ImdsSupport', ImdsSupport);
    validateEnumValue('tpmSupport', props.tpmSupport, 'TpmSupport', TpmSupport);
    validateDuration('timeout', timeout, MIN_TIMEOUT, MAX_TIMEOUT,
      `the deployment can wait ${MAX_TIMEOUT.toHumanString()} at most (an AWS::CloudFormation::WaitCondition's limit)`);
    validateDuration('pollInterval', pollInterval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, 'use whole seconds');
    validateDuration('maxPollInterval', maxPollInterval, pollInterval, MAX_POLL_INTERVAL, 'use whole seconds, no less than pollInterval');
    const description = props.description;
    if (description !== undefined && !Token.isUnresolved(description) && (description.length === 0 || description.length > MAX_DESCRIPTION)) {
      throw new Error(`description is ${description.length} characters long; RegisterImage accepts 1 to ${MAX_DESCRIPTION}: shorten it, or leave it out`);
    }
    if (!Token.isUnresolved(rootDeviceName) && !/^\/dev\/[a-z0-9]+$/.test(rootDeviceName)) {
      throw new Error(`rootDeviceName "${rootDeviceName}" is not a device name; use the one the OS on the boot disk expects, e.g. "/dev/xvda" or "/dev/sda1"`);
    }
    validateUefiOptions(props);

    const disks = this.bindDisks(props.disks, rootDeviceName);
    this.serviceRole = props.serviceRole ?? importServiceRole(this);
    for (const disk of disks) {
      if (disk.config.bucket && disk.config.key !== undefined) grantReadDisk(this.serviceRole, disk.config.bucket, disk.config.key);
    }
    if (props.encryptionKey) grantUseKey(this.serviceRole, props.encryptionKey);

    // What the import is made from: the handler imports again when any of it changes.
    const settings = {
      Description: props.description,
      Architecture: props.architecture,
      BootMode: props.bootMode,
      RootDeviceName: rootDeviceName,
      EnaSupport: String(props.enaSupport ?? true),
      ImdsSupport: imdsSupport === ImdsSupport.V2_0 ? imdsSupport : undefined,
      TpmSupport: props.tpmSupport,
      UefiData: props.uefiData,
      KmsKeyId: props.encryptionKey?.keyArn,
      RoleName: this.serviceRole.roleName,
      Disks: disks.map((d) => d.properties),
    };
    // A replacement registers its AMI while the old one exists: the default name changes with the settings.
    this.amiName = props.amiName
      ?? `${Names.uniqueResourceName(this, { maxLength: 119, separator: '-', allowedSpecialCharacters: '-_' })}-${synthKey(this, settings)}`;
    validateAmiName(this.amiName);

    this.tags = new TagManager(TagType.MAP, IMPORTED_AMI_RESOURCE_TYPE, props.tags);
    this.node.addValidation({ validate: () => validateTags(this.tags.tagValues()) });

    const provider = ImportedAmiProvider.of(this);
    provider.claimAmiName(this.amiName, this.node.path);
    provider.grantPassServiceRole(this.serviceRole);

    const importSettings = { AmiName: this.amiName, ...settings };
    // Wait conditions cannot be updated and a handle's signals stay on it: every new import
    // (and every new timeout) gets a new handle and condition; a tag change keeps them.
    const waitKey = synthKey(this, { ...importSettings, timeout: timeout.toSeconds() });
    const handle = new CfnWaitConditionHandle(this, `Signal${waitKey}`);
    const waitLogicalId = `Wait${waitKey}`;

    const properties: ImportedAmiProperties = {
      ...importSettings,
      // The stack's tag lets the handler remove the AMI even after it left the stack.
      Tags: Lazy.any({ produce: () => ({ ...this.tags.renderTags(), [OWNER_TAG_KEY]: Stack.of(this).stackId }) }) as any,
      TimeoutSeconds: String(timeout.toSeconds()),
      RemovalPolicy: Lazy.string({ produce: () => this.removalPolicy }),
      SignalUrl: handle.ref,
      WaitConditionLogicalId: Lazy.string({ produce: () => Stack.of(this).getLogicalId(this.node.findChild(waitLogicalId) as CfnWaitCondition) }),
      PollIntervalSeconds: String(pollInterval.toSeconds()),
      MaxPollIntervalSeconds: String(maxPollInterval.toSeconds()),
    };
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: IMPORTED_AMI_RESOURCE_TYPE,
      properties,
      // Creates answer at once; a delete may wait minutes for a stopped poll to end.
      serviceTimeout: IMPORTED_AMI_PROVIDER_MAX_WAIT,
    });
    this.applyCfnRemovalPolicy();
    // The service role must be usable (and its policy attached) before the import starts.
    this.resource.node.addDependency(this.serviceRole);

    const wait = new CfnWaitCondition(this, waitLogicalId, {
      handle: handle.ref,
      count: 1,
      timeout: String(Math.min(MAX_TIMEOUT.toSeconds(), timeout.toSeconds() + SIGNAL_MARGIN.toSeconds())),
    });
    // Starts counting once the import and its poller have started.
    wait.addDependency(this.resource.node.defaultChild as CfnResource);
    const available: ImportedAmiAvailableProperties = {
      ImportId: this.resource.getAttString('ImportId'),
      AmiName: this.amiName,
      WaitCondition: wait.ref,
      TimeoutSeconds: String(timeout.toSeconds()),
    };
    // The read step after the wait: imageId and snapshotIds come from it, so whatever uses them waits too.
    const read = new CustomResource(this, 'Available', {
      serviceToken: provider.serviceToken,
      resourceType: IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE,
      properties: available,
      serviceTimeout: IMPORTED_AMI_PROVIDER_MAX_WAIT,
    });
    this.imageId = read.getAttString('ImageId');
    this.snapshotIds = Fn.split(',', read.getAttString('SnapshotIds'));
  }

  /**
   * Sets what happens to the AMI when it leaves the stack; see `removalPolicy`.
   */
  public applyRemovalPolicy(policy: RemovalPolicy): void {
    this.removalPolicy = policy;
    this.applyCfnRemovalPolicy();
  }

  private applyCfnRemovalPolicy(): void {
    // CloudFormation has no Snapshot policy for custom resources: SNAPSHOT is carried out by the handler.
    // RETAIN keeps what a deployment made but still rolls back a failed create (as aws-cdk-lib maps
    // RETAIN_ON_UPDATE_OR_DELETE): a Delete that reaches the handler with RETAIN is such a rollback.
    const cfn = this.resource.node.defaultChild as CfnResource;
    if (this.removalPolicy === RemovalPolicy.RETAIN || this.removalPolicy === RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE) {
      cfn.applyRemovalPolicy(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE);
    } else {
      cfn.applyRemovalPolicy(RemovalPolicy.DESTROY);
    }
  }

  private bindDisks(disks: DiskImage[], rootDeviceName: string): Array<{ config: DiskImageConfig; properties: SnapshotDiskProperties }> {
    if (disks.length === 0) {
      throw new Error('disks is empty; give at least one disk, boot disk first, e.g. [DiskImage.fromBucket(bucket, "appliance-arm64.raw")]');
    }
    if (disks.length > MAX_DISKS) {
      throw new Error(`disks has ${disks.length} disks; ImportedAmi takes at most ${MAX_DISKS}: import the others as volumes of their own, or attach them later`);
    }
    const devices = new Map<string, number>();
    return disks.map((disk, i) => {
      let config: DiskImageConfig;
      try {
        config = disk.bind(this, `Disk${i}`);
      } catch (e) {
        throw new Error(`disks[${i}]: ${(e as Error).message}`);
      }
      if (config.snapshotId !== undefined) {
        throw new Error(`disks[${i}] is the EBS snapshot ${config.snapshotId}; ImportedAmi imports disk files (VHD, VMDK or RAW): give the disk file, or register an AMI from the snapshot directly`);
      }
      if (config.format === DiskImageFormat.OVA) {
        throw new Error(`disks[${i}] is an OVA, which holds a whole VM with its own descriptor; ImportSnapshot reads single disk files only (VHD, VMDK or RAW): extract the disks from the OVA and give them here, boot disk first, or import the OVA with VmImportImage`);
      }
      if (config.format === undefined || !FORMATS.includes(config.format)) {
        throw new Error(`disks[${i}] is a ${config.format} disk; ImportSnapshot reads VHD, VMDK and RAW only: convert it (for example with qemu-img convert -O raw), or import it with VmImportImage`);
      }
      const deviceName = i === 0 ? rootDeviceName : config.deviceName ?? `/dev/sd${DATA_DEVICE_LETTERS[i - 1]}`;
      if (i === 0 && config.deviceName !== undefined && config.deviceName !== rootDeviceName) {
        throw new Error(`disks[0] (the boot disk) has deviceName "${config.deviceName}", but rootDeviceName is "${rootDeviceName}"; set rootDeviceName: "${config.deviceName}" instead (the boot disk is the root device)`);
      }
      if (!Token.isUnresolved(deviceName)) {
        const other = devices.get(deviceName);
        if (other !== undefined) throw new Error(`disks[${i}] has deviceName "${deviceName}", which disks[${other}] already has; give each disk its own device name`);
        devices.set(deviceName, i);
      }
      const properties: SnapshotDiskProperties = {
        Format: config.format,
        Url: config.url,
        S3Bucket: config.url === undefined ? config.bucket?.bucketName : undefined,
        S3Key: config.url === undefined ? config.key : undefined,
        DeviceName: deviceName,
        Description: config.description,
      };
      return { config, properties };
    });
  }
}

function validateAmiName(name: string): void {
  if (Token.isUnresolved(name) || AMI_NAME_PATTERN.test(name)) return;
  throw new Error(`amiName "${name}" is not a valid AMI name: use 3 to 128 letters, digits, spaces and ( ) [ ] . / ' @ _ - (EC2 RegisterImage)`);
}

function validateUefiOptions(props: ImportedAmiProps): void {
  const uefi = props.bootMode === BootMode.UEFI;
  if (props.tpmSupport !== undefined && !uefi) {
    throw new Error(`tpmSupport is ${props.tpmSupport}, but bootMode is ${props.bootMode ?? 'not set'}; NitroTPM needs UEFI boot: set bootMode: BootMode.UEFI, or leave tpmSupport out`);
  }
  if (props.uefiData === undefined || Token.isUnresolved(props.uefiData)) return;
  if (!uefi) {
    throw new Error(`uefiData is set, but bootMode is ${props.bootMode ?? 'not set'}; a UEFI variable store applies only to UEFI boot: set bootMode: BootMode.UEFI, or leave uefiData out`);
  }
  if (props.uefiData.length === 0 || props.uefiData.length > MAX_UEFI_DATA || !/^[A-Za-z0-9+/]+={0,2}$/.test(props.uefiData) || props.uefiData.length % 4 !== 0) {
    throw new Error(`uefiData (${props.uefiData.length} characters) is not base64 of at most ${MAX_UEFI_DATA} characters; give the variable store as python-uefivars writes it (base64)`);
  }
}

function validateTags(tags: Record<string, string>): string[] {
  const errors: string[] = [];
  const keys = Object.keys(tags);
  const room = MAX_TAGS - IMPORTED_AMI_LIBRARY_TAG_COUNT;
  if (keys.length > room) {
    errors.push(`the AMI has ${keys.length} tags; EC2 accepts ${MAX_TAGS}, ${IMPORTED_AMI_LIBRARY_TAG_COUNT} of which the library sets (${LIBRARY_TAG_PREFIX}*): remove ${keys.length - room}`);
  }
  for (const key of keys) {
    if (key.startsWith(LIBRARY_TAG_PREFIX) || key.toLowerCase().startsWith('aws:')) {
      errors.push(`tag "${key}" has a reserved prefix (${key.toLowerCase().startsWith('aws:') ? 'aws:, AWS\'s own' : `${LIBRARY_TAG_PREFIX}, the library's own`}): rename it`);
    }
  }
  return errors;
}
