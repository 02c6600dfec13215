import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { amiSnapshotIds, amiState, findImportAmi } from './ami';
import { ImportedAmiDeps } from './common';
import { ImportedAmiAvailableAttributes, ImportedAmiAvailableProperties } from './types';
import { awsFailure, errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';

/** The longest one custom resource request may wait (the Provider's hour, less a margin). */
const MAX_PROVIDER_WAIT_SECONDS = 3300;

/**
 * Custom::ImportedAmiAvailable: the read step after an import's wait condition.
 * It reports the AMI (found by the import id tag it was registered with) and its
 * snapshots, so that `imageId` and `snapshotIds` (and everything built on them)
 * follow the wait. Its physical id becomes the AMI id, which the stack's
 * resource list then shows. Normally the AMI is available when it runs; when an
 * import was replaced without a new wait condition (a deploy-time value changed
 * what is imported), this step itself waits, as long as a custom resource may.
 */
export type AvailableEvent = CloudFormationCustomResourceEvent<ImportedAmiAvailableProperties> & {
  readonly PhysicalResourceId?: string;
  readonly StartedAt?: number | string;
};

export interface AvailableOnEventResponse {
  readonly PhysicalResourceId: string;
  readonly StartedAt?: number;
}

export type AvailableIsCompleteResponse =
  | { readonly IsComplete: false }
  | { readonly IsComplete: true; readonly PhysicalResourceId?: string; readonly Data?: ImportedAmiAvailableAttributes };

export function onAvailableEvent(event: AvailableEvent, deps: ImportedAmiDeps): AvailableOnEventResponse {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? 'none' };
  const importId = event.ResourceProperties?.ImportId;
  if (typeof importId !== 'string' || importId === '') {
    throw new Error(`invalid property ImportId: expected the import's id, got ${JSON.stringify(importId)}; synthesize the template again with cdk-vm-import-export`);
  }
  // Until isComplete names the AMI; a new import makes a new id, and the old one's Delete does nothing.
  return { PhysicalResourceId: event.PhysicalResourceId ?? `import:${importId}`, StartedAt: deps.now() };
}

export async function availableComplete(event: AvailableEvent, deps: ImportedAmiDeps): Promise<AvailableIsCompleteResponse> {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const props = event.ResourceProperties;
  let ami;
  try {
    ami = await findImportAmi(props.ImportId, deps);
  } catch (err) {
    if (!isTransient(err)) throw awsFailure('reading the imported AMI', err, `import ${props.ImportId}`);
    console.log(`transient error while reading the AMI of import ${props.ImportId} (${errorName(err)}: ${truncate(errorMessage(err), 200)})`);
    return { IsComplete: false };
  }
  if (ami?.ImageId) {
    const state = amiState(ami);
    if (state.kind === 'available') {
      return {
        IsComplete: true,
        PhysicalResourceId: ami.ImageId,
        Data: { ImageId: ami.ImageId, SnapshotIds: amiSnapshotIds(ami).join(','), AmiName: ami.Name ?? props.AmiName ?? '' },
      };
    }
    if (state.kind === 'failed') throw new Error(state.message);
  }
  const startedAt = Number(event.StartedAt ?? deps.now());
  const limit = Math.min(parseInteger(props.TimeoutSeconds, MAX_PROVIDER_WAIT_SECONDS), MAX_PROVIDER_WAIT_SECONDS);
  if (deps.now() > startedAt + limit * 1000) {
    throw new Error(truncate(
      `the AMI of import ${props.ImportId} is ${ami ? `still ${ami.State}` : 'not registered'} after ${Math.round(limit / 60)} minutes: the import was ` +
      'replaced by a deploy-time value (a parameter, or a resource replaced under the same logical id), so the wait condition did not ' +
      'wait for it again. Change amiName (or another literal import setting) so that the stack gets a new wait condition, and deploy again',
    ));
  }
  console.log(JSON.stringify({ event: 'imported-ami-available-waiting', importId: props.ImportId, amiId: ami?.ImageId, amiState: ami?.State }));
  return { IsComplete: false };
}
