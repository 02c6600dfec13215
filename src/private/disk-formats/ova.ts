/* eslint-disable no-bitwise */ // binary headers are bit fields and fixed-width integers
import { ByteSource, MAX_READ, SliceSource } from './source';

// An OVA is a tar archive (POSIX ustar, 512-byte blocks) whose first file is the OVF
// descriptor (DMTF DSP0243, "Open Virtualization Format Specification"). Only the
// headers are read, block by block, skipping each file's data; of the files, only the
// .ovf descriptor (small XML) is read whole.

export interface TarEntry {
  readonly name: string;
  readonly size: number;
  /** Offset of the file's data in the archive. */
  readonly offset: number;
  readonly type: string;
}

export interface TarListing {
  readonly entries: TarEntry[];
  /** The archive ends before the last header says it should. */
  readonly truncated?: string;
}

/** At most this many headers are read: an OVA holds a handful of files. */
const MAX_ENTRIES = 10000;

/** The regular files of a tar archive, with where their data is. */
export function listTar(source: ByteSource): TarListing {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  for (let n = 0; n < MAX_ENTRIES; n++) {
    const header = source.read(offset, 512);
    if (header.length === 0) break;
    if (header.length < 512) return { entries, truncated: `the archive ends inside a header at byte ${offset}` };
    if (header.every((b) => b === 0)) break; // end of archive
    if (!checksumOk(header)) return { entries, truncated: `the header at byte ${offset} is damaged (bad checksum)` };
    const type = String.fromCharCode(header[156] || 0x30);
    let size = tarNumber(header.subarray(124, 136));
    const ustar = header.toString('latin1', 257, 262) === 'ustar';
    let name = cString(header.subarray(0, 100));
    const prefix = ustar ? cString(header.subarray(345, 500)) : '';
    if (prefix) name = `${prefix}/${name}`;
    const data = offset + 512;
    if (type === 'x' || type === 'L') {
      // A pax extended header ('x') or a GNU long name ('L') describes the next entry.
      const body = source.read(data, Math.min(size, 64 * 1024)).toString('utf8');
      if (type === 'L') longName = body.replace(/\0.*$/s, '');
      else pax = parsePax(body);
    } else if (type !== 'g') {
      if (pax.size !== undefined && /^\d+$/.test(pax.size)) size = Number(pax.size);
      name = pax.path ?? longName ?? name;
      if (type === '0' || type === '7') entries.push({ name, size, offset: data, type });
      longName = undefined;
      pax = {};
    }
    offset = data + Math.ceil(size / 512) * 512;
    if (offset > source.size) return { entries, truncated: `"${name}" needs ${size} bytes, but the archive ends ${offset - source.size} bytes early` };
  }
  return { entries };
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

/** An octal field, or GNU's base-256 form (high bit set) for sizes of 8 GiB and more. */
function tarNumber(field: Buffer): number {
  if (field[0] & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = cString(field).trim();
  return text ? parseInt(text, 8) || 0 : 0;
}

function checksumOk(header: Buffer): boolean {
  const stored = tarNumber(header.subarray(148, 156));
  let sum = 0;
  header.forEach((b, i) => {
    sum += i >= 148 && i < 156 ? 0x20 : b;
  });
  return sum === stored;
}

function parsePax(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of body.matchAll(/^\d+ ([^=\n]+)=(.*)$/gm)) out[m[1]] = m[2];
  return out;
}

export interface OvfFile {
  readonly id: string;
  readonly href: string;
  readonly size?: number;
  readonly compression?: string;
}

export interface OvfDisk {
  readonly diskId?: string;
  readonly fileRef?: string;
  readonly capacity?: number;
  readonly format?: string;
}

export interface OvfDescriptor {
  readonly files: OvfFile[];
  readonly disks: OvfDisk[];
  readonly osType?: string;
  readonly osDescription?: string;
  readonly firmware?: string;
  readonly virtualSystems: number;
}

/** Attributes of one start tag, by local name (`ovf:href` and `href` both as `href`). */
function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w.-]+:)?([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[m[2]] = decodeXml(m[3] ?? m[4] ?? '');
  }
  return out;
}

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (e[0] !== '#') return named[e.toLowerCase()];
    const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return String.fromCodePoint(code);
  });
}

/** Start tags of an element, whatever namespace prefix the descriptor gives it. */
function tags(xml: string, local: string): string[] {
  return [...xml.matchAll(new RegExp(`<(?:[\\w-]+:)?${local}\\b[^>]*>`, 'g'))].map((m) => m[0]);
}

/** `byte * 2^30` and the like (DSP0004 programmatic units) as a multiplier. */
function unitMultiplier(units: string | undefined): number | undefined {
  if (!units) return 1;
  const m = /^\s*byte\s*(?:\*\s*(\d+)\s*\^\s*(\d+))?\s*$/i.exec(units);
  return m ? (m[1] ? Number(m[1]) ** Number(m[2]) : 1) : undefined;
}

/**
 * The few things of an OVF descriptor an import depends on, by careful regular
 * expressions rather than an XML parser (the descriptor is machine-written, and only
 * attributes of a handful of elements are needed).
 */
export function parseOvf(xml: string): OvfDescriptor {
  const body = xml.replace(/<!--[\s\S]*?-->/g, '');
  const files = tags(body, 'File').map(attributes).filter((a) => a.href !== undefined).map((a) => ({
    id: a.id ?? '',
    href: a.href,
    size: a.size !== undefined && /^\d+$/.test(a.size) ? Number(a.size) : undefined,
    compression: a.compression,
  }));
  const diskSection = /<(?:[\w-]+:)?DiskSection\b[\s\S]*?<\/(?:[\w-]+:)?DiskSection>/.exec(body)?.[0] ?? body;
  const disks = tags(diskSection, 'Disk').map(attributes).map((a) => {
    const multiplier = unitMultiplier(a.capacityAllocationUnits);
    const capacity = a.capacity !== undefined && /^\d+$/.test(a.capacity) && multiplier !== undefined ? Number(a.capacity) * multiplier : undefined;
    return { diskId: a.diskId, fileRef: a.fileRef, capacity, format: a.format };
  });
  const osSection = /<(?:[\w-]+:)?OperatingSystemSection\b([^>]*)>([\s\S]*?)<\/(?:[\w-]+:)?OperatingSystemSection>/.exec(body);
  const osAttrs = osSection ? attributes(osSection[1]) : {};
  const vboxOsType = osSection ? /<(?:[\w-]+:)?OSType\b[^>]*>([^<]+)</.exec(osSection[2])?.[1]?.trim() : undefined;
  const osDescription = osSection ? /<(?:[\w-]+:)?Description\b[^>]*>([^<]*)</.exec(osSection[2])?.[1]?.trim() : undefined;
  // VMware: <vmw:Config vmw:key="firmware" vmw:value="efi"/>; VirtualBox: <Firmware type="EFI"/>.
  const vmwFirmware = tags(body, 'Config').map(attributes).find((a) => a.key === 'firmware')?.value;
  const vboxFirmware = tags(body, 'Firmware').map(attributes).find((a) => a.type !== undefined)?.type;
  return {
    files,
    disks,
    osType: osAttrs.osType ?? vboxOsType,
    osDescription: osDescription ? decodeXml(osDescription) : undefined,
    firmware: (vmwFirmware ?? vboxFirmware)?.toLowerCase(),
    virtualSystems: tags(body, 'VirtualSystem').length,
  };
}

export interface GuestOs {
  readonly family: 'Linux' | 'Windows' | 'other';
  /** Undefined when the name does not say. */
  readonly is64Bit?: boolean;
}

const LINUX_NAMES = /linux|ubuntu|debian|rhel|redhat|centos|fedora|sles|suse|opensuse|oracle|asianux|mandrake|mandriva|turbo|coreos|photon|amazon|rocky|alma|gentoo|arch|xandros|miracle/i;
const OTHER_NAMES = /bsd|solaris|darwin|mac ?os|netware|os\/?2|dos|vmkernel|esx|sco|unixware|openserver|ecomstation|haiku|qnx|other(?!.*linux)/i;

/**
 * The guest family a descriptor declares: a VMware guest id (`ubuntu64Guest`,
 * `windows2019srv_64Guest`; without "64" a 32-bit guest), a VirtualBox OS type
 * (`Ubuntu_64`; `Ubuntu` is 32-bit), or a description text ("Ubuntu Linux (64-bit)").
 */
export function classifyGuest(name: string, kind: 'id' | 'description'): GuestOs | undefined {
  let is64Bit: boolean | undefined;
  if (kind === 'id') is64Bit = /64/.test(name) ? true : /Guest$|^[A-Za-z0-9]+$/.test(name) ? false : undefined;
  else is64Bit = /64-?bit/i.test(name) ? true : /32-?bit/i.test(name) ? false : undefined;
  if (/^win|windows/i.test(name)) return { family: 'Windows', is64Bit };
  if (LINUX_NAMES.test(name)) return { family: 'Linux', is64Bit };
  if (OTHER_NAMES.test(name)) return { family: 'other', is64Bit };
  return undefined;
}

/** The descriptor file's bytes, when small enough to read. */
export function readEntry(source: ByteSource, entry: TarEntry): Buffer | undefined {
  return entry.size <= MAX_READ ? source.read(entry.offset, entry.size) : undefined;
}

export function entrySource(source: ByteSource, entry: TarEntry): ByteSource {
  return new SliceSource(source, entry.offset, Math.max(0, Math.min(entry.size, source.size - entry.offset)));
}
