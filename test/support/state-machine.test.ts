/**
 * The ASL interpreter against hand-written definitions (each rule from the spec / developer
 * guide it implements) and against a poller built with aws-cdk-lib constructs, synthesized and
 * read back from the template the way the library's own state machine will be tested.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  definitionFromTemplate, ExecutionResult, HISTORY_LIMIT, InterpreterError, lambdaInvoker, LambdaContext, lambdaServiceError,
  runStateMachine, SimulatedClock, TaskError, TaskInvoker,
} from './state-machine';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const seconds = (ms: number) => (ms - T0) / 1000;
const events = (r: ExecutionResult, type: string, state?: string) =>
  r.history.filter((e) => e.type === type && (state === undefined || e.state === state));
const noTasks: TaskInvoker = () => {
  throw new Error('no task expected');
};

function run(definition: object, input: any = {}, invoke: TaskInvoker = noTasks, extra: { stop?: () => boolean; maxTransitions?: number } = {}) {
  const clock = new SimulatedClock(T0);
  return { clock, result: runStateMachine(definition, input, { clock, invoke, ...extra }) };
}

/** One Task state calling `invoke`, with the given extra fields. */
function taskMachine(task: object, extraStates: object = {}) {
  return {
    StartAt: 'Work',
    States: { Work: { Type: 'Task', Resource: LAMBDA_INVOKE, Parameters: { 'FunctionName': 'work', 'Payload.$': '$' }, End: true, ...task }, ...extraStates },
  };
}

/** Fails with the listed error names in order, then succeeds with `done`. */
function failing(...names: string[]): TaskInvoker {
  let n = 0;
  return () => {
    if (n < names.length) throw new TaskError(names[n++], `attempt ${n}`);
    return 'done';
  };
}

describe('SimulatedClock', () => {
  test('moves only forward', () => {
    const clock = new SimulatedClock('2024-06-01T00:00:00Z');
    clock.advance(1500);
    expect(clock.now()).toBe(Date.parse('2024-06-01T00:00:01.500Z'));
    expect(() => clock.advance(-1)).toThrow(/only moves forward/);
  });
});

describe('input and output processing', () => {
  test('InputPath, Parameters, ResultSelector, ResultPath and OutputPath apply in the spec order', async () => {
    const definition = taskMachine({
      InputPath: '$.numbers',
      ResultSelector: { 'sum.$': '$.Payload', 'status.$': '$.StatusCode' },
      ResultPath: '$.numbers.total',
      OutputPath: '$.numbers',
    });
    const add = lambdaInvoker((event) => event.val1 + event.val2);
    const { result } = run(definition, { title: 'Numbers to add', numbers: { val1: 3, val2: 4 } }, add);
    const r = await result;
    expect(r.status).toBe('SUCCEEDED');
    // ResultPath writes into the RAW input (not the InputPath selection), then OutputPath selects.
    expect(r.output).toEqual({ val1: 3, val2: 4, total: { sum: 7, status: 200 } });
    expect(r.invocations.map((i) => i.parameters)).toEqual([{ FunctionName: 'work', Payload: { val1: 3, val2: 4 } }]);
  });

  test('ResultPath null keeps the input; InputPath and OutputPath null give {}', async () => {
    const seen: any[] = [];
    const invoke = lambdaInvoker((event) => { seen.push(event); return 'ignored'; });
    const keep = await run(taskMachine({ ResultPath: null }), { a: 1 }, invoke).result;
    expect(keep.output).toEqual({ a: 1 });
    const empty = await run(taskMachine({ InputPath: null, OutputPath: null }), { a: 1 }, invoke).result;
    expect(empty.output).toEqual({});
    expect(seen).toEqual([{ a: 1 }, {}]);
  });

  test('Pass: Result goes where ResultPath says, creating the objects on the way', async () => {
    const definition = {
      StartAt: 'Set',
      States: { Set: { Type: 'Pass', Result: { n: 1 }, ResultPath: '$.a.b', End: true } },
    };
    expect((await run(definition, { keep: true, a: { other: 2 } }).result).output).toEqual({ keep: true, a: { other: 2, b: { n: 1 } } });
  });

  test('a ResultPath through a non-object is States.Runtime', async () => {
    const definition = { StartAt: 'Set', States: { Set: { Type: 'Pass', Result: 1, ResultPath: '$.a.b', End: true } } };
    const r = await run(definition, { a: 'text' }).result;
    expect(r).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });

  test('Parameters: .$ keys take paths, the context object and intrinsic functions', async () => {
    const definition = {
      StartAt: 'Build',
      States: {
        Build: {
          Type: 'Pass',
          Parameters: {
            'literal': 'kept',
            'nested': { 'id.$': '$.task.id', 'list': [{ 'first.$': '$.items[0]' }] },
            'message.$': "States.Format('import {} is {} \\{literal\\}', $.task.id, $.task.state)",
            'parsed.$': 'States.StringToJson($.json)',
            'text.$': 'States.JsonToString($.task)',
            'next.$': 'States.MathAdd($.count, 1)',
            'pair.$': "States.Array('a', $.count, States.MathAdd(1, 2))",
            'execution.$': '$$.Execution.Name',
            'state.$': '$$.State.Name',
            'start.$': '$$.Execution.StartTime',
          },
          End: true,
        },
      },
    };
    const input = { task: { id: 'import-ami-1', state: 'active' }, items: ['x', 'y'], json: '{"k":[1]}', count: 41 };
    const r = await run(definition, input).result;
    expect(r.output).toEqual({
      literal: 'kept',
      nested: { id: 'import-ami-1', list: [{ first: 'x' }] },
      message: 'import import-ami-1 is active {literal}',
      parsed: { k: [1] },
      text: '{"id":"import-ami-1","state":"active"}',
      next: 42,
      pair: ['a', 41, 3],
      execution: 'test-execution',
      state: 'Build',
      start: '2024-01-01T00:00:00.000Z',
    });
  });

  test('a path that selects nothing fails the execution, and no Catcher sees it (States.Runtime)', async () => {
    const definition = taskMachine(
      { Parameters: { 'FunctionName': 'work', 'Payload.$': '$.missing' }, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] },
      { Caught: { Type: 'Succeed' } },
    );
    const r = await run(definition, { present: 1 }).result;
    expect(r).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(r.cause).toContain("'$.missing'");
    expect(r.invocations).toHaveLength(0);
    expect(r.history.map((e) => e.type)).toEqual(['ExecutionStarted', 'TaskStateEntered', 'ExecutionFailed']);
  });
});

describe('Choice', () => {
  async function choose(rule: object, input: any) {
    const definition = {
      StartAt: 'Decide',
      States: { Decide: { Type: 'Choice', Choices: [{ ...rule, Next: 'Yes' }], Default: 'No' }, Yes: { Type: 'Succeed' }, No: { Type: 'Succeed' } },
    };
    const r = await run(definition, input).result;
    return r.status === 'SUCCEEDED' ? r.history[r.history.length - 2].state : r.error;
  }

  test.each([
    [{ Variable: '$.n', NumericEquals: 3 }, { n: 3 }, 'Yes'],
    [{ Variable: '$.n', NumericEquals: 3 }, { n: '3' }, 'No'], // no match across types
    [{ Variable: '$.n', NumericLessThan: 3 }, { n: 3 }, 'No'],
    [{ Variable: '$.n', NumericLessThanEquals: 3 }, { n: 3 }, 'Yes'],
    [{ Variable: '$.n', NumericGreaterThan: 2.5 }, { n: 3 }, 'Yes'],
    [{ Variable: '$.n', NumericGreaterThanEquals: 4 }, { n: 3 }, 'No'],
    [{ Variable: '$.n', NumericGreaterThanPath: '$.limit' }, { n: 5, limit: 3 }, 'Yes'],
    [{ Variable: '$.n', NumericEqualsPath: '$.limit' }, { n: 5, limit: 3 }, 'No'],
    [{ Variable: '$.s', StringEquals: 'completed' }, { s: 'completed' }, 'Yes'],
    [{ Variable: '$.s', StringLessThan: 'b' }, { s: 'a' }, 'Yes'],
    [{ Variable: '$.s', StringEqualsPath: '$.t' }, { s: 'x', t: 'x' }, 'Yes'],
    [{ Variable: '$.s', StringMatches: 'log-*.txt' }, { s: 'log-2024.txt' }, 'Yes'],
    [{ Variable: '$.s', StringMatches: 'log-\\*' }, { s: 'log-2024' }, 'No'],
    [{ Variable: '$.b', BooleanEquals: true }, { b: true }, 'Yes'],
    [{ Variable: '$.b', BooleanEquals: true }, { b: 'true' }, 'No'],
    [{ Variable: '$.t', TimestampLessThan: '2024-01-02T00:00:00Z' }, { t: '2024-01-01T12:00:00Z' }, 'Yes'],
    [{ Variable: '$.x', IsPresent: false }, {}, 'Yes'],
    [{ Variable: '$.x', IsPresent: true }, { x: null }, 'Yes'],
    [{ Variable: '$.x', IsNull: true }, { x: null }, 'Yes'],
    [{ Variable: '$.x', IsNumeric: true }, { x: 1 }, 'Yes'],
    [{ Variable: '$.x', IsString: true }, { x: 1 }, 'No'],
    [{ Variable: '$.x', IsBoolean: false }, { x: 'no' }, 'Yes'],
    [{ And: [{ Variable: '$.n', NumericGreaterThanEquals: 20 }, { Variable: '$.n', NumericLessThan: 30 }] }, { n: 22 }, 'Yes'],
    [{ Or: [{ Variable: '$.n', NumericEquals: 1 }, { Variable: '$.n', NumericEquals: 2 }] }, { n: 3 }, 'No'],
    [{ Not: { Variable: '$.s', StringEquals: 'Private' } }, { s: 'Public' }, 'Yes'],
    [{ Variable: '$.missing', StringEquals: 'x' }, {}, 'States.Runtime'],
  ])('%j on %j -> %s', async (rule, input, expected) => {
    expect(await choose(rule, input)).toBe(expected);
  });

  test('no matching rule and no Default fails with States.NoChoiceMatched', async () => {
    const definition = { StartAt: 'Decide', States: { Decide: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEquals: 1, Next: 'Done' }] }, Done: { Type: 'Succeed' } } };
    expect(await run(definition, { n: 2 }).result).toMatchObject({ status: 'FAILED', error: 'States.NoChoiceMatched' });
  });
});

describe('Wait', () => {
  const waitThen = (wait: object) => ({ StartAt: 'Wait', States: { Wait: { Type: 'Wait', ...wait, Next: 'Done' }, Done: { Type: 'Succeed' } } });

  test.each([
    [{ Seconds: 90 }, {}, 90],
    [{ SecondsPath: '$.delay' }, { delay: 3600 }, 3600],
    [{ Timestamp: '2024-01-01T01:00:00Z' }, {}, 3600],
    [{ TimestampPath: '$.until' }, { until: '2024-01-01T00:00:30Z' }, 30],
    [{ Timestamp: '2023-12-31T00:00:00Z' }, {}, 0], // already passed: no wait
  ])('%j with %j advances the clock by %d s', async (wait, input, expected) => {
    const { clock, result } = run(waitThen(wait), input);
    const r = await result;
    expect(r.status).toBe('SUCCEEDED');
    expect(seconds(clock.now())).toBe(expected);
    expect(seconds(events(r, 'WaitStateExited')[0].timestamp) - seconds(events(r, 'WaitStateEntered')[0].timestamp)).toBe(expected);
  });

  test.each([[-1], ['10'], [1.5]])('SecondsPath selecting %j is States.Runtime', async (delay) => {
    expect(await run(waitThen({ SecondsPath: '$.delay' }), { delay }).result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });

  test("the execution's TimeoutSeconds cuts a wait short: TIMED_OUT at the deadline", async () => {
    const { clock, result } = run({ ...waitThen({ Seconds: 3600 }), TimeoutSeconds: 600 });
    const r = await result;
    expect(r).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(seconds(clock.now())).toBe(600);
    expect(r.history[r.history.length - 1].type).toBe('ExecutionTimedOut');
  });
});

describe('Retry and Catch', () => {
  test("the guide's complex retry scenario: each retrier keeps its own count and backoff", async () => {
    // Developer guide, "Complex retry scenarios": ErrorA, ErrorB, ErrorC, ErrorB, ErrorB wait 1, 2, 5, 4 s,
    // then the fifth error finds its retrier exhausted and the Catcher sends the execution to Z.
    const definition = taskMachine({
      Retry: [
        { ErrorEquals: ['ErrorA', 'ErrorB'], IntervalSeconds: 1, BackoffRate: 2.0, MaxAttempts: 2 },
        { ErrorEquals: ['ErrorC'], IntervalSeconds: 5 },
      ],
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Z' }],
    }, { Z: { Type: 'Pass', End: true } });
    const { clock, result } = run(definition, {}, failing('ErrorA', 'ErrorB', 'ErrorC', 'ErrorB', 'ErrorB'));
    const r = await result;
    expect(events(r, 'TaskScheduled').map((e) => seconds(e.timestamp))).toEqual([0, 1, 3, 8, 12]);
    expect(seconds(clock.now())).toBe(12);
    expect(r.output).toEqual({ Error: 'ErrorB', Cause: 'attempt 5' });
    expect(r.transitions).toBe(2 + 4); // Work and Z, plus four retries
  });

  test('defaults: IntervalSeconds 1, BackoffRate 2, MaxAttempts 3, then the error fails the execution', async () => {
    const definition = taskMachine({
      Parameters: { FunctionName: 'work', Payload: { 'entered.$': '$$.State.EnteredTime', 'retry.$': '$$.State.RetryCount' } },
      Retry: [{ ErrorEquals: ['Boom'] }],
    });
    const { clock, result } = run(definition, {}, failing('Boom', 'Boom', 'Boom', 'Boom'));
    const r = await result;
    expect(events(r, 'TaskScheduled').map((e) => seconds(e.timestamp))).toEqual([0, 1, 3, 7]);
    // The context object: the state was entered once; each retry counts.
    expect(r.invocations.map((i) => i.parameters.Payload)).toEqual([0, 1, 2, 3].map((retry) => ({ entered: '2024-01-01T00:00:00.000Z', retry })));
    expect(r).toMatchObject({ status: 'FAILED', error: 'Boom', cause: 'attempt 4' });
    expect(seconds(clock.now())).toBe(7);
  });

  test('MaxDelaySeconds caps the backoff; MaxAttempts 0 never retries, even before a States.ALL retrier', async () => {
    const retry = [
      { ErrorEquals: ['States.Timeout'], MaxAttempts: 0 },
      { ErrorEquals: ['States.ALL'], IntervalSeconds: 4, BackoffRate: 3, MaxDelaySeconds: 20, MaxAttempts: 4 },
    ];
    const capped = run(taskMachine({ Retry: retry }), {}, failing('A', 'B', 'C', 'D'));
    const r = await capped.result;
    expect(r.status).toBe('SUCCEEDED');
    expect(events(r, 'TaskScheduled').map((e) => seconds(e.timestamp))).toEqual([0, 4, 16, 36, 56]); // 4, 12, 20 (not 36), 20

    const timingOut: TaskInvoker = (_r, _p, ctx) => ctx.clock.advance(60_000);
    const timedOut = await run(taskMachine({ Retry: retry, TimeoutSeconds: 30 }), {}, timingOut).result;
    expect(timedOut).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(events(timedOut, 'TaskScheduled')).toHaveLength(1);
  });

  test('TimeoutSeconds: a task running too long fails with States.Timeout at the deadline; States.TaskFailed does not match it', async () => {
    const slow: TaskInvoker = (_r, _p, ctx) => {
      ctx.clock.advance(400_000);
      return 'late';
    };
    const definition = taskMachine({
      TimeoutSeconds: 300,
      Catch: [{ ErrorEquals: ['States.TaskFailed'], Next: 'Failed' }, { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TimedOut' }],
    }, { Failed: { Type: 'Succeed' }, TimedOut: { Type: 'Succeed' } });
    const { clock, result } = run(definition, { id: 1 }, slow);
    const r = await result;
    expect(seconds(clock.now())).toBe(300);
    expect(events(r, 'TaskTimedOut')).toHaveLength(1);
    expect(events(r, 'SucceedStateEntered')[0].state).toBe('TimedOut');
    expect(r.output).toEqual({ id: 1, error: { Error: 'States.Timeout', Cause: '' } });
  });

  test('States.TaskFailed matches what a function throws; the Catcher ResultPath keeps the input and OutputPath is not applied', async () => {
    const definition = taskMachine({
      OutputPath: '$.never',
      Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'Recover' }],
    }, { Recover: { Type: 'Pass', End: true } });
    const thrower = lambdaInvoker(() => {
      throw new RangeError('disk too large');
    });
    const r = await run(definition, { disk: 'a.vmdk' }, thrower).result;
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output.disk).toBe('a.vmdk');
    expect(r.output.error.Error).toBe('RangeError');
    expect(JSON.parse(r.output.error.Cause)).toMatchObject({ errorType: 'RangeError', errorMessage: 'disk too large' });
    expect(events(r, 'TaskStateExited', 'Work')).toHaveLength(1);
  });

  test('an error with no Catcher fails the execution with its name and message; the state never exits', async () => {
    const r = await run(taskMachine({}), {}, failing('Lambda.ServiceException')).result;
    expect(r).toMatchObject({ status: 'FAILED', error: 'Lambda.ServiceException', cause: 'attempt 1' });
    expect(r.history.slice(-2).map((e) => e.type)).toEqual(['TaskFailed', 'ExecutionFailed']);
    expect(events(r, 'TaskStateExited')).toHaveLength(0);
  });

  test('lambdaServiceError reports Lambda.<code> with the SDK details, as Step Functions does', async () => {
    const r = await run(taskMachine({}), {}, () => {
      throw lambdaServiceError('ResourceNotFoundException', 'Function not found: work', 404);
    }).result;
    expect(r.error).toBe('Lambda.ResourceNotFoundException');
    expect(r.cause).toMatch(/^Function not found: work \(Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; /);
  });
});

describe('quotas and limits', () => {
  test('the 25,000th history event is the ExecutionFailed: States.Runtime', async () => {
    const definition = { StartAt: 'Spin', States: { Spin: { Type: 'Pass', Next: 'Spin' } } };
    const r = await run(definition).result;
    expect(r).toMatchObject({ status: 'FAILED', error: 'States.Runtime', cause: 'The execution reached the maximum number of history events (25000).' });
    expect(r.history).toHaveLength(HISTORY_LIMIT);
    expect(r.history[HISTORY_LIMIT - 1]).toMatchObject({ id: HISTORY_LIMIT, type: 'ExecutionFailed' });
    expect(r.history[HISTORY_LIMIT - 2].type).toBe('PassStateExited');
  });

  test('a task result over 256 KiB is States.DataLimitExceeded, which a States.ALL Catcher handles (as AWS records it)', async () => {
    const big = lambdaInvoker(() => 'x'.repeat(256 * 1024));
    const definition = taskMachine({ Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Handled' }] }, { Handled: { Type: 'Succeed' } });
    const r = await run(definition, {}, big).result;
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output).toEqual({
      Error: 'States.DataLimitExceeded',
      Cause: "The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes service limit.",
    });
  });

  test('a state output over 256 KiB fails the execution (multi-byte characters count as bytes)', async () => {
    const justUnder = { StartAt: 'Big', States: { Big: { Type: 'Pass', Result: 'é'.repeat(131_000), End: true } } };
    expect((await run(justUnder).result).status).toBe('SUCCEEDED');
    const over = { StartAt: 'Big', States: { Big: { Type: 'Pass', Result: 'é'.repeat(131_100), End: true } } };
    expect(await run(over).result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
  });

  test('maxTransitions guards a test against a runaway loop', async () => {
    const definition = { StartAt: 'Spin', States: { Spin: { Type: 'Pass', Next: 'Spin' } } };
    await expect(run(definition, {}, noTasks, { maxTransitions: 10 }).result).rejects.toThrow(InterpreterError);
  });

  test('what the interpreter does not model is refused, not guessed', async () => {
    await expect(run({ StartAt: 'P', States: { P: { Type: 'Parallel', Branches: [], End: true } } }).result).rejects.toThrow(/Parallel is not supported/);
    await expect(run({ QueryLanguage: 'JSONata', StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }).result).rejects.toThrow(/JSONata/);
    await expect(run({ StartAt: 'P', States: { P: { Type: 'Pass', InputPath: '$..deep', End: true } } }).result).rejects.toThrow(/JSONPath/);
  });
});

describe('Fail', () => {
  test('Error and Cause, literal or from ErrorPath and CausePath', async () => {
    const literal = { StartAt: 'F', States: { F: { Type: 'Fail', Error: 'ImportFailed', Cause: 'disk unreadable' } } };
    expect(await run(literal).result).toMatchObject({ status: 'FAILED', error: 'ImportFailed', cause: 'disk unreadable' });
    const paths = { StartAt: 'F', States: { F: { Type: 'Fail', ErrorPath: '$.e.code', CausePath: "States.Format('task {}', $.id)" } } };
    expect(await run(paths, { e: { code: 'X' }, id: 7 }).result).toMatchObject({ error: 'X', cause: 'task 7' });
  });
});

describe('definitionFromTemplate', () => {
  const machine = (definition: any) => ({ Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: definition } });
  const joined = {
    'Fn::Join': ['', [
      '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:', { Ref: 'AWS::Partition' },
      ':states:::lambda:invoke","Parameters":{"FunctionName":"', { 'Fn::GetAtt': ['OnEventFn', 'Arn'] },
      '","Seconds":', { Ref: 'Delay' }, '},"End":true}}}',
    ]],
  };

  test('turns each intrinsic into a readable placeholder, in strings and as whole values', () => {
    const definition = definitionFromTemplate({ Resources: { M: machine(joined), Other: { Type: 'AWS::IAM::Role' } } });
    expect(definition.States.A.Resource).toBe('arn:${Token[Ref:AWS::Partition]}:states:::lambda:invoke');
    expect(definition.States.A.Parameters).toEqual({ FunctionName: '${Token[Fn::GetAtt:OnEventFn.Arn]}', Seconds: '${Token[Ref:Delay]}' });
  });

  test('a resolver chooses the text; the machine is chosen by logical id or predicate', () => {
    const template = { Resources: { M1: machine(joined), M2: machine('{"StartAt":"B","States":{"B":{"Type":"Succeed"}}}') } };
    expect(() => definitionFromTemplate(template)).toThrow(/found 2: M1, M2/);
    expect(definitionFromTemplate(template, 'M2').StartAt).toBe('B');
    const resolved = definitionFromTemplate(template, (id) => id === 'M1', (fn) => (fn.Ref === 'AWS::Partition' ? 'aws' : fn.Ref === 'Delay' ? '5' : undefined));
    expect(resolved.States.A.Resource).toBe(LAMBDA_INVOKE);
    expect(resolved.States.A.Parameters.Seconds).toBe('5');
  });

  test('reads Definition objects and applies DefinitionSubstitutions', () => {
    const template = {
      Resources: {
        M: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            Definition: { StartAt: 'A', States: { A: { Type: 'Pass', Result: { arn: { 'Fn::GetAtt': ['Fn', 'Arn'] }, name: '${Name}' }, End: true } } },
            DefinitionSubstitutions: { Name: { Ref: 'FnName' } },
          },
        },
      },
    };
    expect(definitionFromTemplate(template).States.A.Result).toEqual({ arn: '${Token[Fn::GetAtt:Fn.Arn]}', name: '${Token[Ref:FnName]}' });
  });
});

describe('a poller built with aws-cdk-lib, as synthesized', () => {
  // The shape the library's long-import poller takes: Wait (SecondsPath) -> LambdaInvoke (Retry, Catch)
  // -> Choice (loop or finish), with a failure branch that invokes the Lambda again.
  function synthesize() {
    const stack = new Stack(new App(), 'Poller');
    const fn = new lambda.Function(stack, 'PollFn', {
      runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
    const wait = new sfn.Wait(stack, 'Wait', { time: sfn.WaitTime.secondsPath('$.status.waitSeconds') });
    const poll = new tasks.LambdaInvoke(stack, 'Poll', {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({ 'action': 'poll', 'importTaskId.$': '$.importTaskId', 'retryCount.$': '$$.State.RetryCount' }),
      resultSelector: { 'done.$': '$.Payload.done', 'waitSeconds.$': '$.Payload.waitSeconds' },
      resultPath: '$.status',
    });
    poll.addRetry({ errors: ['Lambda.TooManyRequestsException'], interval: Duration.seconds(3), backoffRate: 3, maxAttempts: 3, maxDelay: Duration.seconds(10) });
    const report = new tasks.LambdaInvoke(stack, 'ReportFailure', {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({ 'action': 'fail', 'importTaskId.$': '$.importTaskId', 'error.$': '$.error' }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    poll.addCatch(report, { resultPath: '$.error' });
    report.next(new sfn.Fail(stack, 'ImportFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }));
    const done = new sfn.Choice(stack, 'Done?')
      .when(sfn.Condition.booleanEquals('$.status.done', true), new sfn.Succeed(stack, 'Imported'))
      .otherwise(wait);
    new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(wait.next(poll).next(done)) });
    const functionArn = `\${Token[Fn::GetAtt:${stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)}.Arn]}`;
    return { definition: definitionFromTemplate(Template.fromStack(stack).toJSON()), functionArn };
  }

  const { definition, functionArn } = synthesize();
  const INPUT = { importTaskId: 'import-ami-0abc', status: { done: false, waitSeconds: 10 } };

  /**
   * The poll Lambda: the import completes `completeAfter` s after the start; each answer doubles the
   * wait, up to 300 s. `fail(n)` may throw for the n-th call (1-based) to model errors.
   */
  function importLambda(completeAfter: number, fail: (call: number, event: any) => void = () => undefined) {
    const calls: Array<{ event: any; at: number }> = [];
    let waitSeconds = 10;
    const invoke = lambdaInvoker((event, ctx: LambdaContext) => {
      calls.push({ event, at: seconds(ctx.clock.now()) });
      fail(calls.length, event);
      if (event.action !== 'poll') return { reported: true };
      waitSeconds = Math.min(waitSeconds * 2, 300);
      return { done: ctx.clock.now() >= T0 + completeAfter * 1000, waitSeconds };
    });
    return { calls, invoke };
  }

  test('the synthesized LambdaInvoke is read as Step Functions will see it', () => {
    const state = definition.States.Poll;
    expect(state.Resource).toBe('arn:${Token[Ref:AWS::Partition]}:states:::lambda:invoke');
    expect(state.Parameters.FunctionName).toBe(functionArn);
    // LambdaInvoke's own retrier for Lambda service errors comes first.
    expect(state.Retry[0]).toMatchObject({ ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']), IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 });
  });

  test('polls at the waits the Lambda asks for until it says done', async () => {
    const { calls, invoke } = importLambda(1000);
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output).toEqual({ importTaskId: 'import-ami-0abc', status: { done: true, waitSeconds: 300 } });
    // Waits of 10, 20, 40, 80, 160, then 300 (capped) s: the poll at 1210 s sees the import done at 1000 s.
    expect(r.invocations.map((i) => seconds(i.timestamp))).toEqual([10, 30, 70, 150, 310, 610, 910, 1210]);
    const waits = events(r, 'WaitStateEntered').map((e, n) => seconds(events(r, 'WaitStateExited')[n].timestamp) - seconds(e.timestamp));
    expect(waits).toEqual([10, 20, 40, 80, 160, 300, 300, 300]);
    expect(seconds(clock.now())).toBe(1210);
    const detectionDelay = seconds(r.invocations[r.invocations.length - 1].timestamp) - 1000;
    expect(detectionDelay).toBe(210);
    expect(r.invocations[0].parameters).toEqual({ FunctionName: functionArn, Payload: { action: 'poll', importTaskId: 'import-ami-0abc', retryCount: 0 } });
    expect(calls).toHaveLength(8);
    expect(r.transitions).toBe(8 * 3 + 1); // Wait, Poll, Done? per round, then Imported
  });

  test("Lambda service errors are retried with LambdaInvoke's defaults: 2 s, then 4 s", async () => {
    const { invoke } = importLambda(0, (call) => {
      if (call <= 2) throw lambdaServiceError('ServiceException', 'Service unavailable');
    });
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke });
    expect(r.status).toBe('SUCCEEDED');
    expect(events(r, 'TaskScheduled', 'Poll').map((e) => seconds(e.timestamp))).toEqual([10, 12, 16]);
    expect(seconds(clock.now())).toBe(16);
  });

  test('throttling is retried with capped backoff (3, 9, then 10 s), and the Lambda sees the retry count', async () => {
    const { calls, invoke } = importLambda(0, (call) => {
      if (call <= 3) throw lambdaServiceError('TooManyRequestsException', 'Rate exceeded', 429);
    });
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke });
    expect(r.status).toBe('SUCCEEDED');
    expect(calls.map((c) => [c.at, c.event.retryCount])).toEqual([[10, 0], [13, 1], [22, 2], [32, 3]]);
    expect(seconds(clock.now())).toBe(32);
  });

  test('retries exhausted: the failure branch invokes the Lambda with the error, then the execution fails with it', async () => {
    const { calls, invoke } = importLambda(0, (_call, event) => {
      if (event.action === 'poll') throw lambdaServiceError('TooManyRequestsException', 'Rate exceeded', 429);
    });
    const r = await runStateMachine(definition, INPUT, { clock: new SimulatedClock(T0), invoke });
    expect(calls.map((c) => c.at)).toEqual([10, 13, 22, 32, 32]);
    const reported = calls[4].event;
    expect(reported).toMatchObject({ action: 'fail', importTaskId: 'import-ami-0abc', error: { Error: 'Lambda.TooManyRequestsException' } });
    expect(r).toMatchObject({ status: 'FAILED', error: 'Lambda.TooManyRequestsException', cause: reported.error.Cause });
    expect(r.history.slice(-2).map((e) => [e.type, e.state])).toEqual([['FailStateEntered', 'ImportFailed'], ['ExecutionFailed', undefined]]);
  });

  test('a function error is not retried by the service-error retriers and goes straight to the failure branch', async () => {
    class ImportTaskDeleted extends Error {
      constructor() {
        super('ClientError: Unknown OS / Missing OS files');
        this.name = 'ImportTaskDeleted';
      }
    }
    const { calls, invoke } = importLambda(100_000, (call) => {
      if (call === 2) throw new ImportTaskDeleted();
    });
    const r = await runStateMachine(definition, INPUT, { clock: new SimulatedClock(T0), invoke });
    expect(calls.map((c) => [c.at, c.event.action])).toEqual([[10, 'poll'], [30, 'poll'], [30, 'fail']]);
    expect(events(r, 'TaskScheduled', 'Poll')).toHaveLength(2);
    expect(r).toMatchObject({ status: 'FAILED', error: 'ImportTaskDeleted' });
    expect(JSON.parse(r.cause!)).toMatchObject({ errorType: 'ImportTaskDeleted', errorMessage: 'ClientError: Unknown OS / Missing OS files' });
    expect(calls[2].event.error).toEqual({ Error: 'ImportTaskDeleted', Cause: r.cause });
  });

  test('stop() aborts between states: no poll after it', async () => {
    const { calls, invoke } = importLambda(100_000);
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke, stop: () => calls.length >= 3 });
    expect(r.status).toBe('ABORTED');
    expect(calls).toHaveLength(3);
    expect(r.history[r.history.length - 1]).toMatchObject({ type: 'ExecutionAborted', timestamp: T0 + 70_000 });
    expect(seconds(clock.now())).toBe(70);
  });
});

describe('a LambdaInvoke with payloadResponseOnly (the function ARN as Resource), as synthesized', () => {
  function synthesize() {
    const stack = new Stack(new App(), 'Direct');
    const fn = new lambda.Function(stack, 'PollFn', {
      runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
    const wait = new sfn.Wait(stack, 'Wait', { time: sfn.WaitTime.secondsPath('$.Next') });
    const poll = new tasks.LambdaInvoke(stack, 'Poll', { lambdaFunction: fn, payloadResponseOnly: true });
    poll.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2 });
    poll.addCatch(new sfn.Fail(stack, 'PollFailed'), { resultPath: '$.Error' });
    const done = new sfn.Choice(stack, 'Done?')
      .when(sfn.Condition.booleanEquals('$.Done', true), new sfn.Succeed(stack, 'Finished'))
      .otherwise(wait);
    new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(wait.next(poll).next(done)), timeout: Duration.hours(13) });
    return definitionFromTemplate(Template.fromStack(stack).toJSON());
  }
  const definition = synthesize();
  const INPUT = { Next: 10, Url: 'https://example.com/presigned' };

  test('the function gets the state input, its value is the result, and its errors retry as States.TaskFailed', async () => {
    let calls = 0;
    const invoke = lambdaInvoker((event) => {
      calls++;
      if (calls === 2 || calls === 3) throw new Error('signal failed');
      return { ...event, Next: 60, Done: calls >= 4 };
    });
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke });
    expect(definition.States.Poll.Resource).toMatch(/^\$\{Token\[Fn::GetAtt:PollFn\w+\.Arn\]\}$/);
    expect(r.status).toBe('SUCCEEDED');
    // Poll at 10 s, wait 60 s, two failures retried after 30 and 60 s.
    expect(r.invocations.map((i) => seconds(i.timestamp))).toEqual([10, 70, 100, 160]);
    expect(r.invocations[0].parameters).toEqual(INPUT);
    expect(r.output).toEqual({ ...INPUT, Next: 60, Done: true });
    expect(events(r, 'LambdaFunctionFailed').map((e) => e.error)).toEqual(['Error', 'Error']);
    expect(events(r, 'LambdaFunctionScheduled')).toHaveLength(4);
    expect(events(r, 'TaskScheduled')).toHaveLength(0);
  });

  test('retries exhausted: caught to the Fail state', async () => {
    const invoke = lambdaInvoker(() => {
      throw new Error('signal failed');
    });
    const r = await runStateMachine(definition, INPUT, { clock: new SimulatedClock(T0), invoke });
    expect(r.invocations.map((i) => seconds(i.timestamp))).toEqual([10, 40, 100, 220]);
    expect(r.status).toBe('FAILED');
    expect(events(r, 'TaskStateExited', 'Poll')[0].output.Error).toMatchObject({ Error: 'Error' });
    expect(r.history.slice(-2).map((e) => e.type)).toEqual(['FailStateEntered', 'ExecutionFailed']);
  });

  test("the machine's 13-hour timeout stops an execution that never finishes, at exactly 13 h", async () => {
    const invoke = lambdaInvoker((event) => ({ ...event, Next: 3600, Done: false }));
    const clock = new SimulatedClock(T0);
    const r = await runStateMachine(definition, INPUT, { clock, invoke });
    expect(r.status).toBe('TIMED_OUT');
    expect(seconds(clock.now())).toBe(13 * 3600);
    expect(r.invocations).toHaveLength(13); // at 10 s, then every hour
  });
});

test('TaskError names the error and cause a task reports', () => {
  const e = new TaskError('Lambda.ServiceException', 'Service unavailable');
  expect([e.name, e.message]).toEqual(['Lambda.ServiceException', 'Service unavailable']);
});
