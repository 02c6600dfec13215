import { clients } from './clients';
import { ExportEvent, ExportOnEventResponse } from './common';
import { CompleteEvent, CompleteOnEventResponse } from './complete';
import { onEvent } from './on-event';
import { withLogHint } from '../shared/util';

export async function handler(event: ExportEvent | CompleteEvent): Promise<ExportOnEventResponse | CompleteOnEventResponse> {
  // Only identifying fields: the event also carries ResponseURL (and SignalUrl), presigned URLs.
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
