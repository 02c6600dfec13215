import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ImportImageDeps } from './common';
import { sendSignal } from './signal';
import { sleep } from '../shared/util';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../types';

export { POLLER_STATE_MACHINE_ARN_ENV };

let cached: ImportImageDeps | undefined;

/** Module-scope clients, made on first use and reused across warm invocations. */
export function clients(): ImportImageDeps {
  cached ??= {
    ec2: new EC2Client({}),
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
