import * as path from 'path';
import { Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3_assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { DiskImageFormat } from './enums';
import { validateEnumValue } from './private/validation';

/**
 * Options common to every disk source.
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
 */
export interface DiskImageAssetOptions extends DiskImageOptions, s3_assets.AssetOptions {}

/**
 * A disk as EC2 ImportImage's DiskContainer wants it, plus what the service role
 * must be allowed to read.
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

const EXTENSION_FORMATS: Record<string, DiskImageFormat> = {
  '.ova': DiskImageFormat.OVA,
  '.vmdk': DiskImageFormat.VMDK,
  '.vhd': DiskImageFormat.VHD,
  '.vhdx': DiskImageFormat.VHDX,
  '.raw': DiskImageFormat.RAW,
  '.img': DiskImageFormat.RAW,
};

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
   */
  public static fromBucket(bucket: s3.IBucket, key: string, options: DiskImageOptions = {}): DiskImage {
    return new BucketDiskImage(bucket, key, options);
  }

  /**
   * A local disk file, uploaded to the CDK asset bucket at deployment.
   *
   * @param file path to the disk file
   */
  public static fromAsset(file: string, options: DiskImageAssetOptions = {}): DiskImage {
    return new AssetDiskImage(file, options);
  }

  /**
   * A disk at an `s3://bucket/key` or `https://` URL.
   *
   * For an `s3://` URL the service role is allowed to read that object;
   * for an `https://` URL (for example a presigned URL) no permission is added.
   */
  public static fromUrl(url: string, options: DiskImageOptions = {}): DiskImage {
    return new UrlDiskImage(url, options);
  }

  /**
   * An existing EBS snapshot, imported as a disk of the image.
   *
   * @param snapshotId the snapshot id, `snap-...`
   */
  public static fromSnapshot(snapshotId: string, options: DiskImageOptions = {}): DiskImage {
    return new SnapshotDiskImage(snapshotId, options);
  }

  /**
   * Resolves the disk for an import.
   *
   * @param scope the construct the disk is imported for (assets are created under it)
   * @param id a construct id unique under `scope`
   */
  public abstract bind(scope: Construct, id: string): DiskImageConfig;
}

/** The format given, or the one the extension names; an error says how to fix it. */
function resolveFormat(what: string, name: string, format: DiskImageFormat | undefined): DiskImageFormat {
  validateEnumValue('format', format, 'DiskImageFormat', DiskImageFormat);
  if (format !== undefined) return format;
  if (Token.isUnresolved(name)) {
    throw new Error(`cannot tell the disk format of ${what} from a value known only at deploy time; pass { format: DiskImageFormat.VMDK } (or OVA, VHD, VHDX, RAW)`);
  }
  const ext = path.extname(name.replace(/[?#].*$/, '')).toLowerCase();
  const found = EXTENSION_FORMATS[ext];
  if (!found) {
    throw new Error(`cannot tell the disk format of ${what} "${name}" from its extension "${ext}"; pass { format: DiskImageFormat.VMDK } (or OVA, VHD, VHDX, RAW), or use one of ${Object.keys(EXTENSION_FORMATS).join(', ')}`);
  }
  return found;
}

class BucketDiskImage extends DiskImage {
  constructor(private readonly bucket: s3.IBucket, private readonly key: string, private readonly options: DiskImageOptions) {
    super();
  }

  public bind(_scope: Construct, _id: string): DiskImageConfig {
    if (!Token.isUnresolved(this.key) && (this.key.length === 0 || this.key.startsWith('/'))) {
      throw new Error(`DiskImage.fromBucket: key "${this.key}" must be an object key such as "exports/web.vmdk", not empty and without a leading "/"`);
    }
    return {
      format: resolveFormat('the key', this.key, this.options.format),
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

  public bind(scope: Construct, id: string): DiskImageConfig {
    const format = resolveFormat('the file', this.file, this.options.format);
    const asset = new s3_assets.Asset(scope, id, { ...this.options, path: this.file });
    return {
      format,
      bucket: asset.bucket,
      key: asset.s3ObjectKey,
      deviceName: this.options.deviceName,
      description: this.options.description,
    };
  }
}

class UrlDiskImage extends DiskImage {
  constructor(private readonly url: string, private readonly options: DiskImageOptions) {
    super();
  }

  public bind(scope: Construct, id: string): DiskImageConfig {
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
      format: resolveFormat('the url', this.url, this.options.format),
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

  public bind(_scope: Construct, _id: string): DiskImageConfig {
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
