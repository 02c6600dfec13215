import { ImportImageDeps, ImportImageEvent, OnEventResponse } from './common';
import { createImport } from './create';
import { deleteImport } from './delete';
import { updateImport } from './update';

/** The onEvent lifecycle: starts, updates or removes an import. */
export async function onEvent(event: ImportImageEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  switch (event.RequestType) {
    case 'Create':
      return createImport(event, deps);
    case 'Update':
      return updateImport(event, deps);
    case 'Delete':
      return deleteImport(event, deps);
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}
