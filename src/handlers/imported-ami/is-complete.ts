import { availableComplete, AvailableEvent, AvailableIsCompleteResponse } from './available';
import { ImportedAmiDeps, IsCompleteEvent, IsCompleteResponse } from './common';
import { finishDelete } from './delete';
import { pollerStep, PollerState } from './poller';
import { IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE } from './types';

export type AnyIsCompleteEvent = IsCompleteEvent | AvailableEvent | PollerState;
export type AnyIsCompleteResponse = IsCompleteResponse | AvailableIsCompleteResponse | PollerState;

/**
 * The waiting half of the provider (the read step, deletes that let a stopped
 * poll end), and the poll step of the stack's ImportedAmi poller: one function,
 * so one asset and one cold start serve both.
 */
export async function isComplete(event: AnyIsCompleteEvent, deps: ImportedAmiDeps): Promise<AnyIsCompleteResponse> {
  if ('Poller' in event) return pollerStep(event, deps);
  if (event.ResourceType === IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE) return availableComplete(event as AvailableEvent, deps);
  const request = event as IsCompleteEvent;
  switch (request.RequestType) {
    case 'Create':
    case 'Update':
      // The import itself never waits here: the poller signals its wait condition.
      if (request.Wait === 'fail') throw new Error(request.Failure ?? 'the import failed');
      return { IsComplete: true };
    case 'Delete':
      return { IsComplete: await finishDelete(request, deps) };
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}
