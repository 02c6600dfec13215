import { ImageSummary, ListImageBuildVersionsCommand, ListImagesCommand } from '@aws-sdk/client-imagebuilder';
import { getImageIfExists } from '../import-image/delete';
import { awsFailure, errorName, RequestIdentity, retryTransient } from '../shared/util';
import { LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY, REPLACES_TAG_KEY } from '../types';
import { ExportDeps } from './common';

/** A distributed image found without its physical id. */
export interface FoundExport {
  readonly imageArn: string;
  readonly hash?: string;
  readonly status?: string;
}

/** The run-time tags that tie a distributed image to one resource of one stack, and to what it exports. */
export function exportTags(request: RequestIdentity, hash: string, replaces?: string): Record<string, string> {
  return {
    [OWNER_TAG_KEY]: request.StackId,
    [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId,
    [PROPERTIES_HASH_TAG_KEY]: hash,
    ...(replaces ? { [REPLACES_TAG_KEY]: replaces } : {}),
  };
}

/**
 * Pages of ListImages a search reads, then of the build versions of each version. The search only runs when CloudFormation sends an id that is not
 * ours (it gave up on a Create) or the export never got one (quota, an ambiguous 5xx).
 */
const MAX_VERSION_PAGES = 20;
const MAX_BUILD_PAGES = 10;

/**
 * Finds this resource's distributed images by their tags. What name and version
 * Image Builder gives a distributed image is not documented (it may follow the
 * source image, or not: an AMI has no Image Builder name), so the search cannot go
 * by name: it lists the account's image versions (ListImages; its summaries carry
 * no tags) and reads the tags of each one's build versions (ListImageBuildVersions),
 * within the bounds above. With `hash`, only exports of those properties.
 */
export async function findExports(request: RequestIdentity, deps: ExportDeps, hash?: string): Promise<FoundExport[]> {
  const wanted: Record<string, string> = { [OWNER_TAG_KEY]: request.StackId, [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId };
  if (hash) wanted[PROPERTIES_HASH_TAG_KEY] = hash;
  const found: FoundExport[] = [];
  let pages = 0;
  let nextToken: string | undefined;
  do {
    const page = await retryTransient(() => deps.imagebuilder.send(new ListImagesCommand({
      owner: 'Self', includeDeprecated: true, ...(nextToken ? { nextToken } : {}),
    })), deps.sleep).catch((err) => {
      throw awsFailure('Image Builder ListImages', err);
    });
    for (const version of page.imageVersionList ?? []) {
      if (!version.arn) continue;
      for (const image of await buildVersions(version.arn, deps)) {
        if (image.arn && Object.entries(wanted).every(([key, value]) => image.tags?.[key] === value)) {
          found.push({ imageArn: image.arn, hash: image.tags?.[PROPERTIES_HASH_TAG_KEY], status: image.state?.status });
        }
      }
    }
    nextToken = page.nextToken;
  } while (nextToken && ++pages < MAX_VERSION_PAGES);
  if (nextToken) console.log(`searched the first ${MAX_VERSION_PAGES} pages of the account's image versions for this resource's exports`);
  return found;
}

async function buildVersions(imageVersionArn: string, deps: ExportDeps): Promise<ImageSummary[]> {
  const images: ImageSummary[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    try {
      const page = await retryTransient(() => deps.imagebuilder.send(new ListImageBuildVersionsCommand({
        imageVersionArn, ...(nextToken ? { nextToken } : {}),
      })), deps.sleep);
      images.push(...(page.imageSummaryList ?? []));
      nextToken = page.nextToken;
    } catch (err) {
      // Deleted between the two listings.
      if (errorName(err) === 'ResourceNotFoundException') return images;
      throw awsFailure('Image Builder ListImageBuildVersions', err, imageVersionArn);
    }
  } while (nextToken && ++pages < MAX_BUILD_PAGES);
  return images;
}

/**
 * The export a distributed image replaced (its replaces tag), when that export is
 * still live and was made from properties with this hash: the original of a failed
 * replacement, whose rollback arrived with the new image's id. No search needed.
 */
export async function replacedExport(imageArn: string, hash: string, deps: ExportDeps): Promise<FoundExport | undefined> {
  const image = await retryTransient(() => getImageIfExists(imageArn, deps), deps.sleep);
  const replaced = image?.tags?.[REPLACES_TAG_KEY];
  if (!replaced) return undefined;
  const original = await retryTransient(() => getImageIfExists(replaced, deps), deps.sleep);
  if (!original || original.tags?.[PROPERTIES_HASH_TAG_KEY] !== hash) return undefined;
  return { imageArn: replaced, hash, status: original.state?.status };
}
