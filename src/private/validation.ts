import { Duration, Token } from 'aws-cdk-lib';

/** Image Builder's pattern for resource names (images, distribution configurations). */
export const RESOURCE_NAME_PATTERN = /^[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]$/;
/** Image Builder's pattern for semantic versions. */
export const SEMANTIC_VERSION_PATTERN = /^[0-9]+\.[0-9]+\.[0-9]+$/;

/** Throws unless `value` is an Image Builder resource name (skipped for tokens). */
export function validateImageName(prop: string, value: string): void {
  if (Token.isUnresolved(value) || RESOURCE_NAME_PATTERN.test(value)) return;
  throw new Error(`${prop} "${value}" is not a valid Image Builder name: use 3 to 128 letters, digits, "-", "_" or inner spaces (pattern ${RESOURCE_NAME_PATTERN.source})`);
}

/** Throws unless `value` is `major.minor.patch` (skipped for tokens). */
export function validateSemanticVersion(prop: string, value: string): void {
  if (Token.isUnresolved(value) || SEMANTIC_VERSION_PATTERN.test(value)) return;
  throw new Error(`${prop} "${value}" is not a semantic version; use major.minor.patch, e.g. "1.0.0"`);
}

/**
 * Throws unless `value` is one of an enum's values: TypeScript holds its callers to
 * the enum, callers in JavaScript (or with a cast) are not.
 */
export function validateEnumValue(prop: string, value: string | undefined, enumName: string, members: Record<string, string>, note: string = ''): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  const allowed = Object.entries(members);
  if (allowed.some(([, v]) => v === value)) return;
  throw new Error(`${prop} "${value}" is not a ${enumName}${note}; use ${allowed.map(([k]) => `${enumName}.${k}`).join(', ')}`);
}

/**
 * Throws on license settings VM Import rejects (VM Import/Export User Guide, "Licensing
 * options"): "Specifying a value for both parameters will return an error", and "Linux
 * operating systems support only the BYOL license type". A usageOperation token still counts as set.
 */
export function validateLicensing(platform: string, licenseType: string | undefined, usageOperation: string | undefined): void {
  if (licenseType !== undefined && usageOperation !== undefined) {
    throw new Error(`licenseType "${licenseType}" and usageOperation "${usageOperation}" are both set; VM Import rejects an import that sets both: keep one (usageOperation alone can name the OS and SQL Server licensing, e.g. "RunInstances:0002")`);
  }
  if (platform === 'Linux' && licenseType === 'AWS') {
    throw new Error('licenseType is LicenseType.AWS, but VM Import accepts only BYOL for Linux: use licenseType: LicenseType.BYOL (Linux AMIs are billed at Linux rates either way)');
  }
}

/** Throws unless a duration is whole seconds from `min` to `max`, known at synth. */
export function validateDuration(prop: string, value: Duration, min: Duration, max: Duration, fix: string): void {
  if (Token.isUnresolved(value.toSeconds({ integral: false }))) {
    throw new Error(`${prop} must be known at synth time; got a token`);
  }
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min.toSeconds() || seconds > max.toSeconds()) {
    throw new Error(`${prop} is ${value.toHumanString()}; it must be whole seconds from ${min.toHumanString()} to ${max.toHumanString()}: ${fix}`);
  }
}
