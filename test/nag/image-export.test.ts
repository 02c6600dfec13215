import { App } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EXPORT_ENV, TwoRegionExportStack } from '../support/image-export-stacks';

/**
 * cdk-nag's AwsSolutions pack over the stack issue 11 is done with (a VMDK imported and
 * exported as VHD to S3 in two Regions, no pipeline), with and without an environment:
 * every finding on the library's constructs is fixed or acknowledged with its reason.
 */
test('AwsSolutions reports nothing unacknowledged for the two-Region export stack', () => {
  const app = new App();
  new TwoRegionExportStack(app, 'TwoRegionExport', { env: EXPORT_ENV });
  new TwoRegionExportStack(app, 'TwoRegionExportAgnostic');
  app.synth();
  const report = new AwsSolutionsChecks(app).validateScope(app);
  const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`));
  expect(findings).toEqual([]);
});

test('still reports a wildcard a user adds to the export\'s execution role', () => {
  const app = new App();
  const stack = new TwoRegionExportStack(app, 'UserWildcard', { env: EXPORT_ENV });
  stack.exported.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: ['*'] }));
  app.synth();
  const report = new AwsSolutionsChecks(app).validateScope(app);
  const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
  expect(findings).toEqual([expect.stringMatching(/^AwsSolutions-IAM5\[Resource::\*\] at UserWildcard\/VmImageExportExecutionRole\/Role\/DefaultPolicy/)]);
});
