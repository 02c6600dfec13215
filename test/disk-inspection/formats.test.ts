import * as fs from 'fs';
import * as path from 'path';
import * as img from './images';
import {
  DiskFileFormat, DiskImageFormat, DiskImageInspector, DiskInspectionReport, FindingSeverity, inspectDiskImage,
} from '../../src';
import { FileSource } from '../../src/private/disk-formats/source';

let dir: string;
beforeAll(() => {
  dir = img.tempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, data: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

const ids = (r: DiskInspectionReport, severity?: FindingSeverity) =>
  r.findings.filter((f) => severity === undefined || f.severity === severity).map((f) => f.id.replace('cdk-vm-import-export:', ''));

const SIZE = 64 * img.MIB;
const BOOTABLE = img.hybridBootGpt(SIZE);

describe('VMDK', () => {
  test('a stream-optimized VMDK passes, with its capacity as the virtual size and its partition table', () => {
    const r = DiskImageInspector.inspect(write('so.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE })));
    expect(r).toMatchObject({ format: DiskFileFormat.VMDK, importFormat: DiskImageFormat.VMDK, subformat: 'streamOptimized', virtualSize: SIZE });
    expect(r.partitionTable).toMatchObject({ scheme: 'GPT', bootCode: true, efiSystemPartition: true, biosBootPartition: true });
    expect(r.findings).toEqual([]);
  });

  test('a monolithicSparse VMDK is an error with the qemu-img conversion', () => {
    const r = inspectDiskImage(write('workstation.vmdk', img.monolithicSparseVmdk({ head: BOOTABLE, capacity: SIZE })));
    expect(r).toMatchObject({ format: DiskFileFormat.VMDK, subformat: 'monolithicSparse', virtualSize: SIZE });
    expect(r.partitionTable?.scheme).toBe('GPT');
    expect(r.findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:vmdkNotStreamOptimized',
      severity: FindingSeverity.ERROR,
      message: expect.stringContaining('"monolithicSparse" VMDK, not stream-optimized'),
      fix: expect.stringContaining('qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized workstation.vmdk workstation-stream.vmdk'),
    })]);
  });

  test('a descriptor that points at a flat extent is an error naming the extent, and shows the flat disk\'s partition table', () => {
    img.writeSparse(path.join(dir, 'server-flat.vmdk'), SIZE, [{ offset: 0, data: img.linuxMbr(SIZE) }]);
    const r = inspectDiskImage(write('server.vmdk', img.vmdkDescriptor('monolithicFlat', SIZE, 'FLAT', 'server-flat.vmdk')));
    expect(r).toMatchObject({ format: DiskFileFormat.VMDK, subformat: 'monolithicFlat', virtualSize: SIZE });
    expect(r.partitionTable).toMatchObject({ scheme: 'MBR', partitions: [expect.objectContaining({ typeId: '0x83', description: 'Linux', bootable: true })] });
    expect(ids(r)).toEqual(['vmdkDescriptorOnly']);
    expect(r.findings[0].message).toContain('"server-flat.vmdk"');
    expect(r.findings[0].fix).toContain('qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized server.vmdk server-stream.vmdk');
  });

  test('the flat extent itself, named .vmdk, is not a VMDK', () => {
    const file = img.writeSparse(path.join(dir, 'only-flat.vmdk'), SIZE, [{ offset: 0, data: img.linuxMbr(SIZE) }]);
    const r = inspectDiskImage(file);
    expect(r.format).toBe(DiskFileFormat.RAW);
    expect(r.findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:diskFormatMismatch',
      severity: FindingSeverity.ERROR,
      message: expect.stringContaining('its extension says VMDK, but the file has no VMDK header'),
      fix: expect.stringContaining('declare it as RAW'),
    })]);
  });

  test('random bytes named .vmdk are refused', () => {
    const random = Buffer.alloc(8192);
    for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 251;
    const r = inspectDiskImage(write('random.vmdk', random));
    expect(ids(r, FindingSeverity.ERROR)).toEqual(['diskFormatMismatch']);
  });

  test('a snapshot (delta) VMDK is an error', () => {
    const r = inspectDiskImage(write('delta.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE, parentCid: '1a2b3c4d' })));
    expect(ids(r, FindingSeverity.ERROR)).toEqual(['vmdkDelta']);
  });

  test('a stream-optimized VMDK with compression algorithm 0 gets the error AWS gives it', () => {
    const r = inspectDiskImage(write('nocompress.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE, compressAlgorithm: 0 })));
    expect(r.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:vmdkCompression', message: expect.stringContaining('unsupported compression algorithm 0') })]);
  });

  test('a stream-optimized VMDK without its footer is a warning that it looks cut short, and its first grain is still read', () => {
    const r = inspectDiskImage(write('cut.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE, withoutFooter: true })));
    expect(ids(r)).toEqual(['vmdkNoFooter']);
    expect(r.findings[0].severity).toBe(FindingSeverity.WARNING);
    expect(r.partitionTable?.scheme).toBe('GPT');
  });

  test('a VMDK header cut short is a clear error', () => {
    const full = img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE });
    const r = inspectDiskImage(write('short.vmdk', full.subarray(0, 100)));
    expect(r.format).toBe(DiskFileFormat.VMDK);
    expect(r.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskTruncated', message: expect.stringContaining('100 of 512 bytes') })]);
  });
});

describe('VHD and VHDX', () => {
  test('a fixed VHD: the footer\'s current size, and the disk\'s partition table', () => {
    const r = inspectDiskImage(img.writeFixedVhd(path.join(dir, 'fixed.vhd'), SIZE, BOOTABLE));
    expect(r).toMatchObject({ format: DiskFileFormat.VHD, importFormat: DiskImageFormat.VHD, subformat: 'fixed', virtualSize: SIZE });
    expect(r.partitionTable?.efiSystemPartition).toBe(true);
    expect(r.findings).toEqual([]);
  });

  test('a dynamic VHD: its first block read through the allocation table', () => {
    const r = inspectDiskImage(img.writeDynamicVhd(path.join(dir, 'dynamic.vhd'), SIZE, img.linuxMbr(SIZE)));
    expect(r).toMatchObject({ format: DiskFileFormat.VHD, subformat: 'dynamic', virtualSize: SIZE });
    expect(r.partitionTable?.scheme).toBe('MBR');
    expect(r.findings).toEqual([]);
  });

  test('a differencing VHD is an error with the message AWS gives', () => {
    const r = inspectDiskImage(img.writeDynamicVhd(path.join(dir, 'child.vhd'), SIZE, BOOTABLE, 4));
    expect(r.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:vhdDifferencing', message: expect.stringContaining('Footers not identical') })]);
  });

  test('a dynamic VHD whose two footers differ is an error', () => {
    const file = img.writeDynamicVhd(path.join(dir, 'footers.vhd'), SIZE, BOOTABLE);
    const copy = img.vhdFooter(3, SIZE * 2, 512n);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, copy, 0, copy.length, 0);
    fs.closeSync(fd);
    expect(ids(inspectDiskImage(file))).toContain('vhdFootersDiffer');
  });

  test('a fixed VHD shorter than its footer says is an error', () => {
    const file = img.writeSparse(path.join(dir, 'short.vhd'), 1 * img.MIB + 512, [{ offset: img.MIB, data: img.vhdFooter(2, SIZE) }]);
    expect(inspectDiskImage(file).findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskTruncated', message: expect.stringContaining('cut short') })]);
  });

  test('a VHDX: the virtual size from its metadata, the partition table through its BAT', () => {
    const r = inspectDiskImage(img.writeVhdx(path.join(dir, 'disk.vhdx'), SIZE, BOOTABLE));
    expect(r).toMatchObject({ format: DiskFileFormat.VHDX, importFormat: DiskImageFormat.VHDX, subformat: 'dynamic', virtualSize: SIZE });
    expect(r.partitionTable?.scheme).toBe('GPT');
    expect(r.findings).toEqual([]);
  });

  test('a differencing VHDX is an error', () => {
    const r = inspectDiskImage(img.writeVhdx(path.join(dir, 'child.vhdx'), SIZE, BOOTABLE, 2));
    expect(ids(r)).toEqual(['vhdxDifferencing']);
  });

  test('a VHDX named .vhd is a format mismatch', () => {
    const file = img.writeVhdx(path.join(dir, 'renamed.vhd'), SIZE, BOOTABLE);
    expect(inspectDiskImage(file).findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:diskFormatMismatch', message: expect.stringContaining('its extension says VHD, but the file is a VHDX'), fix: expect.stringContaining('DiskImageFormat.VHDX'),
    })]);
  });
});

describe('formats VM Import cannot read', () => {
  test('a qcow2 file renamed to .vmdk gets the conversion, not a format to pass', () => {
    const r = inspectDiskImage(write('ubuntu.vmdk', img.qcow2Header(10 * img.GIB)));
    expect(r).toMatchObject({ format: DiskFileFormat.QCOW2, importFormat: undefined, virtualSize: 10 * img.GIB, subformat: 'version 3' });
    expect(r.findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:diskFormatUnsupported',
      severity: FindingSeverity.ERROR,
      message: expect.stringContaining('qcow2 image; VM Import reads only OVA, stream-optimized VMDK, VHD, VHDX and raw'),
      fix: 'convert it to a stream-optimized VMDK: qemu-img convert -f qcow2 -O vmdk -o subformat=streamOptimized ubuntu.vmdk ubuntu-stream.vmdk',
    })]);
  });

  test.each([
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), DiskFileFormat.GZIP, 'gunzip -k web.vmdk'],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]), DiskFileFormat.XZ, 'xz -dk web.vmdk'],
    ['zip', Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), DiskFileFormat.ZIP, 'unzip web.vmdk'],
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), DiskFileFormat.ZSTD, 'zstd -d web.vmdk'],
  ])('a %s-compressed file is an error with the command that decompresses it', (_, magic, format, command) => {
    const r = inspectDiskImage(write('web.vmdk', Buffer.concat([magic, Buffer.alloc(600)])));
    expect(r.format).toBe(format);
    expect(r.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskCompressed', fix: expect.stringContaining(command) })]);
  });

  test('a VDI and an ISO are errors', () => {
    const vdi = Buffer.alloc(512);
    vdi.write('<<< Oracle VM VirtualBox Disk Image >>>\n', 0, 'latin1');
    vdi.writeUInt32LE(0xbeda107f, 0x40);
    vdi.writeUInt32LE(1, 0x4c);
    vdi.writeBigUInt64LE(BigInt(SIZE), 0x170);
    expect(inspectDiskImage(write('vm.vdi', vdi))).toMatchObject({ format: DiskFileFormat.VDI, virtualSize: SIZE, findings: [expect.objectContaining({ id: 'cdk-vm-import-export:diskFormatUnsupported' })] });
    const iso = img.writeSparse(path.join(dir, 'installer.img'), 64 * 1024, [{ offset: 0x8001, data: Buffer.from('CD001') }]);
    expect(inspectDiskImage(iso)).toMatchObject({ format: DiskFileFormat.ISO, findings: [expect.objectContaining({ id: 'cdk-vm-import-export:diskFormatUnsupported', message: expect.stringContaining('ISO 9660') })] });
  });
});

describe('raw disks and sizes', () => {
  test('a raw disk: the file size is the virtual size', () => {
    const file = img.writeSparse(path.join(dir, 'disk.raw'), SIZE, [{ offset: 0, data: img.linuxMbr(SIZE) }]);
    expect(inspectDiskImage(file)).toMatchObject({ format: DiskFileFormat.RAW, importFormat: DiskImageFormat.RAW, virtualSize: SIZE, findings: [] });
  });

  test('a raw file that is not whole sectors is a warning', () => {
    const r = inspectDiskImage(write('odd.img', Buffer.concat([img.linuxMbr(SIZE), Buffer.alloc(100)])));
    expect(ids(r)).toEqual(['rawNotSectorAligned']);
  });

  test('a disk of 16 TiB is an error, one over 8 TiB a warning (the VM Import limits)', () => {
    const huge = inspectDiskImage(write('huge.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: 16 * img.TIB })));
    expect(huge.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskTooLarge', severity: FindingSeverity.ERROR, message: expect.stringContaining('16 TiB') })]);
    const big = inspectDiskImage(write('big.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: 9 * img.TIB })));
    expect(big.findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskNeedsManifest', severity: FindingSeverity.WARNING })]);
    const under = inspectDiskImage(write('under.vmdk', img.streamOptimizedVmdk({ head: BOOTABLE, capacity: 8 * img.TIB })));
    expect(under.findings).toEqual([]);
  });

  test('a declared format overrides the extension', () => {
    const file = img.writeSparse(path.join(dir, 'disk.bin'), SIZE, [{ offset: 0, data: img.linuxMbr(SIZE) }]);
    expect(inspectDiskImage(file, { format: DiskImageFormat.RAW }).findings).toEqual([]);
    expect(inspectDiskImage(file, { format: DiskImageFormat.VHD }).findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:diskFormatMismatch', message: expect.stringContaining('the format option says VHD'),
    })]);
  });
});

describe('empty, truncated and unreadable files', () => {
  test('an empty file is a clear error', () => {
    expect(inspectDiskImage(write('empty.vmdk', Buffer.alloc(0)))).toMatchObject({
      format: DiskFileFormat.EMPTY, fileSize: 0, findings: [expect.objectContaining({ id: 'cdk-vm-import-export:diskEmpty', message: 'the file is empty (0 bytes)' })],
    });
  });

  test.each([
    ['a VHD footer alone at the start', 'a.vhd', img.vhdFooter(3, SIZE, 512n)],
    ['a VHDX identifier without region tables', 'a.vhdx', Buffer.from('vhdxfile')],
    ['an OVA header without its data', 'a.ova', img.tar([{ name: 'vm.ovf', data: Buffer.alloc(4000, 0x20) }]).subarray(0, 1024)],
    ['a qcow2 magic alone', 'a.qcow2', Buffer.from([0x51, 0x46, 0x49, 0xfb])],
    ['a GPT header cut off', 'a.raw', img.gpt(SIZE, [{ type: img.ESP, firstLba: 2048, lastLba: 4095 }]).subarray(0, 600)],
  ])('%s: findings, never a crash', (_, name, data) => {
    const r = inspectDiskImage(write(name, data));
    expect(r.findings.length).toBeGreaterThan(0);
    for (const f of r.findings) expect(f.fix.length).toBeGreaterThan(0);
  });

  test('every prefix of each format\'s image inspects without throwing', () => {
    const images = [
      img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE }),
      img.monolithicSparseVmdk({ head: BOOTABLE, capacity: SIZE }),
      img.tar([{ name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'd.vmdk', capacityGiB: 1 }] }) }, { name: 'd.vmdk', data: img.streamOptimizedVmdk({ head: BOOTABLE, capacity: SIZE }) }]),
      Buffer.concat([img.vhdFooter(3, SIZE, 512n), Buffer.alloc(2048)]),
      BOOTABLE,
    ];
    for (const [i, data] of images.entries()) {
      for (const cut of [1, 4, 8, 64, 257, 511, 512, 513, 1024, 1536, 4096, data.length - 1024, data.length - 1]) {
        if (cut <= 0 || cut >= data.length) continue;
        expect(() => inspectDiskImage(write(`cut-${i}-${cut}.vmdk`, data.subarray(0, cut)))).not.toThrow();
      }
    }
  });

  test('random bytes behind each format\'s magic inspect without throwing', () => {
    let seed = 42;
    const random = (n: number) => Buffer.from(Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % 256;
    }));
    const magics: Array<[number, Buffer]> = [
      [0, Buffer.from('KDMV')], [0, Buffer.from('conectix')], [0, Buffer.from('vhdxfile')], [0, Buffer.from([0x51, 0x46, 0x49, 0xfb])],
      [257, Buffer.from('ustar\0')], [0, Buffer.from('# Disk DescriptorFile\ncreateType="monolithicFlat"\nRW 99 FLAT "x"\n')], [510, Buffer.from([0x55, 0xaa])],
    ];
    for (let round = 0; round < 12; round++) {
      for (const [i, [offset, magic]] of magics.entries()) {
        const data = random(64 * 1024);
        magic.copy(data, offset);
        // Every third round also ends in a VHD footer cookie, or GPT's "EFI PART" in sector 1.
        if (round % 3 === 0) Buffer.from('conectix').copy(data, data.length - 512);
        if (round % 3 === 1) Buffer.from('EFI PART').copy(data, 512);
        expect(() => inspectDiskImage(write(`fuzz-${round}-${i}.vmdk`, data))).not.toThrow();
      }
    }
  });

  test('a missing file and a directory throw errors that say so', () => {
    expect(() => inspectDiskImage(path.join(dir, 'nope.vmdk'))).toThrow(/cannot inspect ".*nope.vmdk": no such file/);
    expect(() => inspectDiskImage(dir)).toThrow(/cannot inspect ".*": it is a directory; give the disk file inside it/);
  });
});

describe('reads headers only', () => {
  test('a 100 GiB disk is inspected with a few kilobytes of reads', () => {
    const files = [
      img.writeSparse(path.join(dir, 'big.raw'), 100 * img.GIB, [{ offset: 0, data: img.hybridBootGpt(100 * img.GIB) }]),
      img.writeFixedVhd(path.join(dir, 'big.vhd'), 100 * img.GIB, img.hybridBootGpt(100 * img.GIB)),
      write('big-stream.vmdk', img.streamOptimizedVmdk({ head: img.hybridBootGpt(100 * img.GIB), capacity: 100 * img.GIB })),
    ];
    for (const file of files) {
      const before = FileSource.bytesRead;
      const r = inspectDiskImage(file);
      expect(r.virtualSize).toBe(100 * img.GIB);
      expect(r.partitionTable?.scheme).toBe('GPT');
      expect(FileSource.bytesRead - before).toBeGreaterThan(0);
      expect(FileSource.bytesRead - before).toBeLessThan(256 * 1024);
    }
  });
});
