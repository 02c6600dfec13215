import {
  DescribeImagesCommand, DescribeImagesCommandInput, DescribeSnapshotsCommand, Filter, Image, RegisterImageCommand, RegisterImageCommandInput,
  Snapshot,
} from '@aws-sdk/client-ec2';
import { ImportedAmiDeps, tagsOf } from './common';
import { ImportedAmiProperties, IMPORT_ID_TAG_KEY } from './types';
import { awsFailure, errorMessage, errorName, isTransient, parseBoolean, truncate } from '../shared/util';

/**
 * The account's AMIs with these tag values (DescribeImages tag:<key> filters,
 * owner self: the handler only ever touches this account's AMIs). Disabled AMIs
 * are included: they still hold their snapshots.
 */
export async function findAmis(tags: Record<string, string>, deps: ImportedAmiDeps, filters: Filter[] = []): Promise<Image[]> {
  return describeImages({
    Owners: ['self'],
    IncludeDisabled: true,
    Filters: [...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })), ...filters],
  }, deps);
}

/** The AMI of one import, if registered (the newest, should a race have made two: the others are removed by Delete). */
export async function findImportAmi(importId: string, deps: ImportedAmiDeps): Promise<Image | undefined> {
  const amis = await findAmis({ [IMPORT_ID_TAG_KEY]: importId }, deps);
  return amis.sort((a, b) => (a.CreationDate ?? '').localeCompare(b.CreationDate ?? '')).pop();
}

async function describeImages(input: DescribeImagesCommandInput, deps: ImportedAmiDeps): Promise<Image[]> {
  const images: Image[] = [];
  let nextToken: string | undefined;
  do {
    const page = await deps.ec2.send(new DescribeImagesCommand({ ...input, ...(nextToken ? { NextToken: nextToken } : {}) }));
    images.push(...(page.Images ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return images;
}

/** The account's snapshots with these tag values (DescribeSnapshots tag:<key> filters, owner self). */
export async function findSnapshots(tags: Record<string, string>, deps: ImportedAmiDeps): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  let nextToken: string | undefined;
  do {
    const page = await deps.ec2.send(new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    }));
    snapshots.push(...(page.Snapshots ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return snapshots;
}

/** The snapshots behind an AMI, in block device order (the boot disk first). */
export function amiSnapshotIds(image: Image): string[] {
  return (image.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId).filter((id): id is string => !!id);
}

/** The AMI name is taken by an AMI that is not this import's. */
export class AmiNameTaken extends Error {}

/**
 * RegisterImage from the imported snapshots, boot disk first, tagged at creation.
 * RegisterImage takes no client token: a retried poll must not register twice.
 * The caller first looks the AMI up by its import id tag; should two polls still
 * race, AMI names are unique per account and Region, so the second gets
 * InvalidAMIName.Duplicate and adopts the AMI if it carries this import's id.
 */
export async function registerAmi(
  props: ImportedAmiProperties, snapshotIds: string[], tags: Record<string, string>, importId: string, deps: ImportedAmiDeps,
): Promise<string> {
  try {
    const result = await deps.ec2.send(new RegisterImageCommand(registerImageInput(props, snapshotIds, tags)));
    if (!result.ImageId) throw new Error('EC2 RegisterImage returned no ImageId');
    console.log(`registered ${result.ImageId} (${props.AmiName})`);
    return result.ImageId;
  } catch (err) {
    if (errorName(err) !== 'InvalidAMIName.Duplicate') {
      if (isTransient(err)) throw err;
      throw awsFailure('EC2 RegisterImage', err, `AMI name "${props.AmiName}"`);
    }
    const [existing] = await findAmis({}, deps, [{ Name: 'name', Values: [props.AmiName] }]);
    if (existing?.ImageId && tagsOf(existing.Tags)[IMPORT_ID_TAG_KEY] === importId) return existing.ImageId;
    throw new AmiNameTaken(truncate(
      `EC2 RegisterImage refused the AMI name "${props.AmiName}": ${existing?.ImageId ? `${existing.ImageId} already has it` : errorMessage(err)}. ` +
      'AMI names are unique per account and Region: change amiName (the default is derived from the import settings, so ' +
      'an import replaced with other disks gets a new one), or deregister that AMI',
    ));
  }
}

export function registerImageInput(props: ImportedAmiProperties, snapshotIds: string[], tags: Record<string, string>): RegisterImageCommandInput {
  return {
    Name: props.AmiName,
    ...(props.Description ? { Description: props.Description } : {}),
    Architecture: props.Architecture as RegisterImageCommandInput['Architecture'],
    ...(props.BootMode ? { BootMode: props.BootMode as RegisterImageCommandInput['BootMode'] } : {}),
    RootDeviceName: props.RootDeviceName,
    BlockDeviceMappings: props.Disks.map((disk, i) => ({
      DeviceName: disk.DeviceName,
      Ebs: { SnapshotId: snapshotIds[i], DeleteOnTermination: true },
    })),
    VirtualizationType: 'hvm',
    EnaSupport: parseBoolean(props.EnaSupport, true),
    ...(props.ImdsSupport ? { ImdsSupport: props.ImdsSupport as RegisterImageCommandInput['ImdsSupport'] } : {}),
    ...(props.TpmSupport ? { TpmSupport: props.TpmSupport as RegisterImageCommandInput['TpmSupport'] } : {}),
    ...(props.UefiData ? { UefiData: props.UefiData } : {}),
    TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
  };
}

/** Where a registered AMI stands (DescribeImages State: pending, available, failed, invalid, error, ...). */
export type AmiState =
  | { readonly kind: 'available' }
  | { readonly kind: 'pending'; readonly state: string }
  | { readonly kind: 'failed'; readonly message: string };

export function amiState(image: Image): AmiState {
  const state = image.State ?? 'pending';
  if (state === 'available') return { kind: 'available' };
  if (['failed', 'invalid', 'error', 'deregistered', 'disabled'].includes(state)) {
    return {
      kind: 'failed',
      message: truncate(`AMI ${image.ImageId} (${image.Name}) is ${state}: ${image.StateReason?.Message ?? image.StateReason?.Code ?? 'no reason given'}`),
    };
  }
  return { kind: 'pending', state };
}
