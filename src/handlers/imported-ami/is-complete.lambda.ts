import { clients } from './clients';
import { isComplete, AnyIsCompleteEvent, AnyIsCompleteResponse } from './is-complete';
import { withLogHint } from '../shared/util';

export async function handler(event: AnyIsCompleteEvent): Promise<AnyIsCompleteResponse> {
  // Only identifying fields: the event carries presigned URLs (ResponseURL, SignalUrl).
  console.log(JSON.stringify('Poller' in event
    ? { Poller: event.Poller.ImportId, Polls: event.Polls }
    : {
      RequestType: event.RequestType,
      RequestId: event.RequestId,
      LogicalResourceId: event.LogicalResourceId,
      PhysicalResourceId: event.PhysicalResourceId,
    }));
  try {
    const response = await isComplete(event, clients());
    if (!('Poller' in response)) console.log(JSON.stringify(response));
    return response;
  } catch (err) {
    throw withLogHint(err);
  }
}
