import { Annotations, CfnWaitCondition, Stack, Token } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { LicenseType, Platform } from './enums';
import { IVmImportImage, VmImportImage } from './vm-import-image';

/** VM Export's documented limits on what it can export. */
export const VM_EXPORT_LIMITS_URL = 'https://docs.aws.amazon.com/vm-import/latest/userguide/limits-image-export.html';

const AMI_ID = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;
const IMAGE_ARN = /^arn:aws[a-z-]*:imagebuilder:[a-z0-9-]+:(\d{12}|aws):image\/[a-z0-9-_]+\/(\d+|x)\.(\d+|x)\.(\d+|x)(\/\d+)?$/;

/**
 * What a VmImageExport distributes, as DistributeImage takes it.
 */
export interface ExportSourceConfig {
  /**
   * DistributeImage's `sourceImage`: an AMI id, `ssm:<parameter name>`, or an Image Builder image ARN.
   */
  readonly sourceImage: string;

  /**
   * The SSM parameter holding the AMI id, which Image Builder reads.
   *
   * @default - the source is not an SSM parameter
   */
  readonly parameter?: ssm.IParameter;

  /**
   * What the source is at synth time, when `sourceImage` is a deploy-time value: a new
   * revision gives the export a new wait condition, so the deployment waits again for
   * the new export however long it takes.
   *
   * @default - the CloudFormation expression of `sourceImage`
   */
  readonly revision?: string;
}

/**
 * The image a `VmImageExport` exports: an Image Builder image (such as a
 * `VmImportImage`), an AMI, or an SSM parameter holding an AMI id.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_DistributeImage.html
 */
export abstract class ExportSource {
  /**
   * An Image Builder image, such as a `VmImportImage`. The export waits until the
   * image is AVAILABLE (a `VmImportImage` whose deployment waits for it), and runs
   * again when the image changes (a new version). A `VmImportImage` known to be
   * unexportable (imported with an `encryptionKey`, or Windows with `LicenseType.AWS`)
   * is refused at synth.
   */
  public static fromImage(image: IVmImportImage): ExportSource {
    return new ImageSource(image);
  }

  /**
   * An AMI of the stack's account and Region, by id (`ami-...`).
   */
  public static fromAmiId(amiId: string): ExportSource {
    if (!Token.isUnresolved(amiId) && !AMI_ID.test(amiId)) {
      throw new Error(`ExportSource.fromAmiId: "${amiId}" is not an AMI id; use "ami-" and 8 or 17 hexadecimal digits, e.g. "ami-0123456789abcdef0"`);
    }
    return new PlainSource(amiId);
  }

  /**
   * An SSM parameter holding an AMI id, read by Image Builder when the export starts.
   * Image Builder (with the execution role) may read it.
   */
  public static fromSsmParameter(parameter: ssm.IParameter): ExportSource {
    return new ParameterSource(parameter);
  }

  /**
   * An Image Builder image by ARN: a build version (`.../image/<name>/<x.y.z>/<build>`),
   * or a version, which Image Builder resolves to its newest AVAILABLE build.
   */
  public static fromImageArn(imageArn: string): ExportSource {
    if (!Token.isUnresolved(imageArn) && !IMAGE_ARN.test(imageArn)) {
      throw new Error(`ExportSource.fromImageArn: "${imageArn}" is not an Image Builder image ARN; expected arn:<partition>:imagebuilder:<region>:<account>:image/<name>/<x.y.z>[/<build>]`);
    }
    return new PlainSource(imageArn);
  }

  /**
   * Returns the source as DistributeImage takes it; `scope` is the export, on which
   * synth-time findings are reported.
   */
  public abstract bind(scope: Construct): ExportSourceConfig;
}

class PlainSource extends ExportSource {
  constructor(private readonly sourceImage: string) {
    super();
  }

  public bind(_scope: Construct): ExportSourceConfig {
    return { sourceImage: this.sourceImage };
  }
}

class ParameterSource extends ExportSource {
  constructor(private readonly parameter: ssm.IParameter) {
    super();
  }

  public bind(_scope: Construct): ExportSourceConfig {
    return { sourceImage: `ssm:${this.parameter.parameterName}`, parameter: this.parameter };
  }
}

class ImageSource extends ExportSource {
  constructor(private readonly image: IVmImportImage) {
    super();
  }

  public bind(scope: Construct): ExportSourceConfig {
    const image = this.image;
    if (image instanceof VmImportImage) {
      if (!waitsForImage(image)) {
        throw new Error(`source: ${image.node.path} has waitForAvailable: false, so its imageArn is known before the image is AVAILABLE, ` +
          'and DistributeImage distributes only AVAILABLE images: set waitForAvailable: true on the import (the export then waits for it)');
      }
      if (image.encryptionKey) {
        throw new Error(`source: ${image.node.path} is imported with an encryptionKey, and VM Export cannot export an AMI with encrypted snapshots ` +
          `(${VM_EXPORT_LIMITS_URL}): export an image imported without encryptionKey`);
      }
      if (image.platform === Platform.WINDOWS && image.licenseType === LicenseType.AWS) {
        throw new Error(`source: ${image.node.path} is a Windows image with licenseType LicenseType.AWS, and VM Export cannot export AWS-licensed ` +
          `Windows images (${VM_EXPORT_LIMITS_URL}): import it with licenseType: LicenseType.BYOL to export it`);
      }
      if (image.platform === Platform.WINDOWS && image.licenseType === undefined) {
        Annotations.of(scope).addWarningV2('cdk-vm-import-export:exportLicenseUnknown',
          `source: ${image.node.path} is a Windows image without a licenseType, so VM Import may make it AWS-licensed, which VM Export cannot export ` +
          `(${VM_EXPORT_LIMITS_URL}): set licenseType: LicenseType.BYOL on the import`);
      }
    }
    return { sourceImage: image.imageArn, revision: revisionOf(image) };
  }
}

/**
 * A VmImportImage's imageArn is the same expression whatever it imports; its wait
 * condition's logical id follows its import settings (a new import, a new id).
 */
function revisionOf(image: IVmImportImage): string | undefined {
  if (!(image instanceof VmImportImage)) return undefined;
  const wait = image.node.children.find((child): child is CfnWaitCondition => child instanceof CfnWaitCondition);
  const parts = [image.imageName, image.imageVersion, wait ? Stack.of(wait).getLogicalId(wait) : ''];
  return parts.some((part) => Token.isUnresolved(part)) ? undefined : parts.join('/');
}

/** Whether the deployment waits for the image: then it has a wait condition. */
function waitsForImage(image: VmImportImage): boolean {
  return image.node.children.some((child) => child instanceof CfnWaitCondition);
}
