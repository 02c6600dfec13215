#!/usr/bin/env node
// The `cdk-vm-import-export` command. It loads only the disk inspection (no aws-cdk-lib),
// so it starts fast and runs from the npm package alone.
import { DiskInspectionOptions, DiskInspectionReport, DiskImageInspector, FindingSeverity } from '../disk-inspection';
import { BootMode, DiskImageFormat, Platform } from '../enums';
import { humanSize } from '../private/disk-formats/types';

export const USAGE = `Usage: cdk-vm-import-export inspect [options] <file>...

Reads the headers of local VM disk images (never the whole file) and reports what
EC2 VM Import will make of each: the real format, the virtual size, the boot disk's
partition table, and the problems that would make the import fail, each with a fix.

Options:
  --json                  print the reports as JSON (an array, one report per file)
  --format <format>       the format you will import as: ova, vmdk, vhd, vhdx or raw
                          (default: the one the file's extension names)
  --boot-mode <mode>      the boot mode you will import with: legacy-bios, uefi, or uefi-preferred (ImportedAmi)
                          (default: VM Import detects it)
  --platform <platform>   the platform you will import as: linux or windows
  --data-disk             the files are data disks, not boot disks (skip boot checks)
  -h, --help              show this help

Exit status: 0 when no file has errors (warnings allowed), 1 when one has,
2 on bad arguments or a file that cannot be read.
`;

/** The exit codes the command documents. */
export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;

interface Output {
  write(text: string): unknown;
}

class UsageError extends Error {}

function parseEnum<T extends string>(option: string, value: string | undefined, members: Record<string, T>): T {
  const found = Object.values(members).find((v) => v.toLowerCase() === value?.toLowerCase());
  if (value === undefined || found === undefined) {
    throw new UsageError(`${option} needs one of ${Object.values(members).map((v) => v.toLowerCase()).join(', ')}${value === undefined ? '' : `; got "${value}"`}`);
  }
  return found;
}

interface Parsed {
  readonly help: boolean;
  readonly json: boolean;
  readonly files: string[];
  readonly options: DiskInspectionOptions;
}

function parse(args: string[]): Parsed {
  let help = false;
  let json = false;
  let format: DiskImageFormat | undefined;
  let bootMode: BootMode | undefined;
  let platform: Platform | undefined;
  let bootDisk = true;
  const files: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? args[++i];
    if (name === '-h' || name === '--help' || (command === undefined && name === 'help')) {help = true;} else if (name === '--json') {json = true;} else if (name === '--format') {format = parseEnum('--format', value(), DiskImageFormat);} else if (name === '--boot-mode') {bootMode = parseEnum('--boot-mode', value(), BootMode);} else if (name === '--platform') {platform = parseEnum('--platform', value(), Platform);} else if (name === '--data-disk') {bootDisk = false;} else if (name === '--') {
      files.push(...args.slice(i + 1));
      break;
    } else if (name.startsWith('-') && name !== '-') {throw new UsageError(`unknown option ${name}`);} else if (command === undefined) {command = name;} else {files.push(arg);}
  }
  if (help) return { help, json, files, options: {} };
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'inspect') throw new UsageError(`unknown command "${command}"; the command is inspect`);
  if (files.length === 0) throw new UsageError('inspect needs at least one disk file');
  return { help, json, files, options: { format, bootMode, platform, bootDisk } };
}

/** Runs the command; returns the exit code. */
export function main(args: string[], stdout: Output = process.stdout, stderr: Output = process.stderr): number {
  let parsed: Parsed;
  try {
    parsed = parse(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    stderr.write(`cdk-vm-import-export: ${e.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (parsed.help) {
    stdout.write(USAGE);
    return EXIT_OK;
  }
  const reports: DiskInspectionReport[] = [];
  let unreadable = false;
  for (const file of parsed.files) {
    try {
      reports.push(DiskImageInspector.inspect(file, parsed.options));
    } catch (e) {
      unreadable = true;
      stderr.write(`cdk-vm-import-export: ${(e as Error).message}\n`);
    }
  }
  stdout.write(parsed.json ? `${JSON.stringify(reports, undefined, 2)}\n` : reports.map(formatReport).join('\n'));
  if (!parsed.json && reports.length > 1) stdout.write(`\n${summary(reports)}\n`);
  if (unreadable) return EXIT_USAGE;
  return reports.some((r) => r.findings.some((f) => f.severity === FindingSeverity.ERROR)) ? EXIT_FINDINGS : EXIT_OK;
}

function summary(reports: DiskInspectionReport[]): string {
  const count = (s: FindingSeverity) => reports.filter((r) => r.findings.some((f) => f.severity === s)).length;
  return `${reports.length} files: ${count(FindingSeverity.ERROR)} with errors, ${count(FindingSeverity.WARNING)} with warnings`;
}

function table(rows: string[][], indent: string): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => indent + r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** A report as a person reads it. */
export function formatReport(r: DiskInspectionReport): string {
  const lines: string[][] = [];
  const detail = r.subformat ? ` (${r.subformat})` : '';
  lines.push(['format', `${r.format}${detail}${r.importFormat ? `, imports as ${r.importFormat}` : ', which VM Import cannot read'}`]);
  lines.push(['file size', humanSize(r.fileSize)]);
  if (r.virtualSize !== undefined) lines.push(['virtual size', humanSize(r.virtualSize)]);
  const pt = r.partitionTable;
  if (pt) {
    lines.push(['partitions', `${pt.scheme}, ${pt.partitions.length} partition${pt.partitions.length === 1 ? '' : 's'}`
      + `; BIOS boot code: ${pt.bootCode ? 'yes' : 'no'}; EFI system partition: ${pt.efiSystemPartition ? 'yes' : 'no'}`]);
  } else if (r.importFormat) {
    lines.push(['partitions', 'none found']);
  }
  if (r.ova) {
    const os = r.ova.osType ? `${r.ova.osType}${r.ova.osFamily ? ` (${r.ova.osFamily}${r.ova.os64Bit === undefined ? '' : r.ova.os64Bit ? ', 64-bit' : ', 32-bit'})` : ''}` : 'not declared';
    lines.push(['descriptor', r.ova.descriptor]);
    lines.push(['guest OS', os]);
    lines.push(['firmware', r.ova.firmware ?? 'not declared']);
  }
  let out = `${r.path}\n${table(lines, '  ')}`;
  if (pt && pt.partitions.length) {
    out += table([['#', 'type', 'start', 'size', 'name'], ...pt.partitions.map((p) => [
      String(p.index), `${p.description} (${p.typeId})`, humanSize(p.start), humanSize(p.size), p.name ?? (p.bootable ? 'active' : ''),
    ])], '    ');
  }
  if (r.ova && r.ova.disks.length) {
    out += table([['disk', 'file', 'format', 'virtual size'], ...r.ova.disks.map((d, i) => [
      String(i + 1), d.file, d.present ? `${d.format}${d.subformat ? ` (${d.subformat})` : ''}` : 'missing', d.virtualSize === undefined ? '' : humanSize(d.virtualSize),
    ])], '    ');
  }
  if (r.findings.length === 0) {
    out += '  no problems found\n';
  }
  for (const f of r.findings) {
    out += `  ${f.severity === FindingSeverity.ERROR ? 'ERROR  ' : 'WARNING'} ${f.message}\n`;
    out += `          fix: ${f.fix}\n`;
    out += `          id: ${f.id}\n`;
  }
  return out;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
