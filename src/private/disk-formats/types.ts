// Internal shapes of an inspection. The public, jsii-friendly report is built from
// these in ../../disk-inspection.ts; the strings here equal the public enums' values.

/** Formats told apart by their magic numbers. */
export type FileFormat =
  | 'VMDK' | 'VHD' | 'VHDX' | 'OVA' | 'RAW'
  | 'QCOW2' | 'QCOW' | 'QED' | 'VDI' | 'ISO' | 'OVF' | 'TAR'
  | 'GZIP' | 'XZ' | 'BZIP2' | 'ZSTD' | 'ZIP' | 'SEVEN_ZIP' | 'EMPTY';

/** The formats VM Import reads (ImageDiskContainer Format). */
export type ImportFormat = 'OVA' | 'VMDK' | 'VHD' | 'VHDX' | 'RAW';

export const IMPORT_FORMATS: readonly FileFormat[] = ['OVA', 'VMDK', 'VHD', 'VHDX', 'RAW'];

export type Severity = 'error' | 'warning';

export interface Finding {
  /** An annotation id, `cdk-vm-import-export:<name>`: the id a synth warning can be acknowledged by. */
  readonly id: string;
  readonly severity: Severity;
  /** What is wrong, lowercase, without the file name. */
  readonly message: string;
  /** A fix that works. */
  readonly fix: string;
}

export interface Partition {
  readonly index: number;
  /** MBR: the type byte as `0x83`; GPT: the type GUID. */
  readonly type: string;
  readonly description: string;
  /** Byte offset of the partition on the disk. */
  readonly start: number;
  readonly size: number;
  readonly bootable?: boolean;
  readonly name?: string;
}

export interface PartitionTable {
  readonly type: 'MBR' | 'GPT';
  readonly sectorSize: number;
  readonly partitions: Partition[];
  /** Non-zero code in the first 440 bytes of sector 0 (the MBR, or GPT's protective MBR). */
  readonly bootCode: boolean;
  readonly efiSystemPartition: boolean;
  readonly biosBootPartition: boolean;
  /** Problems seen in the table itself (a bad checksum, an unreadable entry array). */
  readonly problems: string[];
}

export interface OvaDisk {
  /** The file the descriptor names (ovf:href). */
  readonly file: string;
  /** The capacity the descriptor declares, in bytes. */
  readonly capacity?: number;
  /** The descriptor's ovf:format URL. */
  readonly formatUrl?: string;
  /** Whether the archive holds the file. */
  readonly present: boolean;
  /** What the file is, when present. */
  readonly format?: FileFormat;
  readonly subformat?: string;
  readonly virtualSize?: number;
}

export interface OvaInfo {
  readonly descriptor: string;
  readonly osType?: string;
  readonly osFamily?: 'Linux' | 'Windows' | 'other';
  readonly os64Bit?: boolean;
  readonly firmware?: string;
  readonly disks: OvaDisk[];
}

export interface InspectResult {
  readonly format: FileFormat;
  readonly subformat?: string;
  readonly virtualSize?: number;
  readonly partitionTable?: PartitionTable;
  readonly ova?: OvaInfo;
  readonly findings: Finding[];
}

export interface InspectOptions {
  /** The format the user declared, or the one the file's extension names. */
  readonly expectedFormat?: ImportFormat;
  /** Where `expectedFormat` comes from, for messages. */
  readonly expectedFrom?: 'format' | 'extension';
  /** uefi-preferred (RegisterImage, ImportedAmi) boots either way: no mode is flagged against it. */
  readonly bootMode?: 'legacy-bios' | 'uefi' | 'uefi-preferred';
  readonly platform?: 'Linux' | 'Windows';
  /** Whether this is the boot disk, whose partition table decides how it boots. */
  readonly bootDisk: boolean;
}

const ID_PREFIX = 'cdk-vm-import-export:';

export function finding(name: string, severity: Severity, message: string, fix: string): Finding {
  return { id: ID_PREFIX + name, severity, message, fix };
}

/** A file name as a shell argument, quoted when it needs to be. */
export function shellArg(name: string): string {
  return /^[\w./+-]+$/.test(name) ? name : `'${name.replace(/'/g, "'\\''")}'`;
}

/** Bytes in the units a person reads: `4 GiB`, `512 bytes`. */
export function humanSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = String(Number(value.toFixed(value < 10 ? 2 : 1)));
  return `${text} ${units[unit]}`;
}
