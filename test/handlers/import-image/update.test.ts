import { DescribeStackResourceCommand, DescribeStacksCommand, ResourceStatus } from '@aws-sdk/client-cloudformation';
import { DescribeImportImageTasksCommand, EC2Client, ImportImageCommand } from '@aws-sdk/client-ec2';
import {
  CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, ImageStatus, ImagebuilderClient, ImportVmImageCommand,
  ListImageBuildVersionsCommand,
  TagResourceCommand, UntagResourceCommand,
} from '@aws-sdk/client-imagebuilder';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  afterOnEvent, AMI, awsError, createEvent, failureOf, IMAGE_ARN, imageTags, LEGACY_PHYSICAL_ID, mockStackServices, NOW, PHYSICAL_ID,
  physicalIdFor, props,
  SIGNAL_URL, STACK_ID, TASK_ID, testDeps, updateEvent, waitProps,
} from './fixtures';
import { propertiesHash } from '../../../src/handlers/import-image/common';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import { onEvent } from '../../../src/handlers/import-image/on-event';
import { updateImport } from '../../../src/handlers/import-image/update';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const NEW_IMAGE_ARN = 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/2.0.0/1';
const NEW_TASK_ID = 'import-ami-0fedcba9876543210';

/** The physical id of the new import an update starts for these properties. */
function newPhysicalId(p: Parameters<typeof propertiesHash>[0]): string {
  return `${NEW_IMAGE_ARN}|${NEW_TASK_ID}|${propertiesHash(p)}`;
}

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { sfn, cloudformation } = mockStackServices();

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  ec2.on(ImportImageCommand).resolves({ ImportTaskId: NEW_TASK_ID });
  imagebuilder.on(ImportVmImageCommand).resolves({ imageArn: NEW_IMAGE_ARN });
  imagebuilder.on(GetImageCommand).resolves({ image: { arn: IMAGE_ARN, state: { status: 'BUILDING' } } });
  imagebuilder.on(TagResourceCommand).resolves({});
  imagebuilder.on(UntagResourceCommand).resolves({});
  // The look-up for a live import made from the new properties finds none unless a test says so.
  imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [] });
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: [] });
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('update', () => {
  test('updates only changed tags in place: same id, TagResource and UntagResource, no new import', async () => {
    const event = updateEvent(
      props({ Tags: { keep: 'same', change: 'old', drop: 'gone' } }),
      props({ Tags: { keep: 'same', change: 'new', add: 'added' } }),
    );

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { change: 'new', add: 'added' } });
    expect(imagebuilder).toHaveReceivedCommandWith(UntagResourceCommand, { resourceArn: IMAGE_ARN, tagKeys: ['drop'] });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
  });

  test('never removes the stack ownership tag when a template stops naming it (newer templates leave it to the handler)', async () => {
    const owner = { 'cdk-vm-import-export:stack-id': STACK_ID };
    const result = await updateImport(updateEvent(props({ Tags: { ...owner, team: 'a' } }), props({ Tags: { team: 'b' } })), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { team: 'b' } });
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test.each([
    ['WaitForAvailable', { WaitForAvailable: 'false' }],
    ['TimeoutSeconds', { TimeoutSeconds: '1800' }],
    ['RemovalPolicy', { RemovalPolicy: 'retain' }],
    ['ServiceToken', { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:other' }],
  ])('keeps the image when only %s changes, without tag calls', async (_name, change) => {
    const result = await updateImport(updateEvent(props({ Tags: { a: '1' } }), props({ Tags: { a: '1' }, ...change })), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test('returns the same Data and a new Deadline for an in-place update, and waits for an import still BUILDING when no wait condition follows it', async () => {
    const result = await updateImport(updateEvent(props(), props({ TimeoutSeconds: '900' })), testDeps());

    expect(result).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
      Deadline: NOW + 900_000,
      StartedAt: NOW,
      Wait: 'import',
    });
  });

  test('keeps ImageId in Data when the image is AVAILABLE, from the image Region', async () => {
    imagebuilder.on(GetImageCommand).resolves({
      image: {
        arn: IMAGE_ARN,
        state: { status: 'AVAILABLE' },
        outputResources: { amis: [{ region: 'eu-west-1', image: 'ami-0aaaaaaaaaaaaaaaa' }, { region: 'us-east-1', image: AMI }] },
      },
    });

    const result = await updateImport(updateEvent(props(), props({ WaitForAvailable: 'false' })), testDeps());

    expect(result.Data?.ImageId).toBe(AMI);
  });

  test.each([
    ['the disk source', { Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot-v2.vmdk' }] }],
    ['the image version', { ImageVersion: '2.0.0' }],
    ['the KMS key', { KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555' }],
    ['the boot mode', { BootMode: 'uefi' }],
    ['the license configurations', { LicenseConfigurationArns: ['arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1'] }],
  ])('starts a new import under a new physical id for a change of %s', async (_name, change) => {
    const event = updateEvent(props(), props(change));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(newPhysicalId(props(change)));
    expect(result.NewImport).toBe(true);
    expect(result.Data).toMatchObject({ ImageArn: NEW_IMAGE_ARN, ImportTaskId: NEW_TASK_ID });
    expect(ec2).toHaveReceivedCommandWith(ImportImageCommand, { ClientToken: clientToken(event, 'ImportImage') });
    expect(imagebuilder).toHaveReceivedCommandTimes(ImportVmImageCommand, 1);
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
  });

  test('handles OldResourceProperties written by an older handler version (no Tags, no RemovalPolicy)', async () => {
    const old = props();
    const olderShape: Record<string, unknown> = { ...old };
    delete olderShape.Tags;
    delete olderShape.RemovalPolicy;
    delete olderShape.WaitForAvailable;
    const event = updateEvent(olderShape, props({ Tags: { team: 'platform' }, RemovalPolicy: 'destroy', WaitForAvailable: 'true' }));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { team: 'platform' } });
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('treats empty and absent optional properties as the same', async () => {
    const old = props({ Description: '', LicenseConfigurationArns: [], Tags: {} });

    const result = await updateImport(updateEvent(old, props()), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('tolerates missing OldResourceProperties: the hash in the physical id decides', async () => {
    const event = { ...updateEvent(props(), props()), OldResourceProperties: undefined as unknown as Record<string, unknown> };

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('starts a new import when the old physical id names no import', async () => {
    const result = await updateImport(updateEvent(props(), props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'), testDeps());

    expect(result.PhysicalResourceId).toBe(newPhysicalId(props()));
    expect(result.NewImport).toBe(true);
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
  });

  test('the rollback of a failed replacement (the original properties again) keeps the original import: no second import', async () => {
    // CloudFormation rolls back with OldResourceProperties = the failed update's, ResourceProperties = the original.
    const original = props({ Tags: { stage: 'one' } });
    const failed = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot-v2.vmdk' }], Tags: { stage: 'two' } });
    const event = updateEvent(failed, original, physicalIdFor(original));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(physicalIdFor(original));
    expect(result.NewImport).toBeUndefined();
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { stage: 'one' } });
  });

  test('starts a new import when the hash in the physical id differs from the new properties, even if OldResourceProperties equal them', async () => {
    const event = updateEvent(props(), props(), physicalIdFor(props({ ImageVersion: '0.9.0' })));

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(newPhysicalId(props()));
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
  });

  test.each([
    ['UntagResource', { keep: 'x', drop: 'y' }, { keep: 'x' }],
    ['TagResource', { keep: 'x' }, { keep: 'x', add: 'z' }],
  ])('fails with the AWS code and message when %s is rejected', async (name, oldTags, newTags) => {
    const error = awsError('AccessDeniedException', `not authorized to perform: imagebuilder:${name}`, 403);
    if (name === 'TagResource') imagebuilder.on(TagResourceCommand).rejects(error);
    else imagebuilder.on(UntagResourceCommand).rejects(error);

    await expect(updateImport(updateEvent(props({ Tags: oldTags }), props({ Tags: newTags })), testDeps()))
      .rejects.toThrow(`Image Builder ${name} failed for ${IMAGE_ARN}: AccessDeniedException: not authorized to perform: imagebuilder:${name}`);
  });

  test('fails with the AWS code and message when GetImage is rejected', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: imagebuilder:GetImage', 403));

    await expect(updateImport(updateEvent(props(), props({ TimeoutSeconds: '900' })), testDeps()))
      .rejects.toThrow(`Image Builder GetImage failed for ${IMAGE_ARN}: AccessDeniedException: not authorized to perform: imagebuilder:GetImage`);
  });

  test('treats tags named like Object properties as ordinary tags', async () => {
    await updateImport(updateEvent(props({ Tags: { constructor: 'a' } }), props({ Tags: { toString: 'b' } })), testDeps());

    expect(imagebuilder).toHaveReceivedCommandWith(UntagResourceCommand, { resourceArn: IMAGE_ARN, tagKeys: ['constructor'] });
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { toString: 'b' } });
  });
});

describe('update in place never waits for an import that finished', () => {
  test.each(['DEPRECATED', 'DISABLED'] as ImageStatus[])('completes with the AMI of an image %s (lifecycle policies do that), Wait none', async (status) => {
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });
    const event = updateEvent(props({ Tags: { a: '1' } }), props({ Tags: { a: '2' } }));

    const result = await onEvent(event, testDeps());

    expect(result).toMatchObject({ PhysicalResourceId: PHYSICAL_ID, Wait: 'none', Data: { ImageId: AMI } });
    ec2.resetHistory();
    imagebuilder.resetHistory();
    await expect(isComplete(afterOnEvent(event, result), testDeps())).resolves.toEqual({ IsComplete: true });
    expect(ec2.calls()).toHaveLength(0);
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test('completes an AVAILABLE image at once even without a wait condition', async () => {
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });

    const result = await updateImport(updateEvent(props(), props({ TimeoutSeconds: '900' })), testDeps());

    expect(result).toMatchObject({ Wait: 'none', Data: { ImageId: AMI } });
  });

  test('fails with a message that says the image is gone when it was deleted outside CloudFormation', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('ResourceNotFoundException', 'The image cannot be found.', 404));

    const error = await failureOf(updateImport(updateEvent(props({ Tags: { a: '1' } }), props({ Tags: { a: '2' } })), testDeps()));

    expect(error.message).toBe(
      `Image Builder image ${IMAGE_ARN} no longer exists (deleted outside CloudFormation?), so this resource cannot be updated in place. ` +
      'Change imageVersion to import the VM again, or remove the resource from the stack',
    );
    expect(cloudformation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: STACK_ID });
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('succeeds without polling when the image is gone and the stack is rolling back (UPDATE_ROLLBACK_IN_PROGRESS)', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('ResourceNotFoundException', 'The image cannot be found.', 404));
    cloudformation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackId: STACK_ID, StackName: 'my-stack', StackStatus: 'UPDATE_ROLLBACK_IN_PROGRESS', CreationTime: new Date(NOW) }],
    });
    const event = updateEvent(props({ Tags: { a: '2' } }), props({ Tags: { a: '1' } }));

    const result = await onEvent(event, testDeps());

    expect(result).toEqual({
      PhysicalResourceId: PHYSICAL_ID,
      Data: { ImageArn: IMAGE_ARN, ImageName: 'imported-vm', ImageVersion: '1.0.0', ImportTaskId: TASK_ID },
      Wait: 'none',
    });
    ec2.resetHistory();
    imagebuilder.resetHistory();
    await expect(isComplete(afterOnEvent(event, result), testDeps())).resolves.toEqual({ IsComplete: true });
    expect([...ec2.calls(), ...imagebuilder.calls()]).toHaveLength(0);
  });

  test('starts a poller for the same import when the wait condition changed (a new timeout), and does not wait itself', async () => {
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });
    const newSignalUrl = SIGNAL_URL.replace('SignalABC', 'SignalDEF');
    const old = waitProps();
    const event = updateEvent(old, waitProps({ SignalUrl: newSignalUrl, TimeoutSeconds: '7200' }), physicalIdFor(old));

    const result = await updateImport(event, testDeps());

    expect(result).toMatchObject({ PhysicalResourceId: physicalIdFor(old), Wait: 'none' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const state = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '');
    expect(state.Poller).toMatchObject({ ImportTaskId: TASK_ID, ImageArn: IMAGE_ARN, SignalUrl: newSignalUrl, Deadline: NOW + 7200 * 1000 });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('starts no poller when the wait condition is the same', async () => {
    const old = waitProps({ Tags: { a: '1' } });

    await updateImport(updateEvent(old, waitProps({ Tags: { a: '2' } }), physicalIdFor(old)), testDeps());

    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe('a replacing update waits through a wait condition only when one will wait', () => {
  const WAIT = 'ImportedVmWaitABCDEF12';
  const waitIs = (...answers: Array<ResourceStatus | Error>) => {
    let command: any = cloudformation.on(DescribeStackResourceCommand, { LogicalResourceId: WAIT });
    for (const answer of answers) {
      command = answer instanceof Error ? command.rejectsOnce(answer) : command.resolvesOnce({
        StackResourceDetail: { LogicalResourceId: WAIT, ResourceType: 'AWS::CloudFormation::WaitCondition', ResourceStatus: answer, LastUpdatedTimestamp: new Date(NOW) },
      });
    }
  };
  const stackIs = (status: string) => cloudformation.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackId: STACK_ID, StackName: 'my-stack', StackStatus: status as any, CreationTime: new Date(NOW) }],
  });
  const notYet = () => awsError('ValidationError', `Resource ${WAIT} does not exist for stack ${STACK_ID}`);
  /** A replacing update: other disks; the same signal URL (a deploy-time change), or a new one (a new handle). */
  const replacing = (newSignal: boolean) => {
    const old = waitProps({ WaitConditionLogicalId: WAIT });
    const changed = waitProps({
      WaitConditionLogicalId: WAIT,
      Disks: [{ Format: 'VMDK', S3Bucket: 'vm-disks', S3Key: 'other.vmdk' }],
      ...(newSignal ? { SignalUrl: `${SIGNAL_URL}&new` } : {}),
    });
    return updateEvent(old, changed, physicalIdFor(old));
  };

  test('its wait condition completed before (a deploy-time value changed what is imported): the resource waits, no poller', async () => {
    // A new signal URL too: CloudFormation's answer decides, not the URL.
    waitIs(ResourceStatus.CREATE_COMPLETE);
    const result = await onEvent(replacing(true), testDeps()) as any;
    expect(result).toMatchObject({ NewImport: true, Wait: 'import' });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(cloudformation).toHaveReceivedCommandWith(DescribeStackResourceCommand, { StackName: STACK_ID, LogicalResourceId: WAIT });
  });

  test.each([
    ['does not exist yet (CloudFormation creates it after this resource)', notYet()],
    ['is waiting', ResourceStatus.CREATE_IN_PROGRESS],
  ])('its wait condition %s: a poller, complete at once', async (_what, answer) => {
    // The same signal URL: CloudFormation's answer decides, not the URL.
    waitIs(answer);
    const result = await onEvent(replacing(false), testDeps()) as any;
    expect(result).toMatchObject({ NewImport: true, Wait: 'none' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  test('throttled, CloudFormation is asked again', async () => {
    waitIs(awsError('Throttling', 'Rate exceeded'), ResourceStatus.CREATE_COMPLETE);
    const deps = testDeps();
    expect(await onEvent(replacing(true), deps)).toMatchObject({ Wait: 'import' });
    expect(cloudformation).toHaveReceivedCommandTimes(DescribeStackResourceCommand, 2);
  });

  test('CloudFormation cannot be asked: an unchanged signal URL means the resource waits, a new handle means a new wait condition', async () => {
    const denied = () => awsError('AccessDenied', 'not authorized to perform cloudformation:DescribeStackResource', 403);
    waitIs(denied(), denied(), denied(), denied(), denied(), denied());
    expect(await onEvent(replacing(false), testDeps())).toMatchObject({ Wait: 'import' });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(await onEvent(replacing(true), testDeps())).toMatchObject({ Wait: 'none' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  test('CloudFormation cannot be asked during a rollback: the original wait condition completed long ago, so the resource waits', async () => {
    const denied = () => awsError('AccessDenied', 'not authorized to perform cloudformation:DescribeStackResource', 403);
    waitIs(denied(), denied(), denied());
    stackIs('UPDATE_ROLLBACK_IN_PROGRESS');
    expect(await onEvent(replacing(true), testDeps())).toMatchObject({ Wait: 'import' });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('a Create never asks: its wait condition is always new', async () => {
    await onEvent(createEvent(waitProps({ WaitConditionLogicalId: WAIT })), testDeps());
    expect(cloudformation).not.toHaveReceivedCommand(DescribeStackResourceCommand);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });
});

describe('the rollback of a failed replacing update', () => {
  const original = props({ Tags: { stage: 'one' } });
  const failed = props({ ImageVersion: '2.0.0', Tags: { stage: 'two' } });
  /** The id the failed update answered: CloudFormation keeps it (aws/aws-cdk#13527). */
  const failedId = `${NEW_IMAGE_ARN}|${NEW_TASK_ID}|${propertiesHash(failed)}`;
  const originalSummary = { arn: IMAGE_ARN, state: { status: 'AVAILABLE' as const }, tags: imageTags(original) };

  test('answers the original import\'s id on the rollback of a failed replacement that arrives with the new id', async () => {
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [originalSummary] });
    imagebuilder.on(GetImageCommand).resolves({
      image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } },
    });

    const result = await updateImport(updateEvent(failed, original, failedId), testDeps());

    expect(result.PhysicalResourceId).toBe(physicalIdFor(original));
    expect(result).toMatchObject({ Wait: 'none', Data: { ImageArn: IMAGE_ARN, ImportTaskId: TASK_ID, ImageId: AMI } });
    expect(result.NewImport).toBeUndefined();
    expect(imagebuilder).toHaveReceivedCommandWith(ListImageBuildVersionsCommand, {
      imageVersionArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/1.0.0',
    });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(ImportVmImageCommand);
    // The original import keeps its own tags: the failed update's are not its.
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test('updates in place, with no ImportImage, on the rollback of a failed replacement that arrives with the old id', async () => {
    const result = await updateImport(updateEvent(failed, original, physicalIdFor(original)), testDeps());

    expect(result.PhysicalResourceId).toBe(physicalIdFor(original));
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(ListImageBuildVersionsCommand);
  });

  test.each([
    ['FAILED', { ...originalSummary, state: { status: 'FAILED' as const } }],
    ['CANCELLED', { ...originalSummary, state: { status: 'CANCELLED' as const } }],
    ['of another logical id', { ...originalSummary, tags: imageTags(original, TASK_ID, { 'cdk-vm-import-export:logical-id': 'OtherImage' }) }],
    ['of another stack', { ...originalSummary, tags: imageTags(original, TASK_ID, { 'cdk-vm-import-export:stack-id': STACK_ID.replace('my-stack', 'other-stack') }) }],
    ['made from other properties', { ...originalSummary, tags: imageTags(failed) }],
  ])('starts a new import rather than answer an image %s', async (_label, summary) => {
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [summary] });

    const result = await updateImport(updateEvent(failed, original, failedId), testDeps());

    expect(result.NewImport).toBe(true);
    expect(result.PhysicalResourceId).toBe(newPhysicalId(original));
    expect(ec2).toHaveReceivedCommandTimes(ImportImageCommand, 1);
  });
});

describe('update of a physical id written before the properties hash', () => {
  test('updates tags in place and keeps the id as it is', async () => {
    const result = await updateImport(updateEvent(props({ Tags: { a: '1' } }), props({ Tags: { a: '2' } }), LEGACY_PHYSICAL_ID), testDeps());

    expect(result.PhysicalResourceId).toBe(LEGACY_PHYSICAL_ID);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: IMAGE_ARN, tags: { a: '2' } });
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
  });

  test('compares OldResourceProperties: a changed disk starts a new import under an id with the hash', async () => {
    const changed = props({ Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/boot-v2.vmdk' }] });

    const result = await updateImport(updateEvent(props(), changed, LEGACY_PHYSICAL_ID), testDeps());

    expect(result.PhysicalResourceId).toBe(newPhysicalId(changed));
    expect(result.NewImport).toBe(true);
  });

  test('starts a new import when OldResourceProperties are missing: nothing to compare with', async () => {
    const event = { ...updateEvent(props(), props(), LEGACY_PHYSICAL_ID), OldResourceProperties: undefined as unknown as Record<string, unknown> };

    const result = await updateImport(event, testDeps());

    expect(result.PhysicalResourceId).toBe(newPhysicalId(props()));
  });
});

describe('propertiesHash', () => {
  test('is 16 hex characters, blind to key order and to the properties that update in place', () => {
    const hash = propertiesHash(props());

    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(propertiesHash(props({
      Tags: { a: '1' }, WaitForAvailable: 'false', TimeoutSeconds: '60', RemovalPolicy: 'retain', ServiceToken: 'other',
    }))).toBe(hash);
    const withServiceTimeout = { ...props(), ServiceTimeout: '3600' };
    expect(propertiesHash(withServiceTimeout)).toBe(hash);
    const reversed = Object.fromEntries(Object.entries(props()).reverse());
    expect(propertiesHash(reversed)).toBe(hash);
  });

  test.each([
    ['ImageName', { ImageName: 'other' }],
    ['ImageVersion', { ImageVersion: '1.0.1' }],
    ['Disks', { Disks: [{ Format: 'RAW', S3Bucket: 'disk-bucket', S3Key: 'disks/boot.vmdk' }] }],
    ['KmsKeyId', { KmsKeyId: 'alias/other' }],
  ])('changes with %s', (_name, change) => {
    expect(propertiesHash(props(change))).not.toBe(propertiesHash(props()));
  });
});

describe('the rollback of a failed replacement that arrives with the original id', () => {
  const failedProps = props({ ImageVersion: '2.0.0', Disks: [{ Format: 'VMDK', S3Bucket: 'disk-bucket', S3Key: 'disks/new.vmdk' }] });

  beforeEach(() => {
    cloudformation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackId: STACK_ID, StackName: 'my-stack', StackStatus: 'UPDATE_ROLLBACK_IN_PROGRESS', CreationTime: new Date(NOW) }],
    });
    imagebuilder.on(GetImageCommand, { imageBuildVersionArn: IMAGE_ARN })
      .resolves({ image: { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } } });
  });

  test('removes the failed replacement\'s import, which no Delete would ever reach, and keeps the original id', async () => {
    // The failed replacement: this resource's, other properties, never usable.
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({
      imageSummaryList: [{ arn: NEW_IMAGE_ARN, state: { status: 'CANCELLED' }, tags: imageTags(failedProps, NEW_TASK_ID) }],
    });
    imagebuilder.on(GetImageCommand, { imageBuildVersionArn: NEW_IMAGE_ARN }).resolves({ image: { arn: NEW_IMAGE_ARN, state: { status: 'CANCELLED' } } });
    imagebuilder.on(DeleteImageCommand).resolves({ imageBuildVersionArn: NEW_IMAGE_ARN });

    // CloudFormation rolls back to the original: ResourceProperties original, OldResourceProperties the failed ones.
    const result = await updateImport(updateEvent(failedProps, props(), PHYSICAL_ID), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(ec2).not.toHaveReceivedCommand(ImportImageCommand);
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: NEW_IMAGE_ARN });
    expect(imagebuilder).not.toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: IMAGE_ARN });
    expect(result.Wait).toBe('none');
  });

  test('keeps an AVAILABLE import of other properties (a replaced import that RETAIN keeps)', async () => {
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({
      imageSummaryList: [{ arn: NEW_IMAGE_ARN, state: { status: 'AVAILABLE' }, tags: imageTags(failedProps, NEW_TASK_ID) }],
    });

    const result = await updateImport(updateEvent(failedProps, props(), PHYSICAL_ID), testDeps());

    expect(result.PhysicalResourceId).toBe(PHYSICAL_ID);
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);
  });

  test('waits in isComplete while the failed replacement\'s image is still settling, then removes it', async () => {
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({
      imageSummaryList: [{ arn: NEW_IMAGE_ARN, state: { status: 'BUILDING' }, tags: imageTags(failedProps, NEW_TASK_ID) }],
    });
    imagebuilder.on(GetImageCommand, { imageBuildVersionArn: NEW_IMAGE_ARN }).resolves({ image: { arn: NEW_IMAGE_ARN, state: { status: 'BUILDING' } } });
    imagebuilder.on(CancelImageCreationCommand).resolves({});
    const event = updateEvent(failedProps, props(), PHYSICAL_ID);

    const started = await onEvent(event, testDeps());
    expect(started).toMatchObject({ PhysicalResourceId: PHYSICAL_ID, Wait: 'delete', Targets: [{ imageArn: NEW_IMAGE_ARN }] });
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: NEW_IMAGE_ARN });
    await expect(isComplete(afterOnEvent(event, started), testDeps())).resolves.toEqual({ IsComplete: false });
    expect(imagebuilder).not.toHaveReceivedCommand(DeleteImageCommand);

    imagebuilder.on(GetImageCommand, { imageBuildVersionArn: NEW_IMAGE_ARN }).resolves({ image: { arn: NEW_IMAGE_ARN, state: { status: 'CANCELLED' } } });
    imagebuilder.on(DeleteImageCommand).resolves({ imageBuildVersionArn: NEW_IMAGE_ARN });
    await expect(isComplete(afterOnEvent(event, started), testDeps())).resolves.toEqual({ IsComplete: true });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: NEW_IMAGE_ARN });
  });
});

