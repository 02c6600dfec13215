import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { CancelImportTaskCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import { ImagebuilderClient, ImportVmImageCommand } from '@aws-sdk/client-imagebuilder';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import {
  expectValidRequests, loadServiceModel, modeledErrorStatus, serviceForSigningName, ServiceName, SIGNING_NAMES, skippedPatterns, validateRequest,
} from './api-model';

const TASK_ID = 'import-ami-0123456789abcdef0';

/** A request our ImportVmImage call could send; tests change one thing at a time. */
function importVmImage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'my-imported-image',
    semanticVersion: '1.0.0',
    platform: 'Linux',
    vmImportTaskId: TASK_ID,
    clientToken: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', // 36 chars, like a RequestId
    tags: { project: 'vm-import' },
    ...overrides,
  };
}

function importImage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Architecture: 'x86_64',
    BootMode: 'uefi',
    ClientToken: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    Description: 'imported by cdk',
    DiskContainers: [{ Format: 'VMDK', UserBucket: { S3Bucket: 'my-bucket', S3Key: 'disks/disk1.vmdk' } }],
    LicenseType: 'BYOL',
    Platform: 'Linux',
    RoleName: 'vmimport',
    TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'project', Value: 'vm-import' }] }],
    ...overrides,
  };
}

function shape(service: ServiceName, name: string) {
  return loadServiceModel(service).shapes[name];
}

describe('loadServiceModel', () => {
  test('loads the newest EC2 and Image Builder models, once', () => {
    const ec2 = loadServiceModel('ec2');
    expect(ec2.metadata.apiVersion).toBe('2016-11-15');
    expect(ec2.operations.ImportImage).toBeDefined();
    expect(loadServiceModel('imagebuilder').operations.ImportVmImage).toBeDefined();
    expect(loadServiceModel('ec2')).toBe(ec2);
  });

  test('BOTOCORE_DATA_DIR overrides python3, the newest version folder wins, and a pattern JS cannot compile is skipped and noted', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'botocore-'));
    const write = (version: string, pattern: string) => {
      const model = {
        metadata: { apiVersion: version },
        operations: { Op: { name: 'Op', input: { shape: 'OpRequest' } } },
        shapes: {
          OpRequest: { type: 'structure', required: ['a'], members: { a: { shape: 'S' } } },
          S: { type: 'string', pattern },
        },
      };
      fs.mkdirSync(path.join(dir, 'imagebuilder', version), { recursive: true });
      fs.writeFileSync(path.join(dir, 'imagebuilder', version, 'service-2.json.gz'), zlib.gzipSync(JSON.stringify(model)));
    };
    write('2019-12-02', '^old$');
    write('2024-01-01', '(?<unclosed');
    const saved = process.env.BOTOCORE_DATA_DIR;
    process.env.BOTOCORE_DATA_DIR = dir;
    try {
      jest.isolateModules(() => {
        // A fresh module instance, so the real model cached above does not answer.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fresh = require('./api-model') as typeof import('./api-model');
        expect(fresh.loadServiceModel('imagebuilder').metadata.apiVersion).toBe('2024-01-01');
        expect(fresh.validateRequest('imagebuilder', 'Op', { a: 'anything' })).toEqual([]);
        expect([...fresh.skippedPatterns]).toEqual(['(?<unclosed']);
        expect(fresh.validateRequest('imagebuilder', 'Op', {})).toEqual(['a: required member of OpRequest is missing']);
      });
    } finally {
      if (saved === undefined) {
        delete process.env.BOTOCORE_DATA_DIR;
      } else {
        process.env.BOTOCORE_DATA_DIR = saved;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CloudFormation and Step Functions models', () => {
  test('load from botocore\'s cloudformation and stepfunctions folders, with the protocols the fake speaks', () => {
    expect(loadServiceModel('cloudformation').metadata).toMatchObject({
      apiVersion: '2010-05-15', protocol: 'query', xmlNamespace: 'http://cloudformation.amazonaws.com/doc/2010-05-15/',
    });
    expect(loadServiceModel('sfn').metadata).toMatchObject({
      apiVersion: '2016-11-23', protocol: 'json', jsonVersion: '1.0', targetPrefix: 'AWSStepFunctions', endpointPrefix: 'states', serviceId: 'SFN',
    });
  });

  test('SigV4 scopes name the services: states is Step Functions', () => {
    expect(SIGNING_NAMES).toEqual({ ec2: 'ec2', imagebuilder: 'imagebuilder', cloudformation: 'cloudformation', sfn: 'states' });
    for (const service of Object.keys(SIGNING_NAMES) as ServiceName[]) {
      const { endpointPrefix, signingName } = loadServiceModel(service).metadata as { endpointPrefix: string; signingName?: string };
      expect(serviceForSigningName(signingName ?? endpointPrefix)).toBe(service);
    }
    expect(serviceForSigningName('s3')).toBeUndefined();
  });

  test('DescribeStackResource needs StackName and LogicalResourceId; StartExecution names are 1..80 characters', () => {
    expect(validateRequest('cloudformation', 'DescribeStackResource', { StackName: 's', LogicalResourceId: 'R' })).toEqual([]);
    expect(validateRequest('cloudformation', 'DescribeStackResource', { StackName: 's' }))
      .toEqual(['LogicalResourceId: required member of DescribeStackResourceInput is missing']);
    const machine = 'arn:aws:states:us-east-1:123456789012:stateMachine:m';
    expect(validateRequest('sfn', 'StartExecution', { stateMachineArn: machine, name: 'n', input: '{}' })).toEqual([]);
    expect(validateRequest('sfn', 'StartExecution', { stateMachineArn: machine, name: 'n'.repeat(81) }))
      .toEqual(['name: length 81 is above the maximum 80 (Name)']);
    expect(validateRequest('sfn', 'StopExecution', { error: 'E' })).toEqual(['executionArn: required member of StopExecutionInput is missing']);
  });

  test('modeledErrorStatus: by shape name or by the wire code a query-protocol shape declares; undefined when not modeled', () => {
    expect(modeledErrorStatus('imagebuilder', 'CallRateLimitExceededException')).toBe(429);
    expect(modeledErrorStatus('imagebuilder', 'InvalidParameterValueException')).toBe(400);
    expect(modeledErrorStatus('cloudformation', 'ChangeSetNotFound')).toBe(404);
    expect(modeledErrorStatus('cloudformation', 'ChangeSetNotFoundException')).toBe(404);
    expect(modeledErrorStatus('cloudformation', 'ValidationError')).toBeUndefined();
    // Step Functions models its errors without HTTP statuses (they answer 400).
    expect(modeledErrorStatus('sfn', 'ExecutionAlreadyExists')).toBeUndefined();
    expect(modeledErrorStatus('ec2', 'IncorrectState')).toBeUndefined();
  });
});

describe('validateRequest: Image Builder ImportVmImage', () => {
  test('accepts a valid request, with or without clientToken (the SDK generates an absent idempotency token)', () => {
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage())).toEqual([]);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ clientToken: undefined }))).toEqual([]);
  });

  test('required member missing: vmImportTaskId', () => {
    const problems = validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ vmImportTaskId: undefined }));
    expect(problems).toEqual(['vmImportTaskId: required member of ImportVmImageRequest is missing']);
  });

  test('pattern: semanticVersion "1.0" is rejected, "1.0.0" is not', () => {
    expect(shape('imagebuilder', 'VersionNumber').pattern).toBe('^[0-9]+\\.[0-9]+\\.[0-9]+$');
    const problems = validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ semanticVersion: '1.0' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^semanticVersion: "1\.0" does not match the pattern/);
  });

  test('string max length: clientToken is 1..64 in the model', () => {
    expect(shape('imagebuilder', 'ClientToken')).toMatchObject({ min: 1, max: 64 });
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ clientToken: 'x'.repeat(64) }))).toEqual([]);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ clientToken: 'x'.repeat(65) })))
      .toEqual(['clientToken: length 65 is above the maximum 64 (ClientToken)']);
  });

  test('string min length: empty description', () => {
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ description: '' })))
      .toEqual(['description: length 0 is below the minimum 1 (NonEmptyString)']);
  });

  test('enum: platform is Windows | Linux | macOS, case-sensitive', () => {
    expect(shape('imagebuilder', 'Platform').enum).toEqual(['Windows', 'Linux', 'macOS']);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ platform: 'linux' })))
      .toEqual(['platform: "linux" is not one of Windows | Linux | macOS (Platform)']);
  });

  test('unknown members: PascalCase names and invented ones', () => {
    const input = importVmImage({ SemanticVersion: '1.0.0', osVersionName: 'Ubuntu' });
    const problems = validateRequest('imagebuilder', 'ImportVmImage', input);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^SemanticVersion: unknown member of ImportVmImageRequest/);
    expect(problems[1]).toMatch(/^osVersionName: unknown member of ImportVmImageRequest/);
  });

  test('map: 1..50 tags, keys must not start with "aws:", values are strings', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ tags: many })))
      .toEqual(['tags: entry count 51 is above the maximum 50 (TagMap)']);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ tags: {} })))
      .toEqual(['tags: entry count 0 is below the minimum 1 (TagMap)']);
    const problems = validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ tags: { 'aws:cloudformation:stack-name': 's', 'n': 5 } }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^tags key "aws:cloudformation:stack-name": .* does not match the pattern \^\(\?!aws:\)/);
    expect(problems[1]).toBe('tags["n"]: expected a string (TagValue), got number');
  });

  test('nested structure: unknown member and wrong type in loggingConfiguration', () => {
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ loggingConfiguration: { logGroupName: '/vm/import' } }))).toEqual([]);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ loggingConfiguration: { LogGroupName: '/vm/import' } })))
      .toEqual([expect.stringMatching(/^loggingConfiguration\.LogGroupName: unknown member of ImageLoggingConfiguration/)]);
    expect(validateRequest('imagebuilder', 'ImportVmImage', importVmImage({ loggingConfiguration: '/vm/import' })))
      .toEqual(['loggingConfiguration: expected an object (ImageLoggingConfiguration), got string']);
  });
});

describe('validateRequest: EC2 ImportImage', () => {
  test('accepts a valid request with DiskContainers / UserBucket / S3Bucket', () => {
    expect(validateRequest('ec2', 'ImportImage', importImage())).toEqual([]);
  });

  test('BootModeValues: the model lists legacy-bios | uefi | uefi-preferred, so uefi-preferred passes here and must be refused at synth', () => {
    expect(shape('ec2', 'BootModeValues').enum).toEqual(['legacy-bios', 'uefi', 'uefi-preferred']);
    expect(validateRequest('ec2', 'ImportImage', importImage({ BootMode: 'uefi-preferred' }))).toEqual([]);
    expect(validateRequest('ec2', 'ImportImage', importImage({ BootMode: 'UEFI' })))
      .toEqual(['BootMode: "UEFI" is not one of legacy-bios | uefi | uefi-preferred (BootModeValues)']);
  });

  test('Format, Architecture, LicenseType and Platform are plain strings in the model (no enum to check)', () => {
    for (const member of ['Architecture', 'LicenseType', 'Platform', 'Hypervisor']) {
      expect(shape('ec2', loadServiceModel('ec2').shapes.ImportImageRequest.members![member].shape).enum).toBeUndefined();
    }
    expect(shape('ec2', 'ImageDiskContainer').members!.Format.shape).toBe('String');
    expect(validateRequest('ec2', 'ImportImage', importImage({ DiskContainers: [{ Format: 'OVA', Url: 's3://b/k.ova' }] }))).toEqual([]);
  });

  test('unknown members: the wire name DiskContainer, and Bucket/Key instead of S3Bucket/S3Key', () => {
    const problems = validateRequest('ec2', 'ImportImage', importImage({
      DiskContainers: undefined,
      DiskContainer: [{ Format: 'VMDK' }],
    }));
    expect(problems).toEqual([expect.stringMatching(/^DiskContainer: unknown member of ImportImageRequest \(known: .*DiskContainers/)]);
    const nested = validateRequest('ec2', 'ImportImage', importImage({ DiskContainers: [{ Format: 'VMDK', UserBucket: { Bucket: 'b', Key: 'k' } }] }));
    expect(nested).toEqual([
      expect.stringMatching(/^DiskContainers\[0\]\.UserBucket\.Bucket: unknown member of UserBucket/),
      expect.stringMatching(/^DiskContainers\[0\]\.UserBucket\.Key: unknown member of UserBucket/),
    ]);
  });

  test('types: string booleans (as custom resource properties arrive), object for list, string for structure, timestamps and doubles', () => {
    const problems = validateRequest('ec2', 'ImportImage', importImage({
      Encrypted: 'true',
      DiskContainers: { Format: 'VMDK' },
      ClientData: { UploadStart: '2024-01-01T00:00:00Z', UploadEnd: new Date(), UploadSize: '12' },
      LicenseSpecifications: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1'],
    }));
    expect(problems).toEqual([
      'DiskContainers: expected a list (ImageDiskContainerList), got object',
      'Encrypted: expected a boolean (Boolean), got string',
      'ClientData.UploadStart: expected a valid Date (DateTime), got string',
      'ClientData.UploadSize: expected a number (Double), got string',
      'LicenseSpecifications[0]: expected an object (ImportImageLicenseConfigurationRequest), got string',
    ]);
  });

  test('enum inside a list: TagSpecifications ResourceType', () => {
    expect(validateRequest('ec2', 'ImportImage', importImage({ TagSpecifications: [{ ResourceType: 'import-task', Tags: [] }] })))
      .toEqual([expect.stringMatching(/^TagSpecifications\[0\]\.ResourceType: "import-task" is not one of /)]);
  });
});

describe('validateRequest: other operations the handlers use', () => {
  test('CancelImportTask and DeregisterImage members', () => {
    expect(validateRequest('ec2', 'CancelImportTask', { ImportTaskId: TASK_ID, CancelReason: 'stack deleted' })).toEqual([]);
    expect(validateRequest('ec2', 'DeregisterImage', { ImageId: 'ami-0123456789abcdef0', DeleteAssociatedSnapshots: true })).toEqual([]);
    expect(validateRequest('ec2', 'DeregisterImage', {})).toEqual(['ImageId: required member of DeregisterImageRequest is missing']);
  });

  test('integer range and type: Image Builder ListImages maxResults is 1..25', () => {
    expect(validateRequest('imagebuilder', 'ListImages', { maxResults: 25 })).toEqual([]);
    expect(validateRequest('imagebuilder', 'ListImages', { maxResults: 26 })).toEqual(['maxResults: value 26 is above the maximum 25 (RestrictedInteger)']);
    expect(validateRequest('imagebuilder', 'ListImages', { maxResults: 0 })).toEqual(['maxResults: value 0 is below the minimum 1 (RestrictedInteger)']);
    expect(validateRequest('imagebuilder', 'ListImages', { maxResults: 2.5 })).toEqual(['maxResults: expected an integer (RestrictedInteger), got 2.5']);
    expect(validateRequest('imagebuilder', 'ListImages', { maxResults: '10' })).toEqual(['maxResults: expected an integer (RestrictedInteger), got string']);
  });

  test('list length: UntagResource tagKeys needs 1..50 items', () => {
    const arn = 'arn:aws:imagebuilder:us-east-1:123456789012:image/my-imported-image/1.0.0/1';
    expect(validateRequest('imagebuilder', 'UntagResource', { resourceArn: arn, tagKeys: ['a'] })).toEqual([]);
    expect(validateRequest('imagebuilder', 'UntagResource', { resourceArn: arn, tagKeys: [] }))
      .toEqual(['tagKeys: item count 0 is below the minimum 1 (TagKeyList)']);
  });

  test('CreateDistributionConfiguration: name pattern, nested s3ExportConfiguration required members and diskImageFormat enum', () => {
    const good = {
      name: 'vm-export',
      description: 'export to S3',
      distributions: [{ region: 'us-east-1', s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'VMDK', s3Bucket: 'b', s3Prefix: 'exports/' } }],
      clientToken: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    };
    expect(validateRequest('imagebuilder', 'CreateDistributionConfiguration', good)).toEqual([]);
    const problems = validateRequest('imagebuilder', 'CreateDistributionConfiguration', {
      ...good,
      name: 'my dist!',
      distributions: [{ s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'OVA' } }],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^name: "my dist!" does not match the pattern/),
      'distributions[0].region: required member of Distribution is missing',
      'distributions[0].s3ExportConfiguration.s3Bucket: required member of S3ExportConfiguration is missing',
      'distributions[0].s3ExportConfiguration.diskImageFormat: "OVA" is not one of VMDK | RAW | VHD (DiskImageFormat)',
    ]);
  });

  test('unknown operation and non-object input', () => {
    expect(validateRequest('ec2', 'ImportVmImage', {})).toEqual(['ImportVmImage: no such operation in the ec2 model']);
    expect(validateRequest('ec2', 'CancelImportTask', 'import-ami-1')).toEqual(['CancelImportTask: input must be an object, got string']);
  });
});

describe('expectValidRequests with aws-sdk-client-mock', () => {
  const ib = mockClient(ImagebuilderClient);
  const ec2 = mockClient(EC2Client);
  beforeEach(() => {
    ib.reset();
    ec2.reset();
  });

  test('throws for a bad ImportVmImageCommand, naming the operation and every problem', async () => {
    ib.on(ImportVmImageCommand).resolves({ imageArn: 'arn' });
    const client = new ImagebuilderClient({ region: 'us-east-1' });
    await client.send(new ImportVmImageCommand({
      name: 'my-imported-image',
      semanticVersion: '1.0',
      platform: 'Linux',
      clientToken: 'x'.repeat(65),
    } as unknown as ConstructorParameters<typeof ImportVmImageCommand>[0]));
    let message = '';
    try {
      expectValidRequests(ib, 'imagebuilder');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'Requests the imagebuilder API model rejects:',
      '  call 0 ImportVmImage: vmImportTaskId: required member of ImportVmImageRequest is missing',
      expect.stringMatching(/^ {2}call 0 ImportVmImage: semanticVersion: "1\.0" does not match the pattern/),
      '  call 0 ImportVmImage: clientToken: length 65 is above the maximum 64 (ClientToken)',
    ]);
  });

  test('passes for good requests on both clients', async () => {
    ib.on(ImportVmImageCommand).resolves({ imageArn: 'arn' });
    ec2.on(ImportImageCommand).resolves({ ImportTaskId: TASK_ID });
    const client = new ImagebuilderClient({ region: 'us-east-1' });
    await client.send(new ImportVmImageCommand({
      name: 'my-imported-image', semanticVersion: '1.0.0', platform: 'Linux', vmImportTaskId: TASK_ID,
    }));
    const ec2Client = new EC2Client({ region: 'us-east-1' });
    await ec2Client.send(new ImportImageCommand(importImage()));
    await ec2Client.send(new CancelImportTaskCommand({ ImportTaskId: TASK_ID }));
    expect(ib.calls()).toHaveLength(1);
    expect(ec2.calls()).toHaveLength(2);
    expect(() => expectValidRequests(ib, 'imagebuilder')).not.toThrow();
    expect(() => expectValidRequests(ec2, 'ec2')).not.toThrow();
  });

  test('a Step Functions mock is checked against its model too', async () => {
    const sfn = mockClient(SFNClient);
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn', startDate: new Date() });
    await new SFNClient({ region: 'us-east-1' }).send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m', name: '' }));
    expect(() => expectValidRequests(sfn, 'sfn')).toThrow('call 0 StartExecution: name: length 0 is below the minimum 1 (Name)');
    sfn.restore();
  });

  test('every pattern in the four real models compiles as a JS RegExp, so none is skipped', () => {
    for (const service of ['ec2', 'imagebuilder', 'cloudformation', 'sfn'] as const) {
      for (const s of Object.values(loadServiceModel(service).shapes)) {
        if (s.pattern !== undefined) {
          expect(() => new RegExp(s.pattern!, 'u')).not.toThrow();
        }
      }
    }
    expect([...skippedPatterns]).toEqual([]);
  });
});
