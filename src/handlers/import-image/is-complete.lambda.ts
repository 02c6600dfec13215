import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { ImportImageDeps, IsCompleteEvent, IsCompleteResponse } from './common';
import { isComplete } from './is-complete';
import { sleep } from '../shared/util';

// Module scope: reused across warm invocations.
const deps: ImportImageDeps = {
  ec2: new EC2Client({}),
  imagebuilder: new ImagebuilderClient({}),
  sleep,
  now: Date.now,
};

export async function handler(event: IsCompleteEvent): Promise<IsCompleteResponse> {
  // Only identifying fields: the event also carries ResponseURL, a presigned URL.
  console.log(JSON.stringify({
    RequestType: event.RequestType,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    PhysicalResourceId: event.PhysicalResourceId,
  }));
  const response = await isComplete(event, deps);
  console.log(JSON.stringify(response));
  return response;
}
