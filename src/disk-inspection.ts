import * as fs from 'fs';
import { BootMode, DiskImageFormat, Platform } from './enums';
import { EXTENSION_FORMATS, extensionOf } from './private/disk-formats/extensions';
import { inspectPath } from './private/disk-formats/inspect';
import * as internal from './private/disk-formats/types';

/**
 * What a disk file really is, from its headers.
 */
export enum DiskFileFormat {
  /** VMware VMDK: a sparse extent (stream-optimized or not) or a text descriptor. */
  VMDK = 'VMDK',
  /** Microsoft VHD, fixed, dynamic or differencing. */
  VHD = 'VHD',
  /** Microsoft VHDX. */
  VHDX = 'VHDX',
  /** A tar archive with an OVF descriptor. */
  OVA = 'OVA',
  /** No known header: read as a raw disk. */
  RAW = 'RAW',
  /** QEMU qcow2 (VM Import cannot read it). */
  QCOW2 = 'QCOW2',
  /** QEMU qcow version 1 (VM Import cannot read it). */
  QCOW = 'QCOW',
  /** QEMU QED (VM Import cannot read it). */
  QED = 'QED',
  /** VirtualBox VDI (VM Import cannot read it). */
  VDI = 'VDI',
  /** An ISO 9660 CD/DVD image (VM Import cannot import it). */
  ISO = 'ISO',
  /** An OVF descriptor alone, without its disks. */
  OVF = 'OVF',
  /** A tar archive without an OVF descriptor. */
  TAR = 'TAR',
  /** A gzip-compressed file. */
  GZIP = 'GZIP',
  /** An xz-compressed file. */
  XZ = 'XZ',
  /** A bzip2-compressed file. */
  BZIP2 = 'BZIP2',
  /** A zstd-compressed file. */
  ZSTD = 'ZSTD',
  /** A zip archive. */
  ZIP = 'ZIP',
  /** A 7-Zip archive. */
  SEVEN_ZIP = 'SEVEN_ZIP',
  /** An empty file. */
  EMPTY = 'EMPTY',
}

/**
 * How sure an inspection is that VM Import will fail.
 */
export enum FindingSeverity {
  /** AWS rejects this disk, or the import certainly fails. */
  ERROR = 'error',
  /** The import will probably fail, or the image will probably not boot. */
  WARNING = 'warning',
}

/**
 * The partition table of a disk.
 */
export enum PartitionTableType {
  /** A Master Boot Record. */
  MBR = 'MBR',
  /** A GUID Partition Table (behind a protective MBR). */
  GPT = 'GPT',
}

/**
 * One problem an inspection found, with what to do about it.
 */
export interface DiskInspectionFinding {
  /**
   * A stable id, `cdk-vm-import-export:<name>`. At synth, a warning is an annotation
   * with this id: `Annotations.of(image).acknowledgeWarning(id)` acknowledges it.
   */
  readonly id: string;
  /** Whether AWS certainly rejects the disk (error) or probably will (warning). */
  readonly severity: FindingSeverity;
  /** What is wrong. */
  readonly message: string;
  /** What to do about it. */
  readonly fix: string;
}

/**
 * One partition of a disk.
 */
export interface DiskPartition {
  /** The partition's number, from 1. */
  readonly index: number;
  /** The MBR type byte (`0x83`) or the GPT type GUID. */
  readonly typeId: string;
  /** What the type means, for example `EFI system` or `Linux`. */
  readonly description: string;
  /** Where the partition starts, in bytes from the start of the disk. */
  readonly start: number;
  /** The partition's size in bytes. */
  readonly size: number;
  /**
   * Whether the MBR marks the partition active.
   *
   * @default - not an MBR partition
   */
  readonly bootable?: boolean;
  /**
   * The GPT partition name.
   *
   * @default - no name
   */
  readonly name?: string;
}

/**
 * The partition table of a boot disk.
 */
export interface DiskPartitionTable {
  /** MBR or GPT. */
  readonly scheme: PartitionTableType;
  /** The logical sector size the table was read with, in bytes. */
  readonly sectorSize: number;
  /** The partitions in use. */
  readonly partitions: DiskPartition[];
  /** Whether sector 0 (the MBR, or GPT's protective MBR) holds boot code for legacy BIOS. */
  readonly bootCode: boolean;
  /** Whether there is an EFI system partition, which UEFI boots from. */
  readonly efiSystemPartition: boolean;
  /** Whether there is a BIOS boot partition (GRUB on GPT with legacy BIOS). */
  readonly biosBootPartition: boolean;
}

/**
 * One disk an OVA's descriptor names.
 */
export interface OvaDiskReport {
  /** The file name the descriptor gives (ovf:href). */
  readonly file: string;
  /** Whether the archive holds that file. */
  readonly present: boolean;
  /**
   * The capacity the descriptor declares, in bytes.
   *
   * @default - not declared
   */
  readonly capacity?: number;
  /**
   * The descriptor's format URL for the disk (ovf:format).
   *
   * @default - not declared
   */
  readonly formatUrl?: string;
  /**
   * What the file really is.
   *
   * @default - the file is missing
   */
  readonly format?: DiskFileFormat;
  /**
   * The VMDK createType, VHD type and the like.
   *
   * @default - none known
   */
  readonly subformat?: string;
  /**
   * The disk's virtual size in bytes, from its header.
   *
   * @default - unknown
   */
  readonly virtualSize?: number;
}

/**
 * What an OVA's descriptor declares.
 */
export interface OvaReport {
  /** The name of the .ovf descriptor in the archive. */
  readonly descriptor: string;
  /**
   * The guest OS the descriptor declares (vmw:osType, the VirtualBox OS type, or the description).
   *
   * @default - not declared
   */
  readonly osType?: string;
  /**
   * `Linux`, `Windows` or `other`, from `osType`.
   *
   * @default - not recognized
   */
  readonly osFamily?: string;
  /**
   * Whether the declared guest OS is 64-bit.
   *
   * @default - unknown
   */
  readonly os64Bit?: boolean;
  /**
   * The firmware the descriptor declares, such as `efi` or `bios`.
   *
   * @default - not declared
   */
  readonly firmware?: string;
  /** The disks the descriptor names, boot disk first. */
  readonly disks: OvaDiskReport[];
}

/**
 * What a disk file is and what VM Import will make of it.
 */
export interface DiskInspectionReport {
  /** The file inspected. */
  readonly path: string;
  /** The file's size in bytes. */
  readonly fileSize: number;
  /** What the file really is, from its headers. */
  readonly format: DiskFileFormat;
  /**
   * The format to import it as, when VM Import can read the file's format.
   *
   * @default - VM Import cannot read this format
   */
  readonly importFormat?: DiskImageFormat;
  /**
   * The VMDK createType (`streamOptimized`, `monolithicSparse`...), the VHD or VHDX type
   * (`fixed`, `dynamic`, `differencing`), or the qcow2 version.
   *
   * @default - none known
   */
  readonly subformat?: string;
  /**
   * The size of the disk as the guest sees it, in bytes.
   *
   * @default - unknown (for an OVA, see each disk)
   */
  readonly virtualSize?: number;
  /**
   * The partition table of the disk (of an OVA's first disk), where it can be read.
   *
   * @default - none found, or not readable in this format
   */
  readonly partitionTable?: DiskPartitionTable;
  /**
   * What an OVA's descriptor declares.
   *
   * @default - not an OVA
   */
  readonly ova?: OvaReport;
  /** Problems found, errors first. */
  readonly findings: DiskInspectionFinding[];
}

/**
 * Options of an inspection.
 */
export interface DiskInspectionOptions {
  /**
   * The format the disk will be imported as; the file must be of it.
   *
   * @default - the format the file's extension names, if any (.ova, .vmdk, .vhd, .vhdx, .raw, .img)
   */
  readonly format?: DiskImageFormat;

  /**
   * The boot mode the VM will be imported with; the boot disk's partition table must suit it.
   *
   * @default - VM Import detects it: only a disk that suits neither mode is flagged
   */
  readonly bootMode?: BootMode;

  /**
   * The platform the VM will be imported as; an OVA that declares another OS is flagged.
   *
   * @default - not checked
   */
  readonly platform?: Platform;

  /**
   * Whether this is the boot disk (the first disk of an import), whose partition table decides how it boots.
   *
   * @default true
   */
  readonly bootDisk?: boolean;
}

const FORMATS: Record<internal.FileFormat, DiskFileFormat> = {
  VMDK: DiskFileFormat.VMDK,
  VHD: DiskFileFormat.VHD,
  VHDX: DiskFileFormat.VHDX,
  OVA: DiskFileFormat.OVA,
  RAW: DiskFileFormat.RAW,
  QCOW2: DiskFileFormat.QCOW2,
  QCOW: DiskFileFormat.QCOW,
  QED: DiskFileFormat.QED,
  VDI: DiskFileFormat.VDI,
  ISO: DiskFileFormat.ISO,
  OVF: DiskFileFormat.OVF,
  TAR: DiskFileFormat.TAR,
  GZIP: DiskFileFormat.GZIP,
  XZ: DiskFileFormat.XZ,
  BZIP2: DiskFileFormat.BZIP2,
  ZSTD: DiskFileFormat.ZSTD,
  ZIP: DiskFileFormat.ZIP,
  SEVEN_ZIP: DiskFileFormat.SEVEN_ZIP,
  EMPTY: DiskFileFormat.EMPTY,
};

const IMPORT_FORMATS: Partial<Record<internal.FileFormat, DiskImageFormat>> = {
  VMDK: DiskImageFormat.VMDK, VHD: DiskImageFormat.VHD, VHDX: DiskImageFormat.VHDX, OVA: DiskImageFormat.OVA, RAW: DiskImageFormat.RAW,
};

/**
 * Reads a local disk image's headers and tells what VM Import will make of it: the real
 * format, the virtual size, the boot disk's partition table, and the problems that would
 * make the import fail, each with a fix.
 *
 * It reads a few kilobytes, wherever they are in the file, never the whole file: a
 * 100 GiB disk is inspected in well under a second. `DiskImage.fromAsset` runs it at
 * synth; the `cdk-vm-import-export inspect` command prints it for disks you upload yourself.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/prerequisites.html
 */
export class DiskImageInspector {
  /**
   * Inspects a local disk file. Throws when the file cannot be read (missing, a directory, no permission).
   *
   * @param file path to the disk file
   * @param options the format, boot mode and platform the disk will be imported with, and
   *   whether it is the boot disk (default: the extension's format, VM Import's detection, a boot disk)
   */
  public static inspect(file: string, options: DiskInspectionOptions = {}): DiskInspectionReport {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (e) {
      throw new Error(`cannot inspect "${file}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (stat.isDirectory()) {
      throw new Error(`cannot inspect "${file}": it is a directory; give the disk file inside it`);
    }
    const declared = options.format;
    const fromExtension = EXTENSION_FORMATS[extensionOf(file)];
    const result = inspectPath(file, {
      expectedFormat: declared ?? fromExtension,
      expectedFrom: declared ? 'format' : 'extension',
      bootMode: options.bootMode,
      platform: options.platform,
      bootDisk: options.bootDisk ?? true,
    });
    return toReport(file, stat.size, result);
  }

  private constructor() {}
}

/**
 * Inspects a local disk file, as `DiskImageInspector.inspect` does (TypeScript and JavaScript).
 *
 * @param file path to the disk file
 */
export function inspectDiskImage(file: string, options: DiskInspectionOptions = {}): DiskInspectionReport {
  return DiskImageInspector.inspect(file, options);
}

function toReport(file: string, fileSize: number, r: internal.InspectResult): DiskInspectionReport {
  const severity = (s: internal.Severity) => (s === 'error' ? FindingSeverity.ERROR : FindingSeverity.WARNING);
  const findings = [...r.findings].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return {
    path: file,
    fileSize,
    format: FORMATS[r.format],
    importFormat: IMPORT_FORMATS[r.format],
    subformat: r.subformat,
    virtualSize: r.virtualSize,
    partitionTable: r.partitionTable && {
      scheme: r.partitionTable.type === 'GPT' ? PartitionTableType.GPT : PartitionTableType.MBR,
      sectorSize: r.partitionTable.sectorSize,
      partitions: r.partitionTable.partitions.map(({ type, ...p }) => ({ ...p, typeId: type })),
      bootCode: r.partitionTable.bootCode,
      efiSystemPartition: r.partitionTable.efiSystemPartition,
      biosBootPartition: r.partitionTable.biosBootPartition,
    },
    ova: r.ova && {
      descriptor: r.ova.descriptor,
      osType: r.ova.osType,
      osFamily: r.ova.osFamily,
      os64Bit: r.ova.os64Bit,
      firmware: r.ova.firmware,
      disks: r.ova.disks.map((d) => ({ ...d, format: d.format && FORMATS[d.format] })),
    },
    findings: findings.map((f) => ({ id: f.id, severity: severity(f.severity), message: f.message, fix: f.fix })),
  };
}
