import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { DistributionDeps, onEvent, OnEventResponse } from './on-event';
import { sleep } from '../shared/util';

export type { OnEventResponse } from './on-event';

// Module scope: reused across warm invocations. Several distributions deploying at
// once can hit Image Builder's call rate limit, and a failed onEvent fails the
// whole stack: retry a little longer.
const deps: DistributionDeps = {
  imagebuilder: new ImagebuilderClient({ maxAttempts: 6 }),
  sleep,
};

/** onEvent of Custom::VmDiskDistribution (no isComplete: every call is synchronous). */
export async function handler(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  // Never log the whole event: its ResponseURL is a presigned URL.
  console.log(JSON.stringify({
    RequestType: event.RequestType,
    LogicalResourceId: event.LogicalResourceId,
    RequestId: event.RequestId,
    PhysicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined,
  }));
  return onEvent(event, deps);
}
