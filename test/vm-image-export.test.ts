import { App, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import {
  DiskImage, ExportSource, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImageExport, VmImportImage,
} from '../src';
import { EXPORT_ENV, EXPORT_PREFIX, twoRegionExportStack, WEST_BUCKET } from './support/image-export-stacks';

const EXPORT_TYPE = 'Custom::VmImageExport';

function resourcesOf(template: Template, type: string): Array<[string, any]> {
  return Object.entries(template.findResources(type));
}

function theOne(template: Template, type: string): [string, any] {
  const found = resourcesOf(template, type);
  expect(found).toHaveLength(1);
  return found[0];
}

function exportStack(): { stack: Stack; image: VmImportImage; dist: VmDiskDistribution; bucket: s3.Bucket } {
  const stack = new Stack(new App(), 'ExportTest', { env: EXPORT_ENV });
  const image = new VmImportImage(stack, 'Web', {
    disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks'), 'web.vmdk')],
    platform: Platform.LINUX,
    licenseType: LicenseType.BYOL,
  });
  const bucket = new s3.Bucket(stack, 'Exports');
  const dist = new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket, prefix: 'vm/', format: VmDiskFormat.VMDK }] });
  return { stack, image, dist, bucket };
}

describe('the stack that imports a VMDK and exports it as VHD to two Regions', () => {
  const stack = twoRegionExportStack();
  const template = Template.fromStack(stack);

  test('distributes the imported image, once it is AVAILABLE, with the distribution and its two exports', () => {
    const [, resource] = theOne(template, EXPORT_TYPE);
    expect(resource.Properties).toMatchObject({
      // The import's ARN through its wait condition: the export starts only once the import is AVAILABLE.
      SourceImage: { 'Fn::Select': [0, [{ 'Fn::GetAtt': [expect.stringMatching(/^Web/), 'ImageArn'] }, { Ref: expect.stringMatching(/^WebWait/) }]] },
      DistributionConfigurationArn: { 'Fn::GetAtt': [expect.stringMatching(/^VhdExports/), 'Arn'] },
      Exports: [
        { Region: 'us-east-1', Bucket: { Ref: expect.stringMatching(/^Exports/) }, Prefix: EXPORT_PREFIX, Format: 'VHD' },
        { Region: 'us-west-2', Bucket: WEST_BUCKET, Prefix: EXPORT_PREFIX, Format: 'VHD' },
      ],
      ExecutionRole: { 'Fn::GetAtt': [expect.stringMatching(/^VmImageExportExecutionRole/), 'Arn'] },
      Tags: { 'cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } },
      WaitForCompletion: 'true',
      TimeoutSeconds: String(6 * 3600),
      RemovalPolicy: 'destroy',
      SignalUrl: { Ref: expect.stringMatching(/^WebVhdSignal/) },
    });
    expect(resource.DeletionPolicy).toBe('Delete');
  });

  test('waits through a wait condition, then a read step that exportedImageArn comes from', () => {
    const [exportId, exportResource] = theOne(template, EXPORT_TYPE);
    const waits = resourcesOf(template, 'AWS::CloudFormation::WaitCondition').filter(([id]) => id.startsWith('WebVhdWait'));
    expect(waits).toHaveLength(1);
    const [waitId, wait] = waits[0];
    expect(wait.DependsOn).toEqual([exportId]);
    expect(wait.Properties.Timeout).toBe(String(6 * 3600 + 300));
    expect(exportResource.Properties.WaitConditionLogicalId).toBe(waitId);
    const [, complete] = theOne(template, 'Custom::VmImageExportComplete');
    expect(complete.Properties).toMatchObject({
      ExportedImageArn: { 'Fn::GetAtt': [exportId, 'ExportedImageArn'] },
      WaitCondition: { Ref: waitId },
    });
    const [completeId] = theOne(template, 'Custom::VmImageExportComplete');
    expect(stack.resolve(stack.exported.exportedImageArn)).toEqual({ 'Fn::GetAtt': [completeId, 'ExportedImageArn'] });
  });

  test('makes no pipeline, recipe or build', () => {
    for (const type of ['AWS::ImageBuilder::ImagePipeline', 'AWS::ImageBuilder::ImageRecipe', 'AWS::ImageBuilder::Image', 'AWS::ImageBuilder::InfrastructureConfiguration']) {
      expect(resourcesOf(template, type)).toEqual([]);
    }
  });

  test('the execution role trusts only Image Builder of this account, may pass only the export role to VM Export, and reaches no bucket', () => {
    const [roleId, role] = resourcesOf(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('VmImageExportExecutionRole'))!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([{
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Principal: { Service: 'imagebuilder.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': EXPORT_ENV.account } },
    }]);
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const actions = statements.flatMap((s: any) => [].concat(s.Action));
    expect(actions.filter((a: string) => a.startsWith('s3:'))).toEqual([]);
    expect(statements.filter((s: any) => [].concat(s.Action).includes('iam:PassRole' as never))).toEqual([{
      Action: 'iam:PassRole',
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^VhdExportsExportRole/), 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'vmie.amazonaws.com' } },
    }]);
    expect(actions).toEqual(expect.arrayContaining(['ec2:ExportImage', 'ec2:CopyImage']));
  });

  test('the handlers may distribute only with the stack\'s tag in the request, and pass only the execution role', () => {
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('VmImageExportProvider'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const distribute = statements.filter((s: any) => [].concat(s.Action).includes('imagebuilder:DistributeImage' as never));
    expect(distribute.length).toBeGreaterThan(0);
    for (const s of distribute) {
      expect(s.Condition).toEqual({ StringEquals: { 'aws:RequestTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } });
    }
    const passes = statements.filter((s: any) => [].concat(s.Action).includes('iam:PassRole' as never));
    expect(passes.length).toBe(2);
    for (const s of passes) expect(s.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^VmImageExportExecutionRole/), 'Arn'] });
  });

  test('reports no warning and no error', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });
});

describe('updates: what exports again and what does not', () => {
  const waitIdOf = (template: Template) => resourcesOf(template, 'AWS::CloudFormation::WaitCondition').map(([id]) => id).filter((id) => id.startsWith('WebVhdWait'));

  test('a tag change keeps the wait condition (no new wait, no new export)', () => {
    const before = waitIdOf(Template.fromStack(twoRegionExportStack()));
    const after = waitIdOf(Template.fromStack(twoRegionExportStack({ exportTags: { team: 'platform' } })));
    expect(after).toEqual(before);
  });

  test('a new version of the imported image gets a new wait condition, so the new export is waited for', () => {
    const before = waitIdOf(Template.fromStack(twoRegionExportStack()));
    const after = waitIdOf(Template.fromStack(twoRegionExportStack({ imageVersion: '1.0.1' })));
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
  });

  test('Tags.of reaches the distributed image\'s tags', () => {
    const stack = twoRegionExportStack();
    Tags.of(stack.exported).add('cost-center', '42');
    const [, resource] = theOne(Template.fromStack(stack), EXPORT_TYPE);
    expect(resource.Properties.Tags).toMatchObject({ 'cost-center': '42' });
  });
});

describe('options', () => {
  test('waitForCompletion false: no wait condition, no read step, exportedImageArn from the export itself', () => {
    const { stack, image, dist } = exportStack();
    const exp = new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist, waitForCompletion: false });
    const template = Template.fromStack(stack);
    const [id, resource] = theOne(template, EXPORT_TYPE);
    expect(resource.Properties.SignalUrl).toBeUndefined();
    expect(resource.Properties.WaitForCompletion).toBe('false');
    expect(resourcesOf(template, 'Custom::VmImageExportComplete')).toEqual([]);
    expect(stack.resolve(exp.exportedImageArn)).toEqual({ 'Fn::GetAtt': [id, 'ExportedImageArn'] });
  });

  test('RETAIN keeps what a deployment made but rolls back a failed create', () => {
    const { stack, image, dist } = exportStack();
    new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist, removalPolicy: RemovalPolicy.RETAIN });
    const [, resource] = theOne(Template.fromStack(stack), EXPORT_TYPE);
    expect(resource.DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    expect(resource.Properties.RemovalPolicy).toBe('retain');
  });

  test('an AMI source, a given execution role (which is then allowed to pass the export role) and a log group', () => {
    const { stack, dist } = exportStack();
    const role = new iam.Role(stack, 'MyRole', { assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com') });
    const logGroup = new logs.LogGroup(stack, 'Logs', { logGroupName: '/aws/imagebuilder/exports' });
    const exp = new VmImageExport(stack, 'Export', {
      source: ExportSource.fromAmiId('ami-0123456789abcdef0'), distribution: dist, executionRole: role, logGroup,
    });
    expect(exp.executionRole).toBe(role);
    const template = Template.fromStack(stack);
    const [, resource] = theOne(template, EXPORT_TYPE);
    expect(resource.Properties).toMatchObject({
      SourceImage: 'ami-0123456789abcdef0',
      ExecutionRole: { 'Fn::GetAtt': [expect.stringMatching(/^MyRole/), 'Arn'] },
      LogGroupName: { Ref: expect.stringMatching(/^Logs/) },
    });
    expect(resourcesOf(template, 'AWS::IAM::Role').filter(([id]) => id.startsWith('VmImageExportExecutionRole'))).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^MyRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DistExportRole'), 'Arn'] } }),
          Match.objectLike({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] }),
        ]),
      },
    });
  });

  test('an SSM source: Image Builder may read the parameter, with the handlers\' or the execution role\'s credentials', () => {
    const { stack, dist } = exportStack();
    const parameter = ssm.StringParameter.fromStringParameterName(stack, 'Ami', '/images/web/ami');
    new VmImageExport(stack, 'Export', { source: ExportSource.fromSsmParameter(parameter), distribution: dist });
    const template = Template.fromStack(stack);
    const [, resource] = theOne(template, EXPORT_TYPE);
    expect(resource.Properties.SourceImage).toBe('ssm:/images/web/ami');
    const reads = resourcesOf(template, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.PolicyDocument.Statement
      .some((s: any) => s.Action === 'ssm:GetParameter'));
    // The onEvent role, the isComplete role and the execution role.
    expect(reads).toHaveLength(3);
  });

  test('an image ARN source, and one provider per stack for several exports', () => {
    const { stack, image, dist } = exportStack();
    new VmImageExport(stack, 'A', { source: ExportSource.fromImage(image), distribution: dist });
    new VmImageExport(stack, 'B', { source: ExportSource.fromImageArn('arn:aws:imagebuilder:us-east-1:111122223333:image/web/1.0.0/3'), distribution: dist });
    const template = Template.fromStack(stack);
    expect(resourcesOf(template, EXPORT_TYPE)).toHaveLength(2);
    expect(resourcesOf(template, 'AWS::StepFunctions::StateMachine').filter(([id]) => id.startsWith('VmImageExportProvider'))).toHaveLength(2);
    const pollers = resourcesOf(template, 'AWS::StepFunctions::StateMachine').filter(([id]) => id.startsWith('VmImageExportProviderPoller'));
    expect(pollers).toHaveLength(1);
  });
});

describe('synth-time checks', () => {
  test('a distribution without exports is a warning: DistributeImage would only copy AMIs', () => {
    const { stack, image } = exportStack();
    const amisOnly = new VmDiskDistribution(stack, 'AmisOnly', { amiDistributions: [{ amiName: 'web-{{ imagebuilder:buildDate }}' }] });
    new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: amisOnly });
    const warnings = Annotations.fromStack(stack).findWarning('/ExportTest/Export', Match.stringLikeRegexp('has no export, so DistributeImage would only copy AMIs'));
    expect(warnings).toHaveLength(1);
  });

  test('an image imported with an encryptionKey is refused, naming VM Export\'s rule', () => {
    const { stack, dist } = exportStack();
    const encrypted = new VmImportImage(stack, 'Encrypted', {
      disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'D2', 'my-vm-disks'), 'db.vmdk')],
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
      encryptionKey: new kms.Key(stack, 'Key'),
    });
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(encrypted), distribution: dist }))
      .toThrow(/source: ExportTest\/Encrypted is imported with an encryptionKey, and VM Export cannot export an AMI with encrypted snapshots \(https:\/\/docs\.aws\.amazon\.com\/vm-import\/latest\/userguide\/limits-image-export\.html\)/);
  });

  test('an import that does not wait for its image is refused: DistributeImage distributes only AVAILABLE images', () => {
    const { stack, dist } = exportStack();
    const early = new VmImportImage(stack, 'Early', {
      disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'D2', 'my-vm-disks'), 'early.vmdk')],
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
      imageName: 'early',
      waitForAvailable: false,
    });
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(early), distribution: dist }))
      .toThrow(/source: ExportTest\/Early has waitForAvailable: false, .*set waitForAvailable: true on the import/);
  });

  test('an AWS-licensed Windows image is refused; a Windows image without a license type is a warning', () => {
    const { stack, dist } = exportStack();
    const disks = s3.Bucket.fromBucketName(stack, 'D2', 'my-vm-disks');
    const licensed = new VmImportImage(stack, 'Licensed', {
      disks: [DiskImage.fromBucket(disks, 'win.vmdk')], platform: Platform.WINDOWS, licenseType: LicenseType.AWS, imageName: 'licensed',
    });
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(licensed), distribution: dist }))
      .toThrow(/Windows image with licenseType LicenseType\.AWS, and VM Export cannot export AWS-licensed Windows images .*LicenseType\.BYOL/);
    const unknown = new VmImportImage(stack, 'Unknown', { disks: [DiskImage.fromBucket(disks, 'win2.vmdk')], platform: Platform.WINDOWS, imageName: 'unknown' });
    new VmImageExport(stack, 'Export2', { source: ExportSource.fromImage(unknown), distribution: dist });
    expect(Annotations.fromStack(stack).findWarning('/ExportTest/Export2', Match.stringLikeRegexp('without a licenseType'))).toHaveLength(1);
  });

  test('an SSE-KMS export bucket is a warning on the export too', () => {
    const { stack, image } = exportStack();
    const kmsBucket = new s3.Bucket(stack, 'KmsBucket', { encryption: s3.BucketEncryption.KMS_MANAGED });
    const dist = new VmDiskDistribution(stack, 'KmsDist', { exports: [{ bucket: kmsBucket, format: VmDiskFormat.RAW }] });
    new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist });
    expect(Annotations.fromStack(stack).findWarning('/ExportTest/Export', Match.stringLikeRegexp('VM Export cannot write to SSE-KMS buckets'))).toHaveLength(1);
  });

  test('a bucket in another Region than its export is an error, for any IVmDiskDistribution', () => {
    const { stack, image } = exportStack();
    const eu = s3.Bucket.fromBucketAttributes(stack, 'Eu', { bucketName: 'exports-eu', region: 'eu-west-1' });
    const base = VmDiskDistribution.fromDistributionConfigurationArn(stack, 'Other', 'arn:aws:imagebuilder:us-east-1:111122223333:distribution-configuration/other');
    const custom = Object.assign(Object.create(base), {
      exports: [{ bucket: eu, format: VmDiskFormat.VMDK }],
      exportRole: iam.Role.fromRoleName(stack, 'Vmimport', 'vmimport'),
    });
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: custom }))
      .toThrow(/bucket "exports-eu" is in eu-west-1 but the export is from us-east-1; VM Export writes only to a bucket in the Region of the export/);
  });

  test('a distribution referred to by ARN needs an executionRole (its export role is unknown)', () => {
    const { stack, image } = exportStack();
    const byArn = VmDiskDistribution.fromDistributionConfigurationArn(stack, 'ByArn', 'arn:aws:imagebuilder:us-east-1:111122223333:distribution-configuration/nightly');
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: byArn }))
      .toThrow(/does not say which role VM Export uses .*give executionRole/);
    const role = new iam.Role(stack, 'MyRole', { assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com') });
    expect(() => new VmImageExport(stack, 'Export2', { source: ExportSource.fromImage(image), distribution: byArn, executionRole: role })).not.toThrow();
  });

  test('exports added to the distribution after the export was defined are an error at synth', () => {
    const { stack, image, dist } = exportStack();
    new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist });
    dist.addExport({ region: 'us-west-2', bucket: s3.Bucket.fromBucketAttributes(stack, 'West', { bucketName: 'west-exports', region: 'us-west-2' }), format: VmDiskFormat.RAW });
    expect(() => Template.fromStack(stack)).toThrow(/had 1 export\(s\) when ExportTest\/Export was defined and has 2 now; give the distribution its exports before defining the VmImageExport/);
  });

  test.each([
    [() => ExportSource.fromAmiId('ami-123'), /ExportSource.fromAmiId: "ami-123" is not an AMI id/],
    [() => ExportSource.fromImageArn('arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0'), /ExportSource.fromImageArn: .* is not an Image Builder image ARN/],
  ])('a malformed source is refused with the value and the expected form', (make, message) => {
    expect(make).toThrow(message);
  });

  test.each([
    ['a timeout over 12 hours', { timeout: Duration.hours(13) }, /timeout is 13 hours; it must be whole seconds from 1 minute to 12 hours/],
    ['a timeout under a minute', { timeout: Duration.seconds(30) }, /timeout is 30 seconds; it must be whole seconds from 1 minute to 12 hours/],
    ['a maxPollInterval under pollInterval', { maxPollInterval: Duration.seconds(10) }, /maxPollInterval is 10 seconds; .* no less than pollInterval/],
    ['RemovalPolicy.SNAPSHOT', { removalPolicy: RemovalPolicy.SNAPSHOT }, /removalPolicy snapshot is not supported by a VmImageExport .*RemovalPolicy.DESTROY or RemovalPolicy.RETAIN/],
  ] as Array<[string, object, RegExp]>)('refuses %s', (_label, extra, message) => {
    const { stack, image, dist } = exportStack();
    expect(() => new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist, ...extra })).toThrow(message);
  });

  test('more tags than the image has room for beside the library\'s', () => {
    const { stack, image, dist } = exportStack();
    const tags = Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`k${i}`, 'v']));
    new VmImageExport(stack, 'Export', { source: ExportSource.fromImage(image), distribution: dist, tags });
    expect(() => Template.fromStack(stack)).toThrow(/the export has 47 tags; Image Builder accepts 50 on an image, 4 of which the library sets .*remove 1/);
  });
});
