import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { CloudFormationCustomResourceCreateEvent, CloudFormationCustomResourceDeleteEvent, CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { ExportDeps, exportHash } from '../../../src/handlers/image-export/common';
import { VmImageExportProperties } from '../../../src/handlers/types';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/export-stack/11111111-2222-3333-4444-555555555555`;
export const LOGICAL_ID = 'WebVhd';
export const SOURCE_ARN = `arn:aws:imagebuilder:${REGION}:${ACCOUNT}:image/web-server/1.0.0/1`;
export const CONFIG_ARN = `arn:aws:imagebuilder:${REGION}:${ACCOUNT}:distribution-configuration/web-vhd`;
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/export-execution`;
/** The image DistributeImage makes (its name and version are Image Builder's choice). */
export const EXPORTED_ARN = `arn:aws:imagebuilder:${REGION}:${ACCOUNT}:image/web-server/1.0.0/2`;
export const NEW_EXPORTED_ARN = `arn:aws:imagebuilder:${REGION}:${ACCOUNT}:image/web-server/1.0.1/2`;
export const POLLER_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:export-stack-VmImageExportProvider-Poller`;
export const SIGNAL_URL = 'https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/WebVhdSignal?X-Amz-Signature=secret';
export const RESPONSE_URL = 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned?X-Amz-Signature=secret';
export const NOW = Date.UTC(2026, 0, 1);
export const OWNER = 'cdk-vm-import-export:stack-id';

export type Props = VmImageExportProperties & { ServiceToken: string };

export function props(overrides: Partial<Props> = {}): Props {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:provider`,
    SourceImage: SOURCE_ARN,
    DistributionConfigurationArn: CONFIG_ARN,
    ExecutionRole: ROLE_ARN,
    Exports: [
      { Region: 'us-east-1', Bucket: 'exports-east', Prefix: 'vhd/', Format: 'VHD' },
      { Region: 'us-west-2', Bucket: 'exports-west', Prefix: 'vhd/', Format: 'VHD' },
    ],
    Tags: { [OWNER]: STACK_ID, team: 'platform' },
    WaitForCompletion: 'true',
    TimeoutSeconds: String(6 * 3600),
    RemovalPolicy: 'destroy',
    SignalUrl: SIGNAL_URL,
    WaitConditionLogicalId: 'WebVhdWaitABCDEF12',
    PollIntervalSeconds: '15',
    MaxPollIntervalSeconds: '120',
    ...overrides,
  };
}

export function physicalIdFor(arn: string, p: Partial<Props> = props()): string {
  return `${arn}|${exportHash(p)}`;
}

function common(requestId: string) {
  return {
    ServiceToken: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:framework-onEvent`,
    ResponseURL: RESPONSE_URL,
    StackId: STACK_ID,
    RequestId: requestId,
    LogicalResourceId: LOGICAL_ID,
    ResourceType: 'Custom::VmImageExport',
  };
}

export function createEvent(p: Props = props(), requestId = 'create-1'): CloudFormationCustomResourceCreateEvent<Props> {
  return { ...common(requestId), RequestType: 'Create', ResourceProperties: p };
}

export function updateEvent(
  oldProps: Partial<Props>, newProps: Props, physicalId = physicalIdFor(EXPORTED_ARN, oldProps), requestId = 'update-1',
): CloudFormationCustomResourceUpdateEvent<Props, Partial<Props>> {
  return { ...common(requestId), RequestType: 'Update', PhysicalResourceId: physicalId, ResourceProperties: newProps, OldResourceProperties: oldProps };
}

export function deleteEvent(p: Props = props(), physicalId = physicalIdFor(EXPORTED_ARN), requestId = 'delete-1'): CloudFormationCustomResourceDeleteEvent<Props> {
  return { ...common(requestId), RequestType: 'Delete', PhysicalResourceId: physicalId, ResourceProperties: p };
}

export interface TestDeps extends ExportDeps {
  readonly slept: number[];
  readonly signals: Array<{ url: string; signal: any }>;
  advance(ms: number): void;
}

/** Clients from the mocks, a clock that only moves when told (or slept), signals recorded. */
export function testDeps(overrides: Partial<ExportDeps> = {}): TestDeps {
  let now = NOW;
  const slept: number[] = [];
  const signals: Array<{ url: string; signal: any }> = [];
  return {
    imagebuilder: new ImagebuilderClient({ region: REGION }),
    sfn: new SFNClient({ region: REGION }),
    cloudformation: new CloudFormationClient({ region: REGION }),
    pollerStateMachineArn: POLLER_ARN,
    signal: async (url, signal) => { signals.push({ url, signal }); },
    sleep: async (ms) => { slept.push(ms); now += ms; },
    now: () => now,
    slept,
    signals,
    advance: (ms) => { now += ms; },
    ...overrides,
  };
}

/** An SDK-shaped service error. */
export function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
}
