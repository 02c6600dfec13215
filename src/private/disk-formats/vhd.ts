/* eslint-disable no-bitwise */ // binary headers are bit fields and fixed-width integers
import { ByteSource, VirtualDisk, blockDisk, rawDisk, u64be } from './source';

// Microsoft's "Virtual Hard Disk Image Format Specification" (1.0): a 512-byte
// big-endian footer with the cookie "conectix" ends every VHD (511 bytes in files
// made before Virtual PC 2004); dynamic and differencing disks also keep a copy of it
// at offset 0, followed by a "cxsparse" header that locates the block allocation table.

export const VHD_COOKIE = 'conectix';

export type VhdType = 'fixed' | 'dynamic' | 'differencing';

const DISK_TYPES: Record<number, VhdType> = { 2: 'fixed', 3: 'dynamic', 4: 'differencing' };

export interface VhdInfo {
  readonly type?: VhdType;
  /** The disk type number, when it is none of 2, 3 or 4. */
  readonly unknownType?: number;
  readonly currentSize?: number;
  readonly checksumOk?: boolean;
  /** The footer copy at offset 0 differs from the footer at the end (dynamic disks). */
  readonly footersDiffer?: boolean;
  /** Only the copy at offset 0 was found: the end of the file is missing. */
  readonly truncated?: string;
  readonly disk?: VirtualDisk;
}

/** The footer at the end of the file (512 or, in old files, 511 bytes), if there is one. */
export function findFooter(source: ByteSource): Buffer | undefined {
  for (const length of [512, 511]) {
    if (source.size < length) continue;
    const buf = source.read(source.size - length, length);
    if (buf.toString('latin1', 0, 8) === VHD_COOKIE) return length === 512 ? buf : Buffer.concat([buf, Buffer.alloc(1)]);
  }
  return undefined;
}

function checksum(footer: Buffer): number {
  let sum = 0;
  footer.forEach((b, i) => {
    if (i < 64 || i > 67) sum += b;
  });
  return (~sum) >>> 0;
}

export function readVhd(source: ByteSource): VhdInfo {
  let footer = findFooter(source);
  const start = source.read(0, 512);
  const copy = start.length === 512 && start.toString('latin1', 0, 8) === VHD_COOKIE ? start : undefined;
  let truncated: string | undefined;
  if (!footer) {
    if (!copy) return { truncated: 'no VHD footer found' };
    // Without the footer at the end, the copy at the start still tells what the disk was.
    truncated = 'the footer at the end of the file is missing: the file is cut short';
    footer = copy;
  }
  const diskType = footer.readUInt32BE(60);
  const type = DISK_TYPES[diskType];
  const currentSize = u64be(footer, 48);
  const checksumOk = checksum(footer) === footer.readUInt32BE(64);
  const footersDiffer = copy !== undefined && footer !== copy && !copy.equals(footer);
  let disk: VirtualDisk | undefined;
  if (!truncated && type === 'fixed') {
    disk = rawDisk(source, currentSize);
  } else if (!truncated && (type === 'dynamic' || type === 'differencing')) {
    disk = dynamicDisk(source, footer, currentSize);
    if (!disk) truncated = 'the dynamic disk header ("cxsparse") the footer points at is missing or damaged';
  }
  return { type, unknownType: type ? undefined : diskType, currentSize, checksumOk, footersDiffer, truncated, disk };
}

function dynamicDisk(source: ByteSource, footer: Buffer, size: number): VirtualDisk | undefined {
  const headerOffset = u64be(footer, 16);
  const header = source.read(headerOffset, 1024);
  if (header.length < 1024 || header.toString('latin1', 0, 8) !== 'cxsparse') return undefined;
  const batOffset = u64be(header, 16);
  const entries = header.readUInt32BE(28);
  const blockSize = header.readUInt32BE(32);
  if (blockSize === 0 || blockSize % 512 !== 0) return undefined;
  // Each block starts with a sector bitmap (one bit per sector), padded to whole sectors.
  const bitmapBytes = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  return blockDisk(size, blockSize, (index, within, length) => {
    if (index >= entries) return undefined;
    const entry = source.read(batOffset + index * 4, 4);
    if (entry.length < 4) return undefined;
    const sector = entry.readUInt32BE(0);
    return sector === 0xffffffff ? undefined : source.read(sector * 512 + bitmapBytes + within, length);
  });
}
