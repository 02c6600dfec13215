import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ImportImageDeps } from './common';
import { sendSignal } from './signal';
import { sleep } from '../shared/util';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../types';

export { POLLER_STATE_MACHINE_ARN_ENV } from '../types';

let cached: ImportImageDeps | undefined;

/**
 * Module-scope clients, reused across warm invocations. Each is made on first
 * use: a read step needs Image Builder only, a create rarely CloudFormation, and
 * a client resolves its whole configuration when it is made.
 */
export function clients(): ImportImageDeps {
  if (cached) return cached;
  let ec2: EC2Client | undefined;
  let imagebuilder: ImagebuilderClient | undefined;
  let sfn: SFNClient | undefined;
  let cloudformation: CloudFormationClient | undefined;
  cached = {
    get ec2() { return (ec2 ??= new EC2Client({})); },
    get imagebuilder() { return (imagebuilder ??= new ImagebuilderClient({})); },
    get sfn() { return (sfn ??= new SFNClient({})); },
    get cloudformation() { return (cloudformation ??= new CloudFormationClient({})); },
    signal: sendSignal,
    pollerStateMachineArn: process.env[POLLER_STATE_MACHINE_ARN_ENV],
    sleep,
    now: Date.now,
  };
  return cached;
}
