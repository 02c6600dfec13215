import { DescribeImportImageTasksCommand, EC2Client, ImportImageTask } from '@aws-sdk/client-ec2';
import type { Image, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { errorName, parseInteger, Sleep } from '../shared/util';
import { PHYSICAL_ID_SEPARATOR, VmImportImageAttributes, VmImportImageProperties } from '../types';

/** What the lifecycle steps need from the outside; injected so tests control time and AWS. */
export interface ImportImageDeps {
  readonly ec2: EC2Client;
  readonly imagebuilder: ImagebuilderClient;
  readonly sleep: Sleep;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

export type ImportImageEvent = CloudFormationCustomResourceEvent<VmImportImageProperties, Partial<VmImportImageProperties>>;

/**
 * The Provider framework hands isComplete the onEvent request merged with the
 * onEvent result, so the physical id and our Deadline arrive here.
 */
export type IsCompleteEvent = ImportImageEvent & {
  readonly PhysicalResourceId: string;
  /** Epoch milliseconds after which the wait fails. */
  readonly Deadline?: number | string;
};

export interface OnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: VmImportImageAttributes;
  /**
   * Epoch milliseconds. A top-level field, not Data, so it reaches isComplete
   * without becoming an attribute of the resource.
   */
  readonly Deadline?: number;
}

/** The framework rejects Data alongside IsComplete false. */
export type IsCompleteResponse =
  | { readonly IsComplete: false }
  | { readonly IsComplete: true; readonly Data?: VmImportImageAttributes };

/** 55 minutes: leaves the Provider's one-hour ceiling room to report our own error. */
export const DEFAULT_TIMEOUT_SECONDS = 3300;

/** Statuses of an Image Builder image that is still being made. */
export const IN_PROGRESS_IMAGE_STATES = new Set(['PENDING', 'CREATING', 'BUILDING', 'TESTING', 'DISTRIBUTING', 'INTEGRATING']);

/** Statuses after which an image never becomes AVAILABLE. */
export const FAILED_IMAGE_STATES = new Set(['FAILED', 'CANCELLED', 'DELETED']);

/** A failed import ends in one of these task statuses. */
export const FAILED_TASK_STATES = new Set(['deleted', 'deleting']);

export interface ImportIds {
  readonly imageArn: string;
  readonly importTaskId: string;
}

const IMAGE_ARN_PATTERN = /^arn:aws[a-z-]*:imagebuilder:[a-z0-9-]+:[0-9]{12}:image\/[^\s|]+$/;
const IMPORT_TASK_ID_PATTERN = /^import-ami-[A-Za-z0-9]+$/;

export function formatPhysicalId(ids: ImportIds): string {
  return `${ids.imageArn}${PHYSICAL_ID_SEPARATOR}${ids.importTaskId}`;
}

/**
 * Reads the ids back from a physical id; undefined for anything this handler
 * did not write (for example the framework's CREATE_FAILED marker).
 */
export function parsePhysicalId(physicalId: string | undefined): ImportIds | undefined {
  const parts = (physicalId ?? '').split(PHYSICAL_ID_SEPARATOR);
  if (parts.length !== 2) return undefined;
  const [imageArn, importTaskId] = parts;
  if (!IMAGE_ARN_PATTERN.test(imageArn) || !IMPORT_TASK_ID_PATTERN.test(importTaskId)) return undefined;
  return { imageArn, importTaskId };
}

/** arn:partition:imagebuilder:REGION:ACCOUNT:image/... */
export function arnRegion(arn: string): string {
  return arn.split(':')[3];
}

export function arnAccount(arn: string): string {
  return arn.split(':')[4];
}

export function attributes(ids: ImportIds, props: Partial<VmImportImageProperties>, imageId?: string): VmImportImageAttributes {
  return {
    ImageArn: ids.imageArn,
    ImageName: props.ImageName ?? '',
    ImageVersion: props.ImageVersion ?? '',
    ImportTaskId: ids.importTaskId,
    ...(imageId ? { ImageId: imageId } : {}),
  };
}

export function deadline(props: Partial<VmImportImageProperties>, now: number): number {
  return now + timeoutSeconds(props) * 1000;
}

export function timeoutSeconds(props: Partial<VmImportImageProperties>): number {
  return parseInteger(props.TimeoutSeconds, DEFAULT_TIMEOUT_SECONDS);
}

/**
 * The AMIs an image produced in its own Region and account. Image Builder can
 * list copies elsewhere; this handler's EC2 client only reaches its own Region,
 * and another account's AMIs are not ours to delete.
 */
export function ownAmis(image: Image | undefined, imageArn: string): string[] {
  const region = arnRegion(imageArn);
  const account = arnAccount(imageArn);
  return (image?.outputResources?.amis ?? [])
    .filter((ami) => (ami.region === undefined || ami.region === region) && (ami.accountId === undefined || ami.accountId === account))
    .map((ami) => ami.image)
    .filter((id): id is string => !!id);
}

/** The AMI to report: the one in the image's Region, else the first listed. */
export function reportedAmi(image: Image | undefined, imageArn: string): string | undefined {
  const amis = image?.outputResources?.amis ?? [];
  const region = arnRegion(imageArn);
  return amis.find((ami) => ami.region === region && ami.image)?.image ?? amis.find((ami) => ami.image)?.image;
}

/**
 * The import task, or undefined once EC2 no longer knows it: tasks are only
 * described for 7 days after they finish.
 */
export async function describeImportTask(ec2: EC2Client, importTaskId: string): Promise<ImportImageTask | undefined> {
  try {
    const result = await ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [importTaskId] }));
    return result.ImportImageTasks?.find((task) => task.ImportTaskId === importTaskId);
  } catch (err) {
    if (errorName(err).startsWith('InvalidConversionTaskId')) return undefined;
    // Raw, so that a poll can tell a transient error from a real one.
    throw err;
  }
}
