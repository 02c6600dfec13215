import * as fs from 'fs';
import * as path from 'path';

/**
 * What the library adds to the stacks of a synthesized cloud assembly: each
 * VmImportImage and VmDiskDistribution (found by the custom resource type of
 * their `Resource` child) and the stack-wide parts they share, with the
 * CloudFormation resources below each, by type. Types come from the templates,
 * construct paths from the stacks' logical-id metadata.
 * Used by the example's summary (scripts/summarize-assembly.ts) and by the
 * README's "What a stack gets" table (test/readme/resource-table.test.ts).
 */

/** A construct of the library, or a stack-wide part of it, and what it adds. */
export interface LibraryPart {
  /** `VmImportImage`, `VmDiskDistribution`, or the id of a shared part (e.g. `VmImportImageProvider`). */
  readonly kind: string;
  /** The construct path. */
  readonly path: string;
  /** Whether one per stack serves every construct of that kind. */
  readonly shared: boolean;
  /** CloudFormation resource type -> how many. */
  readonly resources: Map<string, number>;
}

export interface StackSummary {
  readonly stackName: string;
  readonly templateFile: string;
  readonly templateBytes: number;
  readonly resourceCount: number;
  readonly parts: LibraryPart[];
}

/** The per-stack singletons the constructs create (ids of stackSingleton in src/private). */
export const SHARED_PARTS: Record<string, string> = {
  VmImportImageProvider: 'import handlers, poller and waiter (one per stack with a VmImportImage)',
  VmImportServiceRole: 'VM Import service role (one per stack with a VmImportImage not given a serviceRole)',
  VmDiskDistributionProvider: 'distribution handler (one per stack with a VmDiskDistribution)',
  ImportedAmiProvider: 'snapshot import handlers, poller and waiter (one per stack with an ImportedAmi)',
  VmImageExportProvider: 'export handlers, poller and waiter (one per stack with a VmImageExport)',
  VmImageExportExecutionRole: 'the role Image Builder distributes with (one per stack with a VmImageExport not given an executionRole)',
};

/** The custom resource at `<construct>/Resource/Default` that marks a construct of the library. */
const CONSTRUCT_TYPES: Record<string, string> = {
  'Custom::VmImportImage': 'VmImportImage',
  'Custom::VmDiskDistribution': 'VmDiskDistribution',
  'Custom::ImportedAmi': 'ImportedAmi',
  'Custom::VmImageExport': 'VmImageExport',
};

/** Construct paths by logical id, from the stack's metadata (aws:cdk:logicalId entries). */
function logicalIdPaths(outdir: string, artifact: any): Map<string, string> {
  const metadata: Record<string, Array<{ type: string; data: unknown }>> = { ...(artifact.metadata ?? {}) };
  if (artifact.additionalMetadataFile) {
    Object.assign(metadata, JSON.parse(fs.readFileSync(path.join(outdir, artifact.additionalMetadataFile), 'utf8')));
  }
  const paths = new Map<string, string>();
  for (const [constructPath, entries] of Object.entries(metadata)) {
    for (const entry of entries) {
      if (entry.type === 'aws:cdk:logicalId' && typeof entry.data === 'string') paths.set(entry.data, constructPath.replace(/^\//, ''));
    }
  }
  return paths;
}

/** The library's parts of one stack, and the resources of each. */
function libraryParts(stackPath: string, types: Map<string, string>, paths: Map<string, string>): LibraryPart[] {
  const parts = new Map<string, { kind: string; shared: boolean }>();
  for (const [logicalId, type] of types) {
    const constructPath = paths.get(logicalId);
    const kind = CONSTRUCT_TYPES[type];
    // The custom resource is an L2's `Resource/Default`, or an L1 `Resource` (VmImportImage renders the L1 alone).
    const suffix = ['/Resource/Default', '/Resource'].find((s) => constructPath?.endsWith(s));
    if (kind && constructPath && suffix) {
      parts.set(constructPath.slice(0, -suffix.length), { kind, shared: false });
    }
  }
  for (const id of Object.keys(SHARED_PARTS)) parts.set(`${stackPath}/${id}`, { kind: id, shared: true });

  const resources = new Map<string, Map<string, number>>();
  for (const [logicalId, type] of types) {
    const constructPath = paths.get(logicalId);
    const owner = constructPath === undefined ? undefined
      : [...parts.keys()].find((p) => constructPath.startsWith(`${p}/`));
    if (owner === undefined) continue;
    const counts = resources.get(owner) ?? new Map<string, number>();
    counts.set(type, (counts.get(type) ?? 0) + 1);
    resources.set(owner, counts);
  }
  return [...parts.entries()]
    .filter(([p]) => resources.has(p))
    .map(([p, { kind, shared }]) => ({ kind, path: p, shared, resources: resources.get(p)! }));
}

/** Summarizes every stack of a cloud assembly directory (cdk.out). */
export function summarizeAssembly(outdir: string): StackSummary[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
  const stacks: StackSummary[] = [];
  for (const artifact of Object.values<any>(manifest.artifacts ?? {})) {
    if (artifact.type !== 'aws:cloudformation:stack') continue;
    const templateFile: string = artifact.properties.templateFile;
    const file = path.join(outdir, templateFile);
    const template = JSON.parse(fs.readFileSync(file, 'utf8'));
    const types = new Map<string, string>(Object.entries<any>(template.Resources ?? {}).map(([id, r]) => [id, r.Type]));
    stacks.push({
      stackName: artifact.properties.stackName ?? artifact.displayName,
      templateFile,
      templateBytes: fs.statSync(file).size,
      resourceCount: types.size,
      parts: libraryParts(artifact.displayName, types, logicalIdPaths(outdir, artifact)),
    });
  }
  return stacks;
}

/** `3 AWS::IAM::Role, 1 AWS::Lambda::Function`, most first, then by name. */
export function describeCounts(counts: Map<string, number>): string {
  return [...counts.entries()]
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([type, n]) => `${n} ${type}`)
    .join(', ');
}

export function total(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}
