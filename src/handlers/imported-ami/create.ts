import { Image } from '@aws-sdk/client-ec2';
import { findAmis } from './ami';
import {
  attributes, formatPhysicalId, ImportedAmiDeps, ImportIds, importIdFor, OnEventResponse, propertiesHash, tagsOf,
} from './common';
import { startPoller } from './poller';
import { cancelTasks, SnapshotImportFailed, startSnapshotImports } from './snapshots';
import { ImportedAmiProperties, IMPORT_ID_TAG_KEY } from './types';
import { validateProperties } from './validate';
import { awsFailure, RequestIdentity, retryTransient, truncate } from '../shared/util';

/** The request fields a new import is derived from (a Create, or an Update that replaces). */
export interface CreateRequest extends RequestIdentity {
  readonly ResourceProperties: ImportedAmiProperties;
}

/**
 * Starts the snapshot import of every disk and the poller that finishes the
 * import, and completes at once: the import's wait condition waits for the AMI.
 * A disk the quota refuses waits for room in the poller (same client token).
 */
export async function createImport(request: CreateRequest, deps: ImportedAmiDeps): Promise<OnEventResponse> {
  const props = request.ResourceProperties;
  validateProperties(props);
  const now = deps.now();
  const importId = importIdFor(request);
  const hash = propertiesHash(props);
  await checkAmiNameFree(props.AmiName, importId, deps);

  let ids: ImportIds;
  try {
    const started = await startSnapshotImports(request, importId, hash, [], deps, true);
    if (started.queued) console.log(`the account's import quota is full (${started.queued}): the poller starts the other disks once there is room`);
    ids = { importId, propertiesHash: hash, taskIds: started.taskIds };
  } catch (err) {
    if (!(err instanceof SnapshotImportFailed)) throw err;
    await cancelTasks(err.taskIds, 'another disk of the import could not be started', deps);
    if (!err.transient) throw new Error(err.message);
    // The answer was lost (a 5xx or throttling through every retry): the task may exist. Fail with an
    // id of this import, so that the Delete CloudFormation sends finds it by its tags and removes it
    // (the framework's CREATE_FAILED marker would get no clean-up).
    return {
      PhysicalResourceId: formatPhysicalId({ importId, propertiesHash: hash, taskIds: props.Disks.map((_, i) => err.taskIds[i] ?? '') }),
      Wait: 'fail',
      Failure: truncate(`${err.message}; the started tasks were cancelled, and the rollback removes whatever the lost request started`),
    };
  }
  try {
    await startPoller(request, props, ids, now, deps);
  } catch (err) {
    // Nobody would finish the import or signal the wait condition: stop it now rather than after the timeout.
    await cancelTasks(ids.taskIds, 'the poller of the import could not start', deps);
    throw err;
  }
  console.log(`started the import ${importId} of AMI "${props.AmiName}": tasks ${ids.taskIds.map((id) => id || '(waiting for quota)').join(', ')}`);
  return { PhysicalResourceId: formatPhysicalId(ids), Data: attributes(importId, props), Wait: 'none' };
}

/**
 * AMI names are unique per account and Region: an AMI with this name that is
 * not this import's would fail the registration hours from now, so the import
 * fails before it starts. This import's own (a redelivered Create) is fine.
 */
async function checkAmiNameFree(amiName: string, importId: string, deps: ImportedAmiDeps): Promise<void> {
  let existing: Image[];
  try {
    existing = await retryTransient(() => findAmisByName(amiName, deps), deps.sleep);
  } catch (err) {
    throw awsFailure('EC2 DescribeImages', err, `AMI name "${amiName}"`);
  }
  const other = existing.find((image) => tagsOf(image.Tags)[IMPORT_ID_TAG_KEY] !== importId);
  if (!other) return;
  const ours = tagsOf(other.Tags)[IMPORT_ID_TAG_KEY] !== undefined;
  throw new Error(truncate(
    `amiName "${amiName}" is already the name of ${other.ImageId}${ours ? ' (an AMI an ImportedAmi registered, such as the one this import replaces)' : ''}, ` +
    'and AMI names are unique per account and Region: give this import another amiName (or leave amiName out: the default ' +
    'is derived from the construct path and the import settings), or deregister that AMI',
  ));
}

function findAmisByName(amiName: string, deps: ImportedAmiDeps): Promise<Image[]> {
  // findAmis filters on tags; the name filter is DescribeImages' own `name`.
  return findAmis({}, deps, [{ Name: 'name', Values: [amiName] }]);
}
