// Prints the README's "What a stack gets" table, measured from synthesized stacks;
// with --write, puts it into README.md between its markers.
// Usage: ts-node --project test/tsconfig.json scripts/resource-table.ts [--write]
import * as fs from 'fs';
import { resourceTable, withTable } from '../test/support/resource-table';

const table = resourceTable();
if (process.argv.includes('--write')) {
  fs.writeFileSync('README.md', withTable(fs.readFileSync('README.md', 'utf8'), table));
} else {
  console.log(table);
}
