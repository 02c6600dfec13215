import * as path from 'path';
import { App, CfnParameter, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  Architecture, BootMode, DiskImage, DiskImageFormat, LicenseType, Platform, VmImportImage, VmImportImageProps,
} from '../src';

const SAMPLE_DISK = path.join(__dirname, '..', 'examples', 'sample-disk.vmdk');

function newStack(): Stack {
  return new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
}

function image(stack: Stack, id: string, props: Partial<VmImportImageProps> = {}): VmImportImage {
  const bucket = s3.Bucket.fromBucketName(stack, `${id}Bucket`, 'my-vm-disks');
  return new VmImportImage(stack, id, {
    disks: [DiskImage.fromBucket(bucket, 'exports/web-01.vmdk')],
    platform: Platform.LINUX,
    licenseType: LicenseType.BYOL,
    ...props,
  });
}

/** Every IAM statement attached (inline) to the role with this logical id prefix. */
function statementsOf(template: Template, roleIdPrefix: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p: any) => p.Properties.Roles.some((r: any) => String(r.Ref).startsWith(roleIdPrefix)))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

function actionsOf(statements: any[]): string[] {
  return statements.flatMap((s) => [].concat(s.Action)).sort();
}

describe('VmImportImage resource', () => {
  test('renders the import request with the disk, platform and image identity', () => {
    const stack = newStack();
    image(stack, 'Web', {
      imageName: 'web-server',
      imageVersion: '2.1.0',
      description: 'web tier',
      osVersion: 'Ubuntu 22',
      architecture: Architecture.X86_64,
      bootMode: BootMode.UEFI,
      // VM Import rejects licenseType and usageOperation together.
      licenseType: undefined,
      usageOperation: 'RunInstances:0002',
      licenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123'],
    });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      ImageName: 'web-server',
      ImageVersion: '2.1.0',
      Description: 'web tier',
      Platform: 'Linux',
      OsVersion: 'Ubuntu 22',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      LicenseType: Match.absent(),
      UsageOperation: 'RunInstances:0002',
      LicenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123'],
      Disks: [{ Format: 'VMDK', S3Bucket: 'my-vm-disks', S3Key: 'exports/web-01.vmdk' }],
      RoleName: { Ref: Match.stringLikeRegexp('^VmImportServiceRole') },
      WaitForAvailable: 'true',
      TimeoutSeconds: '3300',
      RemovalPolicy: 'destroy',
    });
  });

  test('takes the format from an explicit option over the extension', () => {
    const stack = newStack();
    const bucket = s3.Bucket.fromBucketName(stack, 'B', 'disks');
    image(stack, 'Img', { disks: [DiskImage.fromBucket(bucket, 'disk.bin', { format: DiskImageFormat.RAW, deviceName: '/dev/sda1', description: 'boot' })] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      Disks: [{ Format: 'RAW', S3Key: 'disk.bin', DeviceName: '/dev/sda1', Description: 'boot' }],
    });
  });

  test('passes an s3 URL through and lets the service role read that object', () => {
    const stack = newStack();
    image(stack, 'Img', { disks: [DiskImage.fromUrl('s3://other-bucket/vms/app.ova')] });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::VmImportImage', {
      Disks: [{ Format: 'OVA', Url: 's3://other-bucket/vms/app.ova', S3Bucket: Match.absent(), S3Key: Match.absent() }],
    });
    const stmts = statementsOf(template, 'VmImportServiceRole');
    expect(stmts).toContainEqual(expect.objectContaining({
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::other-bucket/vms/app.ova']] },
    }));
  });

  test('imports an EBS snapshot without a format', () => {
    const stack = newStack();
    image(stack, 'Img', { disks: [DiskImage.fromSnapshot('snap-0123456789abcdef0')] });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      Disks: [{ SnapshotId: 'snap-0123456789abcdef0', Format: Match.absent() }],
    });
  });

  test('uploads a local disk as an asset and reads it from the asset bucket', () => {
    const stack = newStack();
    image(stack, 'Img', { disks: [DiskImage.fromAsset(SAMPLE_DISK)] });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::VmImportImage', {
      Disks: [{
        Format: 'VMDK',
        S3Bucket: Match.stringLikeRegexp('^cdk-[a-z0-9]+-assets-123456789012-us-east-1$'),
        S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.vmdk$'),
      }],
    });
  });

  test('encrypts with the given key and lets the service role use it', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    image(stack, 'Img', { encryptionKey: key });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::VmImportImage', { KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] } });
    const kmsActions = actionsOf(statementsOf(template, 'VmImportServiceRole').filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('kms:'))));
    // The documented kms:GenerateDataKey* and kms:ReEncrypt*, spelled out (no wildcard for cdk-nag to flag).
    expect(kmsActions).toEqual([
      'kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt',
      'kms:GenerateDataKey', 'kms:GenerateDataKeyPair', 'kms:GenerateDataKeyPairWithoutPlaintext', 'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncryptFrom', 'kms:ReEncryptTo',
    ]);
  });

  test('uses the given log group for Image Builder logs', () => {
    const stack = newStack();
    const logGroup = new logs.LogGroup(stack, 'Logs', { logGroupName: '/aws/imagebuilder/web' });
    image(stack, 'Img', { logGroup });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { LogGroupName: { Ref: Match.stringLikeRegexp('^Logs') } });
    expect(Annotations.fromStack(stack).findWarning('/Stack/Img', Match.stringLikeRegexp('logGroup'))).toHaveLength(0);
  });

  test.each([
    ['a generated name', (s: Stack) => new logs.LogGroup(s, 'Logs'), 'logGroup has a generated name not under /aws/imagebuilder/'],
    ['a name elsewhere', (s: Stack) => logs.LogGroup.fromLogGroupName(s, 'Logs', '/app/web'), 'logGroup "/app/web" is not under /aws/imagebuilder/'],
  ])('warns that a log group with %s receives no Image Builder logs', (_name, make, message) => {
    const stack = newStack();
    image(stack, 'Img', { logGroup: make(stack) });
    Annotations.fromStack(stack).hasWarning('/Stack/Img', Match.stringLikeRegexp(message));
  });

  test('derives a valid, stable image name from the construct path', () => {
    const stack = newStack();
    const a = image(stack, 'Web');
    const again = image(newStack(), 'Web');
    expect(a.imageName).toMatch(/^[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]$/);
    expect(a.imageName).toEqual(again.imageName);
    expect(a.imageVersion).toEqual('1.0.0');
  });

  test('exposes the image ARN, task id and AMI id as attributes of the resource', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    expect(stack.resolve(img.imageArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Web/), 'ImageArn'] });
    expect(stack.resolve(img.importTaskId)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Web/), 'ImportTaskId'] });
    expect(stack.resolve(img.imageId)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Web/), 'ImageId'] });
  });

  test('imageId explains itself when the deployment does not wait for the AMI', () => {
    const stack = newStack();
    const img = image(stack, 'Web', { waitForAvailable: false });
    expect(() => img.imageId).toThrow(/imageId .* is not available with waitForAvailable: false/);
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { WaitForAvailable: 'false' });
  });

  test('a recipe in the same stack can use the image as its parent', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    new imagebuilder.CfnImageRecipe(stack, 'Recipe', {
      name: 'web',
      version: '1.0.0',
      parentImage: img.imageArn,
      components: [{ componentArn: 'arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x' }],
    });
    Template.fromStack(stack).hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
      ParentImage: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Web'), 'ImageArn'] },
    });
  });

  test('Tags.of reaches the image tags, merged with the tags prop', () => {
    const stack = newStack();
    image(stack, 'Web', { tags: { team: 'platform' } });
    Tags.of(stack).add('cost-center', '42');
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      Tags: { 'team': 'platform', 'cost-center': '42', 'cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } },
    });
  });

  test('the service is given time for the whole wait and no more than an hour', () => {
    const stack = newStack();
    image(stack, 'Short', { timeout: Duration.minutes(20) });
    image(stack, 'Long');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::VmImportImage', { ImageName: Match.stringLikeRegexp('Short'), ServiceTimeout: '1500', TimeoutSeconds: '1200' });
    template.hasResourceProperties('Custom::VmImportImage', { ImageName: Match.stringLikeRegexp('Long'), ServiceTimeout: '3600', TimeoutSeconds: '3300' });
  });
});

describe('removal policy', () => {
  test('DESTROY by default: CloudFormation sends Delete and the handler cleans up', () => {
    const stack = newStack();
    image(stack, 'Web');
    const template = Template.fromStack(stack);
    template.hasResource('Custom::VmImportImage', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ RemovalPolicy: 'destroy' }) });
  });

  test('RETAIN keeps the resource in CloudFormation and tells the handler', () => {
    const stack = newStack();
    image(stack, 'Web', { removalPolicy: RemovalPolicy.RETAIN });
    Template.fromStack(stack).hasResource('Custom::VmImportImage', {
      DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: Match.objectLike({ RemovalPolicy: 'retain' }),
    });
  });

  test('SNAPSHOT is carried out by the handler, not by a CloudFormation policy custom resources lack', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    img.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    Template.fromStack(stack).hasResource('Custom::VmImportImage', {
      DeletionPolicy: 'Delete', Properties: Match.objectLike({ RemovalPolicy: 'snapshot' }),
    });
  });
});

describe('provider', () => {
  test('one provider per stack, however many images', () => {
    const stack = newStack();
    image(stack, 'A');
    image(stack, 'B');
    image(stack, 'C');
    const template = Template.fromStack(stack);
    const functions = template.findResources('AWS::Lambda::Function');
    const descriptions = Object.values(functions).map((f: any) => f.Properties.Description ?? '');
    expect(descriptions.filter((d) => d.includes('starts, updates and deletes VM imports'))).toHaveLength(1);
    expect(descriptions.filter((d) => d.includes('polls VM imports'))).toHaveLength(1);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  });

  test('handlers run on Node.js 24 with the bundled SDK', () => {
    const stack = newStack();
    image(stack, 'A');
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('starts, updates and deletes'),
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
    });
  });

  test('the provider framework runs on the handlers\' Node.js 24 too', () => {
    const stack = newStack();
    image(stack, 'A');
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    expect(Object.values(functions).map((f: any) => f.Properties.Runtime)).toEqual(Array(5).fill('nodejs24.x'));
  });

  test('the waiter logs every transition without execution data, with a month\'s retention, and is traced', () => {
    const stack = newStack();
    image(stack, 'A');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VmImportImageProviderProviderWaiterLogs'), 'Arn'] } } }],
        IncludeExecutionData: false,
        Level: 'ALL',
      },
      TracingConfiguration: { Enabled: true },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/'),
      RetentionInDays: 30,
    });
  });

  test('the waiter polls at the poll interval for at most an hour', () => {
    const stack = newStack();
    image(stack, 'A', { pollInterval: Duration.seconds(45) });
    const sm = Object.values(Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine'))[0] as any;
    const definition = JSON.stringify(sm.Properties.DefinitionString);
    expect(definition).toContain('\\"IntervalSeconds\\":45');
    // 3600 s / 45 s = 80 polls.
    expect(definition).toContain('\\"MaxAttempts\\":80');
  });

  test('the imports of a stack must share one poll interval', () => {
    const stack = newStack();
    image(stack, 'A');
    expect(() => image(stack, 'B', { pollInterval: Duration.seconds(10) }))
      .toThrow(/pollInterval is 10 seconds, but the VM imports of this stack are already polled every 30 seconds \(set by Stack\/A\); .*give them all the same pollInterval/);
  });

  test('changing the poll interval keeps the service token, which CloudFormation cannot change', () => {
    const tokenOf = (pollInterval: Duration) => {
      const stack = newStack();
      image(stack, 'A', { pollInterval });
      return (Object.values(Template.fromStack(stack).findResources('Custom::VmImportImage'))[0] as any).Properties.ServiceToken;
    };
    expect(tokenOf(Duration.seconds(45))).toEqual(tokenOf(Duration.seconds(30)));
  });
});

describe('IAM', () => {
  test('the service role trusts only VM Import/Export with the vmimport external id', () => {
    const stack = newStack();
    image(stack, 'Web');
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'vmie.amazonaws.com' },
          Condition: { StringEquals: { 'sts:Externalid': 'vmimport', 'aws:SourceAccount': '123456789012' } },
        }],
      },
    });
  });

  test('the service role reads exactly the disk objects it is given', () => {
    const stack = newStack();
    image(stack, 'Web');
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportServiceRole');
    const s3Stmts = stmts.filter((s) => [].concat(s.Action).some((a: string) => a.startsWith('s3:')));
    expect(s3Stmts).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::my-vm-disks/exports/web-01.vmdk']] },
      },
      {
        Effect: 'Allow',
        Action: ['s3:GetBucketLocation', 's3:ListBucket'],
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::my-vm-disks']] },
      },
    ]);
  });

  test('the service role may use the license configurations it associates, and no others', () => {
    const stack = newStack();
    const lic = 'arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef';
    image(stack, 'Web', { licenseConfigurationArns: [lic] });
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportServiceRole');
    expect(stmts).toContainEqual({
      Effect: 'Allow',
      Action: ['license-manager:GetLicenseConfiguration', 'license-manager:UpdateLicenseSpecificationsForResource'],
      Resource: lic,
    });
  });

  test('without license configurations the service role gets no License Manager permission', () => {
    const stack = newStack();
    image(stack, 'Web');
    const actions = actionsOf(statementsOf(Template.fromStack(stack), 'VmImportServiceRole'));
    expect(actions.filter((a) => a.startsWith('license-manager:'))).toEqual([]);
  });

  test('the handler may pass only the service role', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'MyRole', { assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com') });
    image(stack, 'Web', { serviceRole: role });
    const template = Template.fromStack(stack);
    const passRole = statementsOf(template, 'VmImportImageProviderOnEventRole').filter((s) => s.Action === 'iam:PassRole');
    expect(passRole).toEqual([{ Effect: 'Allow', Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^MyRole/), 'Arn'] } }]);
    expect(Object.keys(template.findResources('AWS::IAM::Role')).some((id) => id.startsWith('VmImportServiceRole'))).toBe(false);
  });

  test('Image Builder creates and tags are scoped to the image name', () => {
    const stack = newStack();
    image(stack, 'Web', { imageName: 'Web Server' });
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportImageProviderOnEventRole');
    const create = stmts.filter((s) => [].concat(s.Action).includes('imagebuilder:ImportVmImage' as never));
    expect(create).toEqual([{
      Effect: 'Allow',
      Action: ['imagebuilder:ImportVmImage', 'imagebuilder:TagResource', 'imagebuilder:UntagResource'],
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':imagebuilder:us-east-1:123456789012:image/web-server/*']] },
    }]);
  });

  test('ImportImage may use the EBS snapshots the images import, and no other', () => {
    const plain = newStack();
    image(plain, 'Web');
    const withoutSnapshots = statementsOf(Template.fromStack(plain), 'VmImportImageProviderOnEventRole')
      .filter((s) => [].concat(s.Action).includes('ec2:ImportImage' as never));
    expect(JSON.stringify(withoutSnapshots)).not.toContain(':snapshot/');

    const stack = newStack();
    image(stack, 'Web');
    image(stack, 'Db', { disks: [DiskImage.fromSnapshot('snap-0123456789abcdef0'), DiskImage.fromSnapshot('snap-0fedcba9876543210')] });
    const imports = statementsOf(Template.fromStack(stack), 'VmImportImageProviderOnEventRole')
      .filter((s) => [].concat(s.Action).includes('ec2:ImportImage' as never));
    expect(imports.flatMap((s) => [].concat(s.Resource)).filter((r) => JSON.stringify(r).includes(':snapshot/'))).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-1::snapshot/snap-0123456789abcdef0']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-1::snapshot/snap-0fedcba9876543210']] },
    ]);
  });

  test('deleting an image needs the stack ownership tag the image carries', () => {
    const stack = newStack();
    image(stack, 'Web');
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportImageProviderOnEventRole');
    const destructive = stmts.filter((s) => [].concat(s.Action).some((a: string) => ['imagebuilder:DeleteImage', 'imagebuilder:CancelImageCreation'].includes(a)));
    expect(destructive).toEqual([{
      Effect: 'Allow',
      Action: ['imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage'],
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':imagebuilder:us-east-1:123456789012:image/*']] },
      Condition: { StringEquals: { 'aws:ResourceTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } },
    }]);
  });

  test('cancelling an import task needs the stack ownership tag the task carries, for both handler roles', () => {
    const stack = newStack();
    image(stack, 'Web');
    const template = Template.fromStack(stack);
    for (const role of ['VmImportImageProviderOnEventRole', 'VmImportImageProviderIsCompleteRole']) {
      const cancels = statementsOf(template, role).filter((st) => [].concat(st.Action).includes('ec2:CancelImportTask' as never));
      expect(cancels).toEqual([{
        Effect: 'Allow',
        Action: 'ec2:CancelImportTask',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-1:123456789012:import-image-task/*']] },
        Condition: { StringEquals: { 'aws:ResourceTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } },
      }]);
    }
  });

  test('the polling handler reads, and can clean up only a failed replacement it polled', () => {
    const stack = newStack();
    image(stack, 'Web');
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportImageProviderIsCompleteRole');
    expect(actionsOf(stmts)).toEqual([
      'ec2:CancelImportTask', 'ec2:DeleteSnapshot', 'ec2:DeregisterImage', 'ec2:DescribeImages', 'ec2:DescribeImportImageTasks',
      'imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage', 'imagebuilder:GetImage', 'logs:CreateLogStream', 'logs:PutLogEvents',
    ]);
    // It may start nothing, and may delete only images this stack tagged.
    const deleteImage = stmts.find((st) => [].concat(st.Action).includes('imagebuilder:DeleteImage' as never));
    expect(deleteImage.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } });
  });

  test('no handler role carries a managed policy', () => {
    const stack = newStack();
    image(stack, 'Web');
    const roles = Template.fromStack(stack).findResources('AWS::IAM::Role');
    for (const role of Object.values(roles) as any[]) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('synth-time validation', () => {
  const bucket = () => s3.Bucket.fromBucketName(newStack(), 'B', 'disks');

  test.each([
    ['no disks', { disks: [] }, /disks is empty/],
    ['more than 21 disks', { disks: Array.from({ length: 22 }, (_, i) => DiskImage.fromBucket(bucket(), `d${i}.vmdk`)) }, /disks has 22 disks; VM Import accepts at most 21/],
    ['an OVA beside other disks', { disks: [DiskImage.fromUrl('s3://disks/a.ova'), DiskImage.fromUrl('s3://disks/b.vmdk')] }, /disks\[0\] is an OVA.*must be the only disk \(got 2 disks\)/],
    ['an unknown extension', { disks: [DiskImage.fromUrl('s3://disks/web.bin')] }, /disks\[0\]: cannot tell the disk format of the url "s3:\/\/disks\/web.bin" from its extension ".bin"; pass \{ format: DiskImageFormat.VMDK \}/],
    ['a version that is not x.y.z', { imageVersion: '1.0' }, /imageVersion "1.0" is not a semantic version; use major.minor.patch/],
    ['a name outside the pattern', { imageName: 'web/server' }, /imageName "web\/server" is not a valid Image Builder name/],
    ['a timeout the provider cannot honour', { timeout: Duration.hours(2) }, /timeout is 2 hours; it must be whole seconds from 1 minute to 55 minutes: .*waitForAvailable: false/],
    ['a poll interval too short', { pollInterval: Duration.seconds(1) }, /pollInterval is 1 second; it must be whole seconds from 5 seconds to 1 minute/],
    ['a poll interval over a minute', { pollInterval: Duration.minutes(3) }, /pollInterval is 3 minutes; it must be whole seconds from 5 seconds to 1 minute/],
    ['a poll interval in fractions of a second', { pollInterval: Duration.millis(5500) }, /pollInterval is 5 seconds 500 millis; it must be whole seconds/],
    ['a bad snapshot id', { disks: [DiskImage.fromSnapshot('vol-123')] }, /disks\[0\]: DiskImage.fromSnapshot: snapshotId "vol-123" is not an EBS snapshot id/],
    ['an http URL', { disks: [DiskImage.fromUrl('http://example.com/a.vmdk')] }, /url "http:\/\/example.com\/a.vmdk" must be an s3:\/\/bucket\/key or https:\/\/ URL/],
    ['uefi-preferred, which TypeScript callers cannot pass but JavaScript callers can', { bootMode: 'uefi-preferred' as BootMode },
      /bootMode "uefi-preferred" is not a BootMode \(VM Import does not import uefi-preferred\); use BootMode.LEGACY_BIOS, BootMode.UEFI/],
    ['a platform outside the enum', { platform: 'linux' as Platform }, /platform "linux" is not a Platform; use Platform.LINUX, Platform.WINDOWS/],
    ['a format outside the enum', { disks: [DiskImage.fromUrl('s3://disks/a.vmdk', { format: 'QCOW2' as DiskImageFormat })] }, /disks\[0\]: format "QCOW2" is not a DiskImageFormat; use DiskImageFormat.OVA/],
    ['32-bit Linux', { architecture: Architecture.I386 }, /architecture is i386, but VM Import imports only 64-bit Linux; use Architecture.X86_64/],
    ['a format on a snapshot', { disks: [DiskImage.fromSnapshot('snap-0123456789abcdef0', { format: DiskImageFormat.VMDK })] }, /format "VMDK" does not apply to a snapshot/],
  ])('rejects %s', (_name, props, message) => {
    expect(() => image(newStack(), 'Img', props as Partial<VmImportImageProps>)).toThrow(message);
  });

  test('accepts 21 disks, the most VM Import takes', () => {
    const stack = newStack();
    const disks = Array.from({ length: 21 }, (_, i) => DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, `D${i}`, 'disks'), `d${i}.vmdk`));
    image(stack, 'Img', { disks });
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { Disks: Match.arrayWith([Match.objectLike({ S3Key: 'd20.vmdk' })]) });
  });

  test('rejects more than 50 tags when the app synthesizes', () => {
    const stack = newStack();
    const tags: Record<string, string> = {};
    for (let i = 0; i < 50; i++) tags[`k${i}`] = 'v';
    image(stack, 'Img', { tags });
    expect(() => Template.fromStack(stack)).toThrow(/the image has 50 tags; Image Builder accepts 50, one of which is cdk-vm-import-export:stack-id: remove 1/);
  });

  test('warns when neither licenseType nor usageOperation is set', () => {
    const stack = newStack();
    image(stack, 'Img', { licenseType: undefined });
    Annotations.fromStack(stack).hasWarning('/Stack/Img', Match.stringLikeRegexp('neither licenseType nor usageOperation is set'));
  });

  test('does not warn when the license type is set', () => {
    const stack = newStack();
    image(stack, 'Img');
    expect(Annotations.fromStack(stack).findWarning('/Stack/Img', Match.stringLikeRegexp('licenseType'))).toHaveLength(0);
  });
});

describe('importing an existing image', () => {
  test('fromImageArn reads name and version from the ARN', () => {
    const stack = newStack();
    const img = VmImportImage.fromImageArn(stack, 'Existing', 'arn:aws:imagebuilder:us-east-1:123456789012:image/web-server/1.2.3/1');
    expect(img.imageName).toEqual('web-server');
    expect(img.imageVersion).toEqual('1.2.3');
    expect(() => img.imageId).toThrow(/pass imageId/);
  });

  test('fromImageArn with a deploy-time ARN selects name and version from its path', () => {
    const stack = newStack();
    const arn = new CfnParameter(stack, 'ImageArn').valueAsString;
    const img = VmImportImage.fromImageArn(stack, 'Existing', arn);
    const arnPath = { 'Fn::Split': ['/', { 'Fn::Select': [5, { 'Fn::Split': [':', { Ref: 'ImageArn' }] }] }] };
    expect(stack.resolve(img.imageName)).toEqual({ 'Fn::Select': [1, arnPath] });
    expect(stack.resolve(img.imageVersion)).toEqual({ 'Fn::Select': [2, arnPath] });
  });

  test('fromImageArn rejects an ARN of something else', () => {
    expect(() => VmImportImage.fromImageArn(newStack(), 'Existing', 'arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0'))
      .toThrow(/imageArn "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe\/web\/1.0.0" is not an Image Builder image ARN/);
  });

  test('grantRead allows GetImage on the image', () => {
    const stack = newStack();
    const img = VmImportImage.fromImageAttributes(stack, 'Existing', { imageArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/web/1.0.0/1', imageId: 'ami-0123' });
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    img.grantRead(role);
    expect(img.imageId).toEqual('ami-0123');
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [{ Action: 'imagebuilder:GetImage', Effect: 'Allow', Resource: 'arn:aws:imagebuilder:us-east-1:123456789012:image/web/1.0.0/1' }] },
    });
  });
});
