import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type {
  CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { ImportImageDeps, IsCompleteEvent, propertiesHash } from '../../../src/handlers/import-image/common';
import { VmImportImageProperties } from '../../../src/handlers/types';

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

/** The physical id this handler writes for an import of IMAGE_ARN / TASK_ID made from these properties. */
export function physicalIdFor(p: Partial<Props>): string {
  return `${IMAGE_ARN}|${TASK_ID}|${propertiesHash(p)}`;
}

/** The physical id of an import made from props(). */
export const PHYSICAL_ID = physicalIdFor(props());

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

/** What the Provider framework hands isComplete: the request merged with the onEvent result. */
export function isCompleteEvent(
  p: Props = props(),
  extra: { Deadline?: number | string; RequestType?: 'Create' | 'Update' | 'Delete'; NewImport?: boolean | string } = {},
): IsCompleteEvent {
  const requestType = extra.RequestType ?? 'Create';
  const base = { ...common('create-request-1'), RequestType: requestType, ResourceProperties: p, PhysicalResourceId: PHYSICAL_ID };
  const event = {
    ...base,
    ...('Deadline' in extra ? { Deadline: extra.Deadline } : { Deadline: NOW + 3300 * 1000 }),
    ...('NewImport' in extra ? { NewImport: extra.NewImport } : {}),
  };
  return (requestType === 'Update' ? { ...event, OldResourceProperties: p } : event) as IsCompleteEvent;
}

export interface TestDeps extends ImportImageDeps {
  readonly sleep: jest.Mock<Promise<void>, [number]>;
}

/** Real clients (aws-sdk-client-mock intercepts them), a sleep that returns at once, a fixed clock. */
export function testDeps(now = NOW): TestDeps {
  return {
    ec2: new EC2Client({ region: REGION }),
    imagebuilder: new ImagebuilderClient({ region: REGION }),
    sleep: jest.fn(async (_ms: number) => undefined),
    now: () => now,
  };
}

/** An error shaped like the SDK's service exceptions. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

export const ROLE_NOT_READY_MESSAGE = 'The service role vmimport provided does not exist or does not have sufficient permissions';
