import { DeleteImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceDeleteEvent } from 'aws-lambda';
import { IN_PROGRESS_IMAGE_STATES } from '../import-image/common';
import { cancelImageCreation, CREATE_FAILED_MARKER, getImageIfExists } from '../import-image/delete';
import { awsFailure, errorMessage, errorName, isTransient, retryTransient, truncate } from '../shared/util';
import { VmImageExportProperties } from '../types';
import { ExportDeps, exportHash, ExportIsCompleteEvent, ExportOnEventResponse, MAX_PROVIDER_WAIT_SECONDS, parsePhysicalId } from './common';
import { findExports } from './lookup';
import { stopExportPollers } from './poller';
import { exportRemovalPolicy } from './validate';

export type ExportDeleteEvent = CloudFormationCustomResourceDeleteEvent<Partial<VmImageExportProperties>>;

/**
 * Removes what the export made: the distributed image's Image Builder record
 * (DeleteImage). The exported disk files stay in S3, and so do AMIs the distribution
 * copied (DeleteImage deletes neither, and the handler may not touch S3 or AMIs: an
 * AMI in the outputs may be the source itself). Works from the physical id or, when
 * the id is not ours (CloudFormation invented it after it stopped waiting for a
 * Create, or the export waited for quota), from the tags of the image. A running
 * distribution is cancelled whatever the policy; Image Builder then needs minutes
 * before it lets the image go, so the deletion finishes in isComplete unless
 * everything is already terminal.
 */
export async function deleteExport(event: ExportDeleteEvent, deps: ExportDeps): Promise<ExportOnEventResponse> {
  const response = { PhysicalResourceId: event.PhysicalResourceId };
  if (event.PhysicalResourceId === CREATE_FAILED_MARKER) {
    console.log('the Create failed before it started anything: nothing to delete');
    return { ...response, Wait: 'none' };
  }
  const props = event.ResourceProperties ?? {};
  // RETAIN is carried out by CloudFormation (DeletionPolicy RetainExceptOnCreate, UpdateReplacePolicy
  // Retain): a Delete that still reaches the handler is the rollback of the operation that made the
  // export, which must not leak it. An unknown value still fails, naming it.
  exportRemovalPolicy(props.RemovalPolicy);
  const ids = parsePhysicalId(event.PhysicalResourceId);
  let targets: string[];
  if (ids) {
    targets = [ids.imageArn];
  } else {
    targets = (await findExports(event, deps, exportHash(props))).map((found) => found.imageArn);
    console.log(`the physical id is not an export id (CloudFormation invented it, or the export waited for quota): ${targets.length} export(s) found by their tags`);
  }
  if (targets.length === 0) return { ...response, Wait: 'none' };

  await stopExportPollers(targets, deps);
  for (const arn of targets) {
    const image = await retryTransient(() => getImageIfExists(arn, deps), deps.sleep);
    if (image && IN_PROGRESS_IMAGE_STATES.has(image.state?.status ?? '')) await cancelImageCreation(arn, event, deps);
  }
  const now = deps.now();
  const timing = { startedAt: now, deadline: now + MAX_PROVIDER_WAIT_SECONDS * 1000 };
  if (await removeWhenTerminal(targets, deps, timing)) return { ...response, Wait: 'none' };
  return { ...response, Wait: 'delete', Targets: targets, StartedAt: timing.startedAt, Deadline: timing.deadline };
}

/** isComplete of a Delete: waits until every target is terminal, then deletes it. */
export async function finishExportDelete(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<boolean> {
  if (event.Wait !== 'delete' || !event.Targets || event.Targets.length === 0) return true;
  const startedAt = Number(event.StartedAt ?? deps.now());
  const deadline = Number(event.Deadline ?? startedAt + MAX_PROVIDER_WAIT_SECONDS * 1000);
  try {
    return await removeWhenTerminal(event.Targets, deps, { startedAt, deadline });
  } catch (err) {
    // Throttling while waiting only means "ask again"; real failures say what is left.
    if (isTransient(err) && deps.now() < deadline) return false;
    throw err;
  }
}

interface Timing {
  readonly startedAt: number;
  readonly deadline: number;
}

/**
 * Deletes the targets' records once Image Builder lets them go: true when all are
 * gone, false while one still settles (a cancelled distribution stays BUILDING or
 * DISTRIBUTING for minutes, and DeleteImage refuses it). Past the deadline, an
 * error with the real state.
 */
async function removeWhenTerminal(targets: string[], deps: ExportDeps, timing: Timing): Promise<boolean> {
  const seen: Array<{ arn: string; image?: Image }> = [];
  for (const arn of targets) seen.push({ arn, image: await retryTransient(() => getImageIfExists(arn, deps), deps.sleep) });
  const settling = seen.filter(({ image }) => IN_PROGRESS_IMAGE_STATES.has(image?.state?.status ?? ''));
  if (settling.length > 0) {
    if (deps.now() < timing.deadline) {
      for (const { arn, image } of settling) console.log(JSON.stringify({ event: 'vm-export-delete-waiting', exportedImageArn: arn, imageStatus: image?.state?.status }));
      return false;
    }
    const minutes = Math.round((deps.now() - timing.startedAt) / 60_000);
    throw new Error(truncate(
      `cannot remove the export yet: Image Builder has not made it terminal after ${minutes} minutes ` +
      `(${settling.map(({ arn, image }) => `${arn}: image ${image?.state?.status}`).join('; ')}). ` +
      'Nothing was removed; delete the stack again once the image is CANCELLED, FAILED or AVAILABLE, or delete the image by hand',
    ));
  }
  for (const { arn, image } of seen) if (image) await deleteRecord(arn, image, deps);
  return true;
}

/** DeleteImage, retried through throttling; "in use" says so and what stays. */
async function deleteRecord(arn: string, image: Image, deps: ExportDeps): Promise<void> {
  const amis = (image.outputResources?.amis ?? []).map((ami) => `${ami.image} (${ami.region})`).filter((ami) => !ami.startsWith('undefined'));
  try {
    await retryTransient(() => deps.imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: arn })), deps.sleep);
    console.log(`deleted ${arn}; the exported files stay in S3${amis.length > 0 ? `, and so do the AMIs it lists (${amis.join(', ')})` : ''}`);
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return;
    if (errorName(err) === 'ResourceDependencyException') {
      throw new Error(truncate(
        `cannot delete the distributed image ${arn}: it is in use (a recipe names it as parent, or it is shared). ` +
        `Remove that use and delete again, or set removalPolicy to RETAIN to keep its record (${errorName(err)}: ${errorMessage(err)})`,
      ));
    }
    throw awsFailure('Image Builder DeleteImage', err, arn);
  }
}
