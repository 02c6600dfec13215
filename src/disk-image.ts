import * as fs from 'fs';
import * as path from 'path';
import { Annotations, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3_assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { DiskFileFormat, DiskImageInspector, FindingSeverity } from './disk-inspection';
import { BootMode, DiskImageFormat, Platform } from './enums';
import { EXTENSION_FORMATS, adviceForExtension, extensionOf } from './private/disk-formats/extensions';
import { validateEnumValue } from './private/validation';

/**
 * Options common to every disk source.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageDiskContainer.html
 */
export interface DiskImageOptions {
  /**
   * The disk format.
   *
   * @default - taken from the file extension (.ova, .vmdk, .vhd, .vhdx, .raw or .img)
   */
  readonly format?: DiskImageFormat;

  /**
   * The block device name of the disk, for example `/dev/sda1`.
   *
   * @default - VM Import assigns one
   */
  readonly deviceName?: string;

  /**
   * A description of the disk.
   *
   * @default - no description
   */
  readonly description?: string;
}

/**
 * Options for a disk uploaded from a local file.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/prerequisites.html
 */
export interface DiskImageAssetOptions extends DiskImageOptions, s3_assets.AssetOptions {
  /**
   * Whether the file's headers are inspected at synth (`DiskImageInspector`): problems
   * AWS certainly rejects fail the synth, likely ones are warnings. Turn it off only for
   * a file you know better about than the inspection does.
   *
   * @default true
   */
  readonly inspect?: boolean;
}

/**
 * What the import knows about a disk when it binds it.
 */
export interface DiskImageBindOptions {
  /**
   * The boot mode of the import; the boot disk's partition table must suit it.
   *
   * @default - VM Import detects it
   */
  readonly bootMode?: BootMode;

  /**
   * The platform of the import.
   *
   * @default - unknown
   */
  readonly platform?: Platform;

  /**
   * Whether this is the boot disk (the first disk of the import).
   *
   * @default true
   */
  readonly bootDisk?: boolean;
}

/**
 * A disk as EC2 ImportImage's DiskContainer wants it, plus what the service role
 * must be allowed to read.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageDiskContainer.html
 */
export interface DiskImageConfig {
  /**
   * The disk format, or undefined for an EBS snapshot.
   *
   * @default - none (snapshot)
   */
  readonly format?: DiskImageFormat;
  /**
   * The bucket the disk is read from.
   *
   * @default - not read from a bucket
   */
  readonly bucket?: s3.IBucket;
  /**
   * The object key of the disk in `bucket`.
   *
   * @default - not read from a bucket
   */
  readonly key?: string;
  /**
   * An https:// or s3:// URL of the disk.
   *
   * @default - not read from a URL
   */
  readonly url?: string;
  /**
   * The id of an EBS snapshot to import.
   *
   * @default - not a snapshot
   */
  readonly snapshotId?: string;
  /**
   * The block device name.
   *
   * @default - VM Import assigns one
   */
  readonly deviceName?: string;
  /**
   * The disk description.
   *
   * @default - no description
   */
  readonly description?: string;
}

/**
 * A VM disk to import: a file in S3, a local file uploaded as an asset, a URL,
 * or an existing EBS snapshot.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageDiskContainer.html
 */
export abstract class DiskImage {
  /**
   * A disk file stored in an S3 bucket.
   *
   * @param bucket the bucket that holds the disk
   * @param key the object key of the disk
   * @param options the format (default: from the key's extension), device name and description
   */
  public static fromBucket(bucket: s3.IBucket, key: string, options: DiskImageOptions = {}): DiskImage {
    return new BucketDiskImage(bucket, key, options);
  }

  /**
   * A local disk file, uploaded to the CDK asset bucket at deployment.
   *
   * At synth the file's headers are inspected (see `DiskImageInspector`): a format VM Import
   * cannot read, a VMDK that is not stream-optimized, a file whose format is not the one
   * declared or named by its extension, a disk of 16 TiB or more, or a GPT boot disk without
   * a BIOS boot loader imported with `BootMode.LEGACY_BIOS` fail the synth with the fix;
   * likely problems are warnings. A directory is refused (it would be uploaded as a zip).
   *
   * Synth copies the file into the cloud assembly and hashes it, which takes a while for
   * disks of many GiB: upload large disks with `aws s3 cp` and use `fromBucket` instead.
   *
   * @param file path to the disk file
   * @param options the format (default: from the file's extension), device name, description,
   *   whether to inspect the file (default true), and the asset options of `aws-s3-assets`
   */
  public static fromAsset(file: string, options: DiskImageAssetOptions = {}): DiskImage {
    return new AssetDiskImage(file, options);
  }

  /**
   * A disk at an `s3://bucket/key` or `https://` URL.
   *
   * For an `s3://` URL the service role is allowed to read that object;
   * for an `https://` URL (for example a presigned URL) no permission is added.
   *
   * @param url `s3://bucket/key`, or an `https://` URL VM Import can read (a presigned S3 URL)
   * @param options the format (default: from the URL's extension), device name and description
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html
   */
  public static fromUrl(url: string, options: DiskImageOptions = {}): DiskImage {
    return new UrlDiskImage(url, options);
  }

  /**
   * An existing EBS snapshot, imported as a disk of the image.
   *
   * @param snapshotId the snapshot id, `snap-...`
   * @param options the device name and description (a snapshot has no format)
   */
  public static fromSnapshot(snapshotId: string, options: DiskImageOptions = {}): DiskImage {
    return new SnapshotDiskImage(snapshotId, options);
  }

  /**
   * Resolves the disk for an import.
   *
   * @param scope the construct the disk is imported for (assets are created under it)
   * @param id a construct id unique under `scope`
   * @param options what the import knows about the disk (boot mode, platform, boot disk)
   */
  public abstract bind(scope: Construct, id: string, options?: DiskImageBindOptions): DiskImageConfig;
}

const FORMATS_HINT = 'pass { format: DiskImageFormat.VMDK } (or OVA, VHD, VHDX, RAW)';

/**
 * The literal end of a name: the name itself, or what follows its last token
 * (`${param}.vmdk` ends in ".vmdk"); undefined when the name ends in a token.
 */
function literalTail(name: string): string | undefined {
  if (!Token.isUnresolved(name)) return name;
  // aws-cdk-lib encodes string tokens as ${Token[<name>]}, with these characters in the name.
  const tail = name.split(/\$\{Token\[[a-zA-Z0-9:._-]+\]\}/).pop() ?? '';
  return tail && !Token.isUnresolved(tail) ? tail : undefined;
}

/** The format given, or the one the extension names; an error says how to fix it. */
function resolveFormat(scope: Construct, what: string, name: string, format: DiskImageFormat | undefined): DiskImageFormat {
  validateEnumValue('format', format, 'DiskImageFormat', DiskImageFormat);
  const literal = literalTail(name);
  const advice = literal === undefined ? undefined : adviceForExtension(literal);
  if (format !== undefined) {
    if (advice) {
      Annotations.of(scope).addWarningV2('cdk-vm-import-export:diskKeyExtension',
        `${what} "${name}" ${advice}; it is imported as ${format} as the format option says, which fails unless the name is wrong`);
    }
    return format;
  }
  if (literal === undefined) {
    throw new Error(`cannot tell the disk format of ${what} from a value known only at deploy time; ${FORMATS_HINT}, or end it with a literal extension such as \`\${value}.vmdk\``);
  }
  const ext = extensionOf(literal);
  const found = EXTENSION_FORMATS[ext];
  if (found) return found as DiskImageFormat;
  if (advice) throw new Error(`${what} "${name}" ${advice}`);
  throw new Error(`cannot tell the disk format of ${what} "${name}" from its extension "${ext}"; ${FORMATS_HINT}, or use one of ${Object.keys(EXTENSION_FORMATS).join(', ')}`);
}

class BucketDiskImage extends DiskImage {
  constructor(private readonly bucket: s3.IBucket, private readonly key: string, private readonly options: DiskImageOptions) {
    super();
  }

  public bind(scope: Construct, _id: string, _options?: DiskImageBindOptions): DiskImageConfig {
    if (!Token.isUnresolved(this.key) && (this.key.length === 0 || this.key.startsWith('/'))) {
      throw new Error(`DiskImage.fromBucket: key "${this.key}" must be an object key such as "exports/web.vmdk", not empty and without a leading "/"`);
    }
    return {
      format: resolveFormat(scope, 'the key', this.key, this.options.format),
      bucket: this.bucket,
      key: this.key,
      deviceName: this.options.deviceName,
      description: this.options.description,
    };
  }
}

class AssetDiskImage extends DiskImage {
  constructor(private readonly file: string, private readonly options: DiskImageAssetOptions) {
    super();
  }

  public bind(scope: Construct, id: string, options: DiskImageBindOptions = {}): DiskImageConfig {
    // Relative to the app's directory where it can be: messages land in the synthesized metadata,
    // which should not depend on (or reveal) where the app was checked out.
    const relative = path.relative(process.cwd(), this.file);
    const shown = relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.basename(this.file);
    const where = `DiskImage.fromAsset("${shown}") of ${scope.node.path}`;
    validateEnumValue('format', this.options.format, 'DiskImageFormat', DiskImageFormat);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(this.file);
    } catch {
      stat = undefined; // the Asset below says the file is missing, as it always has
    }
    if (stat?.isDirectory()) {
      throw new Error(`${where}: the path is a directory, which would be uploaded as a zip archive that VM Import cannot read; give the disk file inside it (the .ova, .vmdk, .vhd, .vhdx or raw image)`);
    }
    let detected: DiskImageFormat | undefined;
    if (stat && this.options.inspect !== false) detected = this.inspect(scope, where, options);
    const format = this.options.format ?? EXTENSION_FORMATS[extensionOf(this.file)] as DiskImageFormat | undefined ?? detected
      ?? resolveFormat(scope, 'the file', this.file, undefined);
    const { inspect: _inspect, ...assetOptions } = this.options;
    const asset = new s3_assets.Asset(scope, id, { ...assetOptions, path: this.file });
    return {
      format,
      bucket: asset.bucket,
      key: asset.s3ObjectKey,
      deviceName: this.options.deviceName,
      description: this.options.description,
    };
  }

  /** Fails on errors, warns on warnings; returns the format the file really is, if VM Import reads it. */
  private inspect(scope: Construct, where: string, options: DiskImageBindOptions): DiskImageFormat | undefined {
    const report = DiskImageInspector.inspect(this.file, {
      format: this.options.format,
      bootMode: options.bootMode,
      platform: options.platform,
      bootDisk: options.bootDisk ?? true,
    });
    const errors = report.findings.filter((f) => f.severity === FindingSeverity.ERROR);
    if (errors.length > 0) {
      throw new Error(`${where}: ${errors.map((f) => `${f.message}: ${f.fix}`).join('; and ')}`
        + ' (if you know the file better than this check, pass inspect: false)');
    }
    for (const f of report.findings) {
      // aws-cdk-lib appends "[ack: <id>]", the id Annotations.of(image).acknowledgeWarning() takes.
      Annotations.of(scope).addWarningV2(f.id, `${where}: ${f.message}: ${f.fix}`);
    }
    // A raw read is a guess (no header was found), so only a recognized header names the format.
    return report.format === DiskFileFormat.RAW ? undefined : report.importFormat;
  }
}

class UrlDiskImage extends DiskImage {
  constructor(private readonly url: string, private readonly options: DiskImageOptions) {
    super();
  }

  public bind(scope: Construct, id: string, _options?: DiskImageBindOptions): DiskImageConfig {
    let bucket: s3.IBucket | undefined;
    let key: string | undefined;
    if (!Token.isUnresolved(this.url)) {
      const s3Url = /^s3:\/\/([^/]+)\/(.+)$/.exec(this.url);
      if (s3Url) {
        bucket = s3.Bucket.fromBucketName(scope, id, s3Url[1]);
        key = s3Url[2];
      } else if (!/^https:\/\/[^/]+\/.+/.test(this.url)) {
        throw new Error(`DiskImage.fromUrl: url "${this.url}" must be an s3://bucket/key or https:// URL of the disk file`);
      }
    }
    return {
      format: resolveFormat(scope, 'the url', this.url, this.options.format),
      url: this.url,
      bucket,
      key,
      deviceName: this.options.deviceName,
      description: this.options.description,
    };
  }
}

class SnapshotDiskImage extends DiskImage {
  constructor(private readonly snapshotId: string, private readonly options: DiskImageOptions) {
    super();
  }

  public bind(_scope: Construct, _id: string, _options?: DiskImageBindOptions): DiskImageConfig {
    if (!Token.isUnresolved(this.snapshotId) && !/^snap-([0-9a-f]{8}|[0-9a-f]{17})$/.test(this.snapshotId)) {
      throw new Error(`DiskImage.fromSnapshot: snapshotId "${this.snapshotId}" is not an EBS snapshot id; expected "snap-" followed by 8 or 17 hex digits`);
    }
    if (this.options.format !== undefined) {
      throw new Error(`DiskImage.fromSnapshot: format "${this.options.format}" does not apply to a snapshot; remove it`);
    }
    return {
      snapshotId: this.snapshotId,
      deviceName: this.options.deviceName,
      description: this.options.description,
    };
  }
}
