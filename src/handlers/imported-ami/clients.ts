import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ImportedAmiDeps } from './common';
import { sendSignal } from '../import-image/signal';
import { sleep } from '../shared/util';

/** Environment variable with the ARN of the stack's ImportedAmi poller state machine. */
export const POLLER_STATE_MACHINE_ARN_ENV = 'POLLER_STATE_MACHINE_ARN';

let cached: ImportedAmiDeps | undefined;

/** Module-scope clients, made on first use and reused across warm invocations. */
export function clients(): ImportedAmiDeps {
  cached ??= {
    ec2: new EC2Client({}),
    sfn: new SFNClient({}),
    cloudformation: new CloudFormationClient({}),
    signal: sendSignal,
    pollerStateMachineArn: process.env[POLLER_STATE_MACHINE_ARN_ENV],
    sleep,
    now: Date.now,
  };
  return cached;
}
