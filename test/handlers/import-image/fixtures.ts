import { CloudFormationClient, DescribeStackResourceCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  FoundImportIds, ImportImageDeps, IsCompleteEvent, propertiesHash, WaitConditionSignal, WaitKind,
} from '../../../src/handlers/import-image/common';
import {
  IMPORT_TASK_TAG_KEY, LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY, VmImportImageProperties,
} from '../../../src/handlers/types';
import { expectValidRequests } from '../../support/api-model';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const IMAGE_ARN = `arn:aws:imagebuilder:${REGION}:${ACCOUNT}:image/imported-vm/1.0.0/1`;
export const TASK_ID = 'import-ami-0123456789abcdef0';
/** The physical id an older handler version wrote: no properties hash. */
export const LEGACY_PHYSICAL_ID = `${IMAGE_ARN}|${TASK_ID}`;
export const AMI = 'ami-0123456789abcdef0';
export const NOW = Date.UTC(2025, 0, 1);
export const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/my-stack/11111111-2222-3333-4444-555555555555`;
export const LOGICAL_ID = 'ImportedImage';
export const RESPONSE_URL = 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned?X-Amz-Signature=secret';
/** A wait condition handle's presigned URL (shape of CloudFormation's; the signature is a marker to look for in logs). */
export const SIGNAL_URL = 'https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/my-stack/1111/SignalABC?X-Amz-Signature=signal-secret';
export const WAIT_CONDITION_LOGICAL_ID = 'ImportedImageWaitABC123';
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:ImportPollerABC123`;

export type Props = VmImportImageProperties & { ServiceToken: string };

export function props(overrides: Partial<Props> = {}): Props {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:provider`,
    ImageName: 'imported-vm',
    ImageVersion: '1.0.0',
    Platform: 'Linux',
    RoleName: 'vmimport',
    Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk' }],
    ...overrides,
  };
}

/** Properties of an import whose deployment waits through a wait condition (the default template). */
export function waitProps(overrides: Partial<Props> = {}): Props {
  return props({ SignalUrl: SIGNAL_URL, WaitConditionLogicalId: WAIT_CONDITION_LOGICAL_ID, ...overrides });
}

/** The physical id this handler writes for an import of IMAGE_ARN / TASK_ID made from these properties. */
export function physicalIdFor(p: Partial<Props>): string {
  return `${IMAGE_ARN}|${TASK_ID}|${propertiesHash(p)}`;
}

/** The physical id of an import made from props(). */
export const PHYSICAL_ID = physicalIdFor(props());

/** The tags the handler puts on the task and the image of an import of this stack's LOGICAL_ID. */
export function runtimeTags(p: Partial<Props> = props(), overrides: Record<string, string> = {}): Record<string, string> {
  return { [OWNER_TAG_KEY]: STACK_ID, [LOGICAL_ID_TAG_KEY]: LOGICAL_ID, [PROPERTIES_HASH_TAG_KEY]: propertiesHash(p), ...overrides };
}

/** The image's tags also name its task. */
export function imageTags(p: Partial<Props> = props(), importTaskId = TASK_ID, overrides: Record<string, string> = {}): Record<string, string> {
  return { ...runtimeTags(p, overrides), [IMPORT_TASK_TAG_KEY]: importTaskId };
}

function common(requestId: string) {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:framework-onEvent`,
    ResponseURL: RESPONSE_URL,
    StackId: STACK_ID,
    RequestId: requestId,
    LogicalResourceId: LOGICAL_ID,
    ResourceType: 'Custom::VmImportImage',
  };
}

export function createEvent(p: Props = props(), requestId = 'create-request-1'): CloudFormationCustomResourceCreateEvent<Props> {
  return { ...common(requestId), RequestType: 'Create', ResourceProperties: p };
}

/** By default the physical id is the one written for an import of `oldProps`. */
export function updateEvent(
  oldProps: Partial<Props>, newProps: Props, physicalId = physicalIdFor(oldProps), requestId = 'update-request-1',
): CloudFormationCustomResourceUpdateEvent<Props, Partial<Props>> {
  return { ...common(requestId), RequestType: 'Update', PhysicalResourceId: physicalId, ResourceProperties: newProps, OldResourceProperties: oldProps };
}

/** Partial properties allowed: a Delete may carry what an older handler version wrote. */
export function deleteEvent(p: Partial<Props> = props(), physicalId = PHYSICAL_ID): CloudFormationCustomResourceDeleteEvent<Props> {
  return { ...common('delete-request-1'), RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: p as Props };
}

export interface IsCompleteExtra {
  Deadline?: number | string;
  RequestType?: 'Create' | 'Update' | 'Delete';
  NewImport?: boolean | string;
  Wait?: WaitKind;
  StartedAt?: number | string;
  Targets?: FoundImportIds[];
  Failure?: string;
  PhysicalResourceId?: string;
  RequestId?: string;
}

/** What the Provider framework hands isComplete: the request merged with the onEvent result. */
export function isCompleteEvent(p: Props = props(), extra: IsCompleteExtra = {}): IsCompleteEvent {
  const { RequestType, RequestId, PhysicalResourceId, ...rest } = extra;
  const requestType = RequestType ?? 'Create';
  const base = {
    ...common(RequestId ?? 'create-request-1'), RequestType: requestType, ResourceProperties: p, PhysicalResourceId: PhysicalResourceId ?? PHYSICAL_ID,
  };
  const event = { ...base, ...('Deadline' in rest ? {} : { Deadline: NOW + 3300 * 1000 }), ...rest };
  return (requestType === 'Update' ? { ...event, OldResourceProperties: p } : event) as IsCompleteEvent;
}

/** The event the framework hands isComplete after onEvent answered `response` to `request`. */
export function afterOnEvent(request: object, response: object): IsCompleteEvent {
  return { ...request, ...response } as IsCompleteEvent;
}

export interface TestDeps extends ImportImageDeps {
  readonly sleep: jest.Mock<Promise<void>, [number]>;
  readonly signal: jest.Mock<Promise<void>, [string, WaitConditionSignal]>;
}

/**
 * Real clients (aws-sdk-client-mock intercepts them), a sleep that returns at
 * once, a fixed clock (or a function for one that moves), a signal sender that
 * records, and the poller's state machine.
 */
export function testDeps(now: number | (() => number) = NOW, overrides: Partial<ImportImageDeps> = {}): TestDeps {
  return {
    ec2: new EC2Client({ region: REGION }),
    imagebuilder: new ImagebuilderClient({ region: REGION }),
    sfn: new SFNClient({ region: REGION }),
    cloudformation: new CloudFormationClient({ region: REGION }),
    signal: jest.fn(async (_url: string, _signal: WaitConditionSignal) => undefined),
    pollerStateMachineArn: STATE_MACHINE_ARN,
    sleep: jest.fn(async (_ms: number) => undefined),
    now: typeof now === 'function' ? now : () => now,
    ...overrides,
  } as TestDeps;
}

/**
 * Mocks of Step Functions and CloudFormation for a test file, so that no test
 * can reach AWS through them. Defaults: no poller runs, StartExecution starts
 * one, and CloudFormation still waits for the resource (a stack in progress).
 * Every request is checked against the API models after each test.
 */
export function mockStackServices() {
  const sfn = mockClient(SFNClient);
  const cloudformation = mockClient(CloudFormationClient);
  beforeEach(() => {
    sfn.reset();
    cloudformation.reset();
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    sfn.on(StartExecutionCommand).callsFake((input: { name?: string }) => ({
      executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:ImportPollerABC123:${input.name}`, startDate: new Date(NOW),
    }));
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date(NOW) });
    cloudformation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackId: STACK_ID, StackName: 'my-stack', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date(NOW) }],
    });
    cloudformation.on(DescribeStackResourceCommand).resolves({
      StackResourceDetail: {
        LogicalResourceId: LOGICAL_ID, ResourceType: 'Custom::VmImportImage', ResourceStatus: 'CREATE_IN_PROGRESS', LastUpdatedTimestamp: new Date(NOW),
      },
    });
  });
  afterEach(() => {
    expectValidRequests(sfn, 'sfn');
    expectValidRequests(cloudformation, 'cloudformation');
  });
  return { sfn, cloudformation };
}

/** An error shaped like the SDK's service exceptions. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

/** The error an awaited promise rejects with (fails the test when it resolves). */
export async function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    (result) => { throw new Error(`expected a failure, got ${JSON.stringify(result)}`); },
    (err: Error) => err,
  );
}

export const ROLE_NOT_READY_MESSAGE = 'The service role vmimport provided does not exist or does not have sufficient permissions';
