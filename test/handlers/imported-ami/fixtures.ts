import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client, Image, ImportSnapshotTask } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { WaitConditionSignal } from '../../../src/handlers/import-image/common';
import { ImportedAmiDeps, importIdFor, libraryTags, propertiesHash } from '../../../src/handlers/imported-ami/common';
import { IMPORT_ID_TAG_KEY, ImportedAmiProperties } from '../../../src/handlers/imported-ami/types';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const NOW = Date.UTC(2026, 0, 1);
export const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/my-stack/11111111-2222-3333-4444-555555555555`;
export const LOGICAL_ID = 'Appliance';
export const RESPONSE_URL = 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned?X-Amz-Signature=secret';
export const SIGNAL_URL = 'https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/ApplianceSignal?X-Amz-Signature=secret';
export const POLLER_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:my-stack-ImportedAmiProvider`;
export const TASK_IDS = ['import-snap-0123456789abcdef0', 'import-snap-0123456789abcdef1'];
export const SNAPSHOT_IDS = ['snap-0123456789abcdef0', 'snap-0123456789abcdef1'];
export const AMI = 'ami-0123456789abcdef0';

export type Props = ImportedAmiProperties & { ServiceToken: string };

export function props(overrides: Partial<Props> = {}): Props {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:provider`,
    AmiName: 'appliance-1.4',
    Architecture: 'arm64',
    BootMode: 'uefi',
    RootDeviceName: '/dev/xvda',
    EnaSupport: 'true',
    ImdsSupport: 'v2.0',
    RoleName: 'vmimport',
    Disks: [
      { Format: 'RAW', S3Bucket: 'appliance-disks', S3Key: 'boot.raw', DeviceName: '/dev/xvda' },
      { Format: 'VMDK', Url: 's3://appliance-disks/data.vmdk', DeviceName: '/dev/sdf' },
    ],
    Tags: { team: 'platform' },
    TimeoutSeconds: String(6 * 3600),
    RemovalPolicy: 'destroy',
    SignalUrl: SIGNAL_URL,
    WaitConditionLogicalId: 'ApplianceWaitABCDEF12',
    PollIntervalSeconds: '15',
    MaxPollIntervalSeconds: '120',
    ...overrides,
  };
}

function common(requestId: string) {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:framework-onEvent`,
    ResponseURL: RESPONSE_URL,
    StackId: STACK_ID,
    RequestId: requestId,
    LogicalResourceId: LOGICAL_ID,
    ResourceType: 'Custom::ImportedAmi',
  };
}

export const CREATE_REQUEST_ID = 'create-request-1';
/** The import a Create with CREATE_REQUEST_ID starts. */
export const IMPORT_ID = importIdFor({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID, RequestId: CREATE_REQUEST_ID });

export function physicalIdFor(p: Partial<Props> = props(), importId = IMPORT_ID, taskIds = TASK_IDS): string {
  return `${importId}|${propertiesHash(p)}|${taskIds.join(',')}`;
}

export function createEvent(p: Props = props(), requestId = CREATE_REQUEST_ID): any {
  return { ...common(requestId), RequestType: 'Create', ResourceProperties: p };
}

export function updateEvent(oldProps: Partial<Props>, newProps: Props, physicalId = physicalIdFor(oldProps), requestId = 'update-request-1'): any {
  return { ...common(requestId), RequestType: 'Update', PhysicalResourceId: physicalId, ResourceProperties: newProps, OldResourceProperties: oldProps };
}

export function deleteEvent(p: Partial<Props> = props(), physicalId = physicalIdFor(p)): any {
  return { ...common('delete-request-1'), RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: p };
}

export interface TestDeps extends ImportedAmiDeps {
  readonly sleep: jest.Mock<Promise<void>, [number]>;
  readonly signal: jest.Mock<Promise<void>, [string, WaitConditionSignal]>;
}

/** Real clients (aws-sdk-client-mock intercepts them), a sleep that returns at once, a fixed clock. */
export function testDeps(now = NOW): TestDeps {
  return {
    ec2: new EC2Client({ region: REGION }),
    sfn: new SFNClient({ region: REGION }),
    cloudformation: new CloudFormationClient({ region: REGION }),
    signal: jest.fn(async (_url: string, _signal: WaitConditionSignal) => undefined),
    pollerStateMachineArn: POLLER_ARN,
    sleep: jest.fn(async (_ms: number) => undefined),
    now: () => now,
  };
}

/** An error shaped like the SDK's service exceptions. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

/** The tags the library gives everything of the import made from `p`. */
export function libraryTagsFor(p: Partial<Props> = props(), importId = IMPORT_ID): Record<string, string> {
  return libraryTags({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID }, importId, propertiesHash(p));
}

export function tagList(tags: Record<string, string>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** A snapshot task as DescribeImportSnapshotTasks shows it. */
export function task(id: string, status: string, extra: { SnapshotId?: string; StatusMessage?: string; Progress?: string } = {}): ImportSnapshotTask {
  return {
    ImportTaskId: id,
    SnapshotTaskDetail: { Status: status, Format: 'RAW', DiskImageSize: 8, ...extra },
    Tags: tagList(libraryTagsFor()),
  };
}

/** The import's AMI as DescribeImages shows it. */
export function image(state: Image['State'] = 'available', importId = IMPORT_ID, snapshots = SNAPSHOT_IDS, id = AMI): Image {
  return {
    ImageId: id,
    Name: 'appliance-1.4',
    State: state,
    CreationDate: '2026-01-01T01:00:00.000Z',
    BlockDeviceMappings: snapshots.map((snapshotId, i) => ({ DeviceName: i === 0 ? '/dev/xvda' : '/dev/sdf', Ebs: { SnapshotId: snapshotId } })),
    Tags: tagList({ team: 'platform', ...libraryTagsFor(props(), importId), [IMPORT_ID_TAG_KEY]: importId }),
  };
}
