/* eslint-disable no-bitwise */ // binary headers are bit fields and fixed-width integers
import { ByteSource, VirtualDisk, blockDisk, guidAt, u64le } from './source';

// Microsoft's [MS-VHDX] specification (2.0): the file type identifier "vhdxfile" at 0,
// region tables "regi" at 192 KiB and 256 KiB locating the block allocation table (BAT)
// and the metadata region; the metadata table "metadata" lists items by GUID. All
// fields are little-endian.

export const VHDX_SIGNATURE = 'vhdxfile';

const REGION_TABLE_OFFSETS = [192 * 1024, 256 * 1024];
const BAT_REGION = '2DC27766-F623-4200-9D64-115E9BFD4A08';
const METADATA_REGION = '8B7CA206-4790-4B9A-B8FE-575F050F886E';
const FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
const VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
const LOGICAL_SECTOR_SIZE = '8141BF1D-A96F-4709-BA47-F233A8FAAB5F';
const MIB = 1024 * 1024;

export interface VhdxInfo {
  readonly type?: 'fixed' | 'dynamic' | 'differencing';
  readonly virtualSize?: number;
  readonly logicalSectorSize?: number;
  readonly truncated?: string;
  readonly disk?: VirtualDisk;
}

export function readVhdx(source: ByteSource): VhdxInfo {
  let regions: Map<string, { offset: number; length: number }> | undefined;
  for (const offset of REGION_TABLE_OFFSETS) {
    const table = source.read(offset, 64 * 1024);
    if (table.length < 16 || table.toString('latin1', 0, 4) !== 'regi') continue;
    const count = Math.min(table.readUInt32LE(8), 2047);
    regions = new Map();
    for (let i = 0; i < count && 16 + (i + 1) * 32 <= table.length; i++) {
      const e = 16 + i * 32;
      regions.set(guidAt(table, e), { offset: u64le(table, e + 16), length: table.readUInt32LE(e + 24) });
    }
    break;
  }
  if (!regions) return { truncated: 'no VHDX region table found at 192 KiB or 256 KiB' };
  const metadata = regions.get(METADATA_REGION);
  const bat = regions.get(BAT_REGION);
  if (!metadata || !bat) return { truncated: 'the VHDX region table lists no metadata or BAT region' };

  const table = source.read(metadata.offset, 64 * 1024);
  if (table.length < 32 || table.toString('latin1', 0, 8) !== 'metadata') return { truncated: 'the VHDX metadata table is missing' };
  const count = Math.min(table.readUInt16LE(10), 2047);
  const item = (guid: string): Buffer | undefined => {
    for (let i = 0; i < count && 32 + (i + 1) * 32 <= table.length; i++) {
      const e = 32 + i * 32;
      if (guidAt(table, e) === guid) return source.read(metadata.offset + table.readUInt32LE(e + 16), table.readUInt32LE(e + 20));
    }
    return undefined;
  };
  const params = item(FILE_PARAMETERS);
  const sizeItem = item(VIRTUAL_DISK_SIZE);
  const sectorItem = item(LOGICAL_SECTOR_SIZE);
  if (!params || params.length < 8 || !sizeItem || sizeItem.length < 8) return { truncated: 'the VHDX metadata lacks the file parameters or the virtual disk size' };
  const blockSize = params.readUInt32LE(0);
  const flags = params.readUInt32LE(4);
  const virtualSize = u64le(sizeItem, 0);
  const logicalSectorSize = sectorItem && sectorItem.length >= 4 ? sectorItem.readUInt32LE(0) : 512;
  // File parameters flags: bit 0 LeaveBlocksAllocated (a fixed disk), bit 1 HasParent (differencing).
  const type = flags & 2 ? 'differencing' : flags & 1 ? 'fixed' : 'dynamic';
  if (blockSize < MIB || logicalSectorSize === 0) return { type, virtualSize, logicalSectorSize };

  // Every chunkRatio payload blocks, the BAT holds one sector bitmap entry.
  const chunkRatio = Math.max(1, Math.floor((2 ** 23 * logicalSectorSize) / blockSize));
  const disk = blockDisk(virtualSize, blockSize, (index, within, length) => {
    const entry = source.read(bat.offset + (index + Math.floor(index / chunkRatio)) * 8, 8);
    if (entry.length < 8) return undefined;
    const value = entry.readBigUInt64LE(0);
    const state = Number(value & 7n);
    // 6 PAYLOAD_BLOCK_FULLY_PRESENT, 7 PARTIALLY_PRESENT (a differencing disk's own sectors).
    if (state !== 6 && state !== 7) return undefined;
    return source.read(Number(value >> 20n) * MIB + within, length);
  }, logicalSectorSize);
  return { type, virtualSize, logicalSectorSize, disk };
}
