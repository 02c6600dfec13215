/* eslint-disable no-bitwise */ // binary headers are bit fields and fixed-width integers
import { MAX_READ, VirtualDisk, allZero, guidAt, u64le } from './source';
import { Partition, PartitionTable } from './types';

// MBR and GPT as the UEFI specification (2.10, chapter 5) lays them out: the MBR in
// sector 0 (boot code in bytes 0-439, four 16-byte entries at 446, 0x55 0xAA at 510),
// the GPT header "EFI PART" in sector 1 and its entry array where the header says.

export const ESP_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const BIOS_BOOT_GUID = '21686148-6449-6E6F-744E-656564454649';

const GPT_TYPES: Record<string, string> = {
  [ESP_GUID]: 'EFI system',
  [BIOS_BOOT_GUID]: 'BIOS boot',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery',
  '5808C8AA-7E8F-42E0-85D2-E1E90434CFB3': 'Windows LDM metadata',
  'AF9B60A0-1431-4F62-BC68-3311714A69AD': 'Windows LDM data',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS+',
  '516E7CB4-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD data',
};

const MBR_TYPES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16',
  0x05: 'extended',
  0x06: 'FAT16',
  0x07: 'NTFS/exFAT',
  0x0b: 'FAT32',
  0x0c: 'FAT32 (LBA)',
  0x0e: 'FAT16 (LBA)',
  0x0f: 'extended (LBA)',
  0x27: 'Windows recovery',
  0x42: 'Windows dynamic disk',
  0x82: 'Linux swap',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xa6: 'OpenBSD',
  0xa9: 'NetBSD',
  0xaf: 'Apple HFS+',
  0xee: 'GPT protective',
  0xef: 'EFI system',
  0xfd: 'Linux RAID',
};

/** At most this many GPT entries are read (the usual array has 128). */
const MAX_GPT_ENTRIES = 1024;

/**
 * The partition table of a virtual disk, or undefined when sector 0 holds none (no
 * 0x55AA signature, or a file system boot sector instead of an MBR).
 */
export function readPartitionTable(disk: VirtualDisk): PartitionTable | undefined {
  if (disk.size < 512) return undefined;
  const mbr = disk.read(0, 512);
  if (mbr.length < 512 || mbr[510] !== 0x55 || mbr[511] !== 0xaa) return undefined;
  const bootCode = !allZero(mbr.subarray(0, 440));
  const entries = [0, 1, 2, 3].map((i) => mbr.subarray(446 + i * 16, 446 + (i + 1) * 16));
  // A file system boot sector (a disk holding one file system, no table) ends in 0x55AA too;
  // its bytes 446-509 are code or data, which rarely reads as four entries with valid status bytes.
  if (entries.some((e) => e[0] !== 0x00 && e[0] !== 0x80) || isFileSystemBootSector(mbr)) return undefined;

  const protective = entries.some((e) => e[4] === 0xee);
  if (protective) {
    for (const sectorSize of disk.sectorSize === 512 ? [512, 4096] : [disk.sectorSize]) {
      const gpt = readGpt(disk, sectorSize, bootCode);
      if (gpt) return gpt;
    }
  }

  const sectorSize = disk.sectorSize;
  const partitions: Partition[] = [];
  entries.forEach((e, i) => {
    const type = e[4];
    const sectors = e.readUInt32LE(12);
    if (type === 0 || sectors === 0) return;
    partitions.push({
      index: i + 1,
      type: `0x${type.toString(16).padStart(2, '0')}`,
      description: MBR_TYPES[type] ?? 'unknown',
      start: e.readUInt32LE(8) * sectorSize,
      size: sectors * sectorSize,
      bootable: e[0] === 0x80,
    });
  });
  return {
    type: 'MBR',
    sectorSize,
    partitions,
    bootCode,
    efiSystemPartition: partitions.some((p) => p.type === '0xef'),
    biosBootPartition: false,
    problems: protective ? ['the MBR has a GPT protective entry, but no GPT header was found in sector 1'] : [],
  };
}

function isFileSystemBootSector(sector: Buffer): boolean {
  const at = (offset: number, text: string) => sector.subarray(offset, offset + text.length).toString('latin1') === text;
  return at(3, 'NTFS    ') || at(3, 'EXFAT   ') || at(54, 'FAT1') || at(82, 'FAT32   ');
}

function readGpt(disk: VirtualDisk, sectorSize: number, bootCode: boolean): PartitionTable | undefined {
  const header = disk.read(sectorSize, 512);
  if (header.length < 92 || header.toString('latin1', 0, 8) !== 'EFI PART') return undefined;
  const problems: string[] = [];
  const headerSize = header.readUInt32LE(12);
  if (headerSize >= 92 && headerSize <= header.length) {
    const copy = Buffer.from(header.subarray(0, headerSize));
    copy.writeUInt32LE(0, 16);
    if (crc32(copy) !== header.readUInt32LE(16)) problems.push('the GPT header checksum is wrong');
  }
  const entriesLba = u64le(header, 72);
  const count = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  const partitions: Partition[] = [];
  if (entrySize < 128 || entrySize % 8 !== 0 || count === 0) {
    problems.push(`the GPT header describes unreadable entries (${count} of ${entrySize} bytes)`);
  } else {
    const readable = Math.min(count, MAX_GPT_ENTRIES, Math.floor(MAX_READ / entrySize));
    const array = disk.read(entriesLba * sectorSize, readable * entrySize);
    if (readable === count && array.length === count * entrySize && crc32(array) !== header.readUInt32LE(88)) {
      problems.push('the GPT entry array checksum is wrong');
    }
    for (let i = 0; i < readable && (i + 1) * entrySize <= array.length; i++) {
      const e = array.subarray(i * entrySize, (i + 1) * entrySize);
      if (allZero(e.subarray(0, 16))) continue;
      const type = guidAt(e, 0);
      const first = u64le(e, 32);
      const last = u64le(e, 40);
      const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
      partitions.push({
        index: i + 1,
        type,
        description: GPT_TYPES[type] ?? 'unknown',
        start: first * sectorSize,
        size: last >= first ? (last - first + 1) * sectorSize : 0,
        name: name || undefined,
      });
    }
  }
  return {
    type: 'GPT',
    sectorSize,
    partitions,
    bootCode,
    efiSystemPartition: partitions.some((p) => p.type === ESP_GUID),
    biosBootPartition: partitions.some((p) => p.type === BIOS_BOOT_GUID),
    problems,
  };
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as GPT uses it). */
export function crc32(data: Buffer): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
