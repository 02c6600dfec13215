import { AvailableEvent, AvailableOnEventResponse, onAvailableEvent } from './available';
import { ImportedAmiDeps, ImportedAmiEvent, OnEventResponse } from './common';
import { createImport } from './create';
import { deleteImport } from './delete';
import { IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE } from './types';
import { updateImport } from './update';

/** The onEvent lifecycle: starts, updates or removes an import; the read step after its wait. */
export async function onEvent(event: ImportedAmiEvent | AvailableEvent, deps: ImportedAmiDeps): Promise<OnEventResponse | AvailableOnEventResponse> {
  if (event.ResourceType === IMPORTED_AMI_AVAILABLE_RESOURCE_TYPE) return onAvailableEvent(event as AvailableEvent, deps);
  const request = event as ImportedAmiEvent;
  switch (request.RequestType) {
    case 'Create':
      return createImport(request, deps);
    case 'Update':
      return updateImport(request, deps);
    case 'Delete':
      return deleteImport(request, deps);
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}
