import * as path from 'path';
import { App, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  Architecture, BootMode, DiskImage, DiskImageFormat, ImdsSupport, ImportedAmi, ImportedAmiProps, TpmSupport, VmImportExportServiceRole,
} from '../src';
import { OWNER_TAG_KEY } from '../src/handlers/types';

const SAMPLE_DISK = path.join(__dirname, '..', 'examples', 'sample-disk.vmdk');
const STACK_ID = { Ref: 'AWS::StackId' };

function newStack(): Stack {
  return new Stack(new App(), 'Stack', { env: { account: '123456789012', region: 'us-east-1' } });
}

function ami(stack: Stack, id: string, props: Partial<ImportedAmiProps> = {}): ImportedAmi {
  const bucket = s3.Bucket.fromBucketName(stack, `${id}Bucket`, 'appliance-disks');
  return new ImportedAmi(stack, id, {
    disks: [DiskImage.fromBucket(bucket, 'appliance-arm64.raw')],
    architecture: Architecture.ARM64,
    ...props,
  });
}

/** Every IAM statement attached (inline) to the role with this logical id prefix. */
function statementsOf(template: Template, roleIdPrefix: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: any) => p.Properties.Roles.some((r: any) => String(r.Ref).startsWith(roleIdPrefix)))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

function importProps(template: Template): any {
  const [resource] = Object.values(template.findResources('Custom::ImportedAmi')) as any[];
  return resource.Properties;
}

describe('ImportedAmi resource', () => {
  test('renders the import with its defaults: root device /dev/xvda, ENA, IMDSv2, a name from the path and settings', () => {
    const stack = newStack();
    ami(stack, 'Appliance');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::ImportedAmi', {
      AmiName: Match.stringLikeRegexp('^Stack-Appliance-[0-9A-F]{8}-[0-9A-F]{8}$'),
      Architecture: 'arm64',
      RootDeviceName: '/dev/xvda',
      EnaSupport: 'true',
      ImdsSupport: 'v2.0',
      Disks: [{ Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'appliance-arm64.raw', DeviceName: '/dev/xvda' }],
      RoleName: { Ref: Match.stringLikeRegexp('^VmImportServiceRole') },
      Tags: { [OWNER_TAG_KEY]: STACK_ID },
      TimeoutSeconds: '21600',
      RemovalPolicy: 'destroy',
      SignalUrl: { Ref: Match.stringLikeRegexp('^ApplianceSignal') },
      WaitConditionLogicalId: Match.stringLikeRegexp('^ApplianceWait'),
      PollIntervalSeconds: '15',
      MaxPollIntervalSeconds: '120',
    });
    const props = importProps(template);
    for (const absent of ['BootMode', 'TpmSupport', 'UefiData', 'KmsKeyId', 'Description']) expect(props[absent]).toBeUndefined();
  });

  test('renders every option: boot mode, NitroTPM, UEFI data, key, description, device names, tags', () => {
    const stack = newStack();
    const bucket = s3.Bucket.fromBucketName(stack, 'B', 'appliance-disks');
    const key = new kms.Key(stack, 'Key');
    ami(stack, 'Appliance', {
      disks: [
        DiskImage.fromBucket(bucket, 'boot.vmdk', { deviceName: '/dev/sda1' }),
        DiskImage.fromUrl('s3://appliance-disks/data.vhd', { description: 'data' }),
        DiskImage.fromBucket(bucket, 'logs.img', { deviceName: '/dev/sdk' }),
      ],
      architecture: Architecture.X86_64,
      bootMode: BootMode.UEFI,
      tpmSupport: TpmSupport.V2_0,
      uefiData: 'QU1aTlVFRkk=',
      rootDeviceName: '/dev/sda1',
      enaSupport: false,
      imdsSupport: ImdsSupport.INSTANCE_DEFAULTS,
      amiName: 'appliance-1.4 (x86)',
      description: 'the appliance',
      encryptionKey: key,
      tags: { team: 'platform' },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('Custom::ImportedAmi', {
      AmiName: 'appliance-1.4 (x86)',
      Description: 'the appliance',
      Architecture: 'x86_64',
      BootMode: 'uefi',
      TpmSupport: 'v2.0',
      UefiData: 'QU1aTlVFRkk=',
      RootDeviceName: '/dev/sda1',
      EnaSupport: 'false',
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
      Disks: [
        { Format: 'VMDK', S3Bucket: 'appliance-disks', S3Key: 'boot.vmdk', DeviceName: '/dev/sda1' },
        { Format: 'VHD', Url: 's3://appliance-disks/data.vhd', DeviceName: '/dev/sdf', Description: 'data' },
        { Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'logs.img', DeviceName: '/dev/sdk' },
      ],
      Tags: { team: 'platform', [OWNER_TAG_KEY]: STACK_ID },
    });
    // IMDS left to the instances' defaults: nothing recorded in the AMI.
    expect(importProps(template).ImdsSupport).toBeUndefined();
    // VM Import reads the disks and encrypts with the key.
    const serviceRole = statementsOf(template, 'VmImportServiceRole');
    // One statement for all the disk objects (statements of the same actions are merged).
    const reads = serviceRole.filter((st) => st.Action === 's3:GetObject').flatMap((st) => [].concat(st.Resource)).map((r) => JSON.stringify(r));
    expect(reads).toEqual([expect.stringContaining(':s3:::appliance-disks/boot.vmdk'), expect.stringContaining(':s3:::appliance-disks/data.vhd'),
      expect.stringContaining(':s3:::appliance-disks/logs.img')]);
    expect(serviceRole).toEqual(expect.arrayContaining([
      expect.objectContaining({ Action: expect.arrayContaining(['kms:CreateGrant', 'kms:Decrypt', 'kms:GenerateDataKey']) }),
    ]));
  });

  test('waits through a wait condition, and imageId comes from the read step after it', () => {
    const stack = newStack();
    const imported = ami(stack, 'Appliance', { timeout: Duration.hours(3) });
    new imagebuilder.CfnImageRecipe(stack, 'Recipe', {
      name: 'hardened',
      version: '1.0.0',
      parentImage: imported.imageId,
      components: [{ componentArn: 'arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x' }],
    });
    const template = Template.fromStack(stack);
    const json = template.toJSON();
    const [importId] = Object.keys(template.findResources('Custom::ImportedAmi'));
    const [waitId, wait] = Object.entries(template.findResources('AWS::CloudFormation::WaitCondition'))[0] as [string, any];
    const [readId, read] = Object.entries(template.findResources('Custom::ImportedAmiAvailable'))[0] as [string, any];
    // 3 hours, and 5 minutes for the poller's own timeout message.
    expect(wait.Properties).toEqual({ Handle: { Ref: expect.stringMatching(/^ApplianceSignal/) }, Count: 1, Timeout: String(3 * 3600 + 300) });
    expect(wait.DependsOn).toEqual([importId]);
    expect(read.Properties).toMatchObject({
      ImportId: { 'Fn::GetAtt': [importId, 'ImportId'] }, WaitCondition: { Ref: waitId }, TimeoutSeconds: String(3 * 3600), AmiName: imported.amiName,
    });
    expect(json.Resources.Recipe.Properties.ParentImage).toEqual({ 'Fn::GetAtt': [readId, 'ImageId'] });
    expect(stack.resolve(imported.snapshotIds)).toEqual({ 'Fn::Split': [',', { 'Fn::GetAtt': [readId, 'SnapshotIds'] }] });
    // The import and the read step may wait on the Provider (deletes, replaced imports); never longer than it allows.
    template.hasResourceProperties('Custom::ImportedAmi', { ServiceTimeout: '3600' });
    template.hasResourceProperties('Custom::ImportedAmiAvailable', { ServiceTimeout: '3600' });
  });

  test('a tag change keeps the wait condition and the AMI name; other disks get new ones', () => {
    const keys = (props: Partial<ImportedAmiProps>) => {
      const stack = newStack();
      ami(stack, 'Appliance', props);
      const template = Template.fromStack(stack);
      return { wait: Object.keys(template.findResources('AWS::CloudFormation::WaitCondition'))[0], name: importProps(template).AmiName };
    };
    const first = keys({});
    expect(keys({ tags: { stage: 'prod' } })).toEqual(first);
    const other = keys({ disks: [DiskImage.fromUrl('s3://appliance-disks/appliance-arm64-v2.raw')] });
    expect(other.wait).not.toBe(first.wait);
    expect(other.name).not.toBe(first.name);
    // A new timeout: a new wait condition, the same AMI.
    const longer = keys({ timeout: Duration.hours(8) });
    expect(longer.wait).not.toBe(first.wait);
    expect(longer.name).toBe(first.name);
  });

  test.each([
    [RemovalPolicy.DESTROY, 'Delete', 'Delete', 'destroy'],
    [RemovalPolicy.SNAPSHOT, 'Delete', 'Delete', 'snapshot'],
    [RemovalPolicy.RETAIN, 'RetainExceptOnCreate', 'Retain', 'retain'],
  ])('removal policy %s: DeletionPolicy %s, UpdateReplacePolicy %s, handler policy %s', (policy, deletion, replace, handler) => {
    const stack = newStack();
    ami(stack, 'Appliance', { removalPolicy: policy });
    Template.fromStack(stack).hasResource('Custom::ImportedAmi', {
      DeletionPolicy: deletion, UpdateReplacePolicy: replace, Properties: Match.objectLike({ RemovalPolicy: handler }),
    });
  });

  test('Tags.of reaches the AMI, its snapshots and the tasks', () => {
    const stack = newStack();
    ami(stack, 'Appliance', { tags: { team: 'platform' } });
    Tags.of(stack).add('cost-center', '42');
    Template.fromStack(stack).hasResourceProperties('Custom::ImportedAmi', {
      Tags: { 'team': 'platform', 'cost-center': '42', [OWNER_TAG_KEY]: STACK_ID },
    });
  });

  test('fromImageId refers to an existing AMI, and refuses what is not an AMI id', () => {
    const stack = newStack();
    expect(ImportedAmi.fromImageId(stack, 'Existing', 'ami-0123456789abcdef0').imageId).toBe('ami-0123456789abcdef0');
    expect(() => ImportedAmi.fromImageId(stack, 'Bad', 'snap-0123456789abcdef0')).toThrow(/imageId "snap-0123456789abcdef0" is not an AMI id/);
  });
});

describe('ImportedAmi provider', () => {
  test('one provider, one poller and one set of functions per stack, however many AMIs', () => {
    const stack = newStack();
    ami(stack, 'One');
    ami(stack, 'Two', { amiName: 'two' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 2); // the poller and the Provider's waiter
    expect(Object.keys(template.findResources('AWS::Lambda::Function', {
      Properties: { Description: Match.stringLikeRegexp('ImportedAmi imports') },
    }))).toHaveLength(2);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: Match.stringLikeRegexp('ImportedAmiProvider') });
  });

  test('the handlers may remove and cancel only what carries the stack\'s ownership tag, and tag only at creation or with it', () => {
    const stack = newStack();
    const role = new VmImportExportServiceRole(stack, 'Role', { roleName: 'vmimport-appliance' });
    ami(stack, 'Appliance', { serviceRole: role });
    const template = Template.fromStack(stack);
    const owned = { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: STACK_ID } };
    const onEvent = statementsOf(template, 'ImportedAmiProviderOnEventRole');
    const isComplete = statementsOf(template, 'ImportedAmiProviderIsCompleteRole');
    for (const statements of [onEvent, isComplete]) {
      expect(statements).toEqual(expect.arrayContaining([
        expect.objectContaining({ Action: 'ec2:CancelImportTask', Condition: owned }),
        expect.objectContaining({ Action: 'ec2:DeregisterImage', Condition: owned }),
        expect.objectContaining({ Action: 'ec2:DeleteSnapshot', Condition: owned }),
        expect.objectContaining({ Action: 'ec2:CreateTags', Condition: { StringEquals: { 'ec2:CreateAction': 'ImportSnapshot' } } }),
        expect.objectContaining({ Action: 'ec2:CreateTags', Condition: { StringEquals: { [`aws:RequestTag/${OWNER_TAG_KEY}`]: STACK_ID } } }),
        expect.objectContaining({ Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Role/), 'Arn'] } }),
      ]));
      // Nothing removes, cancels or tags without one of those conditions.
      for (const s of statements) {
        const actions: string[] = [].concat(s.Action);
        if (actions.some((a) => ['ec2:CancelImportTask', 'ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:CreateTags', 'ec2:DeleteTags'].includes(a))) {
          expect(s.Condition).toBeDefined();
        }
      }
    }
    // Only the poll registers AMIs, from the stack's own snapshots.
    expect(isComplete).toEqual(expect.arrayContaining([
      expect.objectContaining({ Action: 'ec2:RegisterImage', Condition: owned }),
      expect.objectContaining({ Action: 'ec2:CreateTags', Condition: { StringEquals: { 'ec2:CreateAction': 'RegisterImage' } } }),
    ]));
    expect(onEvent.flatMap((s) => [].concat(s.Action))).not.toContain('ec2:RegisterImage');
  });
});

describe('synth-time validation', () => {
  const bucket = () => s3.Bucket.fromBucketName(newStack(), 'B', 'disks');

  test.each([
    ['no disks', { disks: [] }, /disks is empty/],
    ['more than 21 disks', { disks: Array.from({ length: 22 }, (_, i) => DiskImage.fromBucket(bucket(), `d${i}.raw`)) }, /disks has 22 disks; ImportedAmi takes at most 21/],
    ['an OVA', { disks: [DiskImage.fromUrl('s3://disks/appliance.ova')] },
      /disks\[0\] is an OVA, which holds a whole VM with its own descriptor; ImportSnapshot reads single disk files only \(VHD, VMDK or RAW\)/],
    ['a VHDX', { disks: [DiskImage.fromUrl('s3://disks/a.raw'), DiskImage.fromUrl('s3://disks/b.vhdx')] },
      /disks\[1\] is a VHDX disk; ImportSnapshot reads VHD, VMDK and RAW only: convert it/],
    ['an EBS snapshot', { disks: [DiskImage.fromSnapshot('snap-0123456789abcdef0')] }, /disks\[0\] is the EBS snapshot snap-0123456789abcdef0; ImportedAmi imports disk files/],
    ['no architecture', { architecture: undefined }, /architecture is missing; EC2 would register the AMI as i386/],
    ['an architecture outside the enum', { architecture: 'aarch64' as Architecture }, /architecture "aarch64" is not a Architecture; use Architecture.I386, Architecture.X86_64, Architecture.ARM64/],
    ['an AMI name too short', { amiName: 'ab' }, /amiName "ab" is not a valid AMI name: use 3 to 128 letters/],
    ['an AMI name with a character EC2 refuses', { amiName: 'appliance:1.4' }, /amiName "appliance:1.4" is not a valid AMI name/],
    ['an AMI name over 128 characters', { amiName: 'a'.repeat(129) }, /is not a valid AMI name/],
    ['a description over 255 characters', { description: 'd'.repeat(256) }, /description is 256 characters long; RegisterImage accepts 1 to 255/],
    ['a timeout over 12 hours', { timeout: Duration.hours(13) }, /timeout is 13 hours; it must be whole seconds from 1 minute to 12 hours/],
    ['a timeout under a minute', { timeout: Duration.seconds(30) }, /timeout is 30 seconds; it must be whole seconds from 1 minute to 12 hours/],
    ['a poll cap below the first interval', { pollInterval: Duration.minutes(5), maxPollInterval: Duration.minutes(2) }, /maxPollInterval is 2 minutes; it must be whole seconds from 5 minutes/],
    ['UEFI data without UEFI boot', { uefiData: 'QU1aTlVFRkk=' }, /uefiData is set, but bootMode is not set; a UEFI variable store applies only to UEFI boot: set bootMode: BootMode.UEFI/],
    ['UEFI data with legacy BIOS', { uefiData: 'QU1aTlVFRkk=', bootMode: BootMode.LEGACY_BIOS }, /uefiData is set, but bootMode is legacy-bios/],
    ['UEFI data that is not base64', { uefiData: 'not base64!', bootMode: BootMode.UEFI }, /uefiData \(11 characters\) is not base64/],
    ['NitroTPM without UEFI boot', { tpmSupport: TpmSupport.V2_0, bootMode: BootMode.UEFI_PREFERRED }, /tpmSupport is v2.0, but bootMode is uefi-preferred; NitroTPM needs UEFI boot/],
    ['a root device that is not a device', { rootDeviceName: 'xvda' }, /rootDeviceName "xvda" is not a device name/],
    ['a boot disk on another device than the root device', { disks: [DiskImage.fromUrl('s3://disks/a.raw', { deviceName: '/dev/sda1' })] },
      /disks\[0\] \(the boot disk\) has deviceName "\/dev\/sda1", but rootDeviceName is "\/dev\/xvda"; set rootDeviceName: "\/dev\/sda1"/],
    ['two disks on one device', { disks: [DiskImage.fromUrl('s3://disks/a.raw'), DiskImage.fromUrl('s3://disks/b.raw', { deviceName: '/dev/xvda' })] },
      /disks\[1\] has deviceName "\/dev\/xvda", which disks\[0\] already has/],
    ['a qcow2 disk, with the conversion', { disks: [DiskImage.fromUrl('s3://disks/a.qcow2')] }, /disks\[0\]: the url "s3:\/\/disks\/a.qcow2" is a qcow2 disk, which VM Import cannot read.*qemu-img convert -f qcow2/],
    ['a format outside the enum', { disks: [DiskImage.fromUrl('s3://disks/a.raw', { format: 'QCOW2' as DiskImageFormat })] }, /disks\[0\]: format "QCOW2" is not a DiskImageFormat/],
  ])('rejects %s', (_name, props, message) => {
    expect(() => ami(newStack(), 'Appliance', props as Partial<ImportedAmiProps>)).toThrow(message);
  });

  test('accepts 21 disks, with device names /dev/sdf onwards for the data disks', () => {
    const stack = newStack();
    const disks = Array.from({ length: 21 }, (_, i) => DiskImage.fromUrl(`s3://disks/d${i}.raw`));
    ami(stack, 'Appliance', { disks });
    const devices = importProps(Template.fromStack(stack)).Disks.map((d: any) => d.DeviceName);
    expect(devices).toEqual(['/dev/xvda', ...'fghijklmnopqrstuvwxy'.split('').map((c) => `/dev/sd${c}`)]);
  });

  test('refuses two AMIs with one name in a stack', () => {
    const stack = newStack();
    ami(stack, 'One', { amiName: 'appliance' });
    expect(() => ami(stack, 'Two', { amiName: 'appliance' })).toThrow(/amiName "appliance" is already used by Stack\/One in this stack; AMI names are unique per account and Region/);
  });

  test('refuses tags with a reserved prefix, and more than EC2 leaves beside the library\'s own', () => {
    const reserved = newStack();
    ami(reserved, 'Appliance', { tags: { 'cdk-vm-import-export:import-id': 'x', 'aws:owner': 'me' } });
    expect(() => Template.fromStack(reserved)).toThrow(/tag "aws:owner" has a reserved prefix \(aws:, AWS's own\)[\s\S]*tag "cdk-vm-import-export:import-id" has a reserved prefix \(cdk-vm-import-export:, the library's own\)/);
    const many = newStack();
    ami(many, 'Appliance', { tags: Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`t${i}`, 'v'])) });
    Tags.of(many).add('one-more', 'v');
    expect(() => Template.fromStack(many)).toThrow(/the AMI has 47 tags; EC2 accepts 50, 4 of which the library sets \(cdk-vm-import-export:\*\): remove 1/);
  });

  test('an asset disk is uploaded and read by the service role', () => {
    const stack = newStack();
    ami(stack, 'Appliance', { disks: [DiskImage.fromAsset(SAMPLE_DISK)] });
    const disk = importProps(Template.fromStack(stack)).Disks[0];
    expect(disk).toMatchObject({ Format: 'VMDK', DeviceName: '/dev/xvda', S3Key: expect.stringMatching(/\.vmdk$/) });
  });
});
