import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { ImportImageDeps, ImportImageEvent, OnEventResponse } from './common';
import { onEvent } from './on-event';
import { sleep } from '../shared/util';

// Module scope: reused across warm invocations.
const deps: ImportImageDeps = {
  ec2: new EC2Client({}),
  imagebuilder: new ImagebuilderClient({}),
  sleep,
  now: Date.now,
};

export async function handler(event: ImportImageEvent): Promise<OnEventResponse> {
  // Only identifying fields: the event also carries ResponseURL, a presigned URL.
  console.log(JSON.stringify({
    RequestType: event.RequestType,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    PhysicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined,
  }));
  const response = await onEvent(event, deps);
  console.log(JSON.stringify(response));
  return response;
}
