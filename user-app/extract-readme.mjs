// Writes the README's TypeScript snippets into generated/, as a user pastes them:
// - the main example (after "<!-- main-example -->") as the app's entry point, bin/my-app.ts;
// - whole programs (`nofixture`, or a snippet that makes its own App) as they are, in programs/;
// - every other snippet into a stack's constructor, its imports hoisted (the scope jsii-rosetta's
//   fixture gives them; they declare everything else themselves), in snippets/, with an index.
// Both `ts` blocks (which jsii-rosetta also compiles, against the oldest aws-cdk-lib supported)
// and `tsx` blocks (snippets that need cdk-nag or aws-imagebuilder-alpha, which only this app has).
// Usage: node extract-readme.mjs <repository>/README.md
import * as fs from 'node:fs';
import * as path from 'node:path';

const readmePath = process.argv[2] ?? '../README.md';
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'generated');
const lines = fs.readFileSync(readmePath, 'utf8').split('\n');

/** Fenced TypeScript blocks: { line (1-based, of the fence), info, code, main }. */
function blocks() {
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|tsx|typescript)\b(.*)$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === '') k--;
    found.push({ line: i + 1, info: open[3].trim(), code: body.join('\n'), main: lines[k]?.trim() === '<!-- main-example -->' });
    i = j;
  }
  return found;
}

fs.rmSync(out, { recursive: true, force: true });
for (const dir of ['bin', 'programs', 'snippets']) fs.mkdirSync(path.join(out, dir), { recursive: true });

const stacks = [];
let mains = 0;
for (const block of blocks()) {
  const name = `L${block.line}`;
  if (block.main) {
    mains++;
    fs.writeFileSync(path.join(out, 'bin', 'my-app.ts'), `${block.code}\n`);
  } else if (block.info.includes('nofixture') || /new App\(/.test(block.code)) {
    fs.writeFileSync(path.join(out, 'programs', `snippet-${name}.ts`), `${block.code}\n`);
  } else {
    const codeLines = block.code.split('\n');
    const imports = [];
    let at = 0;
    // The leading import statements (one or more lines each) are hoisted out of the constructor.
    while (at < codeLines.length) {
      if (codeLines[at].trim() === '') { at++; continue; }
      if (!/^import\b/.test(codeLines[at])) break;
      while (at < codeLines.length && !/;\s*$/.test(codeLines[at])) imports.push(codeLines[at++]);
      imports.push(codeLines[at++]);
    }
    const body = codeLines.slice(at).map((l) => (l ? `    ${l}` : l)).join('\n');
    fs.writeFileSync(path.join(out, 'snippets', `snippet-${name}.ts`), [
      `// README.md line ${block.line}`,
      "import { Stack as FixtureStack } from 'aws-cdk-lib';",
      "import { Construct as FixtureConstruct } from 'constructs';",
      ...imports,
      '',
      `export class Snippet${name} extends FixtureStack {`,
      '  constructor(scope: FixtureConstruct, id: string) {',
      '    super(scope, id);',
      body,
      '  }',
      '}',
      '',
    ].join('\n'));
    stacks.push(name);
  }
}
if (mains !== 1) throw new Error(`${readmePath}: expected one "<!-- main-example -->" TypeScript block, found ${mains}`);

fs.writeFileSync(path.join(out, 'snippets', 'index.ts'), [
  "import { Stack } from 'aws-cdk-lib';",
  "import { Construct } from 'constructs';",
  ...stacks.map((name) => `import { Snippet${name} } from './snippet-${name}';`),
  '',
  '/** Each README snippet as a stack, by the README line it starts on. */',
  'export const SNIPPETS: Array<[string, new (scope: Construct, id: string) => Stack]> = [',
  ...stacks.map((name) => `  ['${name}', Snippet${name}],`),
  '];',
  '',
].join('\n'));
const programs = fs.readdirSync(path.join(out, 'programs')).length;
console.log(`README snippets: the main example, ${stacks.length} stack snippets, ${programs} programs -> ${path.relative(process.cwd(), out)}/`);
