import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CancelImageCreationCommand, DeleteImageCommand, DistributeImageCommand, GetImageCommand, Image, ImagebuilderClient, ListImageBuildVersionsCommand,
  ListImagesCommand, TagResourceCommand, UntagResourceCommand,
} from '@aws-sdk/client-imagebuilder';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  awsError, CONFIG_ARN, createEvent, deleteEvent, EXPORTED_ARN, LOGICAL_ID, NEW_EXPORTED_ARN, OWNER, physicalIdFor, POLLER_ARN, props, ROLE_ARN,
  SIGNAL_URL, SOURCE_ARN, STACK_ID, testDeps, updateEvent,
} from './fixtures';
import { exportHash, exportKey } from '../../../src/handlers/image-export/common';
import { createExport } from '../../../src/handlers/image-export/create';
import { deleteExport, finishExportDelete } from '../../../src/handlers/image-export/delete';
import { onEvent } from '../../../src/handlers/image-export/on-event';
import { updateExport } from '../../../src/handlers/image-export/update';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const imagebuilder = mockClient(ImagebuilderClient);
const sfn = mockClient(SFNClient);
const cloudformation = mockClient(CloudFormationClient);

const HASH = exportHash(props());
const available: Image = {
  arn: EXPORTED_ARN,
  state: { status: 'AVAILABLE' },
  outputResources: { amis: [{ region: 'us-east-1', image: 'ami-0123456789abcdef0' }, { region: 'us-west-2', image: 'ami-0fedcba9876543210' }] },
  tags: { [OWNER]: STACK_ID, 'cdk-vm-import-export:logical-id': LOGICAL_ID, 'cdk-vm-import-export:properties-hash': HASH, 'team': 'platform' },
};

function givenImage(image: Image | undefined, arn = EXPORTED_ARN): void {
  const stub = imagebuilder.on(GetImageCommand, { imageBuildVersionArn: arn });
  if (image) stub.resolves({ image });
  else stub.rejects(awsError('ResourceNotFoundException', `${arn} cannot be found`, 404));
}

beforeAll(() => {
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  imagebuilder.reset();
  sfn.reset();
  cloudformation.reset();
  imagebuilder.on(DistributeImageCommand).resolves({ imageBuildVersionArn: EXPORTED_ARN });
  givenImage(available);
  imagebuilder.on(CancelImageCreationCommand).resolves({});
  imagebuilder.on(DeleteImageCommand).resolves({ imageBuildVersionArn: EXPORTED_ARN });
  imagebuilder.on(TagResourceCommand).resolves({});
  imagebuilder.on(UntagResourceCommand).resolves({});
  imagebuilder.on(ListImagesCommand).resolves({ imageVersionList: [] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${POLLER_ARN.replace(':stateMachine:', ':execution:')}:x`, startDate: new Date() });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  cloudformation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'export-stack', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date() }] });
});

afterEach(() => {
  expectValidRequests(imagebuilder, 'imagebuilder');
  expectValidRequests(sfn, 'sfn');
  expectValidRequests(cloudformation, 'cloudformation');
});

describe('create', () => {
  test('distributes the source with the configuration and the execution role, a token from the request and the resource\'s tags, then starts the poller', async () => {
    const deps = testDeps();
    const result = await createExport(createEvent(), deps);

    expect(imagebuilder).toHaveReceivedCommandTimes(DistributeImageCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(DistributeImageCommand, {
      sourceImage: SOURCE_ARN,
      distributionConfigurationArn: CONFIG_ARN,
      executionRole: ROLE_ARN,
      clientToken: clientToken(createEvent(), 'DistributeImage'),
      tags: {
        [OWNER]: STACK_ID, 'team': 'platform', 'cdk-vm-import-export:logical-id': LOGICAL_ID, 'cdk-vm-import-export:properties-hash': HASH,
      },
    });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const start = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.name).toMatch(new RegExp(`^${exportKey(EXPORTED_ARN)}-[0-9a-f]{16}$`));
    expect(JSON.parse(start.input!)).toMatchObject({
      Poller: { ExportedImageArn: EXPORTED_ARN, SignalUrl: SIGNAL_URL, StackId: STACK_ID }, Polls: 0, Done: false,
    });
    expect(result).toMatchObject({ PhysicalResourceId: `${EXPORTED_ARN}|${HASH}`, Data: { ExportedImageArn: EXPORTED_ARN }, Wait: 'none' });
  });

  test('a retried request sends the same client token (Image Builder answers with the first distribution)', async () => {
    await createExport(createEvent(props(), 'same-request'), testDeps());
    await createExport(createEvent(props(), 'same-request'), testDeps());
    const tokens = imagebuilder.commandCalls(DistributeImageCommand).map((c) => c.args[0].input.clientToken);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).toHaveLength(36);
  });

  test('passes the log group to Image Builder', async () => {
    await createExport(createEvent(props({ LogGroupName: '/aws/imagebuilder/exports' })), testDeps());
    expect(imagebuilder).toHaveReceivedCommandWith(DistributeImageCommand, { loggingConfiguration: { logGroupName: '/aws/imagebuilder/exports' } });
  });

  test.each([
    ['AccessDeniedException', 'not authorized to perform imagebuilder:DistributeImage'],
    ['InvalidParameterValueException', 'The source image ami-0123 does not exist'],
    ['ResourceNotFoundException', 'The distribution configuration cannot be found'],
  ])('fails with AWS\'s code and message when DistributeImage is rejected (%s), starting nothing', async (code, message) => {
    imagebuilder.on(DistributeImageCommand).rejects(awsError(code, message));
    await expect(createExport(createEvent(), testDeps())).rejects.toThrow(`Image Builder DistributeImage failed: ${code}: ${message}`);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  test('retries while a new execution role is not usable yet, then distributes once', async () => {
    imagebuilder.on(DistributeImageCommand)
      .rejectsOnce(awsError('InvalidParameterValueException', 'The role arn:aws:iam::123456789012:role/export-execution cannot be assumed by Image Builder'))
      .resolves({ imageBuildVersionArn: EXPORTED_ARN });
    const deps = testDeps();
    const result = await createExport(createEvent(), deps);
    expect(result.PhysicalResourceId).toBe(`${EXPORTED_ARN}|${HASH}`);
    expect(deps.slept).toEqual([2000]);
    expect(new Set(imagebuilder.commandCalls(DistributeImageCommand).map((c) => c.args[0].input.clientToken)).size).toBe(1);
  });

  test('a full quota is no failure: the export waits for room under an id of its own', async () => {
    imagebuilder.on(DistributeImageCommand).rejects(awsError('ServiceQuotaExceededException', 'You have reached the limit of concurrent builds'));
    const result = await createExport(createEvent(), testDeps());
    expect(result).toMatchObject({ PhysicalResourceId: `pending:${LOGICAL_ID}:${HASH}`, Wait: 'queue', Deadline: expect.any(Number) });
  });

  test('an answer lost to 5xx through every retry fails with an id of its own, after cancelling what the search finds', async () => {
    imagebuilder.on(DistributeImageCommand).rejects(awsError('ServiceUnavailableException', 'try later', 503));
    imagebuilder.on(ListImagesCommand).resolves({ imageVersionList: [{ arn: EXPORTED_ARN.replace(/\/2$/, '') }] });
    imagebuilder.on(ListImageBuildVersionsCommand).resolves({ imageSummaryList: [{ arn: EXPORTED_ARN, tags: available.tags, state: { status: 'DISTRIBUTING' } }] });
    givenImage({ ...available, state: { status: 'DISTRIBUTING' } });
    const deps = testDeps();
    const result = await createExport(createEvent(), deps);
    expect(result).toMatchObject({ PhysicalResourceId: `pending:${LOGICAL_ID}:${HASH}`, Wait: 'fail' });
    expect(result.Failure).toMatch(/^Image Builder DistributeImage failed: ServiceUnavailableException: try later; any distribution it started was cancelled/);
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: EXPORTED_ARN });
    expect(deps.slept).toEqual([1000, 2000, 4000, 8000]);
  });

  test('a poller that cannot start cancels the distribution and fails', async () => {
    sfn.on(StartExecutionCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform states:StartExecution'));
    givenImage({ ...available, state: { status: 'DISTRIBUTING' } });
    await expect(createExport(createEvent(), testDeps())).rejects.toThrow(/could not start the poller of the export .*AccessDeniedException/);
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: EXPORTED_ARN });
  });

  test('waitForCompletion false completes at once, with no poller; no wait condition: isComplete waits', async () => {
    expect(await createExport(createEvent(props({ WaitForCompletion: 'false', SignalUrl: undefined })), testDeps())).toMatchObject({ Wait: 'none' });
    expect(await createExport(createEvent(props({ SignalUrl: undefined })), testDeps())).toMatchObject({ Wait: 'export' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  test.each([
    ['SourceImage', { SourceImage: '' }, /invalid property SourceImage: expected a non-empty string, got ""/],
    ['Exports', { Exports: [{ Region: 'us-east-1' }] as any }, /invalid property Exports\[0\]: expected an object with string Region, Bucket and Format/],
    ['Tags', { Tags: { a: 1 } as any }, /invalid property Tags: expected a map of strings, got \{"a":1\}/],
    ['TimeoutSeconds', { TimeoutSeconds: '1.5' }, /invalid property TimeoutSeconds/],
    ['RemovalPolicy', { RemovalPolicy: 'snapshot' }, /invalid property RemovalPolicy: expected destroy or retain, got "snapshot"/],
  ])('refuses a wrongly typed %s before any AWS call', async (_name, overrides, message) => {
    await expect(createExport(createEvent(props(overrides as any)), testDeps())).rejects.toThrow(message);
    expect(imagebuilder.calls()).toHaveLength(0);
  });
});

describe('update', () => {
  test('a tag change updates in place: only the changed tags are sent, nothing is distributed or waited for again', async () => {
    const newProps = props({ Tags: { [OWNER]: STACK_ID, owner: 'exports' } });
    const result = await updateExport(updateEvent(props(), newProps), testDeps());
    expect(result).toMatchObject({ PhysicalResourceId: physicalIdFor(EXPORTED_ARN), Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandWith(UntagResourceCommand, { resourceArn: EXPORTED_ARN, tagKeys: ['team'] });
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: EXPORTED_ARN, tags: { owner: 'exports' } });
    expect(imagebuilder).toHaveReceivedCommandTimes(DistributeImageCommand, 0);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  test('a new execution role or log group does not export again', async () => {
    const newProps = props({ ExecutionRole: 'arn:aws:iam::123456789012:role/other', LogGroupName: '/aws/imagebuilder/x' });
    const result = await updateExport(updateEvent(props(), newProps), testDeps());
    expect(result.PhysicalResourceId).toBe(physicalIdFor(EXPORTED_ARN));
    expect(imagebuilder).toHaveReceivedCommandTimes(DistributeImageCommand, 0);
  });

  test('a new timeout (a new wait condition) starts a poller for the same export, which signals at once if it is done', async () => {
    const newProps = props({ TimeoutSeconds: '7200', SignalUrl: `${SIGNAL_URL}&new` });
    await updateExport(updateEvent(props(), newProps), testDeps());
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandTimes(DistributeImageCommand, 0);
  });

  test.each([
    ['a new source', { SourceImage: 'arn:aws:imagebuilder:us-east-1:123456789012:image/web-server/1.0.1/1' }],
    ['another distribution', { DistributionConfigurationArn: `${CONFIG_ARN}-2` }],
    ['other exports in the distribution', { Exports: [{ Region: 'us-east-1', Bucket: 'exports-east', Format: 'VMDK' }] }],
  ])('%s exports again under a new id, tagged with the export it replaces', async (_what, change) => {
    imagebuilder.on(DistributeImageCommand).resolves({ imageBuildVersionArn: NEW_EXPORTED_ARN });
    const newProps = props(change as any);
    const result = await updateExport(updateEvent(props(), newProps), testDeps());
    expect(result).toMatchObject({ PhysicalResourceId: physicalIdFor(NEW_EXPORTED_ARN, newProps), NewExport: true });
    expect(imagebuilder).toHaveReceivedCommandWith(DistributeImageCommand, {
      tags: expect.objectContaining({ 'cdk-vm-import-export:replaces': EXPORTED_ARN, 'cdk-vm-import-export:properties-hash': exportHash(newProps) }),
    });
  });

  test('the rollback of a failed replacement, arriving with the NEW id and the original properties, answers the original export and starts nothing', async () => {
    const failed = props({ SourceImage: 'ami-0123456789abcdef0' });
    givenImage({ arn: NEW_EXPORTED_ARN, state: { status: 'FAILED', reason: 'EXPORT_AMI failed' }, tags: { 'cdk-vm-import-export:replaces': EXPORTED_ARN } }, NEW_EXPORTED_ARN);
    const rollback = updateEvent(failed, props(), physicalIdFor(NEW_EXPORTED_ARN, failed));
    const result = await updateExport(rollback, testDeps());
    expect(result.PhysicalResourceId).toBe(physicalIdFor(EXPORTED_ARN));
    expect(imagebuilder).toHaveReceivedCommandTimes(DistributeImageCommand, 0);
    // The original keeps its own tags: the failed update's are not its.
    expect(imagebuilder).toHaveReceivedCommandTimes(TagResourceCommand, 0);
  });

  test('an export deleted outside CloudFormation fails the update in place, with a message that says so; its rollback succeeds', async () => {
    givenImage(undefined);
    const newProps = props({ Tags: { [OWNER]: STACK_ID } });
    await expect(updateExport(updateEvent(props(), newProps), testDeps())).rejects.toThrow(/no longer exists \(deleted outside CloudFormation\?\)/);
    cloudformation.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'export-stack', StackStatus: 'UPDATE_ROLLBACK_IN_PROGRESS', CreationTime: new Date() }] });
    await expect(updateExport(updateEvent(newProps, props()), testDeps())).resolves.toMatchObject({ Wait: 'none' });
  });
});

describe('delete', () => {
  test('makes no call for the framework\'s CREATE_FAILED marker', async () => {
    const result = await deleteExport(deleteEvent(props(), 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED'), testDeps());
    expect(result).toEqual({ PhysicalResourceId: 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED', Wait: 'none' });
    expect(imagebuilder.calls()).toHaveLength(0);
  });

  test.each(['destroy', 'retain'])('a finished export (RemovalPolicy %s: a Delete that reaches the handler is a rollback) stops its pollers and deletes its record', async (policy) => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: `${POLLER_ARN}:mine`, stateMachineArn: POLLER_ARN, name: `${exportKey(EXPORTED_ARN)}-0123456789abcdef`, status: 'RUNNING', startDate: new Date() },
        { executionArn: `${POLLER_ARN}:other`, stateMachineArn: POLLER_ARN, name: `${exportKey(NEW_EXPORTED_ARN)}-0123456789abcdef`, status: 'RUNNING', startDate: new Date() },
      ],
    });
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    const result = await deleteExport(deleteEvent(props({ RemovalPolicy: policy })), testDeps());
    expect(result).toMatchObject({ Wait: 'none' });
    expect(sfn).toHaveReceivedCommandTimes(StopExecutionCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: `${POLLER_ARN}:mine` });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: EXPORTED_ARN });
    expect(imagebuilder).toHaveReceivedCommandTimes(CancelImageCreationCommand, 0);
  });

  test('a running distribution is cancelled; the delete waits until Image Builder makes it terminal, then deletes its record', async () => {
    givenImage({ ...available, state: { status: 'DISTRIBUTING' } });
    const deps = testDeps();
    const started = await deleteExport(deleteEvent(), deps);
    expect(imagebuilder).toHaveReceivedCommandWith(CancelImageCreationCommand, { imageBuildVersionArn: EXPORTED_ARN });
    expect(started).toMatchObject({ Wait: 'delete', Targets: [EXPORTED_ARN] });
    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 0);

    const waiting = { ...deleteEvent(), ...started } as any;
    expect(await finishExportDelete(waiting, deps)).toBe(false);
    givenImage({ ...available, state: { status: 'CANCELLED' } });
    expect(await finishExportDelete(waiting, deps)).toBe(true);
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: EXPORTED_ARN });
  });

  test('a delete that cannot finish says why, with the real state', async () => {
    givenImage({ ...available, state: { status: 'BUILDING' } });
    const deps = testDeps();
    const started = await deleteExport(deleteEvent(), deps);
    deps.advance(56 * 60_000);
    await expect(finishExportDelete({ ...deleteEvent(), ...started } as any, deps))
      .rejects.toThrow(/cannot remove the export yet: Image Builder has not made it terminal after 56 minutes \(.*: image BUILDING\)/);
  });

  test('a cancel that races the end of the distribution (InvalidParameterValueException, GetImage shows it terminal) is success', async () => {
    imagebuilder.on(GetImageCommand)
      .resolvesOnce({ image: { ...available, state: { status: 'DISTRIBUTING' } } })
      .resolves({ image: available });
    imagebuilder.on(CancelImageCreationCommand).rejects(awsError('InvalidParameterValueException', 'The image is not in a cancellable state'));
    await expect(deleteExport(deleteEvent(), testDeps())).resolves.toMatchObject({ Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: EXPORTED_ARN });
  });

  test('an id CloudFormation invented: the export is found by its tags and removed', async () => {
    imagebuilder.on(ListImagesCommand)
      .resolvesOnce({ imageVersionList: [{ arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/other/1.0.0' }], nextToken: 'page2' })
      .resolves({ imageVersionList: [{ arn: EXPORTED_ARN.replace(/\/2$/, '') }] });
    imagebuilder.on(ListImageBuildVersionsCommand, { imageVersionArn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/other/1.0.0' })
      .resolves({ imageSummaryList: [{ arn: 'arn:aws:imagebuilder:us-east-1:123456789012:image/other/1.0.0/1', tags: { [OWNER]: 'another stack' } }] });
    imagebuilder.on(ListImageBuildVersionsCommand, { imageVersionArn: EXPORTED_ARN.replace(/\/2$/, '') })
      .resolves({ imageSummaryList: [{ arn: SOURCE_ARN, tags: {} }, { arn: EXPORTED_ARN, tags: available.tags, state: { status: 'AVAILABLE' } }] });
    const result = await deleteExport(deleteEvent(props(), 'export-stack-WebVhd-1A2B3C4D5E6F'), testDeps());
    expect(result).toMatchObject({ Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteImageCommand, { imageBuildVersionArn: EXPORTED_ARN });
  });

  test('an id that is not ours, with nothing found by the tags, deletes nothing', async () => {
    const result = await deleteExport(deleteEvent(props(), `pending:${LOGICAL_ID}:${HASH}`), testDeps());
    expect(result).toMatchObject({ Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 0);
  });

  test('an export in use (ResourceDependencyException) fails with a message saying what to do', async () => {
    imagebuilder.on(DeleteImageCommand).rejects(awsError('ResourceDependencyException', 'The image is in use'));
    await expect(deleteExport(deleteEvent(), testDeps())).rejects.toThrow(/cannot delete the distributed image .*: it is in use .*set removalPolicy to RETAIN/);
  });

  test('an export already gone is success', async () => {
    givenImage(undefined);
    await expect(deleteExport(deleteEvent(), testDeps())).resolves.toMatchObject({ Wait: 'none' });
    expect(imagebuilder).toHaveReceivedCommandTimes(DeleteImageCommand, 0);
  });

  test('DeleteImage throttled is retried', async () => {
    imagebuilder.on(DeleteImageCommand).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded', 429)).resolves({});
    const deps = testDeps();
    await expect(deleteExport(deleteEvent(), deps)).resolves.toMatchObject({ Wait: 'none' });
    expect(deps.slept).toEqual([1000]);
  });
});

test('onEvent refuses an unknown request type', async () => {
  await expect(onEvent({ ...createEvent(), RequestType: 'Rename' } as any, testDeps())).rejects.toThrow('unknown RequestType "Rename"');
});
