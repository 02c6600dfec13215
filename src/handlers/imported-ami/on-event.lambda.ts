import { AvailableEvent, AvailableOnEventResponse } from './available';
import { clients } from './clients';
import { ImportedAmiEvent, OnEventResponse } from './common';
import { onEvent } from './on-event';
import { withLogHint } from '../shared/util';

export async function handler(event: ImportedAmiEvent | AvailableEvent): Promise<OnEventResponse | AvailableOnEventResponse> {
  // Only identifying fields: the event also carries ResponseURL and SignalUrl, presigned URLs.
  console.log(JSON.stringify({
    RequestType: event.RequestType,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    PhysicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined,
  }));
  try {
    const response = await onEvent(event, clients());
    console.log(JSON.stringify(response));
    return response;
  } catch (err) {
    throw withLogHint(err);
  }
}
