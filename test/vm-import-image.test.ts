import * as path from 'path';
import { App, CfnOutput, CfnParameter, Duration, NestedStack, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  Architecture, BootMode, DiskImage, DiskImageFormat, LicenseType, Platform, VmImportImage, VmImportImageProps,
} from '../src';
import { definitionFromTemplate } from './support/state-machine';

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
      // The wait: the poller signals this handle.
      SignalUrl: { Ref: Match.stringLikeRegexp('^WebSignal') },
      WaitConditionLogicalId: Match.stringLikeRegexp('^WebWait'),
      // Defaults are the handler's (handlers/types.ts), so every import does not repeat them:
      // wait for AVAILABLE, 6 hours, destroy, polls from 15 s up to 2 minutes; and the stack's
      // ownership tag, which the handler adds from the request.
      WaitForAvailable: Match.absent(),
      TimeoutSeconds: Match.absent(),
      RemovalPolicy: Match.absent(),
      PollIntervalSeconds: Match.absent(),
      MaxPollIntervalSeconds: Match.absent(),
      Tags: Match.absent(),
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

  test('imageArn follows the wait condition with no resource of its own; the task id comes from the import', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    const template = Template.fromStack(stack);
    const [importResource] = Object.keys(template.findResources('Custom::VmImportImage'));
    const [wait] = Object.keys(template.findResources('AWS::CloudFormation::WaitCondition'));
    // Whatever uses imageArn names the wait condition too, so CloudFormation orders it after the wait.
    expect(stack.resolve(img.imageArn)).toEqual({ 'Fn::Select': [0, [{ 'Fn::GetAtt': [importResource, 'ImageArn'] }, { Ref: wait }]] });
    expect(stack.resolve(img.importTaskId)).toEqual({ 'Fn::GetAtt': [importResource, 'ImportTaskId'] });
    // Three resources per import: the handle, the import and the wait condition; no read step.
    template.resourceCountIs('AWS::CloudFormation::WaitConditionHandle', 1);
    template.resourceCountIs('Custom::VmImportImageAvailable', 0);
  });

  test('stack.exportValue takes imageArn as any attribute; the export follows the wait condition', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    const imported = stack.exportValue(img.imageArn);
    expect(stack.resolve(imported)).toEqual({ 'Fn::ImportValue': expect.stringContaining('ImageArn') });
    const template = Template.fromStack(stack).toJSON();
    const [wait] = Object.keys(template.Resources).filter((id) => template.Resources[id].Type === 'AWS::CloudFormation::WaitCondition');
    const [output] = Object.values(template.Outputs as Record<string, any>);
    expect(output.Value).toEqual({ 'Fn::Select': [0, [{ 'Fn::GetAtt': [expect.stringMatching(/^Web/), 'ImageArn'] }, { Ref: wait }]] });
  });

  test('reading imageId adds one read step after the wait, which reports the AMI', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    const first = stack.resolve(img.imageId);
    expect(stack.resolve(img.imageId)).toEqual(first);
    const template = Template.fromStack(stack);
    const [available] = Object.keys(template.findResources('Custom::VmImportImageAvailable'));
    const [importResource] = Object.keys(template.findResources('Custom::VmImportImage'));
    const [wait] = Object.keys(template.findResources('AWS::CloudFormation::WaitCondition'));
    template.resourceCountIs('Custom::VmImportImageAvailable', 1);
    expect(first).toEqual({ 'Fn::GetAtt': [available, 'ImageId'] });
    expect(template.findResources('Custom::VmImportImageAvailable')[available].Properties).toMatchObject({
      ImageArn: { 'Fn::GetAtt': [importResource, 'ImageArn'] },
      WaitCondition: { Ref: wait },
    });
  });

  test('another stack gets the plain image ARN, exported; a nested stack follows the wait condition too', () => {
    const app = new App();
    const stack = new Stack(app, 'Importing', { env: { account: '123456789012', region: 'us-east-1' } });
    const img = image(stack, 'Web');
    const other = new Stack(app, 'Building', { env: { account: '123456789012', region: 'us-east-1' } });
    new CfnOutput(other, 'Parent', { value: img.imageArn });
    const nested = new NestedStack(stack, 'Recipes');
    new CfnOutput(nested, 'Parent', { value: img.imageArn });

    const importing = Template.fromStack(stack).toJSON();
    const [importResource] = Object.keys(importing.Resources).filter((id) => importing.Resources[id].Type === 'Custom::VmImportImage');
    const [wait] = Object.keys(importing.Resources).filter((id) => importing.Resources[id].Type === 'AWS::CloudFormation::WaitCondition');
    // Fn::Select accepts Ref and Fn::GetAtt, not Fn::ImportValue: the other stack (deployed after this
    // whole stack) imports the ARN alone, and the export is the import's attribute.
    const exported = Object.values(importing.Outputs as Record<string, any>).filter((o) => o.Export);
    expect(exported.map((o) => o.Value)).toEqual([{ 'Fn::GetAtt': [importResource, 'ImageArn'] }]);
    expect(Template.fromStack(other).toJSON().Outputs.Parent.Value).toEqual({ 'Fn::ImportValue': expect.stringContaining('ImageArn') });
    // The nested stack resource gets both as parameters, so it is created after the wait condition.
    const [nestedResource] = Object.values(importing.Resources as Record<string, any>).filter((r) => r.Type === 'AWS::CloudFormation::Stack');
    expect(Object.values(nestedResource.Properties.Parameters)).toEqual(expect.arrayContaining([
      { 'Fn::GetAtt': [importResource, 'ImageArn'] }, { Ref: wait },
    ]));
    expect(Template.fromStack(nested).toJSON().Outputs.Parent.Value).toEqual({ 'Fn::Select': [0, [{ Ref: expect.any(String) }, { Ref: expect.any(String) }]] });
  });

  test('without waiting there is no wait condition and imageArn comes from the import itself', () => {
    const stack = newStack();
    const img = image(stack, 'Web', { waitForAvailable: false });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudFormation::WaitCondition', 0);
    template.resourceCountIs('Custom::VmImportImageAvailable', 0);
    const [importResource] = Object.keys(template.findResources('Custom::VmImportImage'));
    expect(stack.resolve(img.imageArn)).toEqual({ 'Fn::GetAtt': [importResource, 'ImageArn'] });
    expect(template.findResources('Custom::VmImportImage')[importResource].Properties.SignalUrl).toBeUndefined();
  });

  test('a 6-hour import: the recipe, a build from it and an output all wait for the wait condition', () => {
    const stack = newStack();
    const img = image(stack, 'Web', { timeout: Duration.hours(6) });
    const recipe = new imagebuilder.CfnImageRecipe(stack, 'Recipe', {
      name: 'web',
      version: '1.0.0',
      parentImage: img.imageArn,
      components: [{ componentArn: 'arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x' }],
    });
    new imagebuilder.CfnImage(stack, 'Build', { imageRecipeArn: recipe.attrArn, infrastructureConfigurationArn: 'arn:aws:imagebuilder:us-east-1:123456789012:infrastructure-configuration/x' });
    new CfnOutput(stack, 'Ami', { value: img.imageId });
    const template = Template.fromStack(stack).toJSON();
    const ids = (type: string) => Object.keys(template.Resources).filter((id) => template.Resources[id].Type === type);
    const [importId] = ids('Custom::VmImportImage');
    const [waitId] = ids('AWS::CloudFormation::WaitCondition');
    const [handleId] = ids('AWS::CloudFormation::WaitConditionHandle');
    const [availableId] = ids('Custom::VmImportImageAvailable');
    // The wait condition waits 6 hours (and the poller's margin), once the import has started.
    expect(template.Resources[waitId]).toMatchObject({ Properties: { Handle: { Ref: handleId }, Count: 1, Timeout: '21900' }, DependsOn: [importId] });
    expect(template.Resources[availableId].Properties).toMatchObject({ WaitCondition: { Ref: waitId }, ImageArn: { 'Fn::GetAtt': [importId, 'ImageArn'] } });
    // Everything built on the image reaches the wait condition: imageArn names it, imageId comes from the read step after it.
    const dependsOn = (id: string): Set<string> => {
      const found = new Set<string>();
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(walk);
        if (node && typeof node === 'object') {
          const o = node as Record<string, any>;
          if (typeof o.Ref === 'string') found.add(o.Ref);
          if (Array.isArray(o['Fn::GetAtt'])) found.add(o['Fn::GetAtt'][0]);
          Object.values(o).forEach(walk);
        }
      };
      walk(template.Resources[id]?.Properties ?? template.Outputs[id]);
      [].concat(template.Resources[id]?.DependsOn ?? []).forEach((d) => found.add(d));
      return found;
    };
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      [...dependsOn(from)].some((d) => d === to || (!seen.has(d) && template.Resources[d] !== undefined && (seen.add(d), reaches(d, to, seen))));
    expect(reaches('Recipe', waitId)).toBe(true);
    expect(reaches('Build', waitId)).toBe(true);
    expect(reaches('Ami', waitId)).toBe(true);
    expect(reaches(availableId, waitId)).toBe(true);
  });

  test('a tag change keeps the wait condition; a new disk or timeout gets a new one', () => {
    const waitIdOf = (props: Partial<VmImportImageProps>, tag?: string) => {
      const stack = newStack();
      image(stack, 'Web', props);
      if (tag) Tags.of(stack).add('team', tag);
      return Object.keys(Template.fromStack(stack).findResources('AWS::CloudFormation::WaitCondition'));
    };
    const base = waitIdOf({});
    expect(base).toHaveLength(1);
    expect(waitIdOf({}, 'platform')).toEqual(base);
    expect(waitIdOf({ tags: { owner: 'me' } })).toEqual(base);
    expect(waitIdOf({ removalPolicy: RemovalPolicy.SNAPSHOT })).toEqual(base);
    expect(waitIdOf({ disks: [DiskImage.fromUrl('s3://my-vm-disks/exports/web-02.vmdk')] })).not.toEqual(base);
    expect(waitIdOf({ timeout: Duration.hours(2) })).not.toEqual(base);
    expect(waitIdOf({ imageVersion: '1.0.1' })).not.toEqual(base);
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
      ParentImage: { 'Fn::Select': [0, [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Web'), 'ImageArn'] }, { Ref: Match.stringLikeRegexp('^WebWait') }]] },
    });
  });

  test('Tags.of reaches the image tags, merged with the tags prop', () => {
    const stack = newStack();
    image(stack, 'Web', { tags: { team: 'platform' } });
    Tags.of(stack).add('cost-center', '42');
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', {
      // The ownership tag is the handler's (from the request's StackId), not the template's.
      Tags: { 'team': 'platform', 'cost-center': '42' },
    });
  });

  test('the resources answer within an hour; the wait condition waits for the timeout and the poller\'s margin, 12 hours at most', () => {
    const stack = newStack();
    // Their AMI ids are read: each gets its read step.
    new CfnOutput(stack, 'ShortAmi', { value: image(stack, 'Short', { timeout: Duration.minutes(20) }).imageId });
    new CfnOutput(stack, 'LongAmi', { value: image(stack, 'Long', { timeout: Duration.hours(12) }).imageId });
    const template = Template.fromStack(stack);
    // No ServiceTimeout: CloudFormation's default is the hour (3600 s) the provider may take.
    template.hasResourceProperties('Custom::VmImportImage', { ImageName: Match.stringLikeRegexp('Short'), ServiceTimeout: Match.absent(), TimeoutSeconds: '1200' });
    template.hasResourceProperties('Custom::VmImportImage', { ImageName: Match.stringLikeRegexp('Long'), ServiceTimeout: Match.absent(), TimeoutSeconds: '43200' });
    template.hasResourceProperties('AWS::CloudFormation::WaitCondition', { Timeout: '1500' });
    template.hasResourceProperties('AWS::CloudFormation::WaitCondition', { Timeout: '43200' });
    template.allResourcesProperties('Custom::VmImportImageAvailable', { ServiceTimeout: Match.absent() });
    // The read step waits at most 55 minutes itself: a shorter timeout is its limit, a longer one is left out.
    template.hasResourceProperties('Custom::VmImportImageAvailable', { TimeoutSeconds: '1200' });
    template.hasResourceProperties('Custom::VmImportImageAvailable', { TimeoutSeconds: Match.absent() });
  });
});

describe('removal policy', () => {
  test('DESTROY by default: CloudFormation sends Delete and the handler cleans up', () => {
    const stack = newStack();
    image(stack, 'Web');
    const template = Template.fromStack(stack);
    // Delete is CloudFormation's default policy, and destroy the handler's.
    template.hasResource('Custom::VmImportImage', { DeletionPolicy: Match.absent(), UpdateReplacePolicy: Match.absent(), Properties: Match.objectLike({ RemovalPolicy: Match.absent() }) });
  });

  test.each([RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE])('%s keeps what deployments made, but still rolls back a failed create', (policy) => {
    const stack = newStack();
    image(stack, 'Web', { removalPolicy: policy });
    Template.fromStack(stack).hasResource('Custom::VmImportImage', {
      DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain', Properties: Match.objectLike({ RemovalPolicy: policy }),
    });
  });

  test('SNAPSHOT is carried out by the handler, not by a CloudFormation policy custom resources lack', () => {
    const stack = newStack();
    const img = image(stack, 'Web');
    img.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    Template.fromStack(stack).hasResource('Custom::VmImportImage', {
      DeletionPolicy: Match.absent(), Properties: Match.objectLike({ RemovalPolicy: 'snapshot' }),
    });
  });
});

describe('provider', () => {
  test('one provider per stack, however many images', () => {
    const stack = newStack();
    image(stack, 'A');
    image(stack, 'B', { pollInterval: Duration.seconds(30), maxPollInterval: Duration.minutes(5) });
    image(stack, 'C', { timeout: Duration.hours(12) });
    const template = Template.fromStack(stack);
    const functions = template.findResources('AWS::Lambda::Function');
    const descriptions = Object.values(functions).map((f: any) => f.Properties.Description ?? '');
    expect(descriptions.filter((d) => d.includes('starts, updates and deletes VM imports'))).toHaveLength(1);
    expect(descriptions.filter((d) => d.includes('waits for VM imports'))).toHaveLength(1);
    expect(Object.keys(functions)).toHaveLength(5);
    // The Provider's waiter and the long-wait poller.
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 2);
    template.resourceCountIs('AWS::CloudFormation::WaitCondition', 3);
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

  test.each([['waiter', 'ProviderWaiterLogs'], ['poller', 'PollerLogs']])(
    'the %s logs every transition without execution data, with a month\'s retention, and is traced', (_name, logGroupId) => {
      const stack = newStack();
      image(stack, 'A');
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        LoggingConfiguration: {
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^VmImportImageProvider${logGroupId}`), 'Arn'] } } }],
          // The poller's input holds the wait condition's presigned URL.
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

  test('the waiter asks every 15 seconds for at most an hour; imports keep their own poll schedules', () => {
    const stack = newStack();
    image(stack, 'A', { pollInterval: Duration.seconds(45) });
    const machines = Object.values(Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine')) as any[];
    const waiter = JSON.stringify(machines.find((m) => JSON.stringify(m).includes('IntervalSeconds\\":15')).Properties.DefinitionString);
    // 3600 s / 15 s = 240 polls.
    expect(waiter).toContain('\\"MaxAttempts\\":240');
    Template.fromStack(stack).hasResourceProperties('Custom::VmImportImage', { PollIntervalSeconds: '45', MaxPollIntervalSeconds: Match.absent() });
  });

  test('the poller waits the seconds each poll asks for, polls with the isComplete function, and fails the wait when polling fails for good', () => {
    const stack = newStack();
    image(stack, 'A');
    const template = Template.fromStack(stack);
    const definition = definitionFromTemplate(template.toJSON(), (id) => id.includes('Poller'));
    const [isCompleteId] = Object.entries<any>(template.findResources('AWS::Lambda::Function'))
      .find(([, fn]) => String(fn.Properties.Description).includes('waits for VM imports'))!;
    expect(definition.StartAt).toBe('WaitForNextPoll');
    expect(definition.States.WaitForNextPoll).toEqual({ Type: 'Wait', SecondsPath: '$.Next', Next: 'PollImport' });
    expect(definition.States.PollImport.Resource).toBe(`\${Token[Fn::GetAtt:${isCompleteId}.Arn]}`);
    expect(definition.States.PollImport.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.Error', Next: 'SignalFailure' }]);
    expect(definition.States.SignalFailure.Resource).toBe(definition.States.PollImport.Resource);
    expect(definition.States['Signalled?'].Choices).toEqual([{ Variable: '$.Done', BooleanEquals: true, Next: 'Done' }]);
    expect(definition.States['Signalled?'].Default).toBe('WaitForNextPoll');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD', StateMachineName: Match.stringLikeRegexp('^Stack-VmImportImageProvider-') });
  });

  test('changing the poll schedule keeps the service token, which CloudFormation cannot change', () => {
    const tokenOf = (pollInterval: Duration) => {
      const stack = newStack();
      image(stack, 'A', { pollInterval });
      return (Object.values(Template.fromStack(stack).findResources('Custom::VmImportImage'))[0] as any).Properties.ServiceToken;
    };
    expect(tokenOf(Duration.seconds(45))).toEqual(tokenOf(Duration.seconds(30)));
  });
});

describe('IAM', () => {
  test('the import waits for its service role\'s policies: the disk policy, which follows the EC2 policy; RoleName already refers to the role', () => {
    const stack = newStack();
    image(stack, 'Web');
    image(stack, 'Db', { disks: [DiskImage.fromSnapshot('snap-0123456789abcdef0')] });
    const template = Template.fromStack(stack).toJSON();
    const idOf = (prefix: string, type: string) => Object.keys(template.Resources)
      .find((id) => id.startsWith(prefix) && template.Resources[id].Type === type)!;
    const defaultPolicy = idOf('VmImportServiceRoleDefaultPolicy', 'AWS::IAM::Policy');
    const ec2Policy = idOf('VmImportServiceRoleEc2Policy', 'AWS::IAM::Policy');
    expect(template.Resources[defaultPolicy].DependsOn).toEqual([ec2Policy]);
    for (const importId of Object.keys(template.Resources).filter((id) => template.Resources[id].Type === 'Custom::VmImportImage')) {
      expect(template.Resources[importId].DependsOn).toEqual([defaultPolicy]);
      expect(template.Resources[importId].Properties.RoleName).toEqual({ Ref: idOf('VmImportServiceRole', 'AWS::IAM::Role') });
    }
  });

  test('an import with a role of its own waits for that role\'s policies', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'MyRole', { assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com') });
    image(stack, 'Web', { serviceRole: role });
    const template = Template.fromStack(stack).toJSON();
    const importId = Object.keys(template.Resources).find((id) => template.Resources[id].Type === 'Custom::VmImportImage')!;
    expect(template.Resources[importId].DependsOn).toEqual([expect.stringMatching(/^MyRoleDefaultPolicy/)]);
  });

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

  test('the waiting handler polls, starts queued imports, cleans up, and asks CloudFormation only about its own stack', () => {
    const stack = newStack();
    image(stack, 'Web');
    const stmts = statementsOf(Template.fromStack(stack), 'VmImportImageProviderIsCompleteRole');
    expect(actionsOf(stmts)).toEqual([
      'cloudformation:DescribeStackResource', 'ec2:CancelImportTask', 'ec2:CreateTags', 'ec2:DeleteSnapshot', 'ec2:DeregisterImage', 'ec2:DescribeImages',
      'ec2:DescribeImportImageTasks', 'ec2:ImportImage', 'iam:GetRole', 'iam:PassRole', 'imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage', 'imagebuilder:GetImage',
      'imagebuilder:ImportVmImage', 'imagebuilder:ListImageBuildVersions', 'imagebuilder:ListImageRecipes', 'imagebuilder:TagResource',
      'logs:CreateLogStream', 'logs:PutLogEvents', 'states:StartExecution',
    ]);
    // It may delete only images this stack tagged, read only its own stack, and start only the stack's poller.
    const deleteImage = stmts.find((st) => [].concat(st.Action).includes('imagebuilder:DeleteImage' as never));
    expect(deleteImage.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } });
    expect(stmts.find((st) => st.Action === 'cloudformation:DescribeStackResource').Resource).toEqual({ Ref: 'AWS::StackId' });
    expect(JSON.stringify(stmts.find((st) => st.Action === 'states:StartExecution').Resource)).toMatch(/:stateMachine:Stack-VmImportImageProvider-[0-9A-F]{8}"/);
  });

  test('only the onEvent handler stops pollers, and only executions of the stack\'s poller', () => {
    const stack = newStack();
    image(stack, 'Web');
    const template = Template.fromStack(stack);
    const onEvent = statementsOf(template, 'VmImportImageProviderOnEventRole');
    const stop = onEvent.find((st) => st.Action === 'states:StopExecution');
    expect(JSON.stringify(stop.Resource)).toMatch(/:execution:Stack-VmImportImageProvider-[0-9A-F]{8}:\*"/);
    expect(actionsOf(statementsOf(template, 'VmImportImageProviderIsCompleteRole'))).not.toContain('states:StopExecution');
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
    ['a timeout over 12 hours', { timeout: Duration.hours(13) }, /timeout is 13 hours; it must be whole seconds from 1 minute to 12 hours: the deployment can wait 12 hours at most \(an AWS::CloudFormation::WaitCondition's limit\)/],
    ['a timeout under a minute', { timeout: Duration.seconds(30) }, /timeout is 30 seconds; it must be whole seconds from 1 minute to 12 hours/],
    ['a poll interval too short', { pollInterval: Duration.seconds(1) }, /pollInterval is 1 second; it must be whole seconds from 5 seconds to 30 minutes/],
    ['a poll interval over 30 minutes', { pollInterval: Duration.hours(1) }, /pollInterval is 1 hour; it must be whole seconds from 5 seconds to 30 minutes/],
    ['a poll cap below the first interval', { pollInterval: Duration.minutes(5), maxPollInterval: Duration.minutes(2) }, /maxPollInterval is 2 minutes; it must be whole seconds from 5 minutes to 30 minutes: use whole seconds, no less than pollInterval/],
    ['a poll interval in fractions of a second', { pollInterval: Duration.millis(5500) }, /pollInterval is 5 seconds 500 millis; it must be whole seconds/],
    ['a bad snapshot id', { disks: [DiskImage.fromSnapshot('vol-123')] }, /disks\[0\]: DiskImage.fromSnapshot: snapshotId "vol-123" is not an EBS snapshot id/],
    ['an http URL', { disks: [DiskImage.fromUrl('http://example.com/a.vmdk')] }, /url "http:\/\/example.com\/a.vmdk" must be an s3:\/\/bucket\/key or https:\/\/ URL/],
    ['uefi-preferred, which RegisterImage takes but VM Import does not', { bootMode: BootMode.UEFI_PREFERRED },
      /bootMode is uefi-preferred, which VM Import does not import; use BootMode.UEFI or BootMode.LEGACY_BIOS, or import with ImportedAmi/],
    ['arm64, which ImportImage does not take', { architecture: Architecture.ARM64 },
      /architecture is arm64, which VM Import \(ImportImage\) does not import; import arm64 VMs with ImportedAmi/],
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

  test('rejects more tags than Image Builder leaves beside the library\'s own when the app synthesizes', () => {
    const stack = newStack();
    const tags: Record<string, string> = {};
    for (let i = 0; i < 47; i++) tags[`k${i}`] = 'v';
    image(stack, 'Img', { tags });
    expect(() => Template.fromStack(stack)).toThrow(/the image has 47 tags; Image Builder accepts 50, 4 of which the library sets \(cdk-vm-import-export:\*\): remove 1/);
  });

  test('accepts 46 tags of the user\'s own', () => {
    const stack = newStack();
    const tags: Record<string, string> = {};
    for (let i = 0; i < 46; i++) tags[`k${i}`] = 'v';
    image(stack, 'Img', { tags });
    expect(() => Template.fromStack(stack)).not.toThrow();
  });

  test('rejects two images of one stack with the same name and version', () => {
    const stack = newStack();
    image(stack, 'A', { imageName: 'web', imageVersion: '1.0.0' });
    image(stack, 'B', { imageName: 'web', imageVersion: '1.0.1' });
    expect(() => image(stack, 'C', { imageName: 'Web', imageVersion: '1.0.0' }))
      .toThrow(/imageName "Web" with imageVersion 1.0.0 is already used by Stack\/A in this stack; Image Builder keeps one image per name and version: give this image another imageName or imageVersion/);
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
