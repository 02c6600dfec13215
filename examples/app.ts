import { App } from 'aws-cdk-lib';
import { VmImportExportExampleStack } from './vm-import-export-stack';

// cdk synth -c diskBucket=my-vm-disks -c diskKey=exports/web-01.vmdk imports your own disk;
// without context the sample disk beside this file is used, so no AWS account is needed.
const app = new App();
new VmImportExportExampleStack(app, 'VmImportExportExample', {
  diskBucketName: app.node.tryGetContext('diskBucket'),
  diskKey: app.node.tryGetContext('diskKey'),
});
app.synth();
