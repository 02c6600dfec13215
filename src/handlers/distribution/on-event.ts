import type { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { clientToken, Sleep } from '../shared/util';
import type { VmDiskDistributionAttributes, VmDiskDistributionProperties } from '../types';
import { createDistributionConfiguration } from './create';
import { arnName, configurationNameInArn, deleteDistributionConfiguration } from './delete';
import { updateDistributionConfiguration } from './update';

/** What the lifecycle steps need from the outside; injected so tests control AWS and time. */
export interface DistributionDeps {
  readonly imagebuilder: ImagebuilderClient;
  readonly sleep: Sleep;
}

/** What the aws-cdk-lib Provider framework expects back from onEvent. */
export interface OnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: VmDiskDistributionAttributes;
}

/** Creates, updates or deletes the configuration of one Custom::VmDiskDistribution event. */
export async function onEvent(event: CloudFormationCustomResourceEvent, deps: DistributionDeps): Promise<OnEventResponse> {
  const { imagebuilder } = deps;
  switch (event.RequestType) {
    case 'Create': {
      const props = readProperties(event.ResourceProperties);
      const arn = await createDistributionConfiguration(imagebuilder, props, clientToken(event, 'CreateDistributionConfiguration'));
      return respond(arn, props);
    }
    case 'Update': {
      const props = readProperties(event.ResourceProperties);
      const oldProps = event.OldResourceProperties as Partial<VmDiskDistributionProperties>;
      if (isRename(props.Name, oldProps.Name, event.PhysicalResourceId)) {
        // Names are unique and immutable: a new configuration, a new physical id,
        // and CloudFormation deletes the old one once the stack update succeeds.
        const arn = await createDistributionConfiguration(imagebuilder, props, clientToken(event, 'CreateDistributionConfiguration'));
        return respond(arn, props);
      }
      await updateDistributionConfiguration(deps, event.PhysicalResourceId, props, oldProps, event);
      return respond(event.PhysicalResourceId, props);
    }
    case 'Delete': {
      const name = (event.ResourceProperties as Partial<VmDiskDistributionProperties>).Name;
      await deleteDistributionConfiguration(imagebuilder, event.PhysicalResourceId, name);
      return { PhysicalResourceId: event.PhysicalResourceId };
    }
    default:
      throw new Error(`unsupported RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}

/**
 * Whether the update needs a new configuration: the new name is not the one of
 * the configuration the physical id names. Comparing with OldResourceProperties
 * instead would be wrong on the rollback of a failed rename: it sends the old
 * name back with the old physical id, and creating that name again fails.
 */
function isRename(name: string, oldName: unknown, physicalId: string): boolean {
  const current = configurationNameInArn(physicalId);
  if (current === undefined) return name !== oldName;
  if (arnName(name) === current) return false;
  // Whether Image Builder keeps "_" in the ARN or turns it into "-" is not documented:
  // names that differ only there are told apart by the old name instead.
  const loose = (n: string) => n.replace(/_/g, '-');
  return loose(arnName(name)) !== loose(current) || name !== oldName;
}

function readProperties(raw: Record<string, unknown>): VmDiskDistributionProperties {
  const props = raw as Partial<VmDiskDistributionProperties>;
  if (typeof props.Name !== 'string' || props.Name === '') {
    throw new Error(`Name must be a non-empty string, got ${JSON.stringify(props.Name)}`);
  }
  return props as VmDiskDistributionProperties;
}

function respond(arn: string, props: VmDiskDistributionProperties): OnEventResponse {
  return { PhysicalResourceId: arn, Data: { Arn: arn, Name: props.Name } };
}
