import {
  Annotations, CfnResource, CfnWaitCondition, CfnWaitConditionHandle, Duration, Fn, IResource,
  ITaggable, Lazy, Names, RemovalPolicy, Resource, Stack, TagManager, TagType, Token,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, Dependable, IConstruct, IDependable } from 'constructs';
import { DiskImage, DiskImageConfig } from './disk-image';
import { Architecture, BootMode, DiskImageFormat, LicenseType, Platform } from './enums';
import {
  DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_REMOVAL_POLICY, DEFAULT_TIMEOUT_SECONDS, DEFAULT_WAIT_FOR_AVAILABLE,
  DiskContainerProperties, LIBRARY_TAG_COUNT, MAX_PROVIDER_WAIT_SECONDS, VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE, VM_IMPORT_IMAGE_RESOURCE_TYPE,
  VmImportImageAvailableProperties, VmImportImageProperties,
} from './handlers/types';
import { AfterWait } from './private/after-wait';
import { grantReadDisk, grantUseKey, grantUseLicenseConfigurations } from './private/grants';
import { VmImportProvider } from './private/import-provider';
import { importServiceRole } from './private/service-roles';
import { synthKey } from './private/synth-key';
import { validateDuration, validateEnumValue, validateImageName, validateLicensing, validateSemanticVersion } from './private/validation';
import { VmImportExportServiceRole } from './service-role';

/** The most disks one ImportImage call accepts. */
const MAX_DISKS = 21;
/** The most tags an Image Builder image accepts. */
const MAX_TAGS = 50;
/** The longest `timeout`: an AWS::CloudFormation::WaitCondition waits 43200 s at most. */
const MAX_TIMEOUT = Duration.hours(12);
const MIN_TIMEOUT = Duration.minutes(1);
/**
 * Imports routinely take hours (large disks, Windows); a hung one fails after this.
 * Failures fail at once, whatever the timeout.
 */
const DEFAULT_TIMEOUT = Duration.seconds(DEFAULT_TIMEOUT_SECONDS);
const DEFAULT_POLL_INTERVAL = Duration.seconds(DEFAULT_POLL_INTERVAL_SECONDS);
const DEFAULT_MAX_POLL_INTERVAL = Duration.seconds(DEFAULT_MAX_POLL_INTERVAL_SECONDS);
const MIN_POLL_INTERVAL = Duration.seconds(5);
const MAX_POLL_INTERVAL = Duration.minutes(30);
/**
 * Time the wait condition gives the poller beyond `timeout`, so that a timeout
 * fails with the poller's message (the import's last state), not CloudFormation's.
 */
const SIGNAL_MARGIN = Duration.minutes(5);

/**
 * An EC2 Image Builder image, such as one imported from a VM.
 *
 * Its members have the names `@aws-cdk/aws-imagebuilder-alpha`'s `IImage` uses, but it is
 * not one (it lacks `toBaseImage` and the other alpha methods): turn it into one with the
 * alpha's `Image.fromImageArn(scope, id, image.imageArn)`.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-images.html
 */
export interface IVmImportImage extends IResource {
  /**
   * The ARN of the Image Builder image.
   *
   * @attribute
   */
  readonly imageArn: string;

  /**
   * The name of the Image Builder image.
   *
   * @attribute
   */
  readonly imageName: string;

  /**
   * The semantic version of the Image Builder image, `x.y.z`.
   *
   * @attribute
   */
  readonly imageVersion: string;

  /**
   * The id of the AMI the image produced.
   *
   * @attribute
   */
  readonly imageId: string;

  /**
   * Grants the given principal the given Image Builder actions on this image.
   *
   * @param grantee the principal
   * @param actions Image Builder actions, e.g. `imagebuilder:GetImage`
   * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2imagebuilder.html
   */
  grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant;

  /**
   * Grants the given principal permission to read this image (`imagebuilder:GetImage`).
   *
   * @param grantee the principal
   */
  grantRead(grantee: iam.IGrantable): iam.Grant;
}

/**
 * Attributes of an existing Image Builder image.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-images.html
 */
export interface VmImportImageAttributes {
  /**
   * The ARN of the image.
   */
  readonly imageArn: string;

  /**
   * The id of the AMI the image produced.
   *
   * @default - `imageId` throws when read
   */
  readonly imageId?: string;
}

/**
 * Properties of a VmImportImage.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportImage.html
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ImportVmImage.html
 */
export interface VmImportImageProps {
  /**
   * The disks of the VM, boot disk first. An OVA holds a whole VM and must be the only disk.
   *
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/prerequisites.html
   */
  readonly disks: DiskImage[];

  /**
   * The operating system platform of the VM.
   */
  readonly platform: Platform;

  /**
   * The name of the Image Builder image.
   *
   * @default - a name derived from the construct path
   */
  readonly imageName?: string;

  /**
   * The semantic version of the Image Builder image, `major.minor.patch`.
   *
   * Changing anything but tags imports the VM again; Image Builder may refuse a
   * second image with the same name and version, so bump this when you change the disks.
   *
   * @default '1.0.0'
   */
  readonly imageVersion?: string;

  /**
   * A description of the image and of the import task.
   *
   * @default - no description
   */
  readonly description?: string;

  /**
   * The operating system version, for example `Ubuntu 22` or `Microsoft Windows Server 2022`.
   *
   * @default - Image Builder records none
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ImportVmImage.html
   */
  readonly osVersion?: string;

  /**
   * The CPU architecture of the VM.
   *
   * @default - VM Import detects it
   */
  readonly architecture?: Architecture;

  /**
   * The boot mode of the VM.
   *
   * @default - VM Import detects it
   */
  readonly bootMode?: BootMode;

  /**
   * The license type of the image. AWS recommends setting this or `usageOperation`.
   *
   * @default - VM Import chooses (AWS for Windows if it can, BYOL otherwise)
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/licensing.html
   */
  readonly licenseType?: LicenseType;

  /**
   * The usage operation (billing code) of the AMI, for example `RunInstances:0002`.
   *
   * @default - none
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/licensing-specify-option.html
   */
  readonly usageOperation?: string;

  /**
   * ARNs of License Manager license configurations to associate with the AMI.
   * The service role is allowed to use them.
   *
   * @default - none
   */
  readonly licenseConfigurationArns?: string[];

  /**
   * Encrypts the snapshots of the AMI with this key. The service role is allowed to use it.
   *
   * @default - not encrypted, unless EBS encryption by default is on in the account
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * The role VM Import assumes to read the disks and register the AMI.
   * It is allowed to read the disks given here; it must trust vmie.amazonaws.com
   * with the external id `vmimport`.
   *
   * @default - a least-privilege service role made for the stack, shared by its imports
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role
   */
  readonly serviceRole?: iam.IRole;

  /**
   * The log group Image Builder writes the image's logs to. Its name must start with
   * `/aws/imagebuilder/`, where Image Builder's service-linked role may write (a warning says so otherwise).
   *
   * @default - Image Builder's default log group
   */
  readonly logGroup?: logs.ILogGroup;

  /**
   * Whether the deployment waits until the image is AVAILABLE.
   *
   * When false the resource completes as soon as the image ARN exists, so recipes can
   * reference it while the import runs; `imageId` is then not available.
   *
   * @default true
   */
  readonly waitForAvailable?: boolean;

  /**
   * How long the deployment waits for the image to become AVAILABLE before it fails
   * (the import is then cancelled and removed). From 1 minute to 12 hours: the deployment
   * waits through an `AWS::CloudFormation::WaitCondition` that a Step Functions poller
   * signals, so no Lambda invocation has to live that long. A failed import fails the
   * deployment within one poll interval, whatever the timeout.
   *
   * @default Duration.hours(6)
   * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-waitcondition.html
   */
  readonly timeout?: Duration;

  /**
   * The wait before the first poll of the import. Later intervals grow with the time
   * elapsed (a tenth of it), up to `maxPollInterval`, so short imports are noticed
   * quickly and long ones cost few polls. Each import has its own schedule.
   *
   * @default Duration.seconds(15)
   */
  readonly pollInterval?: Duration;

  /**
   * The longest wait between two polls of the import: completion or failure is
   * noticed within this long. From `pollInterval` to 30 minutes.
   *
   * @default Duration.minutes(2)
   */
  readonly maxPollInterval?: Duration;

  /**
   * What happens to the image when it leaves the stack.
   * DESTROY deletes the Image Builder image, deregisters the AMI and deletes its snapshots;
   * SNAPSHOT does the same but keeps the snapshots; RETAIN keeps everything a successful
   * deployment made (DeletionPolicy RetainExceptOnCreate, UpdateReplacePolicy Retain), while
   * a failed create is still rolled back and an import still running is always cancelled.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Tags for the Image Builder image and the import task. `Tags.of(scope)` reaches them too.
   * The image also carries the library's own tags (`cdk-vm-import-export:*`: the stack, the
   * resource, its properties and the import task), which let the stack find and delete it:
   * at most 46 tags of your own.
   *
   * @default - none
   */
  readonly tags?: { [key: string]: string };
}

abstract class VmImportImageBase extends Resource implements IVmImportImage {
  public abstract readonly imageArn: string;
  public abstract readonly imageName: string;
  public abstract readonly imageVersion: string;
  public abstract readonly imageId: string;

  /**
   * Grants the given principal the given Image Builder actions on this image.
   *
   * @param grantee the principal
   * @param actions Image Builder actions
   */
  public grant(grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.imageArn] });
  }

  /**
   * Grants the given principal permission to read this image (`imagebuilder:GetImage`).
   *
   * @param grantee the principal
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.grant(grantee, 'imagebuilder:GetImage');
  }
}

/**
 * Imports a VM (OVA, VMDK, VHD, VHDX, RAW disks, or EBS snapshots) with EC2 VM Import
 * and registers it as an EC2 Image Builder image that recipes can use as their parent.
 *
 * @resource Custom::VmImportImage
 * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/vm-import-disk.html
 */
export class VmImportImage extends VmImportImageBase implements ITaggable {
  /**
   * Refers to an existing Image Builder image by ARN.
   *
   * @param scope the scope of the reference
   * @param id the construct id of the reference
   * @param imageArn `arn:<partition>:imagebuilder:<region>:<account>:image/<name>/<x.y.z>[/<build>]`
   */
  public static fromImageArn(scope: Construct, id: string, imageArn: string): IVmImportImage {
    return VmImportImage.fromImageAttributes(scope, id, { imageArn });
  }

  /**
   * Refers to an existing Image Builder image.
   *
   * @param scope the scope of the reference
   * @param id the construct id of the reference
   * @param attrs the image's ARN, and its AMI id if `imageId` is to be read
   */
  public static fromImageAttributes(scope: Construct, id: string, attrs: VmImportImageAttributes): IVmImportImage {
    // arn:aws:imagebuilder:region:account:image/name/x.y.z[/build]; the name as the ARN
    // holds it (Image Builder lowercases it).
    let name: string;
    let version: string;
    if (Token.isUnresolved(attrs.imageArn)) {
      const path = Fn.split('/', Fn.select(5, Fn.split(':', attrs.imageArn)));
      name = Fn.select(1, path);
      version = Fn.select(2, path);
    } else {
      const path = (attrs.imageArn.split(':')[5] ?? '').split('/');
      if (path[0] !== 'image' || !path[1] || !path[2]) {
        throw new Error(`imageArn "${attrs.imageArn}" is not an Image Builder image ARN; expected arn:<partition>:imagebuilder:<region>:<account>:image/<name>/<x.y.z>[/<build>]`);
      }
      [, name, version] = path;
    }
    class Import extends VmImportImageBase {
      public readonly imageArn = attrs.imageArn;
      public readonly imageName = name;
      public readonly imageVersion = version;
      public get imageId(): string {
        if (attrs.imageId === undefined) {
          throw new Error(`imageId of imported image ${this.node.path} is unknown; pass imageId to VmImportImage.fromImageAttributes`);
        }
        return attrs.imageId;
      }
    }
    return new Import(scope, id);
  }

  /**
   * The ARN of the Image Builder image. With `waitForAvailable` (the default) whatever uses
   * it in this stack follows the wait condition, so it waits until the image is AVAILABLE.
   *
   * @attribute
   */
  public readonly imageArn: string;
  public readonly imageName: string;
  public readonly imageVersion: string;
  /**
   * The id of the VM Import task that created the image.
   *
   * @attribute
   */
  public readonly importTaskId: string;
  /** Tags of the image and the import task. */
  public readonly tags: TagManager;
  /** The role VM Import assumes for this image. */
  public readonly serviceRole: iam.IRole;
  /** The operating system platform of the VM. */
  public readonly platform: Platform;
  /**
   * The license type the image was imported with, if one was given.
   * VM Export cannot export AWS-licensed Windows images.
   */
  public readonly licenseType?: LicenseType;
  /**
   * The KMS key the AMI's snapshots are encrypted with, if one was given.
   * VM Export cannot export AMIs with encrypted snapshots.
   */
  public readonly encryptionKey?: kms.IKey;

  private readonly resource: CfnResource;
  /** The wait condition the deployment waits on (waitForAvailable). */
  private readonly wait?: CfnWaitCondition;
  private readonly timeout: Duration;
  /** The read step after the wait condition, made when `imageId` is first read. */
  private available?: CfnResource;
  private readonly waitForAvailable: boolean;
  private removalPolicy: RemovalPolicy;

  /**
   * @param scope the scope of the image, in a stack
   * @param id the construct id
   * @param props the disks, platform and image settings
   */
  constructor(scope: Construct, id: string, props: VmImportImageProps) {
    super(scope, id);
    this.imageName = props.imageName
      ?? Names.uniqueResourceName(this, { maxLength: 128, separator: '-', allowedSpecialCharacters: '-_' });
    this.imageVersion = props.imageVersion ?? '1.0.0';
    this.waitForAvailable = props.waitForAvailable ?? true;
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.platform = props.platform;
    this.licenseType = props.licenseType;
    this.encryptionKey = props.encryptionKey;
    const timeout = props.timeout ?? DEFAULT_TIMEOUT;
    const pollInterval = props.pollInterval ?? DEFAULT_POLL_INTERVAL;
    const maxPollInterval = props.maxPollInterval ?? DEFAULT_MAX_POLL_INTERVAL;

    validateImageName('imageName', this.imageName);
    validateSemanticVersion('imageVersion', this.imageVersion);
    validateDuration('timeout', timeout, MIN_TIMEOUT, MAX_TIMEOUT,
      `the deployment can wait ${MAX_TIMEOUT.toHumanString()} at most (an AWS::CloudFormation::WaitCondition's limit)`);
    validateDuration('pollInterval', pollInterval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, 'use whole seconds');
    validateDuration('maxPollInterval', maxPollInterval, pollInterval, MAX_POLL_INTERVAL, 'use whole seconds, no less than pollInterval');
    if (props.description !== undefined && !Token.isUnresolved(props.description) && props.description.length > 1024) {
      throw new Error(`description is ${props.description.length} characters long; Image Builder accepts at most 1024: shorten it`);
    }

    validateEnumValue('platform', props.platform, 'Platform', Platform);
    validateEnumValue('architecture', props.architecture, 'Architecture', Architecture);
    validateEnumValue('bootMode', props.bootMode, 'BootMode', BootMode);
    if (props.bootMode === BootMode.UEFI_PREFERRED) {
      throw new Error('bootMode is uefi-preferred, which VM Import does not import; use BootMode.UEFI or BootMode.LEGACY_BIOS, or import with ImportedAmi, which registers uefi-preferred AMIs');
    }
    validateEnumValue('licenseType', props.licenseType, 'LicenseType', LicenseType);
    validateLicensing(props.platform, props.licenseType, props.usageOperation);
    if (props.architecture === Architecture.ARM64) {
      throw new Error('architecture is arm64, which VM Import (ImportImage) does not import; import arm64 VMs with ImportedAmi (ImportSnapshot per disk, then RegisterImage)');
    }
    if (props.platform === Platform.LINUX && props.architecture === Architecture.I386) {
      throw new Error('architecture is i386, but VM Import imports only 64-bit Linux; use Architecture.X86_64 (i386 is for Windows)');
    }

    const configs = this.bindDisks(props.disks, props);
    this.serviceRole = props.serviceRole ?? importServiceRole(this);
    for (const config of configs) {
      if (config.bucket && config.key !== undefined) grantReadDisk(this.serviceRole, config.bucket, config.key);
    }
    if (props.encryptionKey) grantUseKey(this.serviceRole, props.encryptionKey);
    grantUseLicenseConfigurations(this.serviceRole, props.licenseConfigurationArns ?? []);

    if (props.logGroup) warnIfLogGroupUnreachable(this, props.logGroup);
    if (props.licenseType === undefined && props.usageOperation === undefined) {
      Annotations.of(this).addWarningV2('cdk-vm-import-export:licenseTypeMissing',
        'neither licenseType nor usageOperation is set; AWS strongly recommends one of them so the AMI is billed as intended (e.g. licenseType: LicenseType.BYOL)');
    }

    this.tags = new TagManager(TagType.MAP, VM_IMPORT_IMAGE_RESOURCE_TYPE, props.tags);
    this.node.addValidation({
      validate: () => {
        const count = Object.keys(this.tags.tagValues()).length;
        const room = MAX_TAGS - LIBRARY_TAG_COUNT;
        return count > room
          ? [`the image has ${count} tags; Image Builder accepts ${MAX_TAGS}, ${LIBRARY_TAG_COUNT} of which the library sets (cdk-vm-import-export:*): remove ${count - room}`]
          : [];
      },
    });

    const provider = VmImportProvider.of(this);
    provider.claimImageVersion(this.imageName, this.imageVersion, this.node.path);
    provider.grantForImage(this.imageNamePattern(), this.serviceRole,
      configs.map((c) => c.snapshotId).filter((snapshotId): snapshotId is string => snapshotId !== undefined));

    // What the import is made from: the handler imports again when any of it changes.
    const importSettings = {
      ImageName: this.imageName,
      ImageVersion: this.imageVersion,
      Description: props.description,
      Platform: props.platform,
      OsVersion: props.osVersion,
      Architecture: props.architecture,
      BootMode: props.bootMode,
      LicenseType: props.licenseType,
      UsageOperation: props.usageOperation,
      LicenseConfigurationArns: props.licenseConfigurationArns,
      KmsKeyId: props.encryptionKey?.keyArn,
      RoleName: this.serviceRole.roleName,
      Disks: configs.map(renderDisk),
      LogGroupName: props.logGroup?.logGroupName,
    };
    // Wait conditions cannot be updated and a handle's signals stay on it: every new
    // import (and every new timeout) gets a new handle and condition, keyed by what
    // the template says of the import. A tag change keeps them, and does not wait again.
    const waitKey = this.waitForAvailable ? synthKey(this, { ...importSettings, timeout: timeout.toSeconds() }) : undefined;
    const handle = waitKey ? new CfnWaitConditionHandle(this, `Signal${waitKey}`) : undefined;
    const wait = handle ? new CfnWaitCondition(this, `Wait${waitKey}`, {
      handle: handle.ref,
      count: 1,
      timeout: String(Math.min(MAX_TIMEOUT.toSeconds(), timeout.toSeconds() + SIGNAL_MARGIN.toSeconds())),
    }) : undefined;
    this.wait = wait;
    this.timeout = timeout;

    // Settings with the handler's default are left out (types.ts): what would be the
    // same in every import is said once, by the provider. So is the stack's ownership
    // tag, which the handler adds from the request's StackId.
    const properties: VmImportImageProperties = {
      ...importSettings,
      Tags: Lazy.any({ produce: () => this.tags.renderTags() }, { omitEmptyArray: true }) as any,
      WaitForAvailable: unlessDefault(String(this.waitForAvailable), DEFAULT_WAIT_FOR_AVAILABLE),
      TimeoutSeconds: unlessDefault(String(timeout.toSeconds()), String(DEFAULT_TIMEOUT_SECONDS)),
      RemovalPolicy: Lazy.string({ produce: () => unlessDefault(this.removalPolicy, DEFAULT_REMOVAL_POLICY) }),
      ...(handle && wait ? {
        SignalUrl: handle.ref,
        WaitConditionLogicalId: wait.logicalId,
        PollIntervalSeconds: unlessDefault(String(pollInterval.toSeconds()), String(DEFAULT_POLL_INTERVAL_SECONDS)),
        MaxPollIntervalSeconds: unlessDefault(String(maxPollInterval.toSeconds()), String(DEFAULT_MAX_POLL_INTERVAL_SECONDS)),
      } : {}),
    };
    // No ServiceTimeout: CloudFormation's default is the hour the provider's waiter may
    // take (creates answer at once; deletes may wait for Image Builder, queued imports for quota).
    this.resource = customResource(this, 'Resource', VM_IMPORT_IMAGE_RESOURCE_TYPE, provider.serviceToken, properties);
    this.applyCfnRemovalPolicy();
    // The service role must be usable, its policies attached, before the import starts.
    followEc2Policy(this.serviceRole);
    this.resource.node.addDependency(policiesOf(this.serviceRole));
    this.importTaskId = Token.asString(this.resource.getAtt('ImportTaskId'));

    if (wait) {
      // Starts counting once the import and its poller have started. (node.addDependency, not
      // CfnResource.addDependency, which newer aws-cdk-lib deprecates and warns about at every synth.)
      wait.node.addDependency(this.resource);
      // Whatever uses imageArn follows the wait condition too, with no resource of its own.
      this.imageArn = Token.asString(new AfterWait(this.resource, 'ImageArn', wait));
    } else {
      this.imageArn = Token.asString(this.resource.getAtt('ImageArn'));
    }
  }

  /**
   * The id of the AMI the image produced.
   *
   * Reading it adds a read step after the wait condition (`Custom::VmImportImageAvailable`),
   * which reports the AMI once the image is AVAILABLE. Not available with
   * `waitForAvailable: false`: the AMI does not exist yet when the resource completes.
   */
  public get imageId(): string {
    if (!this.wait) {
      throw new Error(`imageId of ${this.node.path} is not available with waitForAvailable: false, because the AMI does not exist when the resource completes; set waitForAvailable: true, or use imageArn`);
    }
    return Token.asString(this.readStep().getAtt('ImageId'));
  }

  /**
   * The read step after the wait (Custom::VmImportImageAvailable), which reports the AMI:
   * made only for a stack that reads `imageId`, so an import used by its ARN alone
   * (recipes, distributions) costs three resources, not four.
   */
  private readStep(): CfnResource {
    if (this.available) return this.available;
    const provider = VmImportProvider.of(this);
    const properties: VmImportImageAvailableProperties = {
      ImageArn: Token.asString(this.resource.getAtt('ImageArn')),
      // No ImportTaskId: the image names its task in a tag, for the rare step that needs it.
      WaitCondition: this.wait!.ref,
      // The step waits at most MAX_PROVIDER_WAIT_SECONDS, which it assumes when this is left out.
      TimeoutSeconds: this.timeout.toSeconds() >= MAX_PROVIDER_WAIT_SECONDS ? undefined : String(this.timeout.toSeconds()),
    };
    this.available = customResource(this, 'Available', VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE, provider.serviceToken, properties);
    return this.available;
  }

  /**
   * Sets what happens to the image when it leaves the stack; see `removalPolicy`.
   *
   * @param policy DESTROY, SNAPSHOT or RETAIN
   */
  public applyRemovalPolicy(policy: RemovalPolicy): void {
    this.removalPolicy = policy;
    this.applyCfnRemovalPolicy();
  }

  private applyCfnRemovalPolicy(): void {
    // CloudFormation has no Snapshot policy for custom resources: SNAPSHOT is carried out by the handler.
    // RETAIN keeps what a deployment made but still rolls back a failed create (as aws-cdk-lib maps
    // RETAIN_ON_UPDATE_OR_DELETE): a Delete that reaches the handler with RETAIN is such a rollback.
    if (this.removalPolicy === RemovalPolicy.RETAIN || this.removalPolicy === RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE) {
      this.resource.applyRemovalPolicy(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE);
    } else {
      // Delete, CloudFormation's own default for both policies, said by saying nothing.
      this.resource.cfnOptions.deletionPolicy = undefined;
      this.resource.cfnOptions.updateReplacePolicy = undefined;
    }
  }

  private bindDisks(disks: DiskImage[], props: VmImportImageProps): DiskImageConfig[] {
    if (disks.length === 0) {
      throw new Error('disks is empty; give at least one disk, boot disk first, e.g. [DiskImage.fromBucket(bucket, "web.vmdk")]');
    }
    if (disks.length > MAX_DISKS) {
      throw new Error(`disks has ${disks.length} disks; VM Import accepts at most ${MAX_DISKS} per image: import the others as a separate image, or attach them as volumes later`);
    }
    const configs = disks.map((disk, i) => {
      try {
        return disk.bind(this, `Disk${i}`, { bootMode: props.bootMode, platform: props.platform, bootDisk: i === 0 });
      } catch (e) {
        throw new Error(`disks[${i}]: ${(e as Error).message}`);
      }
    });
    const ova = configs.findIndex((c) => c.format === DiskImageFormat.OVA);
    if (ova >= 0 && configs.length > 1) {
      throw new Error(`disks[${ova}] is an OVA, which holds a whole VM; an OVA must be the only disk (got ${configs.length} disks)`);
    }
    return configs;
  }

  private imageNamePattern(): string {
    // Image Builder lowercases names in ARNs.
    return Token.isUnresolved(this.imageName) ? '*' : `${this.imageName.toLowerCase().replace(/ /g, '-')}/*`;
  }
}

/** Image Builder writes image logs with its service-linked role, which may write only here. */
const IMAGE_BUILDER_LOG_PREFIX = '/aws/imagebuilder/';

function warnIfLogGroupUnreachable(scope: Construct, logGroup: logs.ILogGroup): void {
  let name: string | undefined = logGroup.logGroupName;
  if (Token.isUnresolved(name)) {
    const cfn = logGroup.node.defaultChild;
    // A log group of this app without a name gets a generated one; any other token is unknown.
    if (!(cfn instanceof logs.CfnLogGroup)) return;
    name = Stack.of(cfn).resolve(cfn.logGroupName);
    if (name !== undefined && typeof name !== 'string') return;
  }
  if (name !== undefined && name.startsWith(IMAGE_BUILDER_LOG_PREFIX)) return;
  Annotations.of(scope).addWarningV2('cdk-vm-import-export:logGroupOutsideImageBuilder',
    `logGroup ${name === undefined ? 'has a generated name' : `"${name}" is`} not under ${IMAGE_BUILDER_LOG_PREFIX}; Image Builder's service-linked role writes logs only there, so the image's logs would be lost: give the log group a name such as ${IMAGE_BUILDER_LOG_PREFIX}<image name>`);
}

function renderDisk(config: DiskImageConfig): DiskContainerProperties {
  return {
    Format: config.format,
    Url: config.url,
    S3Bucket: config.url === undefined ? config.bucket?.bucketName : undefined,
    S3Key: config.url === undefined ? config.key : undefined,
    SnapshotId: config.snapshotId,
    DeviceName: config.deviceName,
    Description: config.description,
  };
}

/**
 * The policies of a role, looked up when the template is written, so that grants
 * made after this import count too. Not the role itself: RoleName refers to it
 * already (a Ref in its own environment; another environment gets a stack
 * dependency). Nor a policy that another of them follows (a service role's
 * default policy follows its EC2 policy): waiting for the follower waits for both.
 */
function policiesOf(role: iam.IRole): IDependable {
  const dependable: IDependable = {};
  Dependable.implement(dependable, {
    get dependencyRoots(): IConstruct[] {
      const policies = role.node.children
        .filter((child) => child instanceof iam.Policy || child instanceof iam.ManagedPolicy || child instanceof iam.CfnPolicy);
      const followed = new Set(policies.flatMap((policy) => policy.node.dependencies));
      return policies.filter((policy) => !followed.has(policy));
    },
  });
  return dependable;
}

/**
 * A service role of this library: its default policy (the disks) follows its EC2
 * policy, which never changes after it is made, so an import waits for one policy.
 */
function followEc2Policy(role: iam.IRole): void {
  if (!(role instanceof VmImportExportServiceRole)) return;
  const ec2 = role.node.tryFindChild('Ec2Policy');
  if (ec2) role.node.tryFindChild('DefaultPolicy')?.node.addDependency(ec2);
}

/** The value, or undefined (left out of the template) when it is the handler's default. */
function unlessDefault(value: string, handlerDefault: string): string | undefined {
  return value === handlerDefault ? undefined : value;
}

/**
 * A custom resource as CloudFormation sees it: the L1 alone, at the id
 * aws-cdk-lib's CustomResource would give its child (so the logical id is the
 * same), without the L2 around it that a stack of many imports pays for twice each.
 */
function customResource(scope: Construct, id: string, type: string, serviceToken: string, properties: object): CfnResource {
  return new CfnResource(scope, id, { type, properties: { ServiceToken: serviceToken, ...properties } });
}
