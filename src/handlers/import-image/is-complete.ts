import { ImportImageDeps, IsCompleteEvent, IsCompleteResponse } from './common';
import { pollImport } from './poll';

/** The isComplete lifecycle: waits for Create and Update; Delete finishes in onEvent. */
export async function isComplete(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  switch (event.RequestType) {
    case 'Create':
    case 'Update':
      return pollImport(event, deps);
    case 'Delete':
      return { IsComplete: true };
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}
