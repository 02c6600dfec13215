import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { stackSingleton } from './handler-provider';
import { acknowledgeWildcardResource } from './nag';

/** The tag Image Builder puts on what it creates; AWSServiceRoleForImageBuilder's policy conditions on it. */
const CREATED_BY_IMAGE_BUILDER = { 'aws:RequestTag/CreatedBy': 'EC2 Image Builder' };

/**
 * The role Image Builder assumes to run a DistributeImage that exports (its
 * `executionRole`): one per stack, shared by the exports that are not given one.
 *
 * What it must be trusted by and allowed to do, as far as AWS documents it:
 * - trust: imagebuilder.amazonaws.com (DistributeImage: "the IAM role that Image Builder
 *   assumes to distribute the image"), with aws:SourceAccount (confused deputy
 *   protection; that Image Builder sets it when it assumes an execution role is
 *   unverified, it does for other service roles);
 * - permissions: the distribution's share of Image Builder's own service-linked role
 *   policy (AWSServiceRoleForImageBuilder, AWS managed policy reference), which is what
 *   Image Builder does when a pipeline distributes and exports: copy the AMI to each
 *   Region, export it (ec2:ExportImage on the image and the export-image-task), tag what
 *   it creates, cancel its own export tasks, describe images and export tasks, pass the
 *   VM Export role (iam:PassRole, iam:PassedToService vmie.amazonaws.com), write logs
 *   under /aws/imagebuilder/. Which of these DistributeImage really uses with the
 *   execution role (and which with the service-linked role) is not documented; none
 *   reaches S3: VM Export writes the disks with the distribution's export role.
 * Distributions that also share AMIs with other accounts, update launch templates,
 * write SSM parameters or set up fast launch need more: give such exports your own role.
 */
export class ExportExecutionRole extends Construct {
  public static of(scope: Construct): ExportExecutionRole {
    return stackSingleton(scope, 'VmImageExportExecutionRole', (stack, id) => new ExportExecutionRole(stack, id));
  }

  public readonly role: iam.Role;
  private readonly passed = new Set<string>();
  private readonly logGroups = new Set<string>();

  private constructor(scope: Stack, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.role = new iam.Role(this, 'Role', {
      description: 'Execution role of EC2 Image Builder (imagebuilder.amazonaws.com) for DistributeImage: exports images as VM disks',
      assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    // Exports reach every Region of a distribution; AMI, snapshot and export task ids are assigned by EC2.
    const images = stack.formatArn({ service: 'ec2', region: '*', account: '', resource: 'image', resourceName: '*' });
    const snapshots = stack.formatArn({ service: 'ec2', region: '*', account: '', resource: 'snapshot', resourceName: '*' });
    const exportTasks = stack.formatArn({ service: 'ec2', region: '*', resource: 'export-image-task', resourceName: '*' });
    const policy = new iam.Policy(this, 'DistributionPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({ actions: ['ec2:DescribeImages', 'ec2:DescribeExportImageTasks'], resources: ['*'] }),
        new iam.PolicyStatement({ actions: ['ec2:CopyImage'], resources: [images, snapshots] }),
        new iam.PolicyStatement({ actions: ['ec2:ExportImage'], resources: [images, exportTasks] }),
        new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [images, exportTasks] }),
        new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [snapshots], conditions: { StringEquals: CREATED_BY_IMAGE_BUILDER } }),
        new iam.PolicyStatement({
          actions: ['ec2:CancelExportTask'],
          resources: [exportTasks],
          conditions: { StringEquals: { 'ec2:ResourceTag/CreatedBy': 'EC2 Image Builder' } },
        }),
      ],
    });
    const reason = 'the distribution and export permissions of AWSServiceRoleForImageBuilder (AWS managed policy reference), which Image Builder '
      + 'uses for the same work in pipelines: AMI, snapshot and export task ids are assigned by EC2 in every Region of the distribution; '
      + 'the Describe actions support no resource-level permissions';
    for (const resource of ['*', images, snapshots, exportTasks]) acknowledgeWildcardResource(policy, resource, reason);
  }

  /** Allows Image Builder to pass a distribution's VM Export role to VM Export (ec2:ExportImage RoleName). */
  public grantPassExportRole(exportRole: iam.IRole): void {
    const key = JSON.stringify(Stack.of(this).resolve(exportRole.roleArn));
    if (this.passed.has(key)) return;
    this.passed.add(key);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [exportRole.roleArn],
      // The value AWSServiceRoleForImageBuilder's own policy conditions its pass of VM Import/Export roles on.
      conditions: { StringEquals: { 'iam:PassedToService': 'vmie.amazonaws.com' } },
    }));
  }

  /**
   * Allows writing the distribution's logs: to the given log group, or under
   * /aws/imagebuilder/ (Image Builder's default group is named after the image, which
   * a distributed image gets at deploy time).
   */
  public grantWriteLogs(logGroup?: logs.ILogGroup): void {
    const stack = Stack.of(this);
    const arn = logGroup?.logGroupArn
      ?? stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws/imagebuilder/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const key = JSON.stringify(stack.resolve(arn));
    if (this.logGroups.has(key)) return;
    this.logGroups.add(key);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: logGroup ? ['logs:CreateLogStream', 'logs:PutLogEvents'] : ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [arn],
    }));
    if (!logGroup) {
      acknowledgeWildcardResource(this.role, arn, 'Image Builder names the log group of a distributed image after the image, at deploy time');
    }
  }

  /** An SSM source: Image Builder may read it with this role (see VmImageExportProvider.grantReadSourceParameter). */
  public grantReadParameter(parameter: ssm.IParameter): void {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [parameter.parameterArn] }));
  }
}
