import * as fs from 'fs';
import * as path from 'path';
import * as img from './images';
import { BootMode, DiskFileFormat, DiskImageFormat, DiskInspectionReport, Platform, inspectDiskImage } from '../../src';

let dir: string;
beforeAll(() => {
  dir = img.tempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 64 * img.MIB;
const BOOT_VMDK = img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE });
const DATA_VMDK = img.streamOptimizedVmdk({ capacity: 2 * SIZE });

function ova(name: string, files: Array<{ name: string; data: Buffer }>): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, img.tar(files));
  return file;
}

const found = (r: DiskInspectionReport) => r.findings.map((f) => f.id.replace('cdk-vm-import-export:', ''));

test('an OVA with one disk: the descriptor, the declared OS and firmware, and the disk inside', () => {
  const file = ova('web.ova', [
    { name: 'web.ovf', data: img.ovf({ disks: [{ file: 'web-disk1.vmdk', capacityGiB: 1 }], osType: 'ubuntu64Guest', firmware: 'efi' }) },
    { name: 'web.mf', data: Buffer.from('SHA256(web-disk1.vmdk)= 00\n') },
    { name: 'web-disk1.vmdk', data: BOOT_VMDK },
  ]);
  const r = inspectDiskImage(file, { bootMode: BootMode.UEFI, platform: Platform.LINUX });
  expect(r).toMatchObject({
    format: DiskFileFormat.OVA,
    importFormat: DiskImageFormat.OVA,
    ova: {
      descriptor: 'web.ovf',
      osType: 'ubuntu64Guest',
      osFamily: 'Linux',
      os64Bit: true,
      firmware: 'efi',
      disks: [{ file: 'web-disk1.vmdk', present: true, capacity: img.GIB, format: DiskFileFormat.VMDK, subformat: 'streamOptimized', virtualSize: SIZE }],
    },
  });
  expect(r.partitionTable?.efiSystemPartition).toBe(true);
  expect(r.findings).toEqual([]);
});

test('an OVA with two disks: each is inspected, and only the first is checked as the boot disk', () => {
  const file = ova('two.ova', [
    { name: 'two.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }, { file: 'data.vmdk', capacityGiB: 2 }], osType: 'windows2019srv_64Guest' }) },
    { name: 'boot.vmdk', data: BOOT_VMDK },
    { name: 'data.vmdk', data: DATA_VMDK },
  ]);
  const r = inspectDiskImage(file);
  expect(r.ova?.disks.map((d) => [d.file, d.present, d.virtualSize])).toEqual([['boot.vmdk', true, SIZE], ['data.vmdk', true, 2 * SIZE]]);
  expect(r.ova).toMatchObject({ osFamily: 'Windows', os64Bit: true });
  // The data disk has no partition table, which is fine for a data disk.
  expect(r.findings).toEqual([]);
});

test('a disk of the OVA that is not stream-optimized is an error naming that disk', () => {
  const file = ova('mixed.ova', [
    { name: 'mixed.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }, { file: 'data.vmdk', capacityGiB: 1 }] }) },
    { name: 'boot.vmdk', data: BOOT_VMDK },
    { name: 'data.vmdk', data: img.monolithicSparseVmdk({ capacity: SIZE }) },
  ]);
  const r = inspectDiskImage(file);
  expect(found(r)).toEqual(['vmdkNotStreamOptimized']);
  expect(r.findings[0].message).toMatch(/^OVA disk "data.vmdk": it is a "monolithicSparse" VMDK/);
});

test('a disk the descriptor names but the archive lacks is an error', () => {
  const file = ova('missing.ova', [
    { name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }, { file: 'gone.vmdk', capacityGiB: 1 }] }) },
    { name: 'boot.vmdk', data: BOOT_VMDK },
  ]);
  const r = inspectDiskImage(file);
  expect(found(r)).toEqual(['ovaMissingDisk']);
  expect(r.findings[0].message).toContain('"gone.vmdk"');
  expect(r.ova?.disks[1]).toMatchObject({ file: 'gone.vmdk', present: false });
});

test('more disks than VM Import imports is an error', () => {
  const disks = Array.from({ length: 22 }, (_, i) => ({ file: `d${i}.vmdk`, capacityGiB: 1 }));
  const file = ova('many.ova', [{ name: 'vm.ovf', data: img.ovf({ disks }) }, ...disks.map((d, i) => ({ name: d.file, data: i === 0 ? BOOT_VMDK : DATA_VMDK }))]);
  expect(found(inspectDiskImage(file))).toEqual(['ovaTooManyDisks']);
});

test.each([
  ['a 32-bit Linux', 'ubuntuGuest', {}, 'ovaLinux32Bit'],
  ['an OS VM Import does not import', 'freebsd12_64Guest', {}, 'ovaOsUnsupported'],
  ['a Windows guest imported as Linux', 'windows9Server64Guest', { platform: Platform.LINUX }, 'platformMismatch'],
])('%s is a warning', (_, osType, options, id) => {
  const file = ova(`${osType}.ova`, [{ name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }], osType }) }, { name: 'boot.vmdk', data: BOOT_VMDK }]);
  const r = inspectDiskImage(file, options);
  expect(r.findings.map((f) => [f.id.replace('cdk-vm-import-export:', ''), f.severity])).toEqual([[id, 'warning']]);
});

test('firmware declared EFI against bootMode LEGACY_BIOS is a warning', () => {
  const file = ova('efi.ova', [{ name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }], firmware: 'efi' }) }, { name: 'boot.vmdk', data: BOOT_VMDK }]);
  const r = inspectDiskImage(file, { bootMode: BootMode.LEGACY_BIOS });
  expect(found(r)).toEqual(['ovaFirmwareMismatch']);
  expect(r.findings[0].fix).toContain('BootMode.UEFI');
});

test('a tar without a descriptor is not an OVA', () => {
  const file = ova('disks.ova', [{ name: 'boot.vmdk', data: BOOT_VMDK }]);
  const r = inspectDiskImage(file);
  expect(r.format).toBe(DiskFileFormat.TAR);
  expect(found(r)).toEqual(['ovaNoDescriptor']);
});

test('an OVA cut short is an error, and its disk is not read past the end', () => {
  const whole = img.tar([{ name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }] }) }, { name: 'boot.vmdk', data: BOOT_VMDK }]);
  const file = path.join(dir, 'cut.ova');
  fs.writeFileSync(file, whole.subarray(0, whole.length - 3000));
  const r = inspectDiskImage(file);
  expect(found(r)).toContain('diskTruncated');
  expect(r.findings.find((f) => f.id.endsWith('diskTruncated'))?.message).toContain('the OVA is incomplete');
});

test('an OVF descriptor alone is an error that says to pack the OVA', () => {
  const file = path.join(dir, 'vm.ovf');
  fs.writeFileSync(file, img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }] }));
  const r = inspectDiskImage(file);
  expect(r.format).toBe(DiskFileFormat.OVF);
  expect(r.findings[0]).toMatchObject({ id: 'cdk-vm-import-export:diskFormatUnsupported', fix: expect.stringContaining('tar -cf vm.ova vm.ovf') });
});

test('an OVA named .vmdk is a format mismatch', () => {
  const file = ova('really-an-ova.vmdk', [{ name: 'vm.ovf', data: img.ovf({ disks: [{ file: 'boot.vmdk', capacityGiB: 1 }] }) }, { name: 'boot.vmdk', data: BOOT_VMDK }]);
  expect(inspectDiskImage(file).findings).toEqual([expect.objectContaining({ id: 'cdk-vm-import-export:diskFormatMismatch', fix: expect.stringContaining('DiskImageFormat.OVA') })]);
});
