import { Token } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { validateAccountId } from '../private/distribution-helpers';

/** The SsmParameterName pattern of the Image Builder API model (imagebuilder 2019-12-02). */
const SSM_PARAMETER_NAME = /^[a-zA-Z0-9_.\-/]{1,1011}$/;

/**
 * An SSM parameter that receives the id of the distributed AMI.
 */
export interface SsmParameterConfigurationOptions {
  /**
   * The name of the parameter; the distribution creates it if it does not exist.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_SsmParameterConfiguration.html
   */
  readonly parameterName: string;

  /**
   * The account that owns the parameter. It must be one of the AMI distribution's
   * `targetAccountIds` for the Region.
   *
   * @default - this account
   */
  readonly amiAccountId?: string;

  /**
   * The data type of the parameter.
   *
   * @default - Image Builder's default (text)
   */
  readonly dataType?: ssm.ParameterDataType;
}

/**
 * An SSM parameter in one Region that receives the id of the AMI distributed there.
 */
export interface SsmParameterConfiguration extends SsmParameterConfigurationOptions {
  /**
   * The Region of the parameter.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/** Checks one SSM parameter configuration at synth. */
export function validateSsmParameterConfiguration(where: string, config: SsmParameterConfigurationOptions): void {
  if (!Token.isUnresolved(config.parameterName) && !SSM_PARAMETER_NAME.test(config.parameterName)) {
    throw new Error(`${where}: parameterName "${config.parameterName}" is not a valid SSM parameter name: use 1 to 1011 letters, digits and "_.-/", e.g. "/images/web/latest"`);
  }
  if (config.amiAccountId !== undefined) validateAccountId(`${where}.amiAccountId`, config.amiAccountId);
}

/** The API's `SsmParameterConfiguration`. */
export function renderSsmParameterConfiguration(config: SsmParameterConfigurationOptions): Record<string, unknown> {
  return {
    parameterName: config.parameterName,
    amiAccountId: config.amiAccountId,
    dataType: config.dataType,
  };
}
