import * as fs from 'fs';
import * as path from 'path';
import * as img from './images';
import { BootMode, DiskInspectionReport, FindingSeverity, PartitionTableType, inspectDiskImage } from '../../src';

// Partition tables (UEFI 2.10, chapter 5) and what each boot mode needs to find on the boot disk.

let dir: string;
beforeAll(() => {
  dir = img.tempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 64 * img.MIB;
const LAST = SIZE / img.SECTOR - 34;

function raw(name: string, head: Buffer): string {
  return img.writeSparse(path.join(dir, name), SIZE, [{ offset: 0, data: head }]);
}

const found = (r: DiskInspectionReport) => r.findings.map((f) => [f.id.replace('cdk-vm-import-export:', ''), f.severity]);

const GPT_UEFI_ONLY = img.gpt(SIZE, [
  { type: img.ESP, firstLba: 2048, lastLba: 4095, name: 'EFI System' },
  { type: img.LINUX_FS, firstLba: 4096, lastLba: LAST, name: 'root' },
]);
const GPT_NO_ESP = img.gpt(SIZE, [{ type: img.LINUX_FS, firstLba: 2048, lastLba: LAST }]);
const MBR_NO_ESP = img.linuxMbr(SIZE);
const MBR_WITH_ESP = img.mbr([
  { type: 0xef, startLba: 2048, sectors: 2048 },
  { type: 0x83, startLba: 4096, sectors: SIZE / img.SECTOR - 4096, active: true },
]);

describe('partition tables', () => {
  test('an MBR: its partitions, boot code and active flag', () => {
    const r = inspectDiskImage(raw('mbr.raw', MBR_WITH_ESP));
    expect(r.partitionTable).toEqual({
      scheme: PartitionTableType.MBR,
      sectorSize: 512,
      bootCode: true,
      efiSystemPartition: true,
      biosBootPartition: false,
      partitions: [
        { index: 1, typeId: '0xef', description: 'EFI system', start: 2048 * 512, size: 2048 * 512, bootable: false },
        { index: 2, typeId: '0x83', description: 'Linux', start: 4096 * 512, size: SIZE - 4096 * 512, bootable: true },
      ],
    });
  });

  test('a GPT: its entries by type GUID and name, behind the protective MBR', () => {
    const r = inspectDiskImage(raw('gpt.raw', GPT_UEFI_ONLY));
    expect(r.partitionTable).toMatchObject({
      scheme: PartitionTableType.GPT,
      bootCode: false,
      efiSystemPartition: true,
      biosBootPartition: false,
      partitions: [
        { index: 1, typeId: img.ESP, description: 'EFI system', name: 'EFI System', start: 2048 * 512, size: 2048 * 512 },
        { index: 2, typeId: img.LINUX_FS, description: 'Linux filesystem', name: 'root' },
      ],
    });
  });

  test('a GPT with a wrong header checksum is read, with a warning', () => {
    const head = Buffer.from(GPT_UEFI_ONLY);
    head[512 + 16] = 0xff - head[512 + 16]; // corrupt the stored header checksum
    const r = inspectDiskImage(raw('badcrc.raw', head));
    expect(r.partitionTable?.scheme).toBe(PartitionTableType.GPT);
    expect(found(r)).toEqual([['partitionTableDamaged', 'warning']]);
    expect(r.findings[0].message).toContain('GPT header checksum is wrong');
  });

  test('a file system without a partition table (its boot sector ends in 0x55AA too) is no partition table', () => {
    const vbr = Buffer.alloc(512);
    vbr.set([0xeb, 0x52, 0x90], 0);
    vbr.write('NTFS    ', 3, 'latin1');
    vbr[510] = 0x55;
    vbr[511] = 0xaa;
    const r = inspectDiskImage(raw('ntfs.raw', vbr));
    expect(r.partitionTable).toBeUndefined();
    expect(found(r)).toEqual([['noPartitionTable', 'warning']]);
  });

  test('a data disk is not checked for a boot loader', () => {
    const r = inspectDiskImage(raw('data.raw', Buffer.alloc(512)), { bootDisk: false });
    expect(r.findings).toEqual([]);
  });
});

describe('boot mode against the boot disk', () => {
  test('GPT without a BIOS boot loader and bootMode LEGACY_BIOS is an error that suggests UEFI when there is an EFI system partition', () => {
    const r = inspectDiskImage(raw('uefi-only.raw', GPT_UEFI_ONLY), { bootMode: BootMode.LEGACY_BIOS });
    expect(r.findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:gptWithoutBiosBootLoader',
      severity: FindingSeverity.ERROR,
      message: expect.stringContaining('GPT partition table and no boot loader in its protective MBR'),
      fix: 'use bootMode: BootMode.UEFI (the disk has an EFI system partition)',
    })]);
  });

  test('GPT with neither loader and LEGACY_BIOS: the error says how to install one', () => {
    const r = inspectDiskImage(raw('no-loader.raw', GPT_NO_ESP), { bootMode: BootMode.LEGACY_BIOS });
    expect(found(r)).toEqual([['gptWithoutBiosBootLoader', 'error']]);
    expect(r.findings[0].fix).toContain('grub-install --target=i386-pc');
  });

  test('GPT with boot code and a BIOS boot partition boots either way', () => {
    const disk = raw('hybrid.raw', img.hybridBootGpt(SIZE));
    expect(inspectDiskImage(disk, { bootMode: BootMode.LEGACY_BIOS }).findings).toEqual([]);
    expect(inspectDiskImage(disk, { bootMode: BootMode.UEFI }).findings).toEqual([]);
    expect(inspectDiskImage(disk).findings).toEqual([]);
  });

  test('an MBR disk without an EFI system partition and bootMode UEFI is a warning that suggests LEGACY_BIOS', () => {
    const r = inspectDiskImage(raw('legacy.raw', MBR_NO_ESP), { bootMode: BootMode.UEFI });
    expect(r.findings).toEqual([expect.objectContaining({
      id: 'cdk-vm-import-export:uefiWithoutEfiSystemPartition',
      severity: FindingSeverity.WARNING,
      fix: 'use bootMode: BootMode.LEGACY_BIOS (the disk has a BIOS boot loader in its MBR)',
    })]);
  });

  test('an MBR disk with an EFI system partition suits UEFI', () => {
    expect(inspectDiskImage(raw('mbr-esp.raw', MBR_WITH_ESP), { bootMode: BootMode.UEFI }).findings).toEqual([]);
  });

  test('an MBR without boot code and LEGACY_BIOS is a warning', () => {
    const r = inspectDiskImage(raw('mbr-nocode.raw', img.mbr([{ type: 0x83, startLba: 2048, sectors: 4096 }], false)), { bootMode: BootMode.LEGACY_BIOS });
    expect(found(r)).toEqual([['mbrWithoutBootLoader', 'warning']]);
  });

  test('without a boot mode, only a disk that suits neither is flagged', () => {
    expect(inspectDiskImage(raw('gpt-uefi.raw', GPT_UEFI_ONLY)).findings).toEqual([]);
    expect(inspectDiskImage(raw('mbr-legacy.raw', MBR_NO_ESP)).findings).toEqual([]);
    expect(found(inspectDiskImage(raw('gpt-none.raw', GPT_NO_ESP)))).toEqual([['noBootLoader', 'warning']]);
  });

  test('the boot disk inside a stream-optimized VMDK is checked too', () => {
    const file = path.join(dir, 'uefi-only.vmdk');
    fs.writeFileSync(file, img.streamOptimizedVmdk({ head: GPT_UEFI_ONLY, capacity: SIZE }));
    expect(found(inspectDiskImage(file, { bootMode: BootMode.LEGACY_BIOS }))).toEqual([['gptWithoutBiosBootLoader', 'error']]);
  });

  test('a boot disk of zeros has no partition table', () => {
    expect(found(inspectDiskImage(raw('zeros.raw', Buffer.alloc(0))))).toEqual([['noPartitionTable', 'warning']]);
  });
});
