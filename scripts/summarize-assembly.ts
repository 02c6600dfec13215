// Prints, for a person, what a synthesized cloud assembly holds: each stack, its
// size against CloudFormation's limits, and what the library's constructs added.
// Usage: ts-node --transpile-only scripts/summarize-assembly.ts cdk.out
import { SHARED_PARTS, describeCounts, summarizeAssembly, total } from '../test/support/assembly-summary';

// CloudFormation quotas: 500 resources per stack, a 1 MB template body (cdk deploy uploads it to S3).
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

const outdir = process.argv[2] ?? 'cdk.out';
const stacks = summarizeAssembly(outdir);
console.log(`\nSynthesized ${stacks.length} stack${stacks.length === 1 ? '' : 's'} to ${outdir}/ `
  + '(CloudFormation accepts 500 resources and a 1 MB template per stack):');
for (const stack of stacks) {
  console.log(`  ${stack.stackName}: ${stack.resourceCount} resources, template ${kib(stack.templateBytes)}`);
  if (stack.parts.length === 0) continue;
  const added = stack.parts.reduce((sum, part) => sum + total(part.resources), 0);
  console.log(`    ${added} of them come from cdk-vm-import-export:`);
  const relative = (p: string) => p.slice(p.indexOf('/') + 1);
  for (const part of stack.parts) {
    const what = part.shared ? `${relative(part.path)}, ${SHARED_PARTS[part.kind]}` : `${part.kind} ${relative(part.path)}`;
    console.log(`      ${what}: ${describeCounts(part.resources)}`);
  }
}
