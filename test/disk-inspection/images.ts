/* eslint-disable no-bitwise */ // disk headers are bit fields
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

// Tiny synthetic disk images, written the way each format's specification lays them
// out (VMware Virtual Disk Format 5.0, the VHD 1.0 and MS-VHDX specifications, QEMU's
// qcow2 spec, UEFI 2.10 chapter 5, POSIX ustar). Large virtual sizes are sparse files.
// Checked once by hand against `qemu-img info` and `qemu-img check`; the tests never
// need qemu-img.

export const SECTOR = 512;
export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;
export const TIB = 1024 * GIB;

export const ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
export const LINUX_FS = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
export const MS_BASIC_DATA = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

/** x86 code that halts: `cli; hlt; jmp $-1`, so a "boot loader" is present in the MBR. */
export const HALT_CODE = Buffer.from([0xfa, 0xf4, 0xeb, 0xfd]);

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'disk-inspection-'));
}

/** Writes `head` at offset 0 (and `tail` at its offset) of a file of `size` bytes, sparse in between. */
export function writeSparse(file: string, size: number, parts: Array<{ offset: number; data: Buffer }>): string {
  const fd = fs.openSync(file, 'w');
  try {
    fs.ftruncateSync(fd, size);
    for (const p of parts) fs.writeSync(fd, p.data, 0, p.data.length, p.offset);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  // The first three fields are stored little-endian.
  const reversed = (start: number, end: number) => Buffer.from(b.subarray(start, end)).reverse();
  return Buffer.concat([reversed(0, 4), reversed(4, 6), reversed(6, 8), b.subarray(8)]);
}

export interface MbrPartition {
  readonly type: number;
  readonly startLba: number;
  readonly sectors: number;
  readonly active?: boolean;
}

/** Sector 0 with a partition table; boot code only when asked. */
export function mbr(partitions: MbrPartition[], bootCode: boolean = true): Buffer {
  const s = Buffer.alloc(SECTOR);
  if (bootCode) HALT_CODE.copy(s, 0);
  partitions.forEach((p, i) => {
    const e = 446 + i * 16;
    s[e] = p.active ? 0x80 : 0;
    s[e + 4] = p.type;
    s.writeUInt32LE(p.startLba, e + 8);
    s.writeUInt32LE(Math.min(p.sectors, 0xffffffff), e + 12);
  });
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}

export interface GptPartition {
  readonly type: string;
  readonly firstLba: number;
  readonly lastLba: number;
  readonly name?: string;
}

/** The first 34 sectors of a GPT disk: protective MBR, header and a 128-entry array. */
export function gpt(diskBytes: number, partitions: GptPartition[], bootCode: boolean = false): Buffer {
  const sectors = diskBytes / SECTOR;
  const out = Buffer.alloc(34 * SECTOR);
  mbr([{ type: 0xee, startLba: 1, sectors: sectors - 1 }], bootCode).copy(out, 0);
  const entries = Buffer.alloc(128 * 128);
  partitions.forEach((p, i) => {
    const e = i * 128;
    guidBytes(p.type).copy(entries, e);
    guidBytes(`00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`).copy(entries, e + 16);
    entries.writeBigUInt64LE(BigInt(p.firstLba), e + 32);
    entries.writeBigUInt64LE(BigInt(p.lastLba), e + 40);
    Buffer.from(p.name ?? '', 'utf16le').copy(entries, e + 56);
  });
  entries.copy(out, 2 * SECTOR);
  const h = Buffer.alloc(92);
  h.write('EFI PART', 0, 'latin1');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(1n, 24);
  h.writeBigUInt64LE(BigInt(sectors - 1), 32);
  h.writeBigUInt64LE(34n, 40);
  h.writeBigUInt64LE(BigInt(sectors - 34), 48);
  guidBytes('11111111-2222-4333-8444-555555555555').copy(h, 56);
  h.writeBigUInt64LE(2n, 72);
  h.writeUInt32LE(128, 80);
  h.writeUInt32LE(128, 84);
  h.writeUInt32LE(zlib.crc32(entries), 88);
  h.writeUInt32LE(zlib.crc32(h), 16);
  h.copy(out, SECTOR);
  return out;
}

/** A GPT disk bootable both ways: BIOS boot partition plus boot code, and an EFI system partition. */
export function hybridBootGpt(diskBytes: number): Buffer {
  return gpt(diskBytes, [
    { type: BIOS_BOOT, firstLba: 2048, lastLba: 4095, name: 'bios' },
    { type: ESP, firstLba: 4096, lastLba: 8191, name: 'EFI System' },
    { type: LINUX_FS, firstLba: 8192, lastLba: diskBytes / SECTOR - 34, name: 'root' },
  ], true);
}

/** An MBR disk with one active Linux partition and boot code. */
export function linuxMbr(diskBytes: number): Buffer {
  return mbr([{ type: 0x83, startLba: 2048, sectors: diskBytes / SECTOR - 2048, active: true }]);
}

// ---- VMDK (VMware Virtual Disk Format 5.0) ----

const GD_AT_END = 0xffffffffffffffffn;

function descriptorText(createType: string, sectors: number, extentType: string, file: string, extra: string = ''): string {
  return [
    '# Disk DescriptorFile', 'version=1', 'CID=12345678', 'parentCID=ffffffff', `createType="${createType}"`, '',
    '# Extent description', `RW ${sectors} ${extentType} "${file}"`, '',
    '# The Disk Data Base', '#DDB', 'ddb.virtualHWVersion = "4"', 'ddb.adapterType = "lsilogic"', extra, '',
  ].join('\n');
}

interface SparseHeaderFields {
  readonly version: number;
  readonly flags: number;
  readonly capacitySectors: number;
  readonly descriptorSectors: number;
  readonly gdOffset: bigint;
  readonly overhead: number;
  readonly compress: number;
}

function sparseHeader(o: SparseHeaderFields): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(o.version, 4);
  h.writeUInt32LE(o.flags, 8);
  h.writeBigUInt64LE(BigInt(o.capacitySectors), 12);
  h.writeBigUInt64LE(128n, 20); // grain: 128 sectors (64 KiB)
  h.writeBigUInt64LE(1n, 28); // descriptor at sector 1
  h.writeBigUInt64LE(BigInt(o.descriptorSectors), 36);
  h.writeUInt32LE(512, 44); // GTEs per GT
  h.writeBigUInt64LE(0n, 48);
  h.writeBigUInt64LE(o.gdOffset, 56);
  h.writeBigUInt64LE(BigInt(o.overhead), 64);
  h[73] = 0x0a;
  h[74] = 0x20;
  h[75] = 0x0d;
  h[76] = 0x0a;
  h.writeUInt16LE(o.compress, 77);
  return h;
}

function padSector(buf: Buffer): Buffer {
  const rem = buf.length % SECTOR;
  return rem ? Buffer.concat([buf, Buffer.alloc(SECTOR - rem)]) : buf;
}

function metadataMarker(sectors: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(0, 8);
  m.writeUInt32LE(type, 12);
  return m;
}

export interface VmdkOptions {
  /** The disk's first bytes (its partition table); the rest reads as zeros. */
  readonly head?: Buffer;
  readonly capacity: number;
  readonly createType?: string;
  readonly compressAlgorithm?: number;
  /** Leave the footer and end-of-stream marker off, as a cut-short upload would. */
  readonly withoutFooter?: boolean;
  readonly parentCid?: string;
}

/** A stream-optimized VMDK: compressed grains behind markers, GD in the footer. */
export function streamOptimizedVmdk(o: VmdkOptions): Buffer {
  const capacitySectors = o.capacity / SECTOR;
  const grainBytes = 128 * SECTOR;
  const extra = o.parentCid ? `parentCID=${o.parentCid}` : '';
  const text = descriptorText(o.createType ?? 'streamOptimized', capacitySectors, 'SPARSE', 'disk.vmdk')
    .replace('parentCID=ffffffff', extra || 'parentCID=ffffffff');
  const descriptor = padSector(Buffer.from(text, 'utf8'));
  const descriptorSectors = descriptor.length / SECTOR;
  const overhead = 1 + descriptorSectors;
  const flags = 1 | (1 << 16) | (1 << 17);
  const fields = { version: 3, flags, capacitySectors, descriptorSectors, gdOffset: GD_AT_END, overhead, compress: o.compressAlgorithm ?? 1 };
  const header = sparseHeader(fields);
  const parts: Buffer[] = [header, descriptor];
  let sector = overhead;
  const grainSectors: number[] = [];
  const head = o.head ?? Buffer.alloc(0);
  const grains = Math.ceil(head.length / grainBytes);
  for (let g = 0; g < grains; g++) {
    const data = Buffer.alloc(grainBytes);
    head.copy(data, 0, g * grainBytes, Math.min(head.length, (g + 1) * grainBytes));
    const compressed = zlib.deflateSync(data);
    const marker = Buffer.alloc(12);
    marker.writeBigUInt64LE(BigInt(g * 128), 0);
    marker.writeUInt32LE(compressed.length, 8);
    const block = padSector(Buffer.concat([marker, compressed]));
    grainSectors[g] = sector;
    parts.push(block);
    sector += block.length / SECTOR;
  }
  const gdEntries = Math.ceil(capacitySectors / (128 * 512));
  // One grain table (for the grains written), then the directory.
  const gt = Buffer.alloc(512 * 4);
  grainSectors.forEach((s, i) => gt.writeUInt32LE(s, i * 4));
  parts.push(metadataMarker(gt.length / SECTOR, 1));
  sector += 1;
  const gtSector = sector;
  parts.push(gt);
  sector += gt.length / SECTOR;
  const gd = padSector(Buffer.alloc(gdEntries * 4));
  if (grains > 0) gd.writeUInt32LE(gtSector, 0);
  parts.push(metadataMarker(gd.length / SECTOR, 2));
  sector += 1;
  const gdSector = sector;
  parts.push(gd);
  sector += gd.length / SECTOR;
  if (!o.withoutFooter) {
    parts.push(metadataMarker(1, 3));
    parts.push(sparseHeader({ ...fields, gdOffset: BigInt(gdSector) }));
    parts.push(Buffer.alloc(SECTOR)); // end-of-stream marker
  }
  return Buffer.concat(parts);
}

/** A monolithicSparse VMDK (what VMware Workstation makes): uncompressed grains, GD in the header. */
export function monolithicSparseVmdk(o: VmdkOptions): Buffer {
  const capacitySectors = o.capacity / SECTOR;
  const descriptor = padSector(Buffer.from(descriptorText('monolithicSparse', capacitySectors, 'SPARSE', 'disk.vmdk'), 'utf8'));
  const descriptorSectors = descriptor.length / SECTOR;
  const gdSector = 1 + descriptorSectors;
  const gdEntries = Math.ceil(capacitySectors / (128 * 512));
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const gtSector = gdSector + gdSectors;
  const grainSector = gtSector + 4;
  const header = sparseHeader({
    version: 1, flags: 1, capacitySectors, descriptorSectors, gdOffset: BigInt(gdSector), overhead: grainSector, compress: 0,
  });
  const gd = Buffer.alloc(gdSectors * SECTOR);
  gd.writeUInt32LE(gtSector, 0);
  const gt = Buffer.alloc(4 * SECTOR);
  const head = o.head ?? Buffer.alloc(0);
  const grain = Buffer.alloc(128 * SECTOR);
  head.copy(grain, 0, 0, Math.min(head.length, grain.length));
  if (head.length) gt.writeUInt32LE(grainSector, 0);
  return Buffer.concat([header, descriptor, gd, gt, head.length ? grain : Buffer.alloc(0)]);
}

/** A VMDK text descriptor naming extents in other files. */
export function vmdkDescriptor(createType: string, capacity: number, extentType: string, file: string): Buffer {
  return Buffer.from(descriptorText(createType, capacity / SECTOR, extentType, file), 'utf8');
}

// ---- VHD (Virtual Hard Disk Image Format Specification 1.0) ----

export function vhdFooter(type: 2 | 3 | 4, size: number, dataOffset: bigint = 0xffffffffffffffffn): Buffer {
  const f = Buffer.alloc(SECTOR);
  f.write('conectix', 0, 'latin1');
  f.writeUInt32BE(2, 8);
  f.writeUInt32BE(0x00010000, 12);
  f.writeBigUInt64BE(dataOffset, 16);
  f.write('qem2', 28, 'latin1');
  f.writeBigUInt64BE(BigInt(size), 40);
  f.writeBigUInt64BE(BigInt(size), 48);
  f.writeUInt32BE(type, 60);
  let sum = 0;
  for (const b of f) sum += b;
  f.writeUInt32BE((~sum) >>> 0, 64);
  return f;
}

/** A fixed VHD: the disk, then the footer. Written sparse. */
export function writeFixedVhd(file: string, size: number, head: Buffer): string {
  return writeSparse(file, size + SECTOR, [{ offset: 0, data: head }, { offset: size, data: vhdFooter(2, size) }]);
}

/** A dynamic (or differencing) VHD with block 0 allocated and holding `head`. Written sparse. */
export function writeDynamicVhd(file: string, size: number, head: Buffer, type: 3 | 4 = 3): string {
  const blockSize = 2 * MIB;
  const entries = Math.ceil(size / blockSize);
  const footer = vhdFooter(type, size, 512n);
  const dyn = Buffer.alloc(1024);
  dyn.write('cxsparse', 0, 'latin1');
  dyn.writeBigUInt64BE(0xffffffffffffffffn, 8);
  dyn.writeBigUInt64BE(1536n, 16);
  dyn.writeUInt32BE(0x00010000, 24);
  dyn.writeUInt32BE(entries, 28);
  dyn.writeUInt32BE(blockSize, 32);
  let sum = 0;
  for (const b of dyn) sum += b;
  dyn.writeUInt32BE((~sum) >>> 0, 36);
  const bat = padSector(Buffer.alloc(entries * 4, 0xff));
  const blockOffset = 1536 + bat.length;
  bat.writeUInt32BE(blockOffset / SECTOR, 0);
  // Block 0: a one-sector bitmap (every sector present), then 2 MiB of data.
  const bitmap = Buffer.alloc(SECTOR, 0xff);
  const end = blockOffset + SECTOR + blockSize;
  return writeSparse(file, end + SECTOR, [
    { offset: 0, data: footer }, { offset: 512, data: dyn }, { offset: 1536, data: bat },
    { offset: blockOffset, data: bitmap }, { offset: blockOffset + SECTOR, data: head }, { offset: end, data: footer },
  ]);
}

// ---- VHDX (MS-VHDX 2.0) ----

let CRC32C: Uint32Array | undefined;

/** CRC-32C (Castagnoli), the checksum of VHDX headers and region tables. */
export function crc32c(data: Buffer): number {
  if (!CRC32C) {
    CRC32C = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      CRC32C[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = CRC32C[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A dynamic VHDX (flags: 2 for a differencing one) with payload block 0 holding `head`:
 * headers at 64 and 128 KiB, region tables at 192 and 256 KiB, the log at 1 MiB,
 * metadata at 2 MiB, the BAT at 3 MiB and block 0 at 4 MiB. Written sparse.
 */
export function writeVhdx(file: string, size: number, head: Buffer, flags: number = 0): string {
  const id = Buffer.alloc(8 + 512);
  id.write('vhdxfile', 0, 'latin1');
  const header = (sequence: number) => {
    const h = Buffer.alloc(4096);
    h.write('head', 0, 'latin1');
    h.writeBigUInt64LE(BigInt(sequence), 8);
    guidBytes('AAAAAAAA-0000-4000-8000-000000000001').copy(h, 16);
    guidBytes('AAAAAAAA-0000-4000-8000-000000000002').copy(h, 32);
    h.writeUInt16LE(1, 66); // version
    h.writeUInt32LE(MIB, 68); // log length
    h.writeBigUInt64LE(BigInt(MIB), 72); // log offset
    h.writeUInt32LE(crc32c(h), 4);
    return h;
  };
  const region = Buffer.alloc(64 * 1024);
  region.write('regi', 0, 'latin1');
  region.writeUInt32LE(2, 8);
  const entry = (i: number, guid: string, offset: number, length: number) => {
    const e = 16 + i * 32;
    guidBytes(guid).copy(region, e);
    region.writeBigUInt64LE(BigInt(offset), e + 16);
    region.writeUInt32LE(length, e + 24);
    region.writeUInt32LE(1, e + 28);
  };
  entry(0, '2DC27766-F623-4200-9D64-115E9BFD4A08', 3 * MIB, MIB); // BAT
  entry(1, '8B7CA206-4790-4B9A-B8FE-575F050F886E', 2 * MIB, MIB); // metadata
  region.writeUInt32LE(crc32c(region), 4);
  const meta = Buffer.alloc(64 * 1024 + 4096);
  meta.write('metadata', 0, 'latin1');
  meta.writeUInt16LE(5, 10);
  let at = 64 * 1024;
  const item = (i: number, guid: string, data: Buffer, itemFlags: number) => {
    const e = 32 + i * 32;
    guidBytes(guid).copy(meta, e);
    meta.writeUInt32LE(at, e + 16);
    meta.writeUInt32LE(data.length, e + 20);
    meta.writeUInt32LE(itemFlags, e + 24);
    data.copy(meta, at);
    at += data.length;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v, 0);
    return b;
  };
  const params = Buffer.concat([u32(MIB), u32(flags)]);
  const vsize = Buffer.alloc(8);
  vsize.writeBigUInt64LE(BigInt(size), 0);
  // Item flags: IsVirtualDisk (bit 1) and IsRequired (bit 2), as the specification lists them.
  item(0, 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B', params, 4);
  item(1, '2FA54224-CD1B-4876-B211-5DBED83BF4B8', vsize, 6);
  item(2, 'BECA12AB-B2E6-4523-93EF-C309E000C746', Buffer.alloc(16, 1), 6); // page 83 data
  item(3, '8141BF1D-A96F-4709-BA47-F233A8FAAB5F', u32(512), 6); // logical sector size
  item(4, 'CDA348C7-445D-4471-9CC9-E9885251C556', u32(512), 6); // physical sector size
  const bat = Buffer.alloc(8);
  bat.writeBigUInt64LE((4n << 20n) | 6n, 0); // block 0 at 4 MiB, fully present
  return writeSparse(file, 5 * MIB, [
    { offset: 0, data: id },
    { offset: 64 * 1024, data: header(1) },
    { offset: 128 * 1024, data: header(2) },
    { offset: 192 * 1024, data: region },
    { offset: 256 * 1024, data: region },
    { offset: 2 * MIB, data: meta },
    { offset: 3 * MIB, data: bat },
    { offset: 4 * MIB, data: head },
  ]);
}

// ---- qcow2 (QEMU docs/interop/qcow2.txt) ----

export function qcow2Header(size: number, version: number = 3): Buffer {
  const h = Buffer.alloc(104);
  h.writeUInt32BE(0x514649fb, 0);
  h.writeUInt32BE(version, 4);
  h.writeUInt32BE(16, 20); // cluster bits
  h.writeBigUInt64BE(BigInt(size), 24);
  return h;
}

// ---- tar (POSIX ustar) and OVF ----

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h[156] = 0x30;
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/** A tar archive of the given files, in order. */
export function tar(files: Array<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(tarHeader(f.name, f.data.length), padSector(f.data));
  }
  parts.push(Buffer.alloc(2 * SECTOR));
  return Buffer.concat(parts);
}

export interface OvfOptions {
  readonly disks: Array<{ file: string; capacityGiB: number }>;
  readonly osType?: string;
  readonly firmware?: string;
  readonly osId?: number;
}

/** An OVF descriptor as VMware's export writes it (trimmed to what an import reads). */
export function ovf(o: OvfOptions): Buffer {
  const files = o.disks.map((d, i) => `    <File ovf:href="${d.file}" ovf:id="file${i + 1}"/>`).join('\n');
  const disks = o.disks.map((d, i) => `    <Disk ovf:capacity="${d.capacityGiB}" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`).join('\n');
  const firmware = o.firmware ? `\n      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${o.firmware}"/>` : '';
  const osType = o.osType ? ` vmw:osType="${o.osType}"` : '';
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!--Generated for a test-->
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
${files}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks}
  </DiskSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="${o.osId ?? 101}"${osType}>
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>${firmware}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`, 'utf8');
}
