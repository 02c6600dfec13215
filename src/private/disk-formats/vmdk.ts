/* eslint-disable no-bitwise */ // binary headers are bit fields and fixed-width integers
import * as zlib from 'zlib';
import { ByteSource, MAX_READ, VirtualDisk, blockDisk, rawDisk, u64le } from './source';

// VMware's "Virtual Disk Format 5.0" technical note: a sparse extent starts with the
// 512-byte header "KDMV" (little-endian fields below), may embed the text descriptor,
// and finds its grains through a grain directory (GD) of grain tables (GT). A
// stream-optimized extent compresses each grain behind a 12-byte marker (LBA, size)
// and keeps the real GD offset in a footer (a copy of the header) 1024 bytes before
// the end, followed by an end-of-stream marker.

export const VMDK_MAGIC = 'KDMV';
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;
const MAX_GRAIN_SECTORS = 2 * 1024 * 32; // 32 MiB

export interface VmdkExtent {
  readonly access: string;
  readonly sectors: number;
  readonly type: string;
  readonly file?: string;
  readonly offset?: number;
}

export interface VmdkDescriptor {
  readonly createType?: string;
  readonly parentCid?: string;
  readonly parentFileNameHint?: string;
  readonly extents: VmdkExtent[];
}

export interface SparseHeader {
  readonly version: number;
  readonly flags: number;
  readonly capacitySectors: number;
  readonly grainSectors: number;
  readonly descriptorOffset: number;
  readonly descriptorSectors: number;
  readonly gtesPerGt: number;
  readonly gdOffset: bigint;
  readonly overheadSectors: number;
  readonly compressAlgorithm: number;
}

export interface VmdkInfo {
  /** `sparse`: a KDMV extent; `descriptor`: a text descriptor whose data is in other files. */
  readonly container: 'sparse' | 'descriptor';
  readonly header?: SparseHeader;
  readonly descriptor?: VmdkDescriptor;
  readonly capacity?: number;
  /** The sparse header or embedded descriptor could not be read whole. */
  readonly truncated?: string;
  /** A stream-optimized file without its footer or end-of-stream marker. */
  readonly missingFooter?: boolean;
  readonly disk?: VirtualDisk;
}

export function parseSparseHeader(buf: Buffer): SparseHeader {
  return {
    version: buf.readUInt32LE(4),
    flags: buf.readUInt32LE(8),
    capacitySectors: u64le(buf, 12),
    grainSectors: u64le(buf, 20),
    descriptorOffset: u64le(buf, 28),
    descriptorSectors: u64le(buf, 36),
    gtesPerGt: buf.readUInt32LE(44),
    gdOffset: buf.readBigUInt64LE(56),
    overheadSectors: u64le(buf, 64),
    compressAlgorithm: buf.readUInt16LE(77),
  };
}

/** The descriptor's createType, parent and extents (the "# Extent description" lines). */
export function parseDescriptor(text: string): VmdkDescriptor {
  const value = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*"?([^"\\r\\n]*)"?\\s*$`, 'mi').exec(text)?.[1]?.trim();
  const extents: VmdkExtent[] = [];
  for (const m of text.matchAll(/^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/gm)) {
    const offset = m[5] === undefined ? undefined : Number(m[5]);
    extents.push({ access: m[1], sectors: Number(m[2]), type: m[3].toUpperCase(), file: m[4], offset });
  }
  return { createType: value('createType'), parentCid: value('parentCID'), parentFileNameHint: value('parentFileNameHint'), extents };
}

/** Whether the start of a file reads as a VMDK text descriptor. */
export function looksLikeDescriptor(start: Buffer): boolean {
  // A descriptor file may be padded with NULs to a whole sector.
  const text = start.toString('latin1').replace(/^\uFEFF/, '').replace(/\0[\0]*$/, '');
  if (/[\0-\x08\x0e-\x1f]/.test(text.slice(0, 1024))) return false;
  return /^\s*#\s*Disk DescriptorFile/i.test(text) || /^\s*createType\s*=/mi.test(text);
}

/** A descriptor-only VMDK: its size is the sum of its extents. */
export function readDescriptorFile(source: ByteSource, openExtent?: (file: string) => ByteSource | undefined): VmdkInfo {
  const text = source.read(0, Math.min(source.size, 64 * 1024)).toString('utf8').replace(/\0.*$/s, '');
  const descriptor = parseDescriptor(text);
  const capacity = descriptor.extents.length ? descriptor.extents.reduce((sum, e) => sum + e.sectors * 512, 0) : undefined;
  // A monolithic flat disk found beside its descriptor shows its partition table.
  let disk: VirtualDisk | undefined;
  const first = descriptor.extents[0];
  if (openExtent && first?.file && first.type === 'FLAT' && capacity !== undefined) {
    const extent = openExtent(first.file);
    const base = (first.offset ?? 0) * 512;
    if (extent) disk = rawDisk({ size: Math.max(0, extent.size - base), read: (o, n) => extent.read(base + o, n) }, first.sectors * 512);
  }
  return { container: 'descriptor', descriptor, capacity, disk };
}

/** A sparse extent: header, embedded descriptor, and a view of its grains. */
export function readSparse(source: ByteSource): VmdkInfo {
  const head = source.read(0, 512);
  if (head.length < 512) return { container: 'sparse', truncated: `the sparse extent header has ${head.length} of 512 bytes` };
  const header = parseSparseHeader(head);
  let descriptor: VmdkDescriptor | undefined;
  let truncated: string | undefined;
  if (header.descriptorOffset > 0 && header.descriptorSectors > 0) {
    const want = Math.min(header.descriptorSectors * 512, 1024 * 1024);
    const text = source.read(header.descriptorOffset * 512, want);
    if (text.length < want) truncated = 'the embedded descriptor is cut short';
    const body = text.toString('utf8').replace(/\0.*$/s, '');
    // The first extent of a split disk reserves room for a descriptor and leaves it empty.
    if (body.trim()) descriptor = parseDescriptor(body);
  }
  const capacity = header.capacitySectors * 512;
  const compressed = (header.flags & FLAG_COMPRESSED) !== 0;
  let gdOffset = header.gdOffset;
  let missingFooter = false;
  if (gdOffset === GD_AT_END) {
    // Stream-optimized: the footer (a header copy with the real GD offset) sits 1024 bytes before the end.
    const footer = source.size >= 1536 ? source.read(source.size - 1024, 512) : Buffer.alloc(0);
    const eos = source.size >= 512 ? source.read(source.size - 512, 512) : Buffer.alloc(0);
    if (footer.length === 512 && footer.toString('latin1', 0, 4) === VMDK_MAGIC && eos.length === 512 && eos.every((b) => b === 0)) {
      gdOffset = footer.readBigUInt64LE(56);
    } else {
      missingFooter = true;
    }
  }
  // Grains are 4 KiB to 1 MiB in practice (VMware's default is 64 KiB); others are unreadable here.
  const readable = header.grainSectors > 0 && header.grainSectors <= MAX_GRAIN_SECTORS && header.gtesPerGt > 0;
  const disk = truncated || !readable ? undefined
    : grainDisk(source, header, capacity, gdOffset === GD_AT_END ? undefined : Number(gdOffset), compressed);
  return { container: 'sparse', header, descriptor, capacity, truncated, missingFooter, disk };
}

export function isStreamOptimizedHeader(header: SparseHeader): boolean {
  return (header.flags & FLAG_COMPRESSED) !== 0 && (header.flags & FLAG_MARKERS) !== 0;
}

function grainDisk(source: ByteSource, header: SparseHeader, capacity: number, gdSector: number | undefined, compressed: boolean): VirtualDisk {
  const grainBytes = header.grainSectors * 512;
  const cache = new Map<number, Buffer | undefined>();
  const u32At = (offset: number) => {
    const b = source.read(offset, 4);
    return b.length === 4 ? b.readUInt32LE(0) : 0;
  };
  const grainSector = (index: number): number => {
    if (gdSector === undefined) {
      // No grain directory (a stream-optimized file without its footer): the first
      // grain, if written, follows the header's overhead.
      return index === 0 ? header.overheadSectors : 0;
    }
    const gt = u32At(gdSector * 512 + Math.floor(index / header.gtesPerGt) * 4);
    return gt === 0 ? 0 : u32At(gt * 512 + (index % header.gtesPerGt) * 4);
  };
  const inflated = (index: number): Buffer | undefined => {
    if (cache.has(index)) return cache.get(index);
    let data: Buffer | undefined;
    const sector = grainSector(index);
    if (sector > 1) {
      const marker = source.read(sector * 512, 12);
      const size = marker.length === 12 ? marker.readUInt32LE(8) : 0;
      if (size > 0 && size <= MAX_READ && u64le(marker, 0) === index * header.grainSectors) {
        try {
          // A grain inflates to grainSectors * 512 bytes; more is a damaged (or hostile) file.
          data = zlib.inflateSync(source.read(sector * 512 + 12, size), { maxOutputLength: grainBytes });
        } catch {
          data = undefined; // a damaged grain reads as unknown, not as a crash
        }
      }
    }
    cache.set(index, data);
    return data;
  };
  return blockDisk(capacity, grainBytes, (index, within, length) => {
    if (compressed) return inflated(index)?.subarray(within, within + length);
    const sector = grainSector(index);
    return sector > 1 ? source.read(sector * 512 + within, length) : undefined;
  });
}
