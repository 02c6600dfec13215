import * as fs from 'fs';
import * as path from 'path';
import { Annotations as CoreAnnotations, App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as img from './images';
import {
  BootMode, DiskImage, DiskImageFormat, LicenseType, Platform, VmDiskFormat, VmImportImage, VmImportImageProps,
} from '../../src';
import { warnIfExportPrefixLacksSlash } from '../../src/private/export-prefix';

// What synth says about disks and import settings, before anything is uploaded.

let dir: string;
beforeAll(() => {
  dir = img.tempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 64 * img.MIB;

function file(name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

function newStack(): Stack {
  return new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
}

function image(stack: Stack, props: Partial<VmImportImageProps>): VmImportImage {
  return new VmImportImage(stack, 'Img', { disks: [], platform: Platform.LINUX, licenseType: LicenseType.BYOL, ...props } as VmImportImageProps);
}

const bucket = (stack: Stack) => s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks');

describe('DiskImage.fromAsset inspects its file', () => {
  test('a stream-optimized VMDK synthesizes as before, with no warnings', () => {
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromAsset(file('web.vmdk', img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE })))] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { Disks: [{ Format: 'VMDK', S3Key: Match.stringLikeRegexp('\\.vmdk$') }] });
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('DiskImage.fromAsset'));
  });

  test('a qcow2 file fails the synth, naming the construct, the disk and the conversion', () => {
    const qcow2 = file('ubuntu.qcow2', img.qcow2Header(10 * img.GIB));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(qcow2)] })).toThrow(
      // A file outside the app's directory is named by its base name: the message lands in the synthesized metadata.
      'disks[0]: DiskImage.fromAsset("ubuntu.qcow2") of Stack/Img: it is a qcow2 image; VM Import reads only OVA, stream-optimized VMDK, VHD, VHDX and raw disks: '
      + 'convert it to a stream-optimized VMDK: qemu-img convert -f qcow2 -O vmdk -o subformat=streamOptimized ubuntu.qcow2 ubuntu.vmdk '
      + '(if you know the file better than this check, pass inspect: false)');
  });

  test('a qcow2 file renamed to .vmdk fails the same way', () => {
    const renamed = file('renamed.vmdk', img.qcow2Header(10 * img.GIB));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(renamed)] })).toThrow(/of Stack\/Img: it is a qcow2 image.*qemu-img convert -f qcow2 -O vmdk -o subformat=streamOptimized renamed.vmdk renamed-stream.vmdk/);
  });

  test('a VMDK that is not stream-optimized fails the synth with the conversion', () => {
    const sparse = file('workstation.vmdk', img.monolithicSparseVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE }));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(sparse)] })).toThrow(
      /disks\[0\]: DiskImage.fromAsset\(".*workstation.vmdk"\) of Stack\/Img: it is a "monolithicSparse" VMDK, not stream-optimized.*qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized workstation.vmdk workstation-stream.vmdk/);
  });

  test('a GPT boot disk without a BIOS boot loader fails with bootMode LEGACY_BIOS, and synthesizes with UEFI', () => {
    const head = img.gpt(SIZE, [{ type: img.ESP, firstLba: 2048, lastLba: 4095 }, { type: img.LINUX_FS, firstLba: 4096, lastLba: SIZE / 512 - 34 }]);
    const disk = file('uefi.vmdk', img.streamOptimizedVmdk({ head, capacity: SIZE }));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(disk)], bootMode: BootMode.LEGACY_BIOS })).toThrow(
      /of Stack\/Img: the boot disk has a GPT partition table and no boot loader in its protective MBR, so it cannot boot with legacy BIOS.*: use bootMode: BootMode.UEFI/);
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(disk)], bootMode: BootMode.UEFI })).not.toThrow();
  });

  test('the boot-mode check applies to the boot disk only', () => {
    const head = img.gpt(SIZE, [{ type: img.LINUX_FS, firstLba: 2048, lastLba: SIZE / 512 - 34 }]);
    const data = file('data.vmdk', img.streamOptimizedVmdk({ head, capacity: SIZE }));
    const boot = file('boot.vmdk', img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE }));
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromAsset(boot), DiskImage.fromAsset(data)], bootMode: BootMode.LEGACY_BIOS });
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });

  test('a warning is an annotation with an id the user can acknowledge', () => {
    const mbrDisk = file('legacy.vmdk', img.streamOptimizedVmdk({ head: img.linuxMbr(SIZE), capacity: SIZE }));
    const warned = newStack();
    image(warned, { disks: [DiskImage.fromAsset(mbrDisk)], bootMode: BootMode.UEFI });
    Annotations.fromStack(warned).hasWarning('/Stack/Img', Match.stringLikeRegexp(
      '^DiskImage.fromAsset\\(".*legacy.vmdk"\\) of Stack/Img: the boot disk \\(MBR\\) has no EFI system partition.*\\[ack: cdk-vm-import-export:uefiWithoutEfiSystemPartition\\]$'));

    const acknowledged = newStack();
    const img2 = image(acknowledged, { disks: [DiskImage.fromAsset(mbrDisk)], bootMode: BootMode.UEFI });
    CoreAnnotations.of(img2).acknowledgeWarning('cdk-vm-import-export:uefiWithoutEfiSystemPartition', 'the firmware finds the loader on its FAT partition');
    Annotations.fromStack(acknowledged).hasNoWarning('*', Match.stringLikeRegexp('EFI system partition'));
  });

  test('a directory is refused', () => {
    fs.mkdirSync(path.join(dir, 'vm-folder'), { recursive: true });
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(path.join(dir, 'vm-folder'))] })).toThrow(
      /disks\[0\]: DiskImage.fromAsset\(".*vm-folder"\) of Stack\/Img: the path is a directory, which would be uploaded as a zip archive that VM Import cannot read; give the disk file inside it/);
  });

  test('the declared format must match the file', () => {
    const vmdk = file('disk.img', img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE }));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(vmdk, { format: DiskImageFormat.RAW })] })).toThrow(
      /the format option says RAW, but the file is a VMDK; VM Import would read it as RAW and fail: declare it as VMDK/);
  });

  test('random bytes named .vmdk are refused', () => {
    const junk = file('junk.vmdk', Buffer.alloc(4096, 0x5a));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(junk)] })).toThrow(/its extension says VMDK, but the file has no VMDK header/);
  });

  test('a disk over the size limit fails the synth', () => {
    const huge = file('huge.vmdk', img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: 20 * img.TIB }));
    expect(() => image(newStack(), { disks: [DiskImage.fromAsset(huge)] })).toThrow(/its virtual size is 20 TiB; VM Import accepts disks under 16 TiB/);
  });

  test('a file with an unknown extension takes the format its header shows', () => {
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromAsset(file('web.disk', img.streamOptimizedVmdk({ head: img.hybridBootGpt(SIZE), capacity: SIZE })))] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { Disks: [{ Format: 'VMDK' }] });
  });

  test('inspect: false skips the inspection, for a file the user knows better about', () => {
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromAsset(file('trusted.vmdk', Buffer.alloc(4096, 0x5a)), { inspect: false })] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { Disks: [{ Format: 'VMDK' }] });
  });

  test('the example\'s sample disk passes the inspection with no findings', () => {
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromAsset(path.join(__dirname, '..', '..', 'examples', 'sample-disk.vmdk'))], bootMode: BootMode.UEFI });
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });
});

describe('keys and URLs without a file', () => {
  test.each([
    ['exports/web.qcow2', /the key "exports\/web.qcow2" is a qcow2 disk, which VM Import cannot read.*: qemu-img convert -f qcow2 -O vmdk -o subformat=streamOptimized web.qcow2 web.vmdk$/],
    ['exports/web.vdi', /the key "exports\/web.vdi" is a VirtualBox VDI disk.*qemu-img convert -f vdi -O vmdk -o subformat=streamOptimized web.vdi web.vmdk$/],
    ['exports/web.vmdk.gz', /the key "exports\/web.vmdk.gz" is a gzip-compressed file; VM Import reads disk files uncompressed: decompress it \(gunzip -k web.vmdk.gz\) and upload the disk file it holds \(web.vmdk\)$/],
    ['exports/web.zip', /is a zip archive file; .*decompress it \(unzip web.zip\)/],
    ['exports/web.raw.xz', /is a xz-compressed file; .*\(xz -dk web.raw.xz\) and upload the disk file it holds \(web.raw\)$/],
    ['exports/installer.iso', /is an ISO \(CD\/DVD\) image, an installer rather than a disk/],
  ])('a key ending like %s gets the conversion or decompression advice, not a format to pass', (key, message) => {
    const stack = newStack();
    let error: Error | undefined;
    try {
      image(stack, { disks: [DiskImage.fromBucket(bucket(stack), key)] });
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('pass { format');
  });

  test('an explicit format over such a key is taken, with a warning', () => {
    const stack = newStack();
    image(stack, { disks: [DiskImage.fromBucket(bucket(stack), 'exports/web.qcow2', { format: DiskImageFormat.VMDK })] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { Disks: [{ Format: 'VMDK', S3Key: 'exports/web.qcow2' }] });
    Annotations.fromStack(stack).hasWarning('/Stack/Img', Match.stringLikeRegexp('is a qcow2 disk.*imported as VMDK as the format option says.*\\[ack: cdk-vm-import-export:diskKeyExtension\\]'));
  });

  test('a key given as a token with a literal extension is accepted with that format', () => {
    const stack = newStack();
    const name = new CfnParameter(stack, 'DiskName', { default: 'web' }).valueAsString;
    image(stack, { disks: [DiskImage.fromBucket(bucket(stack), `exports/${name}.vhdx`), DiskImage.fromUrl(`s3://my-vm-disks/${name}.vmdk`)] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      Disks: [{ Format: 'VHDX', S3Key: { 'Fn::Join': ['', ['exports/', { Ref: 'DiskName' }, '.vhdx']] } }, { Format: 'VMDK' }],
    });
  });

  test('a token with a literal qcow2 extension gets the advice too', () => {
    const stack = newStack();
    const name = new CfnParameter(stack, 'DiskName', { default: 'web' }).valueAsString;
    expect(() => image(stack, { disks: [DiskImage.fromBucket(bucket(stack), `${name}.qcow2`)] })).toThrow(/is a qcow2 disk, which VM Import cannot read/);
  });

  test('a key that ends in a token still needs a format', () => {
    const stack = newStack();
    const key = new CfnParameter(stack, 'DiskKey').valueAsString;
    expect(() => image(stack, { disks: [DiskImage.fromBucket(bucket(stack), key)] })).toThrow(
      /cannot tell the disk format of the key from a value known only at deploy time; pass \{ format: DiskImageFormat.VMDK \}.*or end it with a literal extension/);
  });
});

describe('license settings VM Import rejects', () => {
  test('Linux with LicenseType.AWS is an error', () => {
    const stack = newStack();
    expect(() => image(stack, { disks: [DiskImage.fromBucket(bucket(stack), 'web.vmdk')], licenseType: LicenseType.AWS })).toThrow(
      'licenseType is LicenseType.AWS, but VM Import accepts only BYOL for Linux: use licenseType: LicenseType.BYOL');
  });

  test('Windows with LicenseType.AWS is fine', () => {
    const stack = newStack();
    expect(() => image(stack, { disks: [DiskImage.fromBucket(bucket(stack), 'web.vmdk')], platform: Platform.WINDOWS, licenseType: LicenseType.AWS })).not.toThrow();
  });

  test('licenseType and usageOperation together are an error', () => {
    const stack = newStack();
    expect(() => image(stack, {
      disks: [DiskImage.fromBucket(bucket(stack), 'web.vmdk')], platform: Platform.WINDOWS, licenseType: LicenseType.BYOL, usageOperation: 'RunInstances:0800',
    })).toThrow(/licenseType "BYOL" and usageOperation "RunInstances:0800" are both set; VM Import rejects an import that sets both: keep one/);
  });
});

describe('export prefix', () => {
  test('a prefix without a trailing "/" warns with the key it will produce', () => {
    const stack = newStack();
    warnIfExportPrefixLacksSlash(stack, 'exports[0]', 'vm-exports', VmDiskFormat.VMDK);
    Annotations.fromStack(stack).hasWarning('/Stack', Match.exact(
      'exports[0]: prefix "vm-exports" does not end with "/"; VM Export writes <prefix>export-ami-<id>.<format>, so the key will be like '
      + '"vm-exportsexport-ami-0123456789abcdef0.vmdk": use "vm-exports/" to write into a folder [ack: cdk-vm-import-export:exportPrefixWithoutSlash]'));
  });

  test.each([['vm/'], [''], [undefined]])('prefix %p gets no warning', (prefix) => {
    const stack = newStack();
    warnIfExportPrefixLacksSlash(stack, 'exports[0]', prefix, VmDiskFormat.RAW);
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });
});
