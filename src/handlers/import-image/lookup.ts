import { DescribeImportImageTasksCommand, ImportImageTask } from '@aws-sdk/client-ec2';
import { ImageSummary, ListImageBuildVersionsCommand } from '@aws-sdk/client-imagebuilder';
import { awsFailure, errorName, RequestIdentity } from '../shared/util';
import {
  IMPORT_TASK_TAG_KEY, LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY, VmImportImageProperties,
} from '../types';
import { ImportImageDeps } from './common';

/**
 * An import found without its physical id. Either part can be missing: a task
 * whose ImportVmImage never happened has no image, and EC2 forgets tasks 7 days
 * after they end.
 */
export interface FoundImport {
  readonly imageArn?: string;
  readonly importTaskId?: string;
  readonly propertiesHash?: string;
  /** The image's status when it was found (ListImageBuildVersions). */
  readonly imageStatus?: string;
}

/** The run-time tags that tie a task and an image to one resource of one stack, and to the properties it was made from. */
export function resourceTags(request: RequestIdentity, hash: string): Record<string, string> {
  return { [OWNER_TAG_KEY]: request.StackId, [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId, [PROPERTIES_HASH_TAG_KEY]: hash };
}

/** How many pages of DescribeImportImageTasks a look-up reads: EC2 lists only active tasks and those of the last 7 days. */
const MAX_TASK_PAGES = 10;

/**
 * Finds this resource's imports by their tags: the image by name and version
 * (ListImageBuildVersions; its summaries carry tags), the task among the tasks EC2
 * still describes (the API documents only a task-state filter, so tasks are
 * matched on the Tags it returns). With `hash`, only imports made from those
 * properties. Tasks that have an image are reported once, with it.
 */
export async function findImports(
  request: RequestIdentity, props: Partial<VmImportImageProperties>, deps: ImportImageDeps, hash?: string,
): Promise<FoundImport[]> {
  const wanted: Record<string, string> = { [OWNER_TAG_KEY]: request.StackId, [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId };
  if (hash) wanted[PROPERTIES_HASH_TAG_KEY] = hash;
  const matches = (tags: Record<string, string> | undefined) => Object.entries(wanted).every(([key, value]) => tags?.[key] === value);

  const found: FoundImport[] = [];
  for (const image of await imageBuildVersions(request, props, deps)) {
    if (!image.arn || !matches(image.tags)) continue;
    found.push({
      imageArn: image.arn,
      importTaskId: image.tags?.[IMPORT_TASK_TAG_KEY],
      propertiesHash: image.tags?.[PROPERTIES_HASH_TAG_KEY],
      imageStatus: image.state?.status,
    });
  }
  const known = new Set(found.map((f) => f.importTaskId));
  for (const task of await describedTasks(deps)) {
    const tags = Object.fromEntries((task.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    if (!task.ImportTaskId || known.has(task.ImportTaskId) || !matches(tags)) continue;
    found.push({ importTaskId: task.ImportTaskId, propertiesHash: tags[PROPERTIES_HASH_TAG_KEY] });
  }
  return found;
}

/** ARN of an image version (name/x.y.z) in the stack's partition, Region and account. Image Builder lowercases names in ARNs. */
export function imageVersionArn(stackId: string, props: Partial<VmImportImageProperties>): string | undefined {
  const [, partition, , region, account] = stackId.split(':');
  if (!props.ImageName || !props.ImageVersion || !partition || !region || !account) return undefined;
  return `arn:${partition}:imagebuilder:${region}:${account}:image/${props.ImageName.toLowerCase().replace(/ /g, '-')}/${props.ImageVersion}`;
}

async function imageBuildVersions(request: RequestIdentity, props: Partial<VmImportImageProperties>, deps: ImportImageDeps): Promise<ImageSummary[]> {
  const arn = imageVersionArn(request.StackId, props);
  if (!arn) return [];
  const images: ImageSummary[] = [];
  let nextToken: string | undefined;
  do {
    try {
      const page = await deps.imagebuilder.send(new ListImageBuildVersionsCommand({ imageVersionArn: arn, ...(nextToken ? { nextToken } : {}) }));
      images.push(...(page.imageSummaryList ?? []));
      nextToken = page.nextToken;
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return images;
      throw awsFailure('Image Builder ListImageBuildVersions', err, arn);
    }
  } while (nextToken);
  return images;
}

async function describedTasks(deps: ImportImageDeps): Promise<ImportImageTask[]> {
  const tasks: ImportImageTask[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_TASK_PAGES; page++) {
    try {
      const result = await deps.ec2.send(new DescribeImportImageTasksCommand({ ...(nextToken ? { NextToken: nextToken } : {}) }));
      tasks.push(...(result.ImportImageTasks ?? []));
      nextToken = result.NextToken;
    } catch (err) {
      throw awsFailure('EC2 DescribeImportImageTasks', err);
    }
    if (!nextToken) break;
  }
  return tasks;
}
