import { DescribeStackResourceCommand, ResourceStatus } from '@aws-sdk/client-cloudformation';
import { DescribeImportImageTasksCommand, EC2Client, ImportImageTask } from '@aws-sdk/client-ec2';
import { GetImageCommand, Image, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AMI, awsError, IMAGE_ARN, LOGICAL_ID, mockStackServices, NOW, physicalIdFor, props, SIGNAL_URL, STACK_ID, TASK_ID, testDeps,
  WAIT_CONDITION_LOGICAL_ID,
} from './fixtures';
import { isComplete } from '../../../src/handlers/import-image/is-complete';
import {
  DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS, nextPollSeconds, PollerInput, pollerInput, PollerState, pollerStep,
} from '../../../src/handlers/import-image/poller';
import { expectValidRequests } from '../../support/api-model';

const ec2 = mockClient(EC2Client);
const imagebuilder = mockClient(ImagebuilderClient);
const { cloudformation } = mockStackServices();

const SIX_HOURS = 6 * 3600 * 1000;
const activeTask: ImportImageTask = {
  ImportTaskId: TASK_ID,
  Status: 'active',
  StatusMessage: 'converting',
  Progress: '42',
  SnapshotDetails: [{ DeviceName: '/dev/sda1', Status: 'active', Progress: '40', DiskImageSize: 8589934592, Format: 'VMDK' }],
};
const availableImage: Image = { arn: IMAGE_ARN, state: { status: 'AVAILABLE' }, outputResources: { amis: [{ region: 'us-east-1', image: AMI }] } };

const input: PollerInput = {
  ImageArn: IMAGE_ARN,
  ImportTaskId: TASK_ID,
  StackId: STACK_ID,
  LogicalResourceId: LOGICAL_ID,
  WaitConditionLogicalId: WAIT_CONDITION_LOGICAL_ID,
  SignalUrl: SIGNAL_URL,
  StartedAt: NOW,
  Deadline: NOW + SIX_HOURS,
  PollIntervalSeconds: DEFAULT_POLL_INTERVAL_SECONDS,
  MaxPollIntervalSeconds: DEFAULT_MAX_POLL_INTERVAL_SECONDS,
};

function state(overrides: Partial<PollerState> = {}): PollerState {
  return { Poller: input, Polls: 0, Next: 15, Done: false, ...overrides };
}

function givenTask(task: ImportImageTask | undefined): void {
  ec2.on(DescribeImportImageTasksCommand).resolves({ ImportImageTasks: task ? [task] : [] });
}

function givenImage(image: Image): void {
  imagebuilder.on(GetImageCommand).resolves({ image });
}

function givenStackResource(logicalId: string, status: ResourceStatus, physicalId?: string): void {
  cloudformation.on(DescribeStackResourceCommand, { LogicalResourceId: logicalId }).resolves({
    StackResourceDetail: {
      LogicalResourceId: logicalId,
      ResourceType: 'AWS::CloudFormation::WaitCondition',
      ResourceStatus: status,
      LastUpdatedTimestamp: new Date(NOW),
      ...(physicalId ? { PhysicalResourceId: physicalId } : {}),
    },
  });
}

function givenNoWaitConditionYet(): void {
  cloudformation.on(DescribeStackResourceCommand, { LogicalResourceId: WAIT_CONDITION_LOGICAL_ID })
    .rejects(awsError('ValidationError', `Resource ${WAIT_CONDITION_LOGICAL_ID} does not exist for stack my-stack`));
}

let log: jest.SpyInstance;

/** The structured progress lines logged so far. */
function progressLines(): Array<Record<string, unknown>> {
  return log.mock.calls
    .map(([line]) => String(line))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === 'vm-import-progress');
}

beforeAll(() => {
  log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});

beforeEach(() => {
  ec2.reset();
  imagebuilder.reset();
  givenTask(activeTask);
  givenImage({ arn: IMAGE_ARN, state: { status: 'BUILDING' } });
  log.mockClear();
});

afterEach(() => {
  expectValidRequests(ec2, 'ec2');
  expectValidRequests(imagebuilder, 'imagebuilder');
});

describe('pollerStep', () => {
  test('signals SUCCESS with the AMI id as Data once the image is AVAILABLE, and is Done', async () => {
    givenTask({ ...activeTask, Status: 'completed', ImageId: AMI });
    givenImage(availableImage);
    const deps = testDeps(NOW + 3600_000);

    const result = await pollerStep(state({ Polls: 7 }), deps);

    expect(deps.signal).toHaveBeenCalledTimes(1);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, {
      Status: 'SUCCESS', Reason: `image ${IMAGE_ARN} is AVAILABLE as ${AMI}`, UniqueId: TASK_ID, Data: AMI,
    });
    expect(result).toEqual({ ...state({ Polls: 8 }), Done: true });
  });

  test('is reached through isComplete, which the state machine invokes with the poller state', async () => {
    givenImage(availableImage);
    const deps = testDeps(NOW + 60_000);

    await expect(isComplete(state(), deps)).resolves.toMatchObject({ Done: true, Polls: 1 });
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({ Status: 'SUCCESS', Data: AMI }));
  });

  test('signals FAILURE with the StatusMessage of a deleted task verbatim ("ClientError: Unknown OS"), and is Done', async () => {
    givenTask({ ImportTaskId: TASK_ID, Status: 'deleted', StatusMessage: 'ClientError: Unknown OS / Missing OS files' });
    const deps = testDeps(NOW + 600_000);

    const result = await pollerStep(state(), deps);

    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, {
      Status: 'FAILURE', Reason: `VM import ${TASK_ID} failed: ClientError: Unknown OS / Missing OS files`, UniqueId: TASK_ID, Data: '',
    });
    expect(result.Done).toBe(true);
  });

  test.each(['FAILED', 'CANCELLED'] as const)('signals FAILURE with the reason of an image %s', async (status) => {
    givenImage({ arn: IMAGE_ARN, state: { status, reason: 'The VM import task did not produce an AMI.' } });
    const deps = testDeps(NOW + 600_000);

    const result = await pollerStep(state(), deps);

    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE', Reason: `Image Builder image ${IMAGE_ARN} is ${status}: The VM import task did not produce an AMI.`,
    }));
    expect(result.Done).toBe(true);
  });

  test('signals FAILURE when the image was deleted while the deployment waited', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('ResourceNotFoundException', 'The image cannot be found.', 404));
    const deps = testDeps(NOW + 600_000);

    const result = await pollerStep(state(), deps);

    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE', Reason: `Image Builder image ${IMAGE_ARN} was deleted while the deployment waited for it`,
    }));
    expect(result.Done).toBe(true);
  });

  test.each([
    ['a throttled GetImage (ThrottlingException 429)', () => imagebuilder.on(GetImageCommand).rejects(awsError('ThrottlingException', 'Rate exceeded', 429))],
    ['a throttled DescribeImportImageTasks (RequestLimitExceeded 503)', () => ec2.on(DescribeImportImageTasksCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))],
  ])('signals nothing and polls again after %s', async (_label, arrange) => {
    arrange();
    const deps = testDeps(NOW + 600_000);

    const result = await pollerStep(state({ Polls: 4 }), deps);

    expect(deps.signal).not.toHaveBeenCalled();
    expect(result).toEqual({ ...state({ Polls: 5 }), Next: 60, Done: false });
    expect(progressLines()[0]).toMatchObject({ transientError: expect.stringMatching(/^(ThrottlingException|RequestLimitExceeded): /) });
  });

  test('throws a polling error that is not transient, for the state machine to retry and then Catch', async () => {
    imagebuilder.on(GetImageCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: imagebuilder:GetImage', 403));
    const deps = testDeps(NOW + 600_000);

    await expect(pollerStep(state(), deps)).rejects.toThrow('not authorized to perform: imagebuilder:GetImage');
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('signals FAILURE past the deadline, naming the last state seen', async () => {
    const deps = testDeps(NOW + SIX_HOURS + 1000);

    const result = await pollerStep(state({ Polls: 200 }), deps);

    expect(deps.signal).toHaveBeenCalledTimes(1);
    const reason = deps.signal.mock.calls[0][1].Reason;
    expect(deps.signal.mock.calls[0][1].Status).toBe('FAILURE');
    expect(reason).toContain(`VM import ${TASK_ID} did not make ${IMAGE_ARN} AVAILABLE within 360 minutes`);
    expect(reason).toContain('last seen: task active "converting", 42% done; image BUILDING');
    expect(reason).toContain('raise `timeout` (at most 12 hours)');
    expect(result.Done).toBe(true);
  });

  test('signals FAILURE when the state machine caught a failed poll (state.Error), without polling AWS', async () => {
    const deps = testDeps(NOW + 600_000);

    const result = await pollerStep(state({ Polls: 3, Error: { Error: 'Lambda.ServiceException', Cause: 'Rate Exceeded.' } }), deps);

    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({
      Status: 'FAILURE', Reason: `the poller of VM import ${TASK_ID} failed: Lambda.ServiceException: Rate Exceeded.`, UniqueId: TASK_ID,
    }));
    expect(result.Done).toBe(true);
    expect([...ec2.calls(), ...imagebuilder.calls()]).toHaveLength(0);
  });

  test('retries a signal the wait condition handle answers with a 5xx, with the same UniqueId', async () => {
    givenImage(availableImage);
    const deps = testDeps(NOW + 600_000);
    deps.signal.mockRejectedValueOnce(Object.assign(new Error('the wait condition handle answered HTTP 503'), {
      name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 },
    }));

    await expect(pollerStep(state(), deps)).resolves.toMatchObject({ Done: true });

    expect(deps.signal).toHaveBeenCalledTimes(2);
    expect(new Set(deps.signal.mock.calls.map(([, signal]) => signal.UniqueId))).toEqual(new Set([TASK_ID]));
    expect(deps.sleep.mock.calls.map(([ms]) => ms)).toEqual([1000]);
  });

  test('logs one JSON progress line per poll: task id, status, message, progress, disks, elapsed, next poll', async () => {
    const deps = (seconds: number) => testDeps(NOW + seconds * 1000);

    let current = state();
    for (const seconds of [15, 30, 45]) current = await pollerStep(current, deps(seconds));

    const lines = progressLines();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual({
      event: 'vm-import-progress',
      importTaskId: TASK_ID,
      imageArn: IMAGE_ARN,
      taskStatus: 'active',
      statusMessage: 'converting',
      progressPercent: 42,
      disks: [{ device: '/dev/sda1', status: 'active', progressPercent: 40, sizeBytes: 8589934592, format: 'VMDK' }],
      imageStatus: 'BUILDING',
      polls: 3,
      elapsedSeconds: 45,
      nextPollSeconds: 15,
    });
    expect(lines.map((line) => line.elapsedSeconds)).toEqual([15, 30, 45]);
  });

  test('never logs the SignalUrl (presigned)', async () => {
    givenImage(availableImage);

    await pollerStep(state(), testDeps(NOW + 60_000));
    await pollerStep(state({ Error: { Error: 'States.Timeout' } }), testDeps(NOW + 60_000));

    const logged = log.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
    expect(logged).toContain(TASK_ID);
    expect(logged).not.toContain('signal-secret');
  });
});

describe('pollerStep asks CloudFormation whether anything still waits, every 4th poll', () => {
  test('does not ask on the other polls', async () => {
    for (const polls of [0, 1, 2, 4, 5, 6]) await pollerStep(state({ Polls: polls }), testDeps(NOW + 600_000));

    expect(cloudformation).not.toHaveReceivedCommand(DescribeStackResourceCommand);
  });

  test.each(['DELETE_COMPLETE', 'DELETE_IN_PROGRESS', 'CREATE_FAILED', 'CREATE_COMPLETE'] as ResourceStatus[])(
    'stops without a signal when the wait condition is %s', async (status) => {
      givenStackResource(WAIT_CONDITION_LOGICAL_ID, status);
      const deps = testDeps(NOW + 600_000);

      const result = await pollerStep(state({ Polls: 3 }), deps);

      expect(cloudformation).toHaveReceivedCommandWith(DescribeStackResourceCommand, {
        StackName: STACK_ID, LogicalResourceId: WAIT_CONDITION_LOGICAL_ID,
      });
      expect(result).toMatchObject({ Polls: 4, Done: true });
      expect(deps.signal).not.toHaveBeenCalled();
    });

  test('keeps polling while the wait condition is CREATE_IN_PROGRESS', async () => {
    givenStackResource(WAIT_CONDITION_LOGICAL_ID, 'CREATE_IN_PROGRESS');

    await expect(pollerStep(state({ Polls: 7 }), testDeps(NOW + 600_000))).resolves.toMatchObject({ Polls: 8, Done: false });
  });

  test('keeps polling when the wait condition is not created yet but the import resource names this import', async () => {
    givenNoWaitConditionYet();
    givenStackResource(LOGICAL_ID, 'CREATE_COMPLETE', physicalIdFor(props()));
    const deps = testDeps(NOW + 60_000);

    const result = await pollerStep(state({ Polls: 3 }), deps);

    expect(result).toMatchObject({ Polls: 4, Done: false });
    expect(cloudformation.commandCalls(DescribeStackResourceCommand).map((call) => call.args[0].input.LogicalResourceId))
      .toEqual([WAIT_CONDITION_LOGICAL_ID, LOGICAL_ID]);
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test.each([
    ['names another import (it was replaced)', () => givenStackResource(LOGICAL_ID, 'UPDATE_COMPLETE', 'arn:aws:imagebuilder:us-east-1:123456789012:image/imported-vm/2.0.0/1|import-ami-0fffffffffffffff0|0123456789abcdef')],
    ['is being deleted', () => givenStackResource(LOGICAL_ID, 'DELETE_IN_PROGRESS', physicalIdFor(props()))],
    ['does not exist', () => cloudformation.on(DescribeStackResourceCommand, { LogicalResourceId: LOGICAL_ID })
      .rejects(awsError('ValidationError', `Resource ${LOGICAL_ID} does not exist for stack my-stack`))],
  ])('stops without a signal when the wait condition is not created and the import resource %s', async (_label, arrange) => {
    givenNoWaitConditionYet();
    arrange();
    const deps = testDeps(NOW + 60_000);

    await expect(pollerStep(state({ Polls: 3 }), deps)).resolves.toMatchObject({ Done: true });
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('stops without a signal when the stack is gone', async () => {
    cloudformation.on(DescribeStackResourceCommand).rejects(awsError('ValidationError', `Stack with id ${STACK_ID} does not exist`));
    const deps = testDeps(NOW + 600_000);

    await expect(pollerStep(state({ Polls: 3 }), deps)).resolves.toMatchObject({ Done: true });
    expect(deps.signal).not.toHaveBeenCalled();
  });

  test('keeps polling when CloudFormation cannot be asked (throttled)', async () => {
    cloudformation.on(DescribeStackResourceCommand).rejects(awsError('Throttling', 'Rate exceeded', 400));

    await expect(pollerStep(state({ Polls: 3 }), testDeps(NOW + 600_000))).resolves.toMatchObject({ Done: false });
  });

  test('signals an AVAILABLE image even on a check poll, without asking CloudFormation first', async () => {
    givenImage(availableImage);
    givenStackResource(WAIT_CONDITION_LOGICAL_ID, 'DELETE_COMPLETE');
    const deps = testDeps(NOW + 600_000);

    await pollerStep(state({ Polls: 3 }), deps);

    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({ Status: 'SUCCESS' }));
  });
});

describe('nextPollSeconds', () => {
  test('waits the first interval (15 s by default) at the start', () => {
    expect(nextPollSeconds(0, 15, 120, 21600)).toBe(15);
    expect(nextPollSeconds(100, 15, 120, 21600)).toBe(15);
  });

  test('then waits a tenth of the elapsed time', () => {
    expect(nextPollSeconds(300, 15, 120, 21600)).toBe(30);
    expect(nextPollSeconds(600, 15, 120, 21600)).toBe(60);
  });

  test('never waits longer than the maximum (2 minutes by default)', () => {
    expect(nextPollSeconds(1200, 15, 120, 21600)).toBe(120);
    expect(nextPollSeconds(5 * 3600, 15, 120, 21600)).toBe(120);
  });

  test('never waits past the deadline', () => {
    expect(nextPollSeconds(5000, 15, 120, 30)).toBe(30);
    expect(nextPollSeconds(0, 15, 120, 5)).toBe(5);
  });

  test('follows a per-import schedule', () => {
    expect(nextPollSeconds(0, 60, 600, 43200)).toBe(60);
    expect(nextPollSeconds(3000, 60, 600, 43200)).toBe(300);
    expect(nextPollSeconds(7200, 60, 600, 43200)).toBe(600);
  });

  /**
   * Polls (the time at which each happens) of an import that finishes after
   * `durationSeconds`, under the default schedule, until one sees it done.
   */
  function simulate(durationSeconds: number, deadlineSeconds = 12 * 3600) {
    const pollTimes: number[] = [];
    let t = nextPollSeconds(0, DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_MAX_POLL_INTERVAL_SECONDS, deadlineSeconds);
    for (;;) {
      pollTimes.push(t);
      if (t >= durationSeconds) break;
      t += nextPollSeconds(t, DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_MAX_POLL_INTERVAL_SECONDS, deadlineSeconds - t);
    }
    return { polls: pollTimes.length, detectionDelay: pollTimes[pollTimes.length - 1] - durationSeconds, pollTimes };
  }

  test.each([
    ['10-minute', 600, 30],
    ['1-hour', 3600, 60],
    ['6-hour', 6 * 3600, 250],
  ])('keeps a %s import to a few hundred polls at most', (_label, duration, most) => {
    const { polls } = simulate(duration);

    expect(polls).toBeLessThanOrEqual(most);
  });

  test.each([90, 600, 1234, 3600, 4 * 3600 + 17, 6 * 3600])('notices an import finished after %i s within one interval', (duration) => {
    const { detectionDelay, pollTimes } = simulate(duration);
    const lastInterval = pollTimes[pollTimes.length - 1] - pollTimes[pollTimes.length - 2];

    expect(detectionDelay).toBeGreaterThanOrEqual(0);
    expect(detectionDelay).toBeLessThanOrEqual(lastInterval);
    // One interval is at most a tenth of the wait (or the first 15 s), and never over 2 minutes.
    expect(detectionDelay).toBeLessThanOrEqual(Math.min(120, Math.max(15, Math.round(duration / 10))));
  });

  test('a poller driven on a simulated clock signals a 1-hour import within one interval, in under 60 polls, asking CloudFormation every 4th poll', async () => {
    const doneAt = NOW + 3600_000;
    let clock = NOW;
    const deps = testDeps(() => clock);
    givenStackResource(WAIT_CONDITION_LOGICAL_ID, 'CREATE_IN_PROGRESS');
    ec2.on(DescribeImportImageTasksCommand).callsFake(() => ({ ImportImageTasks: [clock >= doneAt ? { ...activeTask, Status: 'completed', ImageId: AMI } : activeTask] }));
    imagebuilder.on(GetImageCommand).callsFake(() => ({ image: clock >= doneAt ? availableImage : { arn: IMAGE_ARN, state: { status: 'BUILDING' } } }));

    let current = state({ Next: nextPollSeconds(0, 15, 120, SIX_HOURS / 1000) });
    while (!current.Done) {
      const before = clock;
      clock += current.Next * 1000;
      current = await pollerStep(current, deps);
      if (current.Done) expect(clock - doneAt).toBeLessThanOrEqual(clock - before);
    }

    expect(deps.signal).toHaveBeenCalledTimes(1);
    expect(deps.signal).toHaveBeenCalledWith(SIGNAL_URL, expect.objectContaining({ Status: 'SUCCESS', Data: AMI }));
    expect(current.Polls).toBeLessThan(60);
    expect(clock - doneAt).toBeLessThanOrEqual(120_000);
    expect(cloudformation).toHaveReceivedCommandTimes(DescribeStackResourceCommand, Math.floor((current.Polls - 1) / 4));
  });
});

describe('pollerInput (what onEvent hands the poller)', () => {
  test('takes the handler\'s defaults for what a template leaves out: 6 hours, polls from 15 s up to 2 minutes', () => {
    const started = pollerInput({ StackId: STACK_ID, LogicalResourceId: LOGICAL_ID }, { imageArn: IMAGE_ARN, importTaskId: TASK_ID },
      props({ SignalUrl: SIGNAL_URL, WaitConditionLogicalId: WAIT_CONDITION_LOGICAL_ID }), NOW);

    expect(started).toMatchObject({ Deadline: NOW + SIX_HOURS, PollIntervalSeconds: 15, MaxPollIntervalSeconds: 120 });
  });
});
