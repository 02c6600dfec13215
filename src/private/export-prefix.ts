import { Annotations, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * Warns when an export prefix does not end with "/". VM Export names the file
 * `<prefix>export-ami-<id>.<format>` (VM Import/Export User Guide, "Exporting a VM directly
 * from an AMI"), so "vm" makes "vmexport-ami-...", not a file in a "vm/" folder. A prefix
 * may be meant that way, hence a warning, with the key it will produce.
 *
 * @param scope the construct the warning is attached to
 * @param where what the message names first, e.g. `exports[0]`
 * @param prefix the prefix as given (undefined or empty: the bucket's root, no warning)
 * @param format the export format (`VMDK`, `RAW`, `VHD`), for the example key
 */
export function warnIfExportPrefixLacksSlash(scope: Construct, where: string, prefix: string | undefined, format: string): void {
  if (!prefix || Token.isUnresolved(prefix) || prefix.endsWith('/')) return;
  const ext = Token.isUnresolved(format) ? '<format>' : format.toLowerCase();
  Annotations.of(scope).addWarningV2('cdk-vm-import-export:exportPrefixWithoutSlash',
    `${where}: prefix "${prefix}" does not end with "/"; VM Export writes <prefix>export-ami-<id>.<format>, so the key will be like "${prefix}export-ami-0123456789abcdef0.${ext}": use "${prefix}/" to write into a folder`);
}
