import * as fs from 'fs';
import * as path from 'path';
import { awscdk, Component, javascript, Project, SourceCode } from 'projen';

/** The environment variable naming the entry a function of a shared asset runs (src/handlers/shared/entry.ts reads it). */
const ENTRY_ENV = 'HANDLER_ENTRY';
const LAMBDA_EXT = '.lambda.ts';

export interface ProviderAssetsOptions {
  /** Folder holding one sub-folder per provider, e.g. `src/handlers`. */
  readonly handlersDir: string;
  /** The shared entry dispatcher (src/handlers/shared/entry.ts), without extension. */
  readonly dispatcher: string;
  readonly runtime: awscdk.LambdaRuntime;
  readonly bundlingOptions: javascript.BundlingOptions;
  /** Replaces `esbuild` in the bundle tasks (a wrapper taking esbuild's flags, with plugins). */
  readonly esbuildCommand: string[];
}

/**
 * One Lambda asset per provider. projen's own Lambda support bundles every
 * `*.lambda.ts` into an asset of its own, so a provider with an onEvent and an
 * isComplete function ships, uploads and caches the SDK twice. Here every
 * folder of `handlersDir` holding `*.lambda.ts` entries gets:
 *
 * - `handler.ts` (generated): the folder's one bundle entry, which runs the
 *   entry named by the function's HANDLER_ENTRY and loads only that entry's code;
 * - one bundle, `assets/<folder>/handler/index.js`;
 * - for each entry, the `<entry>-function.ts` construct projen would generate
 *   (same file, class and props), pointing at that one asset and setting
 *   HANDLER_ENTRY: functions of one provider have the same code, one asset hash.
 *
 * A new provider needs nothing more than its `*.lambda.ts` files (each exporting
 * `handler`) and `npx projen`.
 */
export class ProviderAssets extends Component {
  /** Provider folder (relative to the project) -> its entry names. */
  public readonly providers = new Map<string, string[]>();

  constructor(project: Project, options: ProviderAssetsOptions) {
    super(project);
    const bundler = javascript.Bundler.of(project);
    if (!bundler) throw new Error('ProviderAssets needs a Bundler');
    const handlersAbs = path.join(project.outdir, options.handlersDir);
    const folders = fs.existsSync(handlersAbs) ? fs.readdirSync(handlersAbs, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
    for (const folder of folders.map((e) => path.posix.join(options.handlersDir, e.name)).sort()) {
      const entries = fs.readdirSync(path.join(project.outdir, folder))
        .filter((f) => f.endsWith(LAMBDA_EXT))
        .map((f) => f.slice(0, -LAMBDA_EXT.length))
        .sort();
      if (entries.length === 0) continue;
      this.providers.set(folder, entries);
      this.addProvider(project, bundler, folder, entries, options);
    }
  }

  private addProvider(project: Project, bundler: javascript.Bundler, folder: string, entries: string[], options: ProviderAssetsOptions): void {
    const entrypoint = `${folder}/handler.ts`;
    const dispatcher = path.posix.relative(folder, options.dispatcher);
    const src = new SourceCode(project, entrypoint);
    if (src.marker) src.line(`// ${src.marker}`);
    // Siblings first, as the import/order rule wants.
    for (const entry of entries) src.line(`import { handler as ${camel(entry)} } from './${entry}.lambda';`);
    src.line(`import { entryHandler } from '${dispatcher.startsWith('.') ? dispatcher : `./${dispatcher}`}';`);
    src.line();
    src.line('/**');
    src.line(` * The one Lambda asset of the functions of ${folder}: each runs the entry its`);
    src.line(` * ${ENTRY_ENV} names. The entries are imported, not required on demand: esbuild`);
    src.line(' * tree-shakes only what it can hoist, and a lazily required module graph keeps');
    src.line(' * every export of the SDK packages it reaches.');
    src.line(' */');
    src.open('export const handler = entryHandler({');
    for (const entry of entries) src.line(`'${entry}': ${camel(entry)},`);
    src.close('});');

    const bundle = bundler.addBundle(entrypoint, {
      target: options.runtime.esbuildTarget,
      platform: options.runtime.esbuildPlatform,
      externals: options.runtime.defaultExternals,
      ...options.bundlingOptions,
      tsconfigPath: (project as javascript.NodeProject & { tsconfigDev?: { fileName: string } }).tsconfigDev?.fileName,
    });
    for (const task of [bundle.bundleTask, bundle.watchTask]) {
      if (!task) continue;
      const [step] = task.steps;
      const args = step?.execArgs;
      if (!args || args[0] !== 'esbuild') throw new Error(`unexpected bundle task ${task.name}: ${JSON.stringify(step)}`);
      task.reset();
      task.execArgs([...options.esbuildCommand, ...args.slice(1)]);
    }

    for (const entry of entries) {
      const constructFile = `${folder}/${entry}-function.ts`;
      const className = `${pascal(entry)}Function`;
      const assetDir = path.posix.relative(folder, path.posix.dirname(bundle.outfile));
      const fn = new SourceCode(project, constructFile);
      if (fn.marker) fn.line(`// ${fn.marker}`);
      fn.line("import * as path from 'path';");
      fn.line("import * as lambda from 'aws-cdk-lib/aws-lambda';");
      fn.line("import { Construct } from 'constructs';");
      fn.line();
      fn.line('/**');
      fn.line(` * Props for ${className}`);
      fn.line(' */');
      fn.open(`export interface ${className}Props extends lambda.FunctionOptions {`);
      fn.close('}');
      fn.line();
      fn.line('/**');
      fn.line(` * An AWS Lambda function which executes ${folder}/${entry}, from the asset`);
      fn.line(` * every function of ${folder} shares (${ENTRY_ENV} picks the entry).`);
      fn.line(' */');
      fn.open(`export class ${className} extends lambda.Function {`);
      fn.open(`constructor(scope: Construct, id: string, props?: ${className}Props) {`);
      fn.open('super(scope, id, {');
      fn.line(`description: '${folder}/${entry}${LAMBDA_EXT}',`);
      fn.line('...props,');
      fn.line(`runtime: new lambda.Runtime('${options.runtime.functionRuntime}', lambda.RuntimeFamily.NODEJS),`);
      fn.line("handler: 'index.handler',");
      fn.line(`code: lambda.Code.fromAsset(path.join(__dirname, '${assetDir}')),`);
      fn.close('});');
      fn.line("this.addEnvironment('AWS_NODEJS_CONNECTION_REUSE_ENABLED', '1', { removeInEdge: true });");
      fn.line(`this.addEnvironment('${ENTRY_ENV}', '${entry}');`);
      fn.close('}');
      fn.close('}');
    }
  }
}

function camel(name: string): string {
  const p = pascal(name);
  return p[0].toLowerCase() + p.slice(1);
}

function pascal(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((p) => p[0].toUpperCase() + p.slice(1)).join('');
}
