import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ExportDeps } from './common';
import { sendSignal } from '../import-image/signal';
import { sleep } from '../shared/util';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../types';

/** Environment variable with the ARN of the stack's export poller state machine. */

let cached: ExportDeps | undefined;

/** Module-scope clients, made on first use and reused across warm invocations. */
export function clients(): ExportDeps {
  cached ??= {
    imagebuilder: new ImagebuilderClient({}),
    sfn: new SFNClient({}),
    cloudformation: new CloudFormationClient({}),
    signal: sendSignal,
    pollerStateMachineArn: process.env[POLLER_STATE_MACHINE_ARN_ENV],
    sleep,
    now: Date.now,
  };
  return cached;
}
