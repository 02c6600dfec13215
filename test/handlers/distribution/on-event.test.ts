import {
  AccessDeniedException,
  CreateDistributionConfigurationCommand,
  DeleteDistributionConfigurationCommand,
  Distribution,
  ForbiddenException,
  GetDistributionConfigurationCommand,
  ImagebuilderClient,
  InvalidRequestException,
  ListImagePipelinesCommand,
  ResourceAlreadyExistsException,
  ResourceDependencyException,
  ResourceInUseException,
  ResourceNotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateDistributionConfigurationCommand,
} from '@aws-sdk/client-imagebuilder';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type {
  CloudFormationCustomResourceCreateEvent,
  CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { VmDiskDistribution, VmDiskFormat } from '../../../src';
import { onEvent } from '../../../src/handlers/distribution/on-event';
import { handler } from '../../../src/handlers/distribution/on-event.lambda';
import { IN_USE_RETRY_DELAYS_MS } from '../../../src/handlers/distribution/update';
import { clientToken } from '../../../src/handlers/shared/util';
import { expectValidRequests } from '../../support/api-model';

const imagebuilder = mockClient(ImagebuilderClient);

const ARN = 'arn:aws:imagebuilder:eu-west-1:123456789012:distribution-configuration/vm-disks';
const NEW_ARN = 'arn:aws:imagebuilder:eu-west-1:123456789012:distribution-configuration/vm-disks-v2';
const LAUNCH_TEMPLATE = 'lt-0123456789abcdef0';

/** As CloudFormation delivers it: every scalar a string. */
const DISTRIBUTIONS = [{
  region: 'eu-west-1',
  s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'VMDK', s3Bucket: 'exports-bucket', s3Prefix: 'disks/' },
  amiDistributionConfiguration: { name: 'vm-disks-{{ imagebuilder:buildDate }}', amiTags: { Exported: 'true', Copies: '6' } },
  fastLaunchConfigurations: [{
    enabled: 'true',
    maxParallelLaunches: '6',
    snapshotConfiguration: { targetResourceCount: '5' },
    launchTemplate: { launchTemplateId: LAUNCH_TEMPLATE, launchTemplateVersion: '3' },
    accountId: '123456789012',
  }],
  launchTemplateConfigurations: [{ launchTemplateId: LAUNCH_TEMPLATE, accountId: '123456789012', setDefaultVersion: 'false' }],
}];

/** What the API must receive: booleans and integers restored, strings (even "true" and "6") kept. */
const RESTORED = [{
  region: 'eu-west-1',
  s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'VMDK', s3Bucket: 'exports-bucket', s3Prefix: 'disks/' },
  amiDistributionConfiguration: { name: 'vm-disks-{{ imagebuilder:buildDate }}', amiTags: { Exported: 'true', Copies: '6' } },
  fastLaunchConfigurations: [{
    enabled: true,
    maxParallelLaunches: 6,
    snapshotConfiguration: { targetResourceCount: 5 },
    launchTemplate: { launchTemplateId: LAUNCH_TEMPLATE, launchTemplateVersion: '3' },
    accountId: '123456789012',
  }],
  launchTemplateConfigurations: [{ launchTemplateId: LAUNCH_TEMPLATE, accountId: '123456789012', setDefaultVersion: false }],
}];

const EXPORT_ONLY = [{
  region: 'eu-west-1',
  s3ExportConfiguration: { roleName: 'vmimport', diskImageFormat: 'RAW', s3Bucket: 'exports-bucket' },
}];

const COMMON = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/presigned',
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/vm/11111111-2222-3333-4444-555555555555',
  LogicalResourceId: 'Distribution',
  ResourceType: 'Custom::VmDiskDistribution',
};

function props(overrides: Record<string, unknown> = {}) {
  return { ServiceToken: COMMON.ServiceToken, Name: 'vm-disks', Description: 'VM disks', Distributions: EXPORT_ONLY, ...overrides };
}

function createEvent(resourceProps: Record<string, unknown>, requestId = 'request-1'): CloudFormationCustomResourceCreateEvent {
  return { ...COMMON, RequestType: 'Create', RequestId: requestId, ResourceProperties: props(resourceProps) };
}

type OldProperties = CloudFormationCustomResourceUpdateEvent['OldResourceProperties'];

function updateEvent(resourceProps: Record<string, unknown>, oldProps: OldProperties, physicalId = ARN): CloudFormationCustomResourceUpdateEvent {
  return {
    ...COMMON,
    RequestType: 'Update',
    RequestId: 'request-2',
    PhysicalResourceId: physicalId,
    ResourceProperties: props(resourceProps),
    OldResourceProperties: oldProps,
  };
}

function deleteEvent(physicalId = ARN): CloudFormationCustomResourceDeleteEvent {
  return { ...COMMON, RequestType: 'Delete', RequestId: 'request-3', PhysicalResourceId: physicalId, ResourceProperties: props() };
}

beforeEach(() => {
  imagebuilder.reset();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

afterEach(() => {
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('create', () => {
  test('sends booleans and integers restored from their string form, and keeps strings', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(createEvent({ Distributions: DISTRIBUTIONS, Tags: { team: 'vm' } }));

    const input = imagebuilder.commandCalls(CreateDistributionConfigurationCommand)[0].args[0].input;
    expect(input).toEqual({
      name: 'vm-disks',
      description: 'VM disks',
      distributions: RESTORED,
      tags: { team: 'vm' },
      clientToken: expect.any(String),
    });
  });

  test('returns the new ARN as physical id and Arn and Name as Data', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await expect(handler(createEvent({}))).resolves.toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'vm-disks' } });
  });

  test('sends a 36-character client token derived from the request: the same for a retry, another for a new request', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(createEvent({}, 'request-1'));
    await handler(createEvent({}, 'request-1'));
    await handler(createEvent({}, 'request-9'));

    const tokens = imagebuilder.commandCalls(CreateDistributionConfigurationCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens[0]).toHaveLength(36);
    expect(tokens[1]).toEqual(tokens[0]);
    expect(tokens[2]).not.toEqual(tokens[0]);
  });

  test('omits tags and an empty description rather than sending empty values', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(createEvent({ Description: '', Tags: {} }));

    const input = imagebuilder.commandCalls(CreateDistributionConfigurationCommand)[0].args[0].input;
    expect(input.tags).toBeUndefined();
    expect(input.description).toBeUndefined();
  });

  test('an AWS error surfaces its code and message', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).rejects(new ResourceAlreadyExistsException({
      message: 'The resource vm-disks already exists.',
      $metadata: {},
    }));

    await expect(handler(createEvent({}))).rejects.toThrow(
      'CreateDistributionConfiguration failed for distribution configuration "vm-disks": ResourceAlreadyExistsException: The resource vm-disks already exists.',
    );
  });

  test('a long AWS message is truncated so the response stays under 4096 bytes', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).rejects(new ForbiddenException({ message: 'x'.repeat(10_000), $metadata: {} }));

    const error = await handler(createEvent({})).catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('ForbiddenException: xxx');
    expect((error as Error).message.length).toBeLessThan(1200);
  });

  test('a bad boolean fails with the path of the value, before any call', async () => {
    const distributions = [{ ...DISTRIBUTIONS[0], launchTemplateConfigurations: [{ launchTemplateId: LAUNCH_TEMPLATE, setDefaultVersion: 'yes' }] }];

    await expect(handler(createEvent({ Distributions: distributions }))).rejects.toThrow(
      'Distributions[0].launchTemplateConfigurations[0].setDefaultVersion: expected "true" or "false", got "yes"',
    );
    expect(imagebuilder).not.toHaveReceivedAnyCommand();
  });

  test('a bad integer fails with the path of the value, before any call', async () => {
    const distributions = [{ ...DISTRIBUTIONS[0], fastLaunchConfigurations: [{ enabled: 'true', snapshotConfiguration: { targetResourceCount: '5 copies' } }] }];

    await expect(handler(createEvent({ Distributions: distributions }))).rejects.toThrow(
      'Distributions[0].fastLaunchConfigurations[0].snapshotConfiguration.targetResourceCount: expected an integer, got "5 copies"',
    );
    expect(imagebuilder).not.toHaveReceivedAnyCommand();
  });

  test('a missing Name fails before any call', async () => {
    await expect(handler(createEvent({ Name: undefined }))).rejects.toThrow('Name must be a non-empty string');
    expect(imagebuilder).not.toHaveReceivedAnyCommand();
  });
});

describe('update', () => {
  test('a new name creates a new configuration with a new physical id', async () => {
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: NEW_ARN });

    const result = await handler(updateEvent({ Name: 'vm-disks-v2' }, props()));

    expect(result).toEqual({ PhysicalResourceId: NEW_ARN, Data: { Arn: NEW_ARN, Name: 'vm-disks-v2' } });
    expect(imagebuilder).toHaveReceivedCommandWith(CreateDistributionConfigurationCommand, { name: 'vm-disks-v2' });
    expect(imagebuilder).not.toHaveReceivedCommand(UpdateDistributionConfigurationCommand);
  });

  test('the rollback of a failed rename (old name, old physical id, the failed name as old properties) updates in place', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    const result = await handler(updateEvent({}, props({ Name: 'vm-disks-v2' })));

    expect(result).toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'vm-disks' } });
    expect(imagebuilder).toHaveReceivedCommandWith(UpdateDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
    expect(imagebuilder).not.toHaveReceivedCommand(CreateDistributionConfigurationCommand);
  });

  test('a new name that the ARN already holds (case, spaces) updates that configuration in place', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    const result = await handler(updateEvent({ Name: 'VM Disks' }, props()));

    expect(result).toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'VM Disks' } });
    expect(imagebuilder).not.toHaveReceivedCommand(CreateDistributionConfigurationCommand);
  });

  test('the same name with "_", which the ARN may hold as "-", updates in place', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(updateEvent({ Name: 'vm_disks' }, props({ Name: 'vm_disks' })));

    expect(imagebuilder).toHaveReceivedCommandWith(UpdateDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
    expect(imagebuilder).not.toHaveReceivedCommand(CreateDistributionConfigurationCommand);
  });

  test('a physical id that is no configuration ARN falls back to comparing with the old name', async () => {
    const marker = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';
    imagebuilder.on(CreateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: NEW_ARN });

    const result = await handler(updateEvent({ Name: 'vm-disks-v2' }, props(), marker));

    expect(result.PhysicalResourceId).toBe(NEW_ARN);
    expect(imagebuilder).toHaveReceivedCommandWith(CreateDistributionConfigurationCommand, { name: 'vm-disks-v2' });
  });

  test('the same name updates in place with restored distributions and keeps the physical id', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    const result = await handler(updateEvent({ Distributions: DISTRIBUTIONS, Description: 'VM disks, v2' }, props()));

    expect(result).toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'vm-disks' } });
    const input = imagebuilder.commandCalls(UpdateDistributionConfigurationCommand)[0].args[0].input;
    expect(input).toEqual({
      distributionConfigurationArn: ARN,
      description: 'VM disks, v2',
      distributions: RESTORED,
      clientToken: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(imagebuilder).not.toHaveReceivedCommand(CreateDistributionConfigurationCommand);
  });

  test('tags: TagResource for added or changed keys and UntagResource for removed keys only', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(updateEvent(
      { Tags: { keep: 'same', change: 'new', add: 'added' } },
      props({ Tags: { keep: 'same', change: 'old', remove: 'gone' } }),
    ));

    expect(imagebuilder).toHaveReceivedCommandTimes(TagResourceCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: ARN, tags: { change: 'new', add: 'added' } });
    expect(imagebuilder).toHaveReceivedCommandTimes(UntagResourceCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(UntagResourceCommand, { resourceArn: ARN, tagKeys: ['remove'] });
  });

  test('unchanged tags make no tagging call', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await handler(updateEvent({ Tags: { team: 'vm' } }, props({ Tags: { team: 'vm' } })));

    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test('old properties without Tags do not crash: every new tag is added', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });
    const { ServiceToken, Name } = props();

    await handler(updateEvent({ Tags: { team: 'vm' } }, { ServiceToken, Name }));

    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: ARN, tags: { team: 'vm' } });
    expect(imagebuilder).not.toHaveReceivedCommand(UntagResourceCommand);
  });

  test('an AWS error surfaces its code and message', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejects(new ForbiddenException({ message: 'not authorized', $metadata: {} }));

    await expect(handler(updateEvent({}, props()))).rejects.toThrow(
      `UpdateDistributionConfiguration failed for distribution configuration "vm-disks" (${ARN}): ForbiddenException: not authorized`,
    );
  });
});

describe('delete', () => {
  test('deletes the configuration named by the physical id, without reading it first', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).resolves({ distributionConfigurationArn: ARN });

    await expect(handler(deleteEvent())).resolves.toEqual({ PhysicalResourceId: ARN });
    expect(imagebuilder).toHaveReceivedCommandWith(DeleteDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
    expect(imagebuilder).not.toHaveReceivedCommand(GetDistributionConfigurationCommand);
  });

  test('a configuration that is already gone counts as deleted', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(new ResourceNotFoundException({
      message: `The distribution configuration ${ARN} cannot be found.`,
      $metadata: {},
    }));

    await expect(handler(deleteEvent())).resolves.toEqual({ PhysicalResourceId: ARN });
  });

  // A configuration that left the stack may be deleted only while it carries the stack's tag:
  // once it is gone, AWS denies the delete instead of answering ResourceNotFound.
  const DENIED = `User: arn:aws:sts::123456789012:assumed-role/handler/fn is not authorized to perform: imagebuilder:DeleteDistributionConfiguration on resource: ${ARN}`;
  const denied = () => new AccessDeniedException({ message: DENIED, $metadata: { httpStatusCode: 403 } });

  test.each(['AccessDeniedException', 'AccessDenied'])('a denied delete (%s) of a configuration Get cannot find counts as deleted', async (code) => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(code === 'AccessDeniedException'
      ? denied()
      : Object.assign(new Error(DENIED), { name: code }));
    imagebuilder.on(GetDistributionConfigurationCommand).rejects(new ResourceNotFoundException({
      message: `The distribution configuration ${ARN} cannot be found.`,
      $metadata: {},
    }));

    await expect(handler(deleteEvent())).resolves.toEqual({ PhysicalResourceId: ARN });
    expect(imagebuilder).toHaveReceivedCommandWith(GetDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
  });

  // Image Builder's model declares ForbiddenException (403) for DeleteDistributionConfiguration, not
  // AccessDeniedException: every 403 gets the same fallback as AccessDenied.
  const FORBIDDEN = [
    ['ForbiddenException', () => new ForbiddenException({ message: DENIED, $metadata: { httpStatusCode: 403 } })],
    ['another code with HTTP 403', () => Object.assign(new Error(DENIED), { name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 403 } })],
  ] as const;

  test.each(FORBIDDEN)('a delete refused with %s, of a configuration Get cannot find, counts as deleted', async (_what, refusal) => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(refusal());
    imagebuilder.on(GetDistributionConfigurationCommand).rejects(new ResourceNotFoundException({
      message: `The distribution configuration ${ARN} cannot be found.`,
      $metadata: { httpStatusCode: 404 },
    }));

    await expect(handler(deleteEvent())).resolves.toEqual({ PhysicalResourceId: ARN });
    expect(imagebuilder).toHaveReceivedCommandWith(GetDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
  });

  test.each(FORBIDDEN)('a delete refused with %s, of a configuration that still exists, fails with the refusal', async (_what, refusal) => {
    const error = refusal();
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(error);
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({
      distributionConfiguration: { arn: ARN, name: 'vm-disks', distributions: [{ region: 'eu-west-1' }], timeoutMinutes: 720 },
    });

    await expect(handler(deleteEvent())).rejects.toThrow(
      `DeleteDistributionConfiguration failed for distribution configuration "vm-disks" (${ARN}): ${error.name}: ${DENIED}`,
    );
  });

  test('a denied delete of a configuration that still exists fails with the denial', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(denied());
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({
      distributionConfiguration: { arn: ARN, name: 'vm-disks', distributions: [{ region: 'eu-west-1' }], timeoutMinutes: 720 },
    });

    await expect(handler(deleteEvent())).rejects.toThrow(
      `DeleteDistributionConfiguration failed for distribution configuration "vm-disks" (${ARN}): AccessDeniedException: ${DENIED}`,
    );
    expect(imagebuilder).toHaveReceivedCommandWith(GetDistributionConfigurationCommand, { distributionConfigurationArn: ARN });
  });

  test('a denied delete fails with the denial when Get fails too', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(denied());
    imagebuilder.on(GetDistributionConfigurationCommand).rejects(new ForbiddenException({ message: 'no read permission', $metadata: {} }));

    const error = await handler(deleteEvent()).catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`AccessDeniedException: ${DENIED}`);
    expect((error as Error).message).not.toContain('no read permission');
  });

  test('a configuration still in use fails naming the image pipelines that use it', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(new ResourceDependencyException({
      message: 'Resource dependency error: the distribution configuration is used by an image pipeline.',
      $metadata: {},
    }));
    imagebuilder.on(ListImagePipelinesCommand)
      .resolvesOnce({ imagePipelineList: [{ name: 'other-pipeline', distributionConfigurationArn: NEW_ARN }], nextToken: 'page-2' })
      .resolvesOnce({ imagePipelineList: [{ name: 'nightly-export', distributionConfigurationArn: ARN }] });

    const error = await handler(deleteEvent()).catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain(`distribution configuration "vm-disks" (${ARN})`);
    expect(message).toContain('image pipeline(s) "nightly-export"');
    expect(message).not.toContain('other-pipeline');
    expect(message).toContain('Remove it from the image pipelines that use it');
    expect(message).toContain('ResourceDependencyException: Resource dependency error');
    expect(imagebuilder).toHaveReceivedCommandWith(ListImagePipelinesCommand, { nextToken: 'page-2' });
  });

  test('a configuration still in use fails with an actionable message even when the pipelines cannot be listed', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(new ResourceDependencyException({ message: 'in use', $metadata: {} }));
    imagebuilder.on(ListImagePipelinesCommand).rejects(new ForbiddenException({ message: 'no list permission', $metadata: {} }));

    await expect(handler(deleteEvent())).rejects.toThrow(
      /cannot delete distribution configuration "vm-disks".*could not be listed \(ForbiddenException: no list permission\).*Remove it from the image pipelines that use it.*ResourceDependencyException: in use/,
    );
  });

  test('the marker id of a failed create makes no calls', async () => {
    const marker = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';

    await expect(handler(deleteEvent(marker))).resolves.toEqual({ PhysicalResourceId: marker });
    expect(imagebuilder).not.toHaveReceivedAnyCommand();
  });

  test('another AWS error surfaces its code and message, without reading the configuration', async () => {
    imagebuilder.on(DeleteDistributionConfigurationCommand).rejects(new InvalidRequestException({ message: 'not supported', $metadata: { httpStatusCode: 400 } }));

    await expect(handler(deleteEvent())).rejects.toThrow('DeleteDistributionConfiguration failed for distribution configuration "vm-disks"');
    await expect(handler(deleteEvent())).rejects.toThrow('InvalidRequestException: not supported');
    expect(imagebuilder).not.toHaveReceivedCommand(GetDistributionConfigurationCommand);
  });
});

describe('update while an image build distributes with the configuration', () => {
  /** Image Builder's answer to a change of a configuration a build is distributing with. */
  const inUse = (message = 'The distribution configuration is in use by an image build that is distributing.') =>
    new ResourceInUseException({ message, $metadata: { httpStatusCode: 400 } });
  const OTHER_SETTINGS = { arn: ARN, name: 'vm-disks', description: 'VM disks', distributions: RESTORED as Distribution[], timeoutMinutes: 720 };

  /** onEvent with a sleep that returns at once and records the waits. */
  function run(event: CloudFormationCustomResourceEvent) {
    const sleep = jest.fn(async (_ms: number) => undefined);
    return { sleep, result: onEvent(event, { imagebuilder: new ImagebuilderClient({}), sleep }) };
  }

  test('retries with growing waits until the update goes through, each try with its own client token, then tags', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand)
      .rejectsOnce(inUse()).rejectsOnce(inUse())
      .resolves({ distributionConfigurationArn: ARN });
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({ distributionConfiguration: OTHER_SETTINGS });
    const event = updateEvent({ Tags: { team: 'vm' } }, props());

    const { sleep, result } = run(event);

    await expect(result).resolves.toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'vm-disks' } });
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual(IN_USE_RETRY_DELAYS_MS.slice(0, 2));
    const tokens = imagebuilder.commandCalls(UpdateDistributionConfigurationCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toHaveLength(3);
    expect(tokens[0]).toBe(clientToken(event, 'UpdateDistributionConfiguration'));
    expect(new Set(tokens).size).toBe(3);
    // Looked once whether the configuration already is as asked, not on every try.
    expect(imagebuilder).toHaveReceivedCommandTimes(GetDistributionConfigurationCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: ARN, tags: { team: 'vm' } });
  });

  test('gives up after the bounded backoff, naming the build that holds the configuration and what to do', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejects(inUse());
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({ distributionConfiguration: OTHER_SETTINGS });

    const { sleep, result } = run(updateEvent({ Tags: { team: 'vm' } }, props()));
    const error = await result.catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain(
      `UpdateDistributionConfiguration failed for distribution configuration "vm-disks" (${ARN}): it is in use, by an image build that is distributing with it`);
    expect(message).toContain(`ResourceInUseException on ${IN_USE_RETRY_DELAYS_MS.length + 1} tries`);
    expect(message).toContain('Wait for that build to finish, or cancel it (aws imagebuilder cancel-image-creation), then retry the stack update');
    expect(message).toContain('AWS said: ResourceInUseException: The distribution configuration is in use');
    expect(imagebuilder).toHaveReceivedCommandTimes(UpdateDistributionConfigurationCommand, IN_USE_RETRY_DELAYS_MS.length + 1);
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([...IN_USE_RETRY_DELAYS_MS]);
    expect(imagebuilder).not.toHaveReceivedCommand(TagResourceCommand);
  });

  test('waits in all for at most half the handler\'s timeout, with waits that only grow', () => {
    const stack = new Stack(new App(), 'Timeout');
    new VmDiskDistribution(stack, 'Dist', { exports: [{ bucket: new s3.Bucket(stack, 'B'), format: VmDiskFormat.VMDK }] });
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const [onEventFunction] = Object.values(functions).filter((f: any) => String(f.Properties.Description).includes('(Custom::VmDiskDistribution)'));
    const timeoutMs = (onEventFunction as any).Properties.Timeout * 1000;

    const waited = IN_USE_RETRY_DELAYS_MS.reduce((sum, ms) => sum + ms, 0);
    expect(waited).toBeGreaterThan(0);
    expect(waited).toBeLessThanOrEqual(timeoutMs / 2);
    expect([...IN_USE_RETRY_DELAYS_MS]).toEqual([...IN_USE_RETRY_DELAYS_MS].sort((a, b) => a - b));
  });

  test('succeeds at once when the configuration already has the settings asked for (the rollback of an update refused this way)', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejects(inUse());
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({
      distributionConfiguration: { ...OTHER_SETTINGS, description: 'VM disks', distributions: RESTORED as Distribution[] },
    });

    const { sleep, result } = run(updateEvent({ Distributions: DISTRIBUTIONS, Tags: { team: 'vm' } }, props({ Distributions: EXPORT_ONLY })));

    await expect(result).resolves.toEqual({ PhysicalResourceId: ARN, Data: { Arn: ARN, Name: 'vm-disks' } });
    expect(sleep).not.toHaveBeenCalled();
    expect(imagebuilder).toHaveReceivedCommandTimes(UpdateDistributionConfigurationCommand, 1);
    expect(imagebuilder).toHaveReceivedCommandWith(TagResourceCommand, { resourceArn: ARN, tags: { team: 'vm' } });
  });

  test('keeps retrying when the configuration cannot be read, or differs only by a member AWS filled in', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejectsOnce(inUse()).resolves({ distributionConfigurationArn: ARN });
    imagebuilder.on(GetDistributionConfigurationCommand).rejects(new ForbiddenException({ message: 'no read', $metadata: { httpStatusCode: 403 } }));

    const first = run(updateEvent({}, props()));
    await expect(first.result).resolves.toMatchObject({ PhysicalResourceId: ARN });
    expect(first.sleep).toHaveBeenCalledTimes(1);

    imagebuilder.reset();
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejectsOnce(inUse()).resolves({ distributionConfigurationArn: ARN });
    const filledIn = [{ ...EXPORT_ONLY[0], amiDistributionConfiguration: { name: 'filled-in-by-aws' } }] as Distribution[];
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({ distributionConfiguration: { ...OTHER_SETTINGS, distributions: filledIn } });

    const second = run(updateEvent({}, props()));
    await expect(second.result).resolves.toMatchObject({ PhysicalResourceId: ARN });
    expect(second.sleep).toHaveBeenCalledTimes(1);
    expect(imagebuilder).toHaveReceivedCommandTimes(UpdateDistributionConfigurationCommand, 2);
  });

  test('does not retry other errors', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejects(new InvalidRequestException({ message: 'bad', $metadata: { httpStatusCode: 400 } }));

    const { sleep, result } = run(updateEvent({}, props()));

    await expect(result).rejects.toThrow('UpdateDistributionConfiguration failed for distribution configuration "vm-disks"');
    expect(sleep).not.toHaveBeenCalled();
    expect(imagebuilder).toHaveReceivedCommandTimes(UpdateDistributionConfigurationCommand, 1);
    expect(imagebuilder).not.toHaveReceivedCommand(GetDistributionConfigurationCommand);
  });

  test('a long multi-byte AWS message still leaves the failure under 4096 bytes', async () => {
    imagebuilder.on(UpdateDistributionConfigurationCommand).rejects(inUse('€'.repeat(5_000)));
    imagebuilder.on(GetDistributionConfigurationCommand).resolves({ distributionConfiguration: OTHER_SETTINGS });

    const error = await run(updateEvent({}, props())).result.catch((e: Error) => e);

    expect((error as Error).message).toContain('AWS said: ResourceInUseException: €€€');
    expect(Buffer.byteLength((error as Error).message, 'utf8')).toBeLessThan(4096);
  });
});

test('an unknown RequestType fails explicitly', async () => {
  const event = { ...createEvent({}), RequestType: 'Replace' } as unknown as CloudFormationCustomResourceEvent;

  await expect(handler(event)).rejects.toThrow('unsupported RequestType "Replace"');
  expect(imagebuilder).not.toHaveReceivedAnyCommand();
});
