import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DiskImage, LicenseType, Platform, VmImportExportServiceRole, VmImportImage } from '../../src';
import { ENV, addRepresentativeStacks } from '../support/stacks';

/**
 * Every AwsSolutions finding (errors, warnings and info alike), one line each.
 *
 * validateScope, not Validations.of(app).addPlugins: aws-cdk-lib 2.257 gives
 * plugins no construct tree, so cdk-nag 3 cannot run as a synth plugin there.
 * The app is synthesized first, so that aspects (tags) have run.
 */
function findings(app: App): string[] {
  app.synth();
  const report = new AwsSolutionsChecks(app).validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`));
}

describe('AwsSolutions', () => {
  test('reports nothing unacknowledged for the example app and every construct option', () => {
    const app = new App();
    addRepresentativeStacks(app);
    expect(findings(app)).toEqual([]);
  });

  test('still reports a wildcard a user adds to a VmImportExportServiceRole', () => {
    const app = new App();
    const stack = new Stack(app, 'UserWildcard', { env: ENV });
    const role = new VmImportExportServiceRole(stack, 'Role');
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));

    expect(findings(app)).toEqual([expect.stringMatching(/^error AwsSolutions-IAM5\[Resource::\*\] at UserWildcard\/Role\/DefaultPolicy\/Resource/)]);
  });

  test('still reports a wildcard on a user\'s own disk bucket grant', () => {
    const app = new App();
    const stack = new Stack(app, 'UserGrant', { env: ENV });
    const image = new VmImportImage(stack, 'Image', {
      disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks'), 'web.vmdk')],
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
    });
    image.serviceRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::my-vm-disks/*'] }));

    expect(findings(app)).toEqual([expect.stringMatching(/AwsSolutions-IAM5\[Resource::arn:aws:s3:::my-vm-disks\/\*\] at UserGrant\/VmImportServiceRole\/DefaultPolicy/)]);
  });
});
