import { ImportFormat, shellArg } from './types';

/** File extensions that name a format VM Import reads. */
export const EXTENSION_FORMATS: Record<string, ImportFormat> = {
  '.ova': 'OVA',
  '.vmdk': 'VMDK',
  '.vhd': 'VHD',
  '.vhdx': 'VHDX',
  '.raw': 'RAW',
  '.img': 'RAW',
};

/** The last extension of a name (`.gz` of `web.vmdk.gz`), lowercase; '' when there is none. */
export function extensionOf(name: string): string {
  const base = name.replace(/[?#].*$/, '').split('/').pop() ?? '';
  const m = /(\.[A-Za-z0-9]+)$/.exec(base);
  return m ? m[1].toLowerCase() : '';
}

/** The name without its last extension (`web.vmdk` of `web.vmdk.gz`). */
function stem(name: string): string {
  const base = name.replace(/[?#].*$/, '').split('/').pop() ?? name;
  return base.replace(/\.[A-Za-z0-9]+$/, '');
}

const CONVERTIBLE: Record<string, { what: string; qemu: string }> = {
  '.qcow2': { what: 'qcow2', qemu: 'qcow2' },
  '.qcow': { what: 'qcow', qemu: 'qcow' },
  '.qed': { what: 'QED', qemu: 'qed' },
  '.vdi': { what: 'VirtualBox VDI', qemu: 'vdi' },
  '.hdd': { what: 'Parallels', qemu: 'parallels' },
  '.hds': { what: 'Parallels', qemu: 'parallels' },
};

const COMPRESSED: Record<string, { what: string; command: (file: string) => string }> = {
  '.gz': { what: 'gzip-compressed', command: (f) => `gunzip -k ${f}` },
  '.tgz': { what: 'gzip-compressed tar', command: (f) => `tar -xzf ${f}` },
  '.xz': { what: 'xz-compressed', command: (f) => `xz -dk ${f}` },
  '.bz2': { what: 'bzip2-compressed', command: (f) => `bunzip2 -k ${f}` },
  '.zst': { what: 'zstd-compressed', command: (f) => `zstd -d ${f}` },
  '.zip': { what: 'zip archive', command: (f) => `unzip ${f}` },
  '.7z': { what: '7-Zip archive', command: (f) => `7z x ${f}` },
  '.box': { what: 'Vagrant box (a compressed tar)', command: (f) => `tar -xzf ${f}` },
};

/**
 * What to do instead, for a name whose extension is a format VM Import cannot read or a
 * compressed file: lowercase text that follows the name in a message. Undefined for
 * extensions without such advice.
 */
export function adviceForExtension(name: string): string | undefined {
  const ext = extensionOf(name);
  const file = shellArg(name.replace(/[?#].*$/, '').split('/').pop() ?? name);
  const convertible = CONVERTIBLE[ext];
  if (convertible) {
    return `is a ${convertible.what} disk, which VM Import cannot read (it reads OVA, stream-optimized VMDK, VHD, VHDX and raw); `
      + `convert it and upload the result: qemu-img convert -f ${convertible.qemu} -O vmdk -o subformat=streamOptimized ${file} ${shellArg(`${stem(name)}.vmdk`)}`;
  }
  const compressed = COMPRESSED[ext];
  if (compressed) {
    const inner = stem(name);
    const innerAdvice = EXTENSION_FORMATS[extensionOf(inner)] ? ` (${shellArg(inner)})` : '';
    return `is a ${compressed.what} file; VM Import reads disk files uncompressed: decompress it (${compressed.command(file)}) and upload the disk file it holds${innerAdvice}`;
  }
  switch (ext) {
    case '.iso':
      return 'is an ISO (CD/DVD) image, an installer rather than a disk, which VM Import does not import: install the OS from it in a VM and import that VM\'s disk';
    case '.ovf':
      return 'is an OVF descriptor, which holds no disk data: upload the OVA (a tar of the .ovf followed by its disks: tar -cf vm.ova vm.ovf vm-disk1.vmdk) or the disk files themselves';
    case '.tar':
      return 'is a tar archive, which VM Import reads only as an OVA: if it holds an .ovf descriptor first, name it .ova; otherwise unpack it and upload the disk file';
    case '.vmx':
    case '.vmsd':
    case '.nvram':
      return 'is a VMware configuration file, not a disk: export the VM as OVF or OVA and upload that';
    default:
      return undefined;
  }
}
