import { ByteSource, u64be, u64le } from './source';
import { FileFormat } from './types';
import { VHD_COOKIE, findFooter } from './vhd';
import { VHDX_SIGNATURE } from './vhdx';
import { VMDK_MAGIC, looksLikeDescriptor } from './vmdk';

// Magic numbers, each from its format's own documentation: QEMU's docs/interop/qcow2.txt
// and qed_spec.txt, VirtualBox's VDICore.h, ECMA-119 (ISO 9660), POSIX.1-1988 (ustar),
// RFC 1952 (gzip), the .xz and Zstandard file format specs, PKWARE's APPNOTE (zip),
// bzip2 and 7-Zip's own headers; VMware's seSparse and COWD (ESX 3 delta) headers.

export interface Detected {
  readonly format: FileFormat;
  /** The VMDK container: a sparse extent, a text descriptor, or a delta format VM Import refuses. */
  readonly vmdk?: 'sparse' | 'descriptor' | 'seSparse' | 'vmfsSparse';
  readonly virtualSize?: number;
  readonly subformat?: string;
  /** A detail for the message about a format VM Import cannot read (a backing file, encryption). */
  readonly note?: string;
}

const at = (buf: Buffer, offset: number, text: string) =>
  buf.length >= offset + text.length && buf.toString('latin1', offset, offset + text.length) === text;
const bytes = (buf: Buffer, offset: number, magic: number[]) =>
  buf.length >= offset + magic.length && magic.every((b, i) => buf[offset + i] === b);

/** What a file is, from its magic numbers: a handful of small reads, wherever it is stored. */
export function detect(source: ByteSource): Detected {
  if (source.size === 0) return { format: 'EMPTY' };
  const head = source.read(0, 4096);

  if (at(head, 0, VMDK_MAGIC)) return { format: 'VMDK', vmdk: 'sparse' };
  if (bytes(head, 0, [0xbe, 0xba, 0xfe, 0xca, 0, 0, 0, 0])) return { format: 'VMDK', vmdk: 'seSparse', subformat: 'seSparse' };
  if (at(head, 0, 'COWD')) return { format: 'VMDK', vmdk: 'vmfsSparse', subformat: 'vmfsSparse' };
  if (at(head, 0, VHDX_SIGNATURE)) return { format: 'VHDX' };
  if (at(head, 0, VHD_COOKIE)) return { format: 'VHD' };
  if (bytes(head, 0, [0x51, 0x46, 0x49, 0xfb])) return qcow(head);
  if (at(head, 0, 'QED\0')) return { format: 'QED', virtualSize: head.length >= 56 ? u64le(head, 48) : undefined };
  if (head.length >= 0x48 && head.readUInt32LE(0x40) === 0xbeda107f) return vdi(head);
  if (bytes(head, 0, [0x1f, 0x8b])) return { format: 'GZIP' };
  if (bytes(head, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return { format: 'XZ' };
  if (at(head, 0, 'BZh') && head[3] >= 0x31 && head[3] <= 0x39) return { format: 'BZIP2' };
  if (bytes(head, 0, [0x28, 0xb5, 0x2f, 0xfd])) return { format: 'ZSTD' };
  if (at(head, 0, 'PK\x03\x04') || at(head, 0, 'PK\x05\x06')) return { format: 'ZIP' };
  if (bytes(head, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return { format: 'SEVEN_ZIP' };
  if (at(head, 257, 'ustar')) return { format: 'TAR' };
  if (looksLikeDescriptor(head)) return { format: 'VMDK', vmdk: 'descriptor' };
  if (/^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<([\w-]+:)?Envelope\b/.test(head.toString('utf8').replace(/^\uFEFF/, ''))) {
    return { format: 'OVF' };
  }
  if (findFooter(source)) return { format: 'VHD' };
  if (at(source.read(0x8001, 5), 0, 'CD001')) return { format: 'ISO', virtualSize: source.size };
  return { format: 'RAW', virtualSize: source.size };
}

function qcow(head: Buffer): Detected {
  const version = head.length >= 8 ? head.readUInt32BE(4) : 0;
  const virtualSize = head.length >= 32 ? u64be(head, 24) : undefined;
  const notes: string[] = [];
  if (head.length >= 16 && u64be(head, 8) !== 0) notes.push('it is an overlay on a backing file');
  if (version >= 2 && head.length >= 36 && head.readUInt32BE(32) !== 0) notes.push('it is encrypted');
  return {
    format: version === 1 ? 'QCOW' : 'QCOW2',
    subformat: version ? `version ${version}` : undefined,
    virtualSize,
    note: notes.length ? notes.join(' and ') : undefined,
  };
}

function vdi(head: Buffer): Detected {
  // The VDI 1.1 header: image type at 0x4C (1 dynamic, 2 fixed, 3 undo, 4 differencing), disk size at 0x170.
  const types: Record<number, string> = { 1: 'dynamic', 2: 'fixed', 3: 'undo', 4: 'differencing' };
  return {
    format: 'VDI',
    subformat: head.length >= 0x50 ? types[head.readUInt32LE(0x4c)] : undefined,
    virtualSize: head.length >= 0x178 ? u64le(head, 0x170) : undefined,
  };
}
