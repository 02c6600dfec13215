import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ExportDeps } from './common';
import { sendSignal } from '../import-image/signal';
import { sleep } from '../shared/util';

/** Environment variable with the ARN of the stack's export poller state machine. */
export const EXPORT_POLLER_STATE_MACHINE_ARN_ENV = 'POLLER_STATE_MACHINE_ARN';

let cached: ExportDeps | undefined;

/** Module-scope clients, made on first use and reused across warm invocations. */
export function clients(): ExportDeps {
  cached ??= {
    imagebuilder: new ImagebuilderClient({}),
    sfn: new SFNClient({}),
    cloudformation: new CloudFormationClient({}),
    signal: sendSignal,
    pollerStateMachineArn: process.env[EXPORT_POLLER_STATE_MACHINE_ARN_ENV],
    sleep,
    now: Date.now,
  };
  return cached;
}
