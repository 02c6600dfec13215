/**
 * The synth-time key names every wait condition and handle: a different key for the
 * same template would make each upgrade of the library re-create them. Against the
 * formula it replaces (a hash of Stack.resolve of the settings), for every shape of
 * setting the constructs hash.
 */
import { createHash } from 'crypto';
import { App, CfnParameter, Fn, Lazy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DiskImage, LicenseType, Platform, VmImportImage } from '../../src';
import { synthKey } from '../../src/private/synth-key';

function resolvedKey(stack: Stack, settings: object): string {
  return createHash('sha256').update(JSON.stringify(stack.resolve(settings))).digest('hex').slice(0, 8).toUpperCase();
}

describe('synthKey', () => {
  const stack = new Stack(new App(), 'Keys', { env: { account: '123456789012', region: 'us-east-1' } });
  const bucket = new s3.Bucket(stack, 'Disks');
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com') });
  const names = new CfnParameter(stack, 'Names', { type: 'CommaDelimitedList' });
  const joined = new CfnParameter(stack, 'Joined', { default: 'a,b' });

  test.each<[string, object]>([
    ['literals', { ImageName: 'web', ImageVersion: '1.0.0', timeout: 21600, Disks: [{ Format: 'VMDK', S3Bucket: 'b', S3Key: 'k' }] }],
    ['undefined keys and elements', { Description: undefined, LicenseConfigurationArns: ['a', undefined, 'b'], Disks: [{ S3Key: undefined }] }],
    ['empty lists and objects', { LicenseConfigurationArns: [], Tags: {} }],
    ['references', { RoleName: role.roleName, Disks: [{ S3Bucket: bucket.bucketName, S3Key: 'web.vmdk' }], Arn: bucket.bucketArn }],
    ['concatenations', { S3Key: `exports/${bucket.bucketName}/web.vmdk`, Url: Fn.join('/', ['s3:/', bucket.bucketName, 'x']) }],
    ['a lazy value', { ImageName: Lazy.string({ produce: () => 'lazy-name' }) }],
    ['a list token', { LicenseConfigurationArns: names.valueAsList }],
    ['a list from Fn::Split', { LicenseConfigurationArns: Fn.split(',', joined.valueAsString) }],
  ])('%s: the same key as a hash of Stack.resolve', (_what, settings) => {
    expect(synthKey(stack, settings)).toEqual(resolvedKey(stack, settings));
  });

  test('a list token keys by its expression, however many tokens were made before it', () => {
    const keyOf = (before: number) => {
      const s = new Stack(new App(), 'Keys');
      for (let i = 0; i < before; i++) Lazy.string({ produce: () => `${i}` });
      return synthKey(s, { LicenseConfigurationArns: new CfnParameter(s, 'Names', { type: 'CommaDelimitedList' }).valueAsList });
    };
    expect(keyOf(0)).toEqual(keyOf(25));
  });

  test("an image ARN that follows its wait condition keys as the ARN alone: what uses it does not follow the image's wait", () => {
    const image = new VmImportImage(stack, 'Web', {
      disks: [DiskImage.fromBucket(bucket, 'web.vmdk')], platform: Platform.LINUX, licenseType: LicenseType.BYOL,
    });
    expect(stack.resolve(image.imageArn)).toHaveProperty('Fn::Select');
    const attribute = (stack.resolve(image.imageArn) as any)['Fn::Select'][1][0];
    expect(synthKey(stack, { SourceImage: image.imageArn })).toEqual(resolvedKey(stack, { SourceImage: attribute }));
  });
});
