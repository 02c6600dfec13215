import { CancelImportTaskCommand, ImportImageCommand, ImportImageCommandInput } from '@aws-sdk/client-ec2';
import { ImportVmImageCommand, ImportVmImageCommandInput, Platform } from '@aws-sdk/client-imagebuilder';
import { awsFailure, clientToken, errorMessage, errorName, RequestIdentity, truncate } from '../shared/util';
import { VmImportImageProperties } from '../types';
import { attributes, deadline, formatPhysicalId, ImportImageDeps, OnEventResponse, propertiesHash } from './common';

/** The request fields a new import is derived from (a Create, or an Update that replaces). */
export interface ImportRequest extends RequestIdentity {
  readonly ResourceProperties: VmImportImageProperties;
}

/**
 * Waits before each retry of ImportImage while a just-created service role
 * propagates: 5 tries, 30 s of waiting in all, well inside the Lambda timeout.
 */
export const ROLE_RETRY_DELAYS_MS = [2_000, 4_000, 8_000, 16_000];

const ROLE_NOT_READY = /service role .* (does not exist|does not have sufficient permissions)/i;

/** Starts the VM import and registers it with Image Builder; the wait happens in isComplete. */
export async function createImport(request: ImportRequest, deps: ImportImageDeps): Promise<OnEventResponse> {
  const props = request.ResourceProperties;
  const importTaskId = await startImportTask(request, deps);
  const imageArn = await registerImage(request, importTaskId, deps);
  const ids = { imageArn, importTaskId };
  console.log(`started VM import ${importTaskId} for Image Builder image ${imageArn}`);
  return {
    PhysicalResourceId: formatPhysicalId({ ...ids, propertiesHash: propertiesHash(props) }),
    Data: attributes(ids, props),
    Deadline: deadline(props, deps.now()),
  };
}

/** EC2 ImportImage, retried only while the service role is not visible yet. */
export async function startImportTask(request: ImportRequest, deps: ImportImageDeps): Promise<string> {
  // One token for every try: should a "failed" try have started a task after
  // all, EC2 returns that task instead of starting a second one.
  const input = importImageInput(request.ResourceProperties, clientToken(request, 'ImportImage'));
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await deps.ec2.send(new ImportImageCommand(input));
      if (!result.ImportTaskId) throw new Error('EC2 ImportImage returned no ImportTaskId');
      return result.ImportTaskId;
    } catch (err) {
      const delay = ROLE_RETRY_DELAYS_MS[attempt];
      if (delay !== undefined && ROLE_NOT_READY.test(errorMessage(err))) {
        console.log(`the VM import service role is not usable yet (${errorName(err)}); retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      throw awsFailure('EC2 ImportImage', err);
    }
  }
}

export function importImageInput(props: VmImportImageProperties, token: string): ImportImageCommandInput {
  const tags = Object.entries(props.Tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  const licenses = props.LicenseConfigurationArns ?? [];
  return {
    // Always sent: tasks without a platform can hang in "updating".
    Platform: props.Platform,
    ...(props.Architecture ? { Architecture: props.Architecture } : {}),
    ...(props.BootMode ? { BootMode: props.BootMode as ImportImageCommandInput['BootMode'] } : {}),
    ...(props.LicenseType ? { LicenseType: props.LicenseType } : {}),
    ...(props.UsageOperation ? { UsageOperation: props.UsageOperation } : {}),
    ...(props.Description ? { Description: props.Description } : {}),
    ...(licenses.length > 0 ? { LicenseSpecifications: licenses.map((arn) => ({ LicenseConfigurationArn: arn })) } : {}),
    ...(props.KmsKeyId ? { Encrypted: true, KmsKeyId: props.KmsKeyId } : {}),
    RoleName: props.RoleName,
    DiskContainers: (props.Disks ?? []).map((disk) => ({
      ...(disk.Format ? { Format: disk.Format } : {}),
      ...(disk.Url ? { Url: disk.Url } : {}),
      ...(disk.S3Bucket || disk.S3Key ? { UserBucket: { S3Bucket: disk.S3Bucket, S3Key: disk.S3Key } } : {}),
      ...(disk.SnapshotId ? { SnapshotId: disk.SnapshotId } : {}),
      ...(disk.DeviceName ? { DeviceName: disk.DeviceName } : {}),
      ...(disk.Description ? { Description: disk.Description } : {}),
    })),
    ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'import-image-task', Tags: tags }] } : {}),
    ClientToken: token,
  };
}

/**
 * Image Builder ImportVmImage. On failure the import task just started is
 * cancelled, so a failed Create leaves nothing running behind it.
 */
export async function registerImage(request: ImportRequest, importTaskId: string, deps: ImportImageDeps): Promise<string> {
  const props = request.ResourceProperties;
  const input = importVmImageInput(props, importTaskId, clientToken(request, 'ImportVmImage'));
  let failure: unknown;
  try {
    const result = await deps.imagebuilder.send(new ImportVmImageCommand(input));
    if (result.imageArn) return result.imageArn;
    failure = new Error('Image Builder ImportVmImage returned no imageArn');
  } catch (err) {
    failure = err;
  }
  await cancelQuietly(importTaskId, deps);
  if (nameVersionExists(failure)) {
    throw new Error(truncate(
      `an Image Builder image named "${props.ImageName}" with version ${props.ImageVersion} already exists: ` +
      `bump imageVersion (or change imageName) and deploy again (${errorName(failure)}: ${errorMessage(failure)})`,
    ));
  }
  throw awsFailure('Image Builder ImportVmImage', failure);
}

export function importVmImageInput(props: VmImportImageProperties, importTaskId: string, token: string): ImportVmImageCommandInput {
  const tags = props.Tags ?? {};
  return {
    name: props.ImageName,
    semanticVersion: props.ImageVersion,
    platform: props.Platform as Platform,
    ...(props.OsVersion ? { osVersion: props.OsVersion } : {}),
    ...(props.Description ? { description: props.Description } : {}),
    vmImportTaskId: importTaskId,
    ...(props.LogGroupName ? { loggingConfiguration: { logGroupName: props.LogGroupName } } : {}),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
    clientToken: token,
  };
}

/**
 * Image Builder reports a taken name+version as ResourceAlreadyExistsException
 * or, depending on the path, as an invalid parameter/version whose message says so.
 */
function nameVersionExists(err: unknown): boolean {
  return errorName(err) === 'ResourceAlreadyExistsException' || /already exists?\b/i.test(errorMessage(err));
}

/** Best effort: the failure being reported matters more than a failed clean-up. */
async function cancelQuietly(importTaskId: string, deps: ImportImageDeps): Promise<void> {
  try {
    await deps.ec2.send(new CancelImportTaskCommand({
      ImportTaskId: importTaskId,
      CancelReason: 'Image Builder ImportVmImage failed during the CloudFormation create',
    }));
    console.log(`cancelled VM import ${importTaskId}`);
  } catch (err) {
    console.log(`could not cancel VM import ${importTaskId}: ${errorName(err)}: ${truncate(errorMessage(err))}`);
  }
}
