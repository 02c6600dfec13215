// @aws-cdk/aws-imagebuilder-alpha builds on a VmImportImage and distributes
// through a VmDiskDistribution: alpha's ImageRecipe, Image and ImagePipeline,
// synthesized, cfn-lint clean. The library itself does not depend on the alpha.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AmazonManagedComponent, DistributionConfiguration, IDistributionConfiguration, IImage, Image, ImagePipeline, ImageRecipe, Platform as AlphaPlatform,
} from '@aws-cdk/aws-imagebuilder-alpha';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DiskImage, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImportImage } from 'cdk-vm-import-export';
import { cfnLint, tempDir } from './support';

test('alpha\'s ImageRecipe, Image and ImagePipeline build on a VmImportImage and distribute through a VmDiskDistribution', () => {
  const outdir = tempDir('alpha');
  const app = new App({ outdir });
  const stack = new Stack(app, 'Alpha', { env: { account: '111122223333', region: 'us-east-1' } });
  const vm = new VmImportImage(stack, 'Web', {
    disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks'), 'exports/web-01.vmdk')],
    platform: Platform.LINUX,
    licenseType: LicenseType.BYOL,
  });
  const dist = new VmDiskDistribution(stack, 'Dist', {
    exports: [{ bucket: s3.Bucket.fromBucketName(stack, 'Exports', 'my-vm-exports'), prefix: 'vm/', format: VmDiskFormat.VMDK }],
  });

  // The README's one line.
  const parent = Image.fromImageArn(stack, 'Parent', vm.imageArn);
  const recipe = new ImageRecipe(stack, 'Recipe', {
    baseImage: parent.toBaseImage(),
    components: [{ component: AmazonManagedComponent.updateOs(stack, 'UpdateOs', { platform: AlphaPlatform.LINUX }) }],
  });
  // In TypeScript the distribution is passed as it is: IVmDiskDistribution has IDistributionConfiguration's members.
  const asAlpha: IDistributionConfiguration = dist;
  new ImagePipeline(stack, 'Pipeline', { recipe, distributionConfiguration: asAlpha });
  new Image(stack, 'Built', { recipe, distributionConfiguration: dist });
  // In the other jsii languages (nominal interfaces), by ARN.
  new ImagePipeline(stack, 'PipelineByArn', {
    recipe,
    distributionConfiguration: DistributionConfiguration.fromDistributionConfigurationArn(stack, 'DistByArn', dist.distributionConfigurationArn),
  });
  // As the README says, a VmImportImage is not an alpha IImage (no grantDefaultExecutionRolePermissions,
  // toBaseImage, toContainerBaseImage): when this stops being an error, the README must change.
  // @ts-expect-error TS2739
  const notAnAlphaImage: IImage = vm;
  void notAnAlphaImage;

  app.synth();
  const template = Template.fromStack(stack);
  const [importId] = Object.keys(template.findResources('Custom::VmImportImage'));
  const waits = Object.keys(template.findResources('AWS::CloudFormation::WaitCondition'));
  const distribution = Object.keys(template.findResources('Custom::VmDiskDistribution'));
  assert.equal(waits.length, 1);
  assert.equal(distribution.length, 1);
  // Alpha's recipe takes the ARN as it is: it names the wait condition, so the recipe waits for the import.
  template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', { ParentImage: { 'Fn::Select': [0, [{ 'Fn::GetAtt': [importId, 'ImageArn'] }, { Ref: waits[0] }]] } });
  template.resourcePropertiesCountIs('AWS::ImageBuilder::ImagePipeline', { DistributionConfigurationArn: { 'Fn::GetAtt': [distribution[0], 'Arn'] } }, 2);
  template.hasResourceProperties('AWS::ImageBuilder::Image', { DistributionConfigurationArn: { 'Fn::GetAtt': [distribution[0], 'Arn'] } });
  cfnLint(outdir);
});
