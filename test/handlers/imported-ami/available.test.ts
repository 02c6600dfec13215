import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AMI, awsError, IMPORT_ID, image, NOW, SNAPSHOT_IDS, STACK_ID, testDeps } from './fixtures';
import { availableComplete, onAvailableEvent } from '../../../src/handlers/imported-ami/available';
import { isComplete } from '../../../src/handlers/imported-ami/is-complete';
import { onEvent } from '../../../src/handlers/imported-ami/on-event';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  ec2.on(DescribeImagesCommand).resolves({ Images: [image()] });
});

afterEach(() => expectValidRequests(ec2, 'ec2'));

function event(requestType: 'Create' | 'Update' | 'Delete' = 'Create', extra: Record<string, unknown> = {}): any {
  return {
    RequestType: requestType,
    ServiceToken: 'x',
    ResponseURL: 'x',
    StackId: STACK_ID,
    RequestId: 'available-1',
    LogicalResourceId: 'ApplianceAvailable',
    ResourceType: 'Custom::ImportedAmiAvailable',
    ResourceProperties: { ServiceToken: 'x', ImportId: IMPORT_ID, AmiName: 'appliance-1.4', WaitCondition: 'ApplianceWaitABCDEF12', TimeoutSeconds: '21600' },
    ...extra,
  };
}

describe('the read step after the wait condition', () => {
  test('reports the AMI and its snapshots, boot disk first, and takes the AMI id as its physical id', async () => {
    const started = await onEvent(event(), testDeps());
    expect(started).toEqual({ PhysicalResourceId: `import:${IMPORT_ID}`, StartedAt: NOW });
    await expect(isComplete({ ...event(), ...started } as any, testDeps())).resolves.toEqual({
      IsComplete: true, PhysicalResourceId: AMI, Data: { ImageId: AMI, SnapshotIds: SNAPSHOT_IDS.join(','), AmiName: 'appliance-1.4' },
    });
  });

  test('an AMI not there yet (an import replaced without a new wait condition): waits, then fails saying what to change', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [image('pending')] });
    await expect(availableComplete({ ...event(), StartedAt: NOW }, testDeps())).resolves.toEqual({ IsComplete: false });
    await expect(availableComplete({ ...event(), StartedAt: NOW }, testDeps(NOW + 3301 * 1000)))
      .rejects.toThrow(/the AMI of import \S+ is still pending after 55 minutes: the import was replaced by a deploy-time value .* Change amiName/);
  });

  test('a failed AMI fails the read step with EC2\'s reason', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ...image('failed'), StateReason: { Message: 'snapshot is not bootable' } }] });
    await expect(availableComplete(event(), testDeps())).rejects.toThrow(`AMI ${AMI} (appliance-1.4) is failed: snapshot is not bootable`);
  });

  test('throttling only means "ask again"', async () => {
    ec2.on(DescribeImagesCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503));
    await expect(availableComplete(event(), testDeps())).resolves.toEqual({ IsComplete: false });
  });

  test('a Delete of the read step makes no call', async () => {
    expect(onAvailableEvent(event('Delete', { PhysicalResourceId: AMI }), testDeps())).toEqual({ PhysicalResourceId: AMI });
    await expect(availableComplete(event('Delete', { PhysicalResourceId: AMI }), testDeps())).resolves.toEqual({ IsComplete: true });
    expect(ec2.calls()).toHaveLength(0);
  });

  test('refuses a missing ImportId', () => {
    expect(() => onAvailableEvent(event('Create', { ResourceProperties: { ServiceToken: 'x' } }), testDeps())).toThrow(/invalid property ImportId/);
  });
});
