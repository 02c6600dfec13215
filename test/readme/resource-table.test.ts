import * as fs from 'fs';
import * as path from 'path';
import { readmeTable, resourceTable } from '../support/resource-table';

// The README's "What a stack gets" table is what the constructs really add,
// counted from synthesized templates.
test('the README lists the resources each part of the library adds, as synthesized', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const inReadme = readmeTable(readme);
  if (inReadme === undefined) throw new Error('README.md has no resource-table markers');
  // On a difference: npx ts-node --transpile-only scripts/resource-table.ts --write
  expect(inReadme).toEqual(resourceTable());
}, 120_000);
