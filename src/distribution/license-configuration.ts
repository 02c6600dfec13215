import { Token } from 'aws-cdk-lib';

/** The most license configurations a Region takes (LicenseConfigurationArnList, imagebuilder 2019-12-02). */
export const MAX_LICENSE_CONFIGURATIONS = 50;
/** The LicenseConfigurationArn pattern of the Image Builder API model. */
const LICENSE_CONFIGURATION_ARN = /^arn:aws[^:]*:license-manager:[^:]+:[0-9]{12}:license-configuration:lic-[a-z0-9-_]{32}$/;

/**
 * License Manager license configurations associated with the AMI of one Region.
 */
export interface LicenseConfigurationDistribution {
  /**
   * ARNs of the license configurations.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_Distribution.html
   */
  readonly licenseConfigurationArns: string[];

  /**
   * The Region of the AMI.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/** Checks license configuration ARNs at synth. */
export function validateLicenseConfigurationArns(where: string, arns: readonly string[]): void {
  arns.forEach((arn, i) => {
    if (!Token.isUnresolved(arn) && !LICENSE_CONFIGURATION_ARN.test(arn)) {
      throw new Error(`${where}: "${arn}" (item ${i}) is not a License Manager license configuration ARN (arn:aws:license-manager:REGION:ACCOUNT:license-configuration:lic-...)`);
    }
  });
}
