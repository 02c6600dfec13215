import { App, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { VmDiskDistribution, VmDiskFormat, VmImportExportServiceRole } from '../src';
import { validateRequest } from './support/api-model';
import { restoreDistributions } from '../src/handlers/distribution/restore';
import { RESOURCE_NAME_PATTERN } from '../src/private/validation';

const TYPE = 'Custom::VmDiskDistribution';
const ENV = { account: '111122223333', region: 'us-east-1' };
const LT_ID = 'lt-0123456789abcdef0';
const LICENSE_ARN = 'arn:aws:license-manager:us-east-1:111122223333:license-configuration:lic-0123456789abcdef0123456789abcdef';

function newStack(app: App = new App(), id: string = 'Stack'): Stack {
  return new Stack(app, id, { env: ENV });
}

function bucketIn(stack: Stack, id: string, name: string, region: string = ENV.region): s3.IBucket {
  return s3.Bucket.fromBucketAttributes(stack, id, { bucketName: name, region });
}

/** The Distributions property of the stack's only distribution, as synthesized. */
function distributionsOf(stack: Stack): Array<Record<string, any>> {
  const resources = Template.fromStack(stack).findResources(TYPE);
  const [resource] = Object.values(resources);
  return resource.Properties.Distributions;
}

/** What CloudFormation does to custom resource properties: every scalar becomes a string. */
function stringifyScalars(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stringifyScalars);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stringifyScalars(v)]));
  }
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
}

function policyStatements(template: Template, roleLogicalIdPrefix: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref?.startsWith(roleLogicalIdPrefix)))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

describe('VmDiskDistribution', () => {
  describe('properties', () => {
    test('renders an S3 export per Region with the export role name, format, bucket and prefix', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        exports: [
          { bucket: bucketIn(stack, 'Here', 'export-here'), prefix: 'vm/', format: VmDiskFormat.VMDK },
          { region: 'eu-west-1', bucket: bucketIn(stack, 'Eu', 'export-eu', 'eu-west-1'), format: VmDiskFormat.VHD },
        ],
      });

      Template.fromStack(stack).hasResourceProperties(TYPE, {
        Distributions: [
          {
            region: 'us-east-1',
            s3ExportConfiguration: {
              roleName: { Ref: Match.stringLikeRegexp('^DistExportRole') },
              diskImageFormat: 'VMDK',
              s3Bucket: 'export-here',
              s3Prefix: 'vm/',
            },
          },
          {
            region: 'eu-west-1',
            s3ExportConfiguration: {
              roleName: { Ref: Match.stringLikeRegexp('^DistExportRole') },
              diskImageFormat: 'VHD',
              s3Bucket: 'export-eu',
              s3Prefix: Match.absent(),
            },
          },
        ],
      });
    });

    test('merges the export and the AMI distribution of one Region into one entry', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.RAW }],
        amiDistributions: [{
          amiName: 'web-{{ imagebuilder:buildDate }}',
          targetAccountIds: ['444455556666'],
          launchPermission: { userIds: ['777788889999'] },
          amiTags: { team: 'web' },
        }],
      });

      const distributions = distributionsOf(stack);
      expect(distributions).toHaveLength(1);
      expect(distributions[0]).toEqual({
        region: 'us-east-1',
        s3ExportConfiguration: expect.objectContaining({ diskImageFormat: 'RAW', s3Bucket: 'export-here' }),
        amiDistributionConfiguration: {
          name: 'web-{{ imagebuilder:buildDate }}',
          targetAccountIds: ['444455556666'],
          launchPermission: { userIds: ['777788889999'] },
          amiTags: { team: 'web' },
        },
      });
    });

    test('includes an export added after construction', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      });

      dist.addExport({ region: 'us-west-2', bucket: bucketIn(stack, 'W', 'export-west', 'us-west-2'), format: VmDiskFormat.RAW });

      expect(distributionsOf(stack).map((d) => [d.region, d.s3ExportConfiguration?.s3Bucket])).toEqual([
        ['us-east-1', 'export-here'],
        ['us-west-2', 'export-west'],
      ]);
    });

    test('addDistribution merges its settings into the entry of its Region', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', {
        exports: [{ region: 'eu-west-1', bucket: bucketIn(stack, 'B', 'export-eu', 'eu-west-1'), format: VmDiskFormat.VMDK }],
      });

      dist.addDistribution({
        region: 'eu-west-1',
        amiDistribution: { description: 'eu copy' },
        licenseConfigurationArns: [LICENSE_ARN],
      });

      expect(distributionsOf(stack)).toEqual([{
        region: 'eu-west-1',
        s3ExportConfiguration: expect.objectContaining({ s3Bucket: 'export-eu' }),
        amiDistributionConfiguration: { description: 'eu copy' },
        licenseConfigurationArns: [LICENSE_ARN],
      }]);
    });

    test('renders container, launch template, license, SSM parameter and fast launch settings in the API shape', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', {
        containerDistributions: [{
          repository: ecr.Repository.fromRepositoryName(stack, 'Repo', 'web'),
          containerTags: ['latest'],
        }],
        launchTemplateConfigurations: [{ launchTemplateId: LT_ID, setDefaultVersion: true }],
        licenseConfigurations: [{ licenseConfigurationArns: [LICENSE_ARN] }],
        ssmParameterConfigurations: [{ parameterName: '/images/web', dataType: ssm.ParameterDataType.AWS_EC2_IMAGE }],
      });
      dist.addFastLaunchConfiguration({
        maxParallelLaunches: 6,
        targetSnapshotCount: 5,
        launchTemplate: { launchTemplateName: 'fast', launchTemplateVersion: '2' },
      });

      expect(distributionsOf(stack)).toEqual([{
        region: 'us-east-1',
        containerDistributionConfiguration: { containerTags: ['latest'], targetRepository: { service: 'ECR', repositoryName: 'web' } },
        launchTemplateConfigurations: [{ launchTemplateId: LT_ID, setDefaultVersion: true }],
        licenseConfigurationArns: [LICENSE_ARN],
        ssmParameterConfigurations: [{ parameterName: '/images/web', dataType: 'aws:ec2:image' }],
        fastLaunchConfigurations: [{
          enabled: true,
          maxParallelLaunches: 6,
          snapshotConfiguration: { targetResourceCount: 5 },
          launchTemplate: { launchTemplateName: 'fast', launchTemplateVersion: '2' },
        }],
      }]);
    });

    test('renders a request the Image Builder API model accepts once CloudFormation stringified it and the handler restored it', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', {
        distributionName: 'web export',
        description: 'exports web',
        exportRole: iam.Role.fromRoleName(stack, 'Role', 'vmexport'),
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), prefix: 'vm/', format: VmDiskFormat.VMDK }],
        amiDistributions: [{
          region: 'eu-west-1',
          amiName: 'web-{{ imagebuilder:buildDate }}',
          encryptionKey: kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:111122223333:key/0b4e1c1e-1111-2222-3333-444455556666'),
          launchPermission: { organizationArns: ['arn:aws:organizations::111122223333:organization/o-abcdefghij'] },
        }],
        containerDistributions: [{ region: 'eu-west-1', repository: ecr.Repository.fromRepositoryName(stack, 'Repo', 'web') }],
        launchTemplateConfigurations: [{ launchTemplateId: LT_ID, accountId: '111122223333', setDefaultVersion: false }],
        licenseConfigurations: [{ licenseConfigurationArns: [LICENSE_ARN] }],
        ssmParameterConfigurations: [{ parameterName: '/images/web', amiAccountId: '111122223333', dataType: ssm.ParameterDataType.TEXT }],
        fastLaunchConfigurations: [{ maxParallelLaunches: 8, targetSnapshotCount: 3, launchTemplate: { launchTemplateId: LT_ID }, accountId: '111122223333' }],
      });
      dist.addDistribution({ region: 'us-west-2', amiDistribution: {} });

      const distributions = restoreDistributions(stringifyScalars(distributionsOf(stack)));

      expect(validateRequest('imagebuilder', 'CreateDistributionConfiguration', {
        name: 'web export',
        description: 'exports web',
        distributions,
        clientToken: '00000000-0000-0000-0000-000000000000',
      })).toEqual([]);
      expect(distributions.map((d) => d.region)).toEqual(['us-east-1', 'eu-west-1', 'us-west-2']);
    });

    test('sets the resource type, the name and the description', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        distributionName: 'web-export',
        description: 'exports web',
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      });

      Template.fromStack(stack).hasResourceProperties(TYPE, {
        ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VmDiskDistributionProvider'), 'Arn'] },
        Name: 'web-export',
        Description: 'exports web',
      });
    });

    test('derives a default name that matches the Image Builder pattern and is the same on every synth', () => {
      const names = [0, 1].map(() => {
        const stack = newStack();
        new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });
        return Object.values(Template.fromStack(stack).findResources(TYPE))[0].Properties.Name as string;
      });

      expect(names[0]).toMatch(RESOURCE_NAME_PATTERN);
      expect(names[0]).toContain('Dist');
      expect(names[1]).toEqual(names[0]);
    });

    test('exposes the ARN and name the handler returns', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      expect(stack.resolve(dist.distributionConfigurationArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Dist/), 'Arn'] });
      expect(stack.resolve(dist.distributionConfigurationName)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Dist/), 'Name'] });
    });

    test('retains the configuration with RemovalPolicy.RETAIN', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      dist.applyRemovalPolicy(RemovalPolicy.RETAIN);

      Template.fromStack(stack).hasResource(TYPE, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    });
  });

  describe('tags', () => {
    test('Tags.of reaches the Tags property, next to the given tags and the stack ownership tag', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
        tags: { owner: 'web' },
      });

      Tags.of(stack).add('team', 'images');

      Template.fromStack(stack).hasResourceProperties(TYPE, {
        Tags: { 'owner': 'web', 'team': 'images', 'cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } },
      });
    });
  });

  describe('export role', () => {
    test('trusts VM Import/Export with the vmimport external id', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      Template.fromStack(stack).hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({
            Principal: { Service: 'vmie.amazonaws.com' },
            Condition: { StringEquals: Match.objectLike({ 'sts:Externalid': 'vmimport' }) },
          })],
        },
      });
    });

    test('may write only under the prefix of each export bucket', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        exports: [
          { bucket: bucketIn(stack, 'B', 'export-here'), prefix: 'vm/', format: VmDiskFormat.VMDK },
          { region: 'eu-west-1', bucket: bucketIn(stack, 'Eu', 'export-eu', 'eu-west-1'), format: VmDiskFormat.VHD },
        ],
      });

      const statements = policyStatements(Template.fromStack(stack), 'DistExportRole');
      const puts = statements.filter((s) => asList(s.Action).includes('s3:PutObject'));
      const resources = puts.flatMap((s) => asList(s.Resource)).map((r) => JSON.stringify(r));
      expect(resources).toHaveLength(2);
      expect(resources[0]).toMatch(/export-here\/vm\/\*"/);
      expect(resources[1]).toMatch(/export-eu\/\*"/);
      // No S3 action on every resource.
      expect(statements.filter((s) => asList(s.Resource).includes('*')).flatMap((s) => asList(s.Action))
        .some((a: string) => a.startsWith('s3:'))).toBe(false);
    });

    test('gives a given role the same S3 permissions instead of making one', () => {
      const stack = newStack();
      const role = new iam.Role(stack, 'Mine', { assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com') });
      const dist = new VmDiskDistribution(stack, 'Dist', {
        exportRole: role,
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), prefix: 'vm/', format: VmDiskFormat.VMDK }],
      });

      const template = Template.fromStack(stack);
      template.resourceCountIs('AWS::IAM::Role', 1 + 2 /* handler and framework roles */);
      expect(dist.exportRole).toBe(role);
      const puts = policyStatements(template, 'Mine').filter((s) => asList(s.Action).includes('s3:PutObject'));
      expect(JSON.stringify(puts)).toMatch(/export-here\/vm\/\*"/);
      template.hasResourceProperties(TYPE, {
        Distributions: [Match.objectLike({ s3ExportConfiguration: Match.objectLike({ roleName: { Ref: Match.stringLikeRegexp('^Mine') } }) })],
      });
    });

    test('is not made for a distribution without exports', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { amiDistributions: [{ amiName: 'web-{{ imagebuilder:buildDate }}' }] });

      expect(dist.exportRole).toBeUndefined();
      expect(stack.node.findAll().some((c) => c instanceof VmImportExportServiceRole)).toBe(false);
    });
  });

  describe('handler permissions', () => {
    test('scopes the configuration actions to the configuration ARN, lowercased with spaces as hyphens', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', {
        distributionName: 'Web Export',
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      });

      const statements = policyStatements(Template.fromStack(stack), 'VmDiskDistributionProviderOnEventRole');
      const imagebuilder = statements.filter((s) => asList(s.Action).some((a: string) => a.startsWith('imagebuilder:')));
      const scoped = imagebuilder.find((s) => asList(s.Action).includes('imagebuilder:CreateDistributionConfiguration'));
      expect(asList(scoped.Action).sort()).toEqual([
        'imagebuilder:CreateDistributionConfiguration',
        'imagebuilder:DeleteDistributionConfiguration',
        'imagebuilder:TagResource',
        'imagebuilder:UntagResource',
        'imagebuilder:UpdateDistributionConfiguration',
      ]);
      expect(scoped.Resource).toEqual({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':imagebuilder:us-east-1:111122223333:distribution-configuration/web-export']],
      });
      // Nothing else: list pipelines (no resource-level permissions), the tag-conditioned delete
      // and the read that tells a configuration already deleted from a denied delete.
      expect(imagebuilder.flatMap((s) => asList(s.Action)).sort()).toEqual([
        'imagebuilder:CreateDistributionConfiguration',
        'imagebuilder:DeleteDistributionConfiguration',
        'imagebuilder:DeleteDistributionConfiguration',
        'imagebuilder:GetDistributionConfiguration',
        'imagebuilder:ListImagePipelines',
        'imagebuilder:TagResource',
        'imagebuilder:UntagResource',
        'imagebuilder:UpdateDistributionConfiguration',
      ]);
      expect(imagebuilder.find((s) => asList(s.Action).includes('imagebuilder:ListImagePipelines')).Resource).toEqual('*');
    });

    test('allows deleting other configurations only when they carry this stack\'s ownership tag, and reading them', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      const statements = policyStatements(Template.fromStack(stack), 'VmDiskDistributionProviderOnEventRole');
      const wildcard = statements.filter((s) => JSON.stringify(s.Resource).includes('distribution-configuration/*'));
      expect(wildcard).toEqual([
        expect.objectContaining({
          Action: 'imagebuilder:DeleteDistributionConfiguration',
          Condition: { StringEquals: { 'aws:ResourceTag/cdk-vm-import-export:stack-id': { Ref: 'AWS::StackId' } } },
        }),
        // Read-only, and without the tag condition: a deleted configuration has no tag left.
        {
          Action: 'imagebuilder:GetDistributionConfiguration',
          Effect: 'Allow',
          Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':imagebuilder:us-east-1:111122223333:distribution-configuration/*']] },
        },
      ]);
      const unconditioned = statements.filter((s) => !s.Condition && asList(s.Action)
        .some((a: string) => /^imagebuilder:(Create|Update|Delete)/.test(a)));
      expect(unconditioned.flatMap((s) => asList(s.Resource)).map((r) => JSON.stringify(r)).join()).not.toMatch(/\/\*"|"\*"/);
    });

    test('may pass only the export role, to whichever service Image Builder names (no iam:PassedToService guess)', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      const statements = policyStatements(Template.fromStack(stack), 'VmDiskDistributionProviderOnEventRole');
      expect(statements.filter((s) => asList(s.Action).includes('iam:PassRole'))).toEqual([{
        Action: 'iam:PassRole',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DistExportRole/), 'Arn'] },
      }]);
    });

    test('may read Image Builder\'s service-linked role, which Image Builder checks with the caller\'s credentials, and not create it', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      const statements = policyStatements(Template.fromStack(stack), 'VmDiskDistributionProviderOnEventRole');
      expect(statements.filter((s) => asList(s.Action).some((a: string) => a.startsWith('iam:') && a !== 'iam:PassRole'))).toEqual([{
        Action: 'iam:GetRole',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111122223333:role/aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder']],
        },
      }]);
    });

    describe('launch templates', () => {
      const launchTemplateStatements = (stack: Stack) => policyStatements(Template.fromStack(stack), 'VmDiskDistributionProviderOnEventRole')
        .filter((s) => asList(s.Action).some((a: string) => a.startsWith('ec2:')));
      const arn = (region: string, account: string, id: string) => ({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ec2:${region}:${account}:launch-template/${id}`]],
      });
      const OTHER_LT = 'lt-0fedcba9876543210';

      test('are not in the policy of a distribution that names none', () => {
        const stack = newStack();
        new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

        expect(launchTemplateStatements(stack)).toEqual([]);
      });

      test('allow the launch-template actions Image Builder checks on the configured templates of this account, per Region', () => {
        const stack = newStack();
        const dist = new VmDiskDistribution(stack, 'Dist', {
          launchTemplateConfigurations: [{ launchTemplateId: LT_ID }, { launchTemplateId: OTHER_LT, accountId: ENV.account, region: 'eu-west-1' }],
        });
        dist.addDistribution({ region: 'us-west-2', launchTemplateConfigurations: [{ launchTemplateId: OTHER_LT, setDefaultVersion: true }] });

        const statements = launchTemplateStatements(stack);
        expect(statements.filter((s) => s.Action === 'ec2:DescribeLaunchTemplates')).toEqual([{ Action: 'ec2:DescribeLaunchTemplates', Effect: 'Allow', Resource: '*' }]);
        const changes = statements.filter((s) => s.Action !== 'ec2:DescribeLaunchTemplates');
        for (const s of changes) expect(s.Action).toEqual(['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate']);
        expect(changes.flatMap((s) => asList(s.Resource))).toEqual([
          arn('us-east-1', ENV.account, LT_ID),
          arn('eu-west-1', ENV.account, OTHER_LT),
          arn('us-west-2', ENV.account, OTHER_LT),
        ]);
      });

      test('of another account are left out: that account authorizes them, not this one\'s policies', () => {
        const stack = newStack();
        new VmDiskDistribution(stack, 'Dist', {
          launchTemplateConfigurations: [{ launchTemplateId: LT_ID, accountId: '444455556666' }, { launchTemplateId: OTHER_LT }],
        });

        const changes = launchTemplateStatements(stack).filter((s) => s.Action !== 'ec2:DescribeLaunchTemplates');
        expect(changes.flatMap((s) => asList(s.Resource))).toEqual([arn('us-east-1', ENV.account, OTHER_LT)]);
      });

      test('with an account id, in a stack whose account is unknown at synth, are allowed in that account: it may be this one', () => {
        const stack = new Stack(new App(), 'Agnostic');
        new VmDiskDistribution(stack, 'Dist', { launchTemplateConfigurations: [{ launchTemplateId: LT_ID, accountId: '444455556666' }] });

        const changes = launchTemplateStatements(stack).filter((s) => s.Action !== 'ec2:DescribeLaunchTemplates');
        expect(changes.map((s) => s.Resource)).toEqual([{
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, `:444455556666:launch-template/${LT_ID}`]],
        }]);
      });
    });

    test('uses one provider per stack for two distributions', () => {
      const stack = newStack();
      for (const id of ['A', 'B']) {
        new VmDiskDistribution(stack, id, { exports: [{ bucket: bucketIn(stack, `${id}Bucket`, `export-${id.toLowerCase()}`), format: VmDiskFormat.VMDK }] });
      }

      const template = Template.fromStack(stack);
      template.resourceCountIs(TYPE, 2);
      expect(Object.keys(template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('Custom::VmDiskDistribution') },
      }))).toHaveLength(1);
      const tokens = Object.values(template.findResources(TYPE)).map((r: any) => JSON.stringify(r.Properties.ServiceToken));
      expect(new Set(tokens).size).toBe(1);
    });
  });

  describe('synth-time errors', () => {
    test('rejects two exports for one Region', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'A', 'export-a'), format: VmDiskFormat.VMDK }] });

      expect(() => dist.addExport({ region: 'us-east-1', bucket: bucketIn(stack, 'B', 'export-b'), format: VmDiskFormat.RAW }))
        .toThrow(/^addExport: Region us-east-1 already has an export \(to bucket "export-a"\)/);
    });

    test('rejects a bucket imported with another Region than its export', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'B', 'export-eu', 'eu-west-1'), format: VmDiskFormat.VMDK }],
      })).toThrow(/^exports\[0\]: bucket "export-eu" is in eu-west-1 but the export is from us-east-1; .*set region: 'eu-west-1'/);
    });

    test('rejects a bucket defined in a stack of another Region than its export', () => {
      const stack = newStack();
      const bucket = new s3.Bucket(stack, 'Here');

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        exports: [{ region: 'eu-west-1', bucket, format: VmDiskFormat.VMDK }],
      })).toThrow(/^exports\[0\]: bucket Stack\/Here is in us-east-1 but the export is from eu-west-1; .*set region: 'us-east-1'/);
    });

    test.each([
      ['fromBucketName', (stack: Stack) => s3.Bucket.fromBucketName(stack, 'Eu', 'export-eu')],
      ['fromBucketAttributes without region', (stack: Stack) => s3.Bucket.fromBucketAttributes(stack, 'Eu', { bucketName: 'export-eu' })],
    ])('accepts a bucket imported by %s, whose Region is unknown, in a cross-Region export', (_label, importBucket) => {
      // It reports the stack's Region (us-east-1), which says nothing about where it is.
      const stack = newStack();

      new VmDiskDistribution(stack, 'Dist', { exports: [{ region: 'eu-west-1', bucket: importBucket(stack), format: VmDiskFormat.VMDK }] });

      expect(distributionsOf(stack)).toEqual([expect.objectContaining({
        region: 'eu-west-1',
        s3ExportConfiguration: expect.objectContaining({ s3Bucket: 'export-eu' }),
      })]);
    });

    test('rejects a prefix that starts with "/"', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), prefix: '/vm/', format: VmDiskFormat.VMDK }],
      })).toThrow(/^exports\[0\]: prefix "\/vm\/" starts with "\/"; S3 keys do not: use "vm\/"/);
    });

    test('rejects a name outside the Image Builder pattern', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        distributionName: 'web/export',
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      })).toThrow(/^distributionName "web\/export" is not a valid Image Builder name/);
    });

    test.each([
      ['empty', '', 0],
      ['over 1024 characters', 'x'.repeat(1025), 1025],
    ])('rejects a description that is %s', (_label, description, length) => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        description,
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      })).toThrow(new RegExp(`^description is ${length} characters long; Image Builder accepts 1 to 1024`));
    });

    test('rejects a distribution to no Region at all', () => {
      const stack = newStack();
      new VmDiskDistribution(stack, 'Dist');

      expect(() => Template.fromStack(stack)).toThrow(/the distribution has no Region to distribute to/);
    });

    test('rejects addDistribution with nothing but a Region', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }] });

      expect(() => dist.addDistribution({ region: 'eu-west-1', launchTemplateConfigurations: [] }))
        .toThrow(/^addDistribution: the distribution to Region eu-west-1 sets nothing but the Region/);
    });

    test('rejects two AMI distributions for one Region', () => {
      const stack = newStack();
      const dist = new VmDiskDistribution(stack, 'Dist', { amiDistributions: [{ region: 'eu-west-1' }] });

      expect(() => dist.addAmiDistribution({ region: 'eu-west-1', amiName: 'web-{{ imagebuilder:buildDate }}' }))
        .toThrow(/^addAmiDistribution: Region eu-west-1 already has an AMI distribution/);
    });

    test('rejects a fast launch with fewer than 6 parallel launches', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', { fastLaunchConfigurations: [{ maxParallelLaunches: 2 }] }))
        .toThrow(/^fastLaunchConfigurations\[0\]: maxParallelLaunches is 2; .*at least 6/);
    });

    test('rejects a launch template given by something other than its id', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', { launchTemplateConfigurations: [{ launchTemplateId: 'web-template' }] }))
        .toThrow(/^launchTemplateConfigurations\[0\]: launchTemplateId "web-template" is not a launch template id/);
    });

    test('rejects an encryption key from another Region than its AMI distribution', () => {
      const stack = newStack();
      const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:111122223333:key/0b4e1c1e-1111-2222-3333-444455556666');

      expect(() => new VmDiskDistribution(stack, 'Dist', { amiDistributions: [{ region: 'eu-west-1', encryptionKey: key }] }))
        .toThrow(/^amiDistributions\[0\]: encryptionKey .* is in us-east-1 but the AMI is distributed to eu-west-1/);
    });

    test('rejects RemovalPolicy.SNAPSHOT', () => {
      const stack = newStack();

      expect(() => new VmDiskDistribution(stack, 'Dist', {
        removalPolicy: RemovalPolicy.SNAPSHOT,
        exports: [{ bucket: bucketIn(stack, 'B', 'export-here'), format: VmDiskFormat.VMDK }],
      })).toThrow(/^removalPolicy snapshot is not supported/);
    });
  });

  describe('warnings', () => {
    test('warns when the AMI of an exporting Region is encrypted with a KMS key, whichever comes first', () => {
      const stack = newStack();
      const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:111122223333:key/0b4e1c1e-1111-2222-3333-444455556666');
      const first = new VmDiskDistribution(stack, 'ExportFirst', { exports: [{ bucket: bucketIn(stack, 'A', 'export-a'), format: VmDiskFormat.VMDK }] });
      first.addAmiDistribution({ encryptionKey: key });
      const second = new VmDiskDistribution(stack, 'AmiFirst', { amiDistributions: [{ encryptionKey: key }] });
      second.addExport({ bucket: bucketIn(stack, 'B', 'export-b'), format: VmDiskFormat.VMDK });

      const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('VM Export cannot export AMIs with encrypted snapshots'));
      expect(warnings.map((w) => w.id).sort()).toEqual(['/Stack/AmiFirst', '/Stack/ExportFirst']);
    });

    test('does not warn about encryption for an AMI in a Region without export', () => {
      const stack = newStack();
      const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:111122223333:key/0b4e1c1e-1111-2222-3333-444455556666');
      new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket: bucketIn(stack, 'A', 'export-a'), format: VmDiskFormat.VMDK }],
        amiDistributions: [{ region: 'eu-west-1', encryptionKey: key }],
      });

      Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('encrypted snapshots'));
    });

    test('warns when an export prefix lacks its trailing slash, showing the key it makes', () => {
      const stack = newStack();
      const bucket = new s3.Bucket(stack, 'Exports');
      new VmDiskDistribution(stack, 'Dist', {
        exports: [{ bucket, prefix: 'vm-exports', format: VmDiskFormat.VHD }, { bucket: bucketIn(stack, 'West', 'west', 'us-west-2'), prefix: 'vm/', format: VmDiskFormat.VMDK, region: 'us-west-2' }],
      });

      const annotations = Annotations.fromStack(stack);
      annotations.hasWarning('/Stack/Dist', Match.stringLikeRegexp('^exports\\[0\\]: prefix "vm-exports" does not end with "/"; .*"vm-exportsexport-ami-0123456789abcdef0.vhd": use "vm-exports/"'));
      annotations.hasNoWarning('/Stack/Dist', Match.stringLikeRegexp('^exports\\[1\\]: prefix'));
    });

    test('warns when an export bucket is encrypted with a KMS key', () => {
      const stack = newStack();
      const bucket = new s3.Bucket(stack, 'Kms', { encryption: s3.BucketEncryption.KMS });
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket, format: VmDiskFormat.VMDK }] });

      Annotations.fromStack(stack).hasWarning('/Stack/Dist', Match.stringLikeRegexp('^exports\\[0\\]: bucket Stack/Kms is encrypted with a KMS key; VM Export cannot write to SSE-KMS buckets'));
    });

    test.each([
      ['KMS_MANAGED', s3.BucketEncryption.KMS_MANAGED],
      ['DSSE_MANAGED', s3.BucketEncryption.DSSE_MANAGED],
    ])('warns when an export bucket uses an AWS managed KMS key (%s), which leaves encryptionKey unset', (_label, encryption) => {
      const stack = newStack();
      const bucket = new s3.Bucket(stack, 'Kms', { encryption });
      expect(bucket.encryptionKey).toBeUndefined();
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket, format: VmDiskFormat.VMDK }] });

      Annotations.fromStack(stack).hasWarning('/Stack/Dist', Match.stringLikeRegexp('^exports\\[0\\]: bucket Stack/Kms is encrypted with a KMS key'));
    });

    test.each([
      ['S3_MANAGED', { encryption: s3.BucketEncryption.S3_MANAGED }],
      ['the default encryption', {}],
    ])('does not warn about an export bucket with %s', (_label, bucketProps) => {
      const stack = newStack();
      const bucket = new s3.Bucket(stack, 'Plain', bucketProps);
      new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket, format: VmDiskFormat.VMDK }] });

      Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('SSE-KMS'));
    });
  });

  describe('fromDistributionConfigurationArn', () => {
    test('reads the name from the ARN', () => {
      const stack = newStack();
      const arn = 'arn:aws:imagebuilder:us-east-1:111122223333:distribution-configuration/web-export';

      const imported = VmDiskDistribution.fromDistributionConfigurationArn(stack, 'Imported', arn);

      expect(imported.distributionConfigurationArn).toBe(arn);
      expect(imported.distributionConfigurationName).toBe('web-export');
    });

    test('grants read on the imported configuration', () => {
      const stack = newStack();
      const arn = 'arn:aws:imagebuilder:us-east-1:111122223333:distribution-configuration/web-export';
      const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });

      VmDiskDistribution.fromDistributionConfigurationArn(stack, 'Imported', arn).grantRead(role);

      Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: [{ Action: 'imagebuilder:GetDistributionConfiguration', Effect: 'Allow', Resource: arn }] },
      });
    });
  });
});
