import * as ecr from 'aws-cdk-lib/aws-ecr';
import { describeRegion, validateDescription } from '../private/distribution-helpers';

/**
 * Where a container image built by a container recipe is distributed to, in one Region.
 */
export interface ContainerDistributionOptions {
  /**
   * The ECR repository the container image is pushed to.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_ContainerDistributionConfiguration.html
   */
  readonly repository: ecr.IRepository;

  /**
   * A description of the container distribution.
   *
   * @default - none
   */
  readonly description?: string;

  /**
   * Tags given to the pushed container image.
   *
   * @default - none
   */
  readonly containerTags?: string[];
}

/**
 * A container distribution in one Region.
 */
export interface ContainerDistribution extends ContainerDistributionOptions {
  /**
   * The Region the container image is distributed to.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Checks the container distribution of `region` at synth. `existing` is the
 * container distribution the Region already has.
 */
export function validateContainerDistribution(
  where: string, region: string, container: ContainerDistributionOptions, existing?: ContainerDistributionOptions,
): void {
  if (existing) {
    throw new Error(`${where}: ${describeRegion(region)} already has a container distribution; Image Builder takes one per Region: remove one`);
  }
  validateDescription(`${where}.description`, container.description);
}

/** The API's `ContainerDistributionConfiguration`. */
export function renderContainerDistribution(container: ContainerDistributionOptions): Record<string, unknown> {
  return {
    description: container.description,
    containerTags: container.containerTags,
    targetRepository: { service: 'ECR', repositoryName: container.repository.repositoryName },
  };
}
