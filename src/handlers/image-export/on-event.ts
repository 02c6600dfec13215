import { ExportDeps, ExportEvent, ExportOnEventResponse } from './common';
import { CompleteEvent, CompleteOnEventResponse, onCompleteEvent } from './complete';
import { createExport } from './create';
import { deleteExport } from './delete';
import { updateExport } from './update';
import { VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE } from '../types';

/** The onEvent lifecycle: starts, updates or removes an export; the read step after its wait. */
export async function onEvent(event: ExportEvent | CompleteEvent, deps: ExportDeps): Promise<ExportOnEventResponse | CompleteOnEventResponse> {
  if (event.ResourceType === VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE) return onCompleteEvent(event as CompleteEvent, deps);
  const request = event as ExportEvent;
  switch (request.RequestType) {
    case 'Create':
      return createExport(request, deps);
    case 'Update':
      return updateExport(request, deps);
    case 'Delete':
      return deleteExport(request, deps);
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}
