import { App } from 'aws-cdk-lib';
import { VmImportExportExampleStack } from './vm-import-export-stack';

// cdk synth -c diskBucket=my-vm-disks -c diskKey=exports/web-01.vmdk imports your own disk (add
// -c arm64DiskKey=exports/appliance-arm64.raw for your own arm64 disk);
// without context the sample disk beside this file is used, so no AWS account is needed.
const app = new App();
new VmImportExportExampleStack(app, 'VmImportExportExample', {
  diskBucketName: app.node.tryGetContext('diskBucket'),
  diskKey: app.node.tryGetContext('diskKey'),
  arm64DiskKey: app.node.tryGetContext('arm64DiskKey'),
});
app.synth();
