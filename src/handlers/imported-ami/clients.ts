import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ImportedAmiDeps } from './common';
import { sendSignal } from '../import-image/signal';
import { sleep } from '../shared/util';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../types';

/** Environment variable with the ARN of the stack's ImportedAmi poller state machine. */

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
