import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App } from 'aws-cdk-lib';
import { VmImportExportExampleStack } from '../examples/vm-import-export-stack';

// The example app as an integration test: deployed, the imported image must be AVAILABLE.
// No construct stack traces in the committed snapshot: they carry the paths of the machine that wrote it.
const app = new App({ context: { 'aws:cdk:disable-stack-trace': true, 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new VmImportExportExampleStack(app, 'VmImportExportInteg');
const integ = new IntegTest(app, 'VmImportExport', { testCases: [stack] });
integ.assertions
  .awsApiCall('imagebuilder', 'GetImage', { imageBuildVersionArn: stack.imported.imageArn })
  .expect(ExpectedResult.objectLike({ image: { state: { status: 'AVAILABLE' } } }));
// And the arm64 AMI ImportedAmi registered must be available.
integ.assertions
  .awsApiCall('EC2', 'DescribeImages', { ImageIds: [stack.arm64.imageId] })
  .expect(ExpectedResult.objectLike({ Images: [{ State: 'available', Architecture: 'arm64' }] }));
app.synth();
