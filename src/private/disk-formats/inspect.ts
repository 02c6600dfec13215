import * as fs from 'fs';
import * as path from 'path';
import { Detected, detect } from './magic';
import { classifyGuest, entrySource, listTar, parseOvf, readEntry } from './ova';
import { readPartitionTable } from './partitions';
import { ByteSource, FileSource, VirtualDisk, rawDisk } from './source';
import {
  FileFormat, Finding, IMPORT_FORMATS, ImportFormat, InspectOptions, InspectResult, OvaDisk, OvaInfo, PartitionTable,
  finding, humanSize, shellArg,
} from './types';
import { readVhd } from './vhd';
import { readVhdx } from './vhdx';
import { isStreamOptimizedHeader, readDescriptorFile, readSparse } from './vmdk';

// What VM Import accepts, and where each limit is written down:
// - formats OVA, stream-optimized VMDK, fixed and dynamic VHD/VHDX, raw: the VM Import/Export
//   User Guide, "System requirements > Image formats" (prerequisites.html#vmimport-image-formats);
//   "you can only import VMDK files ... created through the OVF export process in VMware".
// - disks under 16 TiB, a manifest file over 8 TiB, at most 21 volumes, no SEsparse deltas,
//   64-bit Linux only: the same guide, "Limitations" (limitations-image.html).
// - a differencing VHD fails with "ClientError: Footers not identical", and a VMDK whose
//   header names compression algorithm 0 with "File uses unsupported compression algorithm 0":
//   the same guide, "Troubleshooting" (vmimport-troubleshooting.html).
// - "No bootable partition found" when the boot disk has no boot partition: Troubleshooting.

/** VM Import accepts disks smaller than this (Limitations: "Disk images must be less than 16 TiB"). */
export const MAX_DISK_BYTES = 16 * 2 ** 40;
/** Over this, the guide asks for a manifest file, which an import from an S3 object does not send. */
export const MANIFEST_DISK_BYTES = 8 * 2 ** 40;
/** At most this many volumes per import (Limitations). */
export const MAX_VOLUMES = 21;

const FORMAT_NAMES: Record<FileFormat, string> = {
  VMDK: 'VMDK',
  VHD: 'VHD',
  VHDX: 'VHDX',
  OVA: 'OVA',
  RAW: 'raw disk',
  QCOW2: 'qcow2',
  QCOW: 'qcow (version 1)',
  QED: 'QED',
  VDI: 'VirtualBox VDI',
  ISO: 'ISO 9660 (CD/DVD)',
  OVF: 'OVF descriptor (XML)',
  TAR: 'tar archive',
  GZIP: 'gzip-compressed',
  XZ: 'xz-compressed',
  BZIP2: 'bzip2-compressed',
  ZSTD: 'zstd-compressed',
  ZIP: 'zip archive',
  SEVEN_ZIP: '7-Zip archive',
  EMPTY: 'empty',
};

/** qemu-img's names for the formats it converts from. */
const QEMU_FORMATS: Partial<Record<FileFormat, string>> = { QCOW2: 'qcow2', QCOW: 'qcow', QED: 'qed', VDI: 'vdi', VHDX: 'vhdx', VHD: 'vpc', VMDK: 'vmdk', RAW: 'raw' };

const DECOMPRESS: Partial<Record<FileFormat, (f: string) => string>> = {
  GZIP: (f) => `gunzip -k ${f}`,
  XZ: (f) => `xz -dk ${f}`,
  BZIP2: (f) => `bunzip2 -k ${f}`,
  ZSTD: (f) => `zstd -d ${f}`,
  ZIP: (f) => `unzip ${f}`,
  SEVEN_ZIP: (f) => `7z x ${f}`,
};

/** The output name of a conversion: `web.qcow2` becomes `web.vmdk` (or `web-stream.vmdk` for a VMDK). */
function convertedName(file: string, ext: string): string {
  const stem = path.basename(file).replace(/\.[^.]*$/, '');
  const out = `${stem}.${ext}`;
  return out === path.basename(file) ? `${stem}-stream.${ext}` : out;
}

function convertFix(file: string, from: FileFormat | undefined): string {
  const source = from && QEMU_FORMATS[from] ? `-f ${QEMU_FORMATS[from]} ` : '';
  return `qemu-img convert ${source}-O vmdk -o subformat=streamOptimized ${shellArg(path.basename(file))} ${shellArg(convertedName(file, 'vmdk'))}`;
}

/** Inspects a local file. Throws only when the file cannot be opened or read. */
export function inspectPath(file: string, options: InspectOptions): InspectResult {
  const opened: FileSource[] = [];
  const source = FileSource.open(file);
  opened.push(source);
  try {
    // A VMDK descriptor names its extents relative to its own folder.
    const openSibling = (name: string): ByteSource | undefined => {
      const sibling = path.resolve(path.dirname(file), name);
      try {
        if (!fs.statSync(sibling).isFile()) return undefined;
        const s = FileSource.open(sibling);
        opened.push(s);
        return s;
      } catch {
        return undefined;
      }
    };
    return inspectSource(source, file, options, openSibling);
  } finally {
    for (const s of opened) s.close();
  }
}

/** Inspects bytes from any source: a file, or one file inside an OVA. */
export function inspectSource(
  source: ByteSource, name: string, options: InspectOptions, openSibling?: (name: string) => ByteSource | undefined,
): InspectResult {
  const detected = detect(source);
  const findings: Finding[] = [];
  const base = shellArg(path.basename(name));
  let format: FileFormat = detected.format;
  let subformat = detected.subformat;
  let virtualSize = detected.virtualSize;
  let disk: VirtualDisk | undefined;
  let ova: OvaInfo | undefined;
  let partitionTable: PartitionTable | undefined;

  switch (detected.format) {
    case 'EMPTY':
      findings.push(finding('diskEmpty', 'error', 'the file is empty (0 bytes)',
        'give the disk file itself; an interrupted export or copy leaves empty files: export or copy the disk again'));
      break;
    case 'VMDK': {
      const vmdk = inspectVmdk(source, name, detected, findings, openSibling);
      subformat = vmdk.subformat;
      virtualSize = vmdk.virtualSize;
      disk = vmdk.disk;
      break;
    }
    case 'VHD': {
      const vhd = readVhd(source);
      subformat = vhd.type ?? (vhd.unknownType !== undefined ? `type ${vhd.unknownType}` : undefined);
      virtualSize = vhd.currentSize;
      if (vhd.truncated) {
        findings.push(finding('diskTruncated', 'error', `the VHD is incomplete: ${vhd.truncated}`, 'copy or export the disk again'));
      } else if (vhd.type === 'fixed' && vhd.currentSize !== undefined && source.size - 512 < vhd.currentSize) {
        findings.push(finding('diskTruncated', 'error',
          `the fixed VHD holds ${humanSize(source.size - 512)} of data, but its footer says ${humanSize(vhd.currentSize)}: the file is cut short`,
          'copy or export the disk again'));
      }
      if (vhd.type === 'differencing') {
        findings.push(finding('vhdDifferencing', 'error',
          'it is a differencing VHD, a child that needs its parent disk; VM Import fails these with "ClientError: Footers not identical"',
          `merge it into its parent (Hyper-V: Merge-VHD), or convert the chain: qemu-img convert -O vpc -o subformat=dynamic ${base} ${shellArg(convertedName(name, 'vhd').replace(/\.vhd$/, '-merged.vhd'))}`));
      } else if (vhd.unknownType !== undefined) {
        findings.push(finding('vhdUnknownType', 'error', `its footer names disk type ${vhd.unknownType}, which is neither fixed (2) nor dynamic (3)`,
          'export the disk again as a fixed or dynamic VHD'));
      }
      if (vhd.footersDiffer) {
        findings.push(finding('vhdFootersDiffer', 'error',
          'the footer copy at the start of the dynamic VHD differs from the footer at its end; VM Import fails such files with "ClientError: Footers not identical"',
          'export the disk again'));
      }
      if (vhd.checksumOk === false && !vhd.truncated) {
        findings.push(finding('vhdChecksum', 'warning', 'the VHD footer checksum is wrong: the file may be damaged', 'export the disk again'));
      }
      disk = findings.some((f) => f.id.endsWith(':diskTruncated')) ? undefined : vhd.disk;
      break;
    }
    case 'VHDX': {
      const vhdx = readVhdx(source);
      subformat = vhdx.type;
      virtualSize = vhdx.virtualSize;
      if (vhdx.truncated) findings.push(finding('diskTruncated', 'error', `the VHDX cannot be read: ${vhdx.truncated}`, 'copy or export the disk again'));
      if (vhdx.type === 'differencing') {
        findings.push(finding('vhdxDifferencing', 'error', 'it is a differencing VHDX (it has a parent disk), which VM Import cannot import alone',
          'merge it into its parent (Hyper-V: Merge-VHD), or convert the chain: qemu-img convert -O vhdx ' + `${base} ${shellArg(convertedName(name, 'vhdx').replace(/\.vhdx$/, '-merged.vhdx'))}`));
      }
      disk = vhdx.disk;
      break;
    }
    case 'RAW':
      disk = rawDisk(source);
      if (source.size % 512 !== 0) {
        findings.push(finding('rawNotSectorAligned', 'warning',
          `its size (${source.size} bytes) is not a whole number of 512-byte sectors, as a raw disk's is`,
          'check that the file is a whole disk image and was copied completely'));
      }
      break;
    case 'TAR': {
      const result = inspectOva(source, options, findings);
      if (result) {
        format = 'OVA';
        ova = result.ova;
        partitionTable = result.partitionTable;
      }
      break;
    }
    case 'QCOW2': case 'QCOW': case 'QED': case 'VDI':
      findings.push(finding('diskFormatUnsupported', 'error',
        `it is a ${FORMAT_NAMES[detected.format]} image${detected.note ? ` (${detected.note})` : ''}; VM Import reads only OVA, stream-optimized VMDK, VHD, VHDX and raw disks`,
        `convert it to a stream-optimized VMDK: ${convertFix(name, detected.format)}`));
      break;
    case 'ISO':
      findings.push(finding('diskFormatUnsupported', 'error', 'it is an ISO 9660 (CD/DVD) image, an installer rather than a disk; VM Import does not import ISO files',
        'install the OS from it in a VM and import that VM\'s disk (Image Builder\'s ImportDiskImage imports Windows 11 ISOs)'));
      break;
    case 'OVF':
      findings.push(finding('diskFormatUnsupported', 'error', 'it is an OVF descriptor (XML) without its disks; VM Import imports the OVA, a tar archive of the descriptor and its disk files',
        `pack the descriptor first, then its disks, into one OVA: tar -cf ${shellArg(convertedName(name, 'ova'))} ${base} <disk files>; or import the disk files themselves`));
      break;
    case 'GZIP': case 'XZ': case 'BZIP2': case 'ZSTD': case 'ZIP': case 'SEVEN_ZIP':
      findings.push(finding('diskCompressed', 'error', `it is a ${FORMAT_NAMES[detected.format]} file; VM Import reads disk files uncompressed`,
        `decompress it and use the disk file it holds: ${DECOMPRESS[detected.format]!(base)}`));
      break;
  }

  if (virtualSize !== undefined && IMPORT_FORMATS.includes(format)) checkSize(virtualSize, findings);
  checkExpectedFormat(format, detected, options, findings);
  if (disk && options.bootDisk) partitionTable = checkBoot(disk, options, findings);
  else if (disk) partitionTable = readPartitionTable(disk);
  return { format, subformat, virtualSize, partitionTable, ova, findings };
}

function inspectVmdk(
  source: ByteSource, name: string, detected: Detected, findings: Finding[], openSibling?: (name: string) => ByteSource | undefined,
): { subformat?: string; virtualSize?: number; disk?: VirtualDisk } {
  const base = shellArg(path.basename(name));
  if (detected.vmdk === 'seSparse' || detected.vmdk === 'vmfsSparse') {
    findings.push(finding('vmdkDelta', 'error',
      `it is a VMware ${detected.vmdk} delta (snapshot) extent; VM Import supports neither delta disks nor the SEsparse format`,
      'consolidate the VM\'s snapshots in vSphere (Snapshots > Consolidate), then export the VM as OVF or OVA'));
    return { subformat: detected.vmdk };
  }
  const info = detected.vmdk === 'descriptor' ? readDescriptorFile(source, openSibling) : readSparse(source);
  const descriptor = info.descriptor;
  const createType = descriptor?.createType;
  const subformat = createType ?? (info.container === 'descriptor' ? 'descriptor' : undefined);
  if (info.truncated) {
    findings.push(finding('diskTruncated', 'error', `the VMDK is incomplete: ${info.truncated}`, 'copy or export the disk again'));
    return { subformat };
  }
  if (descriptor?.parentCid !== undefined && !/^f{8}$/i.test(descriptor.parentCid)) {
    findings.push(finding('vmdkDelta', 'error',
      `it is a delta (snapshot) disk of a parent${descriptor.parentFileNameHint ? ` "${descriptor.parentFileNameHint}"` : ''}, which VM Import cannot import alone`,
      'consolidate the VM\'s snapshots in vSphere (Snapshots > Consolidate), then export the VM as OVF or OVA'));
  }
  if (info.container === 'descriptor') {
    const extents = descriptor?.extents ?? [];
    const files = extents.map((e) => e.file).filter((f): f is string => !!f);
    findings.push(finding('vmdkDescriptorOnly', 'error', extents.length
      ? `it is a VMDK descriptor (createType "${createType ?? 'unknown'}") whose data is in ${files.length ? files.map((f) => `"${f}"`).join(', ') : 'other extents'}; uploaded alone it holds no disk data, and VM Import reads only stream-optimized VMDKs`
      : 'it is a VMDK descriptor that names no extents, so it holds no disk data',
    extents.length
      ? `convert the descriptor and its extents into one stream-optimized file (qemu-img reads the extents beside it): ${convertFix(name, 'VMDK')}`
      : 'give the disk file itself: export the VM as OVF or OVA, or convert the disk with qemu-img convert -O vmdk -o subformat=streamOptimized'));
    return { subformat, virtualSize: info.capacity, disk: info.disk };
  }
  // A sparse extent.
  const header = info.header!;
  if (!descriptor) {
    findings.push(finding('vmdkSplitExtent', 'error',
      'it is a sparse extent without a descriptor: one piece of a split VMDK (such as twoGbMaxExtentSparse), which VM Import cannot read alone',
      'convert the disk from its descriptor file (the small .vmdk beside the -s001.vmdk pieces): qemu-img convert -O vmdk -o subformat=streamOptimized <descriptor>.vmdk out.vmdk'));
  } else if (createType !== 'streamOptimized') {
    findings.push(finding('vmdkNotStreamOptimized', 'error',
      `it is a ${createType ? `"${createType}"` : 'sparse'} VMDK, not stream-optimized; VM Import reads only stream-optimized VMDKs (the kind VMware's OVF export writes)`,
      `convert it: ${convertFix(name, 'VMDK')} (or export the VM from VMware as OVF or OVA)`));
  } else if (!isStreamOptimizedHeader(header)) {
    findings.push(finding('vmdkNotStreamOptimized', 'error',
      'its descriptor says streamOptimized, but its header has no compressed grains and markers: it is not really stream-optimized',
      `convert it: ${convertFix(name, 'VMDK')}`));
  } else if (header.compressAlgorithm !== 1) {
    findings.push(finding('vmdkCompression', 'error',
      `its header names compression algorithm ${header.compressAlgorithm}; VM Import reads deflate (1) and fails others with "File uses unsupported compression algorithm ${header.compressAlgorithm}"`,
      `export the VM from VMware as OVF, or convert it: ${convertFix(name, 'VMDK')}`));
  } else if (info.missingFooter) {
    findings.push(finding('vmdkNoFooter', 'warning',
      'the stream-optimized VMDK does not end with its footer and end-of-stream marker: the file looks cut short',
      `copy or export it again; \`qemu-img check ${base}\` tells whether it is whole`));
  }
  return { subformat, virtualSize: info.capacity, disk: info.disk };
}

function inspectOva(source: ByteSource, options: InspectOptions, findings: Finding[]): { ova: OvaInfo; partitionTable?: PartitionTable } | undefined {
  const listing = listTar(source);
  const descriptors = listing.entries.filter((e) => /\.ovf$/i.test(e.name));
  if (descriptors.length === 0) {
    findings.push(finding('ovaNoDescriptor', 'error',
      `it is a tar archive with no .ovf descriptor${listing.truncated ? ` (${listing.truncated})` : ''}, so it is not an OVA`,
      'import the disk file it holds, or pack an OVA with the .ovf descriptor first: tar -cf vm.ova vm.ovf vm-disk1.vmdk'));
    return undefined;
  }
  if (listing.truncated) findings.push(finding('diskTruncated', 'error', `the OVA is incomplete: ${listing.truncated}`, 'copy or export the OVA again'));
  if (descriptors.length > 1) {
    findings.push(finding('ovaSeveralDescriptors', 'warning',
      `the archive holds ${descriptors.length} .ovf descriptors (${descriptors.map((d) => `"${d.name}"`).join(', ')}); this report reads the first`,
      'export one VM per OVA'));
  }
  const descriptorEntry = descriptors[0];
  const text = readEntry(source, descriptorEntry);
  if (!text) {
    findings.push(finding('ovaDescriptorUnread', 'warning', `the descriptor "${descriptorEntry.name}" is over 4 MiB and was not read`, 'check the OVA\'s disks yourself'));
    return { ova: { descriptor: descriptorEntry.name, disks: [] } };
  }
  const ovf = parseOvf(text.toString('utf8'));
  const guestName = ovf.osType ?? ovf.osDescription;
  const guest = ovf.osType ? classifyGuest(ovf.osType, 'id') ?? (ovf.osDescription ? classifyGuest(ovf.osDescription, 'description') : undefined)
    : ovf.osDescription ? classifyGuest(ovf.osDescription, 'description') : undefined;

  if (ovf.disks.length === 0) {
    findings.push(finding('ovaNoDisks', 'error', `the descriptor "${descriptorEntry.name}" names no disks (no Disk element in its DiskSection)`, 'export the VM again with its disks'));
  } else if (ovf.disks.length > MAX_VOLUMES) {
    findings.push(finding('ovaTooManyDisks', 'error', `the descriptor names ${ovf.disks.length} disks; VM Import imports at most ${MAX_VOLUMES} volumes per VM`,
      `detach all but ${MAX_VOLUMES} disks before the export, and import the others with ImportSnapshot`));
  }
  if (ovf.virtualSystems > 1) {
    findings.push(finding('ovaSeveralVms', 'warning', `the descriptor describes ${ovf.virtualSystems} virtual systems; VM Import imports one VM per OVA`, 'export each VM as its own OVA'));
  }

  const disks: OvaDisk[] = [];
  let partitionTable: PartitionTable | undefined;
  ovf.disks.forEach((d, i) => {
    const file = ovf.files.find((f) => f.id === d.fileRef);
    const href = file?.href ?? d.fileRef ?? `disk ${i + 1}`;
    const entry = listing.entries.find((e) => e.name === href || path.posix.basename(e.name) === path.posix.basename(href));
    if (!entry) {
      findings.push(finding('ovaMissingDisk', 'error', `the descriptor names disk file "${href}", which the archive does not hold`,
        'pack the OVA again with every file its descriptor references'));
      disks.push({ file: href, capacity: d.capacity, formatUrl: d.format, present: false });
      return;
    }
    const inner = inspectSource(entrySource(source, entry), href, { bootDisk: options.bootDisk && i === 0, bootMode: options.bootMode });
    for (const f of inner.findings) findings.push({ ...f, message: `OVA disk "${href}": ${f.message}` });
    if (i === 0) partitionTable = inner.partitionTable;
    disks.push({
      file: href,
      capacity: d.capacity,
      formatUrl: d.format,
      present: true,
      format: inner.format,
      subformat: inner.subformat,
      virtualSize: inner.virtualSize,
    });
  });

  if (guest?.family === 'other') {
    findings.push(finding('ovaOsUnsupported', 'warning', `the descriptor declares guest OS "${guestName}", which is not one of the Windows and Linux systems VM Import supports`,
      'check the VM Import/Export list of supported operating systems; for other systems import the disks with ImportSnapshot and register the AMI yourself'));
  } else if (guest?.family === 'Linux' && guest.is64Bit === false) {
    findings.push(finding('ovaLinux32Bit', 'warning', `the descriptor declares a 32-bit Linux guest ("${guestName}"); VM Import imports only 64-bit Linux`,
      'import a 64-bit installation of the VM (or correct the VM\'s guest OS type if it is 64-bit)'));
  }
  if (guest && guest.family !== 'other' && options.platform && guest.family !== options.platform) {
    findings.push(finding('platformMismatch', 'warning', `the descriptor declares a ${guest.family} guest ("${guestName}"), but the platform is ${options.platform}`,
      `use platform: Platform.${guest.family.toUpperCase()}, or correct the VM's guest OS type`));
  }
  if (ovf.firmware && options.bootMode && options.bootMode !== 'uefi-preferred') {
    const declared = ovf.firmware.startsWith('efi') ? 'uefi' : ovf.firmware === 'bios' ? 'legacy-bios' : undefined;
    if (declared && declared !== options.bootMode) {
      findings.push(finding('ovaFirmwareMismatch', 'warning', `the descriptor declares firmware "${ovf.firmware}", but the boot mode is ${options.bootMode}`,
        `use bootMode: BootMode.${declared === 'uefi' ? 'UEFI' : 'LEGACY_BIOS'}, or leave it unset so VM Import detects it`));
    }
  }
  return {
    ova: {
      descriptor: descriptorEntry.name,
      osType: guestName,
      osFamily: guest?.family,
      os64Bit: guest?.is64Bit,
      firmware: ovf.firmware,
      disks,
    },
    partitionTable,
  };
}

function checkSize(virtualSize: number, findings: Finding[]): void {
  if (virtualSize >= MAX_DISK_BYTES) {
    findings.push(finding('diskTooLarge', 'error', `its virtual size is ${humanSize(virtualSize)}; VM Import accepts disks under 16 TiB`,
      'shrink the file systems and the disk below 16 TiB, or move data to other disks'));
  } else if (virtualSize > MANIFEST_DISK_BYTES) {
    findings.push(finding('diskNeedsManifest', 'warning',
      `its virtual size is ${humanSize(virtualSize)}; the VM Import guide asks for a manifest file for disks over 8 TiB, and an import from an S3 object sends none`,
      'keep the disk at 8 TiB or less, or import it with a manifest file'));
  }
}

function checkExpectedFormat(format: FileFormat, detected: Detected, options: InspectOptions, findings: Finding[]): void {
  const expected = options.expectedFormat;
  // Formats VM Import cannot read, and empty files, already have their own error.
  if (!expected || format === expected || !IMPORT_FORMATS.includes(format)) return;
  const says = options.expectedFrom === 'format' ? 'the format option says' : 'its extension says';
  const real = format as ImportFormat;
  if (expected === 'VMDK' && format === 'RAW') {
    findings.push(finding('diskFormatMismatch', 'error',
      `${says} VMDK, but the file has no VMDK header (neither the sparse extent magic "KDMV" nor a "# Disk DescriptorFile" text): it is not a VMDK`,
      'if it is a raw disk image, declare it as RAW (DiskImageFormat.RAW, or name it .raw); otherwise export the disk again as a stream-optimized VMDK'));
    return;
  }
  if (detected.format === 'TAR' && expected !== 'OVA') {
    findings.push(finding('diskFormatMismatch', 'error', `${says} ${expected}, but the file is an OVA (a tar archive with an OVF descriptor)`,
      'declare it as OVA (DiskImageFormat.OVA, or name it .ova)'));
    return;
  }
  findings.push(finding('diskFormatMismatch', 'error',
    `${says} ${expected}, but the file is ${format === 'RAW' ? 'no known disk format (it reads as a raw disk)' : `a ${FORMAT_NAMES[format]}`}; VM Import would read it as ${expected} and fail`,
    `declare it as ${real} (DiskImageFormat.${real}, or name it .${real.toLowerCase()})`));
}

function checkBoot(disk: VirtualDisk, options: InspectOptions, findings: Finding[]): PartitionTable | undefined {
  const table = readPartitionTable(disk);
  if (!table) {
    findings.push(finding('noPartitionTable', 'warning',
      'the boot disk has no partition table (no MBR or GPT in its first sectors); VM Import then fails with "No bootable partition found"',
      'list the boot disk first, and give the whole disk rather than one partition or file system image'));
    return undefined;
  }
  for (const problem of table.problems) {
    findings.push(finding('partitionTableDamaged', 'warning', `the boot disk's partition table looks damaged: ${problem}`, 'check the disk with gdisk or fdisk before the export'));
  }
  const legacy = table.bootCode;
  const uefi = table.efiSystemPartition;
  if (options.bootMode === 'legacy-bios' && !legacy) {
    if (table.type === 'GPT') {
      findings.push(finding('gptWithoutBiosBootLoader', 'error',
        'the boot disk has a GPT partition table and no boot loader in its protective MBR, so it cannot boot with legacy BIOS (bootMode legacy-bios)',
        uefi ? 'use bootMode: BootMode.UEFI (the disk has an EFI system partition)'
          : 'install a BIOS boot loader (for GRUB: a BIOS boot partition and grub-install --target=i386-pc), or boot with UEFI from an EFI system partition'));
    } else {
      findings.push(finding('mbrWithoutBootLoader', 'warning', 'the boot disk\'s MBR holds no boot code, so legacy BIOS (bootMode legacy-bios) will probably find nothing to boot',
        uefi ? 'use bootMode: BootMode.UEFI (the disk has an EFI system partition)' : 'install a boot loader in the MBR (for GRUB: grub-install --target=i386-pc)'));
    }
  } else if (options.bootMode === 'uefi' && !uefi) {
    findings.push(finding('uefiWithoutEfiSystemPartition', 'warning',
      `the boot disk (${table.type}) has no EFI system partition, so UEFI firmware (bootMode uefi) will probably find no boot loader`,
      legacy ? 'use bootMode: BootMode.LEGACY_BIOS (the disk has a BIOS boot loader in its MBR)'
        : 'add an EFI system partition with \\EFI\\BOOT\\BOOTX64.EFI (VM Import needs this fallback loader for Linux)'));
  } else if (options.bootMode === undefined && !legacy && !uefi) {
    findings.push(finding('noBootLoader', 'warning',
      `the boot disk (${table.type}) has neither boot code in its MBR nor an EFI system partition, so it will probably not boot in either mode`,
      'list the boot disk first, and install a boot loader (BIOS: MBR boot code; UEFI: an EFI system partition)'));
  }
  return table;
}
