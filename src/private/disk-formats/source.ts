import * as fs from 'fs';

/**
 * The bytes of a disk file, read at positions. Parsers read headers through this and
 * never the whole file: a 100 GiB disk is inspected with a few kilobytes of reads.
 */
export interface ByteSource {
  /** The size in bytes. */
  readonly size: number;
  /** Up to `length` bytes at `offset`; shorter at the end of the source, empty past it. */
  read(offset: number, length: number): Buffer;
}

/** No single read is larger than this: the biggest structure read whole is an OVF descriptor. */
export const MAX_READ = 4 * 1024 * 1024;

/** A file opened read-only; `close()` when done. */
export class FileSource implements ByteSource {
  /** Bytes read from files by all FileSources of this process: lets tests prove that only headers are read. */
  public static bytesRead = 0;

  public static open(file: string): FileSource {
    const fd = fs.openSync(file, 'r');
    try {
      return new FileSource(fd, fs.fstatSync(fd).size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private constructor(private readonly fd: number, public readonly size: number) {}

  public read(offset: number, length: number): Buffer {
    if (length > MAX_READ) throw new Error(`internal: read of ${length} bytes exceeds ${MAX_READ}`);
    const n = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const got = fs.readSync(this.fd, buf, done, n - done, offset + done);
      if (got === 0) break; // the file shrank while being read
      done += got;
    }
    FileSource.bytesRead += done;
    return done === n ? buf : buf.subarray(0, done);
  }

  public close(): void {
    fs.closeSync(this.fd);
  }
}

/** A window of another source, for example one file inside an OVA (a tar archive). */
export class SliceSource implements ByteSource {
  constructor(private readonly parent: ByteSource, private readonly start: number, public readonly size: number) {}

  public read(offset: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - offset));
    return n === 0 ? Buffer.alloc(0) : this.parent.read(this.start + offset, n);
  }
}

/** A little-endian unsigned 64-bit integer as a number (exact below 2^53, which every disk size is). */
export function u64le(buf: Buffer, offset: number): number {
  return Number(buf.readBigUInt64LE(offset));
}

/** A big-endian unsigned 64-bit integer as a number. */
export function u64be(buf: Buffer, offset: number): number {
  return Number(buf.readBigUInt64BE(offset));
}

/** True when every byte is zero. */
export function allZero(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0) return false;
  return true;
}

/**
 * A GUID as its usual text, from the mixed-endian bytes GPT and VHDX store
 * (the first three fields little-endian, the rest as stored).
 */
export function guidAt(buf: Buffer, offset: number): string {
  const hex = (start: number, end: number) => buf.subarray(offset + start, offset + end).toString('hex');
  const le = (start: number, end: number) => Buffer.from(buf.subarray(offset + start, offset + end)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(8, 10)}-${hex(10, 16)}`.toUpperCase();
}

/** A virtual disk's contents, as the guest sees them, through whatever layout the file has. */
export interface VirtualDisk {
  /** The disk's size as the guest sees it, in bytes. */
  readonly size: number;
  /** The logical sector size in bytes (512 unless the format says otherwise). */
  readonly sectorSize: number;
  /** `length` bytes at `offset` of the virtual disk (zeros where nothing is allocated). */
  read(offset: number, length: number): Buffer;
}

/** A raw layout: the file (or a window of it) is the disk. */
export function rawDisk(source: ByteSource, size: number = source.size, sectorSize: number = 512): VirtualDisk {
  return {
    size,
    sectorSize,
    read: (offset, length) => {
      const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      source.read(offset, out.length).copy(out);
      return out;
    },
  };
}

/**
 * A virtual disk stored in fixed-size blocks, each found through a table (VMDK grains,
 * VHD and VHDX blocks). `readBlock(i, within, n)` returns `n` bytes at `within` of
 * block `i`, or undefined when the block is not allocated (it reads as zeros).
 */
export function blockDisk(
  size: number, blockSize: number,
  readBlock: (index: number, within: number, length: number) => Buffer | undefined,
  sectorSize: number = 512,
): VirtualDisk {
  return {
    size,
    sectorSize,
    read: (offset, length) => {
      const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      let done = 0;
      while (done < out.length) {
        const at = offset + done;
        const index = Math.floor(at / blockSize);
        const within = at - index * blockSize;
        const n = Math.min(blockSize - within, out.length - done);
        readBlock(index, within, n)?.copy(out, done);
        done += n;
      }
      return out;
    },
  };
}
