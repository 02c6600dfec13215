import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { awsFailure, errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';
import { VmImageExportAttributes, VmImageExportCompleteProperties } from '../types';
import { ExportDeps, exportState, MAX_PROVIDER_WAIT_SECONDS, progressLine } from './common';

/**
 * Custom::VmImageExportComplete: the read step after an export's wait condition.
 * It reports the distributed image once AVAILABLE, so that `exportedImageArn` (and
 * whatever uses it) follows the wait. Normally the export is done when it runs; when
 * an export was replaced without a new wait condition (a deploy-time value changed
 * what is exported), this step itself waits, as long as a custom resource may.
 */
export type CompleteEvent = CloudFormationCustomResourceEvent<VmImageExportCompleteProperties> & {
  readonly PhysicalResourceId?: string;
  readonly StartedAt?: number | string;
};

export interface CompleteOnEventResponse {
  readonly PhysicalResourceId: string;
  readonly StartedAt?: number;
}

export type CompleteIsCompleteResponse =
  | { readonly IsComplete: false }
  | { readonly IsComplete: true; readonly Data?: VmImageExportAttributes };

export function onCompleteEvent(event: CompleteEvent, deps: ExportDeps): CompleteOnEventResponse {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? 'none' };
  const arn = event.ResourceProperties?.ExportedImageArn;
  if (typeof arn !== 'string' || arn === '') {
    throw new Error(`invalid property ExportedImageArn: expected an image ARN, got ${JSON.stringify(arn)}; synthesize the template again with cdk-vm-import-export`);
  }
  // One id per export: a new export is a new id, and the old one's Delete does nothing.
  return { PhysicalResourceId: arn, StartedAt: deps.now() };
}

export async function completeComplete(event: CompleteEvent, deps: ExportDeps): Promise<CompleteIsCompleteResponse> {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const props = event.ResourceProperties;
  const arn = props.ExportedImageArn;
  let image: Image | undefined;
  try {
    image = (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: arn }))).image;
  } catch (err) {
    if (!isTransient(err)) throw awsFailure('reading the distributed image', err, arn);
    console.log(`transient error while reading ${arn} (${errorName(err)}: ${truncate(errorMessage(err), 200)})`);
    return { IsComplete: false };
  }
  const state = exportState(arn, image);
  if (state.kind === 'available') return { IsComplete: true, Data: { ExportedImageArn: image?.arn ?? arn } };
  if (state.kind === 'failed') throw new Error(state.message);
  const startedAt = Number(event.StartedAt ?? deps.now());
  const limit = Math.min(parseInteger(props.TimeoutSeconds, MAX_PROVIDER_WAIT_SECONDS), MAX_PROVIDER_WAIT_SECONDS);
  if (deps.now() > startedAt + limit * 1000) {
    throw new Error(truncate(
      `the export ${arn} is still ${image?.state?.status ?? 'not available'} after ${Math.round(limit / 60)} minutes: it was replaced by a ` +
      'deploy-time value (a parameter, or a resource replaced under the same logical id), so the wait condition did not wait for it again. ' +
      'Change a literal setting of the export (its source or distribution) so that the stack gets a new wait condition, and deploy again',
    ));
  }
  console.log(progressLine(arn, image, { step: 'complete' }));
  return { IsComplete: false };
}
