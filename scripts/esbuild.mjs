// esbuild with this repository's plugins. Takes the command-line flags projen's
// bundle tasks pass to esbuild (.projenrc.ts swaps `esbuild` for this script), so
// every handler entry, present and future, is bundled the same way.
//
//   node scripts/esbuild.mjs --bundle src/x.lambda.ts --platform=node --outfile=assets/x/index.js [--watch]
import * as esbuild from 'esbuild';
import { readFile } from 'node:fs/promises';

/**
 * The AWS SDK's generated schema modules (`@aws-sdk/client-<x>/dist-es/schemas/schemas_0.js`)
 * write trait objects with computed keys that name module constants
 * (`const _xN = "xmlName"; ... { [_xN]: _DCisk }`). esbuild cannot prove a computed
 * key free of side effects (it might call toString), so it keeps every statement
 * holding one, and with them nearly every structure schema of the service and the
 * names they use: ~550 KB of the EC2 client when one command is imported
 * (aws/aws-sdk-js-v3#7607). The codegen fix proposed upstream
 * (smithy-lang/smithy-typescript#1889) writes literal keys instead; this plugin
 * makes the same change at bundle time. Only keys naming a `const _x = "..."`
 * string of the same module are replaced, so the module means exactly what it
 * meant; anything else is left alone. Once the SDK ships literal keys the
 * plugin replaces nothing.
 */
export const smithySchemaLiteralKeys = {
  name: 'smithy-schema-literal-keys',
  setup(build) {
    const filter = /[\\/]node_modules[\\/]@aws-sdk[\\/].*[\\/]dist-es[\\/](.*[\\/])?schemas[\\/]schemas_\d+\.js$/;
    build.onLoad({ filter }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: literalSchemaKeys(source), loader: 'js' };
    });
  },
};

/** Replaces computed keys naming a module-level string constant by that string. */
export function literalSchemaKeys(source) {
  const constants = new Map();
  for (const [, name, literal] of source.matchAll(/^const ([A-Za-z_$][\w$]*) = ("(?:[^"\\\n]|\\.)*");$/gm)) {
    constants.set(name, literal);
  }
  // A computed key opens an object or follows a comma: `{ [_x]: v, [_y]: w }`.
  return source.replace(/([{,]\s*)\[([A-Za-z_$][\w$]*)\](\s*:)/g,
    (match, before, name, colon) => (constants.has(name) ? `${before}${constants.get(name)}${colon}` : match));
}

/** The subset of esbuild's command line that projen's bundle tasks use. */
export function parseArgs(argv) {
  const options = { entryPoints: [], external: [], define: {}, loader: {}, plugins: [smithySchemaLiteralKeys] };
  let watch = false;
  for (const arg of argv) {
    const [flag, ...rest] = arg.split('=');
    const value = rest.join('=');
    if (!arg.startsWith('--')) options.entryPoints.push(arg);
    else if (arg === '--bundle') options.bundle = true;
    else if (arg === '--minify') options.minify = true;
    else if (arg === '--keep-names') options.keepNames = true;
    else if (arg === '--watch') watch = true;
    else if (arg === '--sourcemap') options.sourcemap = true;
    else if (flag === '--sourcemap') options.sourcemap = value;
    else if (flag === '--target') options.target = value.split(',');
    else if (flag === '--platform') options.platform = value;
    else if (flag === '--format') options.format = value;
    else if (flag === '--outfile') options.outfile = value;
    else if (flag === '--tsconfig') options.tsconfig = value;
    else if (flag === '--log-level') options.logLevel = value;
    else if (flag === '--main-fields') options.mainFields = value.split(',');
    else if (flag === '--metafile') options.metafile = value;
    else if (arg.startsWith('--external:')) options.external.push(arg.slice('--external:'.length));
    else if (arg.startsWith('--define:')) {
      const [key, ...v] = arg.slice('--define:'.length).split('=');
      options.define[key] = v.join('=');
    } else if (arg.startsWith('--loader:')) {
      const [ext, loader] = arg.slice('--loader:'.length).split('=');
      options.loader[ext] = loader;
    } else if (arg.startsWith('--banner:js=')) options.banner = { js: arg.slice('--banner:js='.length) };
    else if (arg.startsWith('--footer:js=')) options.footer = { js: arg.slice('--footer:js='.length) };
    else throw new Error(`scripts/esbuild.mjs does not know the esbuild flag ${arg}; add it to parseArgs`);
  }
  return { options, watch };
}

async function main() {
  const { options, watch } = parseArgs(process.argv.slice(2));
  const metafile = options.metafile;
  const build = { ...options, metafile: metafile !== undefined, logLevel: options.logLevel ?? 'info' };
  if (watch) {
    const context = await esbuild.context(build);
    await context.watch();
    return;
  }
  const result = await esbuild.build(build);
  if (metafile) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(metafile, JSON.stringify(result.metafile));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err.message ?? err);
    process.exit(1);
  });
}
