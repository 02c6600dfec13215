import { AvailableEvent, AvailableOnEventResponse, onAvailableEvent } from './available';
import { ImportImageDeps, ImportImageEvent, OnEventResponse } from './common';
import { createImport } from './create';
import { deleteImport } from './delete';
import { updateImport } from './update';
import { VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE } from '../types';

/** The onEvent lifecycle: starts, updates or removes an import; the read step after its wait. */
export async function onEvent(event: ImportImageEvent | AvailableEvent, deps: ImportImageDeps): Promise<OnEventResponse | AvailableOnEventResponse> {
  if (event.ResourceType === VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE) return onAvailableEvent(event as AvailableEvent, deps);
  const request = event as ImportImageEvent;
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
