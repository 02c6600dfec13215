/**
 * The file format of a VM disk to import.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/prerequisites.html#vmimport-image-formats
 */
export enum DiskImageFormat {
  /** Open Virtual Appliance: a whole VM in one archive. Must be the only disk of an import. */
  OVA = 'OVA',
  /** VMware stream-optimized VMDK. */
  VMDK = 'VMDK',
  /** Microsoft Hyper-V / Citrix Xen VHD. */
  VHD = 'VHD',
  /** Microsoft Hyper-V VHDX. */
  VHDX = 'VHDX',
  /** A raw disk image. */
  RAW = 'RAW',
}

/**
 * The operating system platform of the imported VM.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/prerequisites.html#vmimport-operating-systems
 */
export enum Platform {
  /** Linux. */
  LINUX = 'Linux',
  /** Windows. */
  WINDOWS = 'Windows',
}

/**
 * The boot mode of the imported VM.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportImage.html
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html
 */
export enum BootMode {
  /** Legacy BIOS. */
  LEGACY_BIOS = 'legacy-bios',
  /** UEFI. */
  UEFI = 'uefi',
  /**
   * UEFI where the instance type supports it, legacy BIOS otherwise. RegisterImage
   * accepts it (`ImportedAmi`); VM Import does not (`VmImportImage` refuses it).
   */
  UEFI_PREFERRED = 'uefi-preferred',
}

/**
 * The license type of the imported image.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/licensing.html
 */
export enum LicenseType {
  /** AWS provides the license (license-included). */
  AWS = 'AWS',
  /** Bring your own license. */
  BYOL = 'BYOL',
}

/**
 * The CPU architecture of the imported VM.
 *
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportImage.html
 * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html
 */
export enum Architecture {
  /** 32-bit x86 (Windows only; Linux imports must be 64-bit). */
  I386 = 'i386',
  /** 64-bit x86. */
  X86_64 = 'x86_64',
  /**
   * 64-bit Arm (Graviton). VM Import's ImportImage does not accept it: import such
   * VMs with `ImportedAmi` (ImportSnapshot and RegisterImage).
   */
  ARM64 = 'arm64',
}
