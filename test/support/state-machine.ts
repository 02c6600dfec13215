/**
 * A small Amazon States Language interpreter with a simulated clock, so tests can drive
 * a state machine AS SYNTHESIZED (see definitionFromTemplate) through hours of waits,
 * retries and polls in milliseconds, and assert what happened when.
 *
 * Semantics follow the Amazon States Language specification (states-language.net/spec.html)
 * and the Step Functions developer guide; where the guide and AWS's recorded behaviour
 * differ, the comment says which one is followed and where it comes from. Sections cited:
 * "Input and Output Processing", "Errors" (Retrying after an error, Fallback states),
 * "Choice State", "Wait State", "Task State" and the guide's service quotas.
 *
 * Supported: Pass, Task, Choice, Wait, Succeed, Fail; InputPath, Parameters (incl. `.$` keys,
 * the context object `$$` and the intrinsics States.Format/StringToJson/JsonToString/MathAdd/Array),
 * ResultSelector, ResultPath, OutputPath; Retry, Catch, TimeoutSeconds(Path); the
 * execution's TimeoutSeconds; the 25,000-event history quota and the 256 KiB payload quota.
 * Not supported (an InterpreterError says so): Parallel, Map, JSONata, variables (Assign),
 * JSONPath beyond `.name`, `['name']` and `[index]`.
 */

/** Simulated time in epoch milliseconds. */
export interface Clock {
  now(): number;
  advance(ms: number): void;
}

export class SimulatedClock implements Clock {
  private time: number;

  constructor(start: number | string = '2024-01-01T00:00:00Z') {
    this.time = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`a simulated clock only moves forward, got ${ms} ms`);
    this.time += ms;
  }
}

/** What a Task's invoker may use: the clock (advance it to model how long the task runs). */
export interface TaskContext {
  readonly clock: Clock;
  readonly stateName: string;
  /** 0 for the first attempt, then 1, 2, ... for each retry of this state entry. */
  readonly attempt: number;
}

/**
 * Runs one Task. For `arn:aws:states:::lambda:invoke`, `parameters` is `{ FunctionName, Payload }` and the
 * return value is what Lambda's Invoke returns ({ Payload, StatusCode, FunctionError?, ... }); for any other
 * resource (a Lambda function ARN, a service integration) `parameters` is the state's effective input and
 * the return value is the task result. Throwing an error with a `name` fails the task with Error = name,
 * Cause = message (see TaskError). lambdaInvoker builds one from a plain handler.
 */
export type TaskInvoker = (resource: string, parameters: any, context: TaskContext) => unknown;

export interface HistoryEvent {
  readonly id: number;
  readonly type: string;
  readonly timestamp: number;
  readonly state?: string;
  readonly input?: any;
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  readonly resource?: string;
  readonly parameters?: any;
}

export interface Invocation {
  readonly state: string;
  readonly resource: string;
  readonly parameters: any;
  readonly timestamp: number;
  readonly attempt: number;
}

export interface ExecutionResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  readonly history: HistoryEvent[];
  /** States entered plus retries (the guide: "Retries are treated as state transitions"). */
  readonly transitions: number;
  readonly invocations: Invocation[];
  readonly startTime: number;
  readonly stopTime: number;
}

export interface RunOptions {
  readonly clock: Clock;
  readonly invoke: TaskInvoker;
  /** Throws an InterpreterError past this many transitions (a test guard, not an AWS limit). */
  readonly maxTransitions?: number;
  /** Checked before each state is entered; true models StopExecution (status ABORTED). */
  readonly stop?: (at: { readonly state: string; readonly time: number; readonly transitions: number }) => boolean;
  readonly executionName?: string;
}

/** A failed task as Step Functions reports it: `error` and `cause` become the error output's Error and Cause. */
export class TaskError extends Error {
  constructor(error: string, cause = '') {
    super(cause);
    this.name = error;
  }
}

/** The definition uses something this interpreter does not model; never an AWS outcome. */
export class InterpreterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpreterError';
  }
}

// Guide, service quotas: 25,000 history events; 256 KiB per input/output, as a UTF-8 string.
export const HISTORY_LIMIT = 25_000;
export const PAYLOAD_LIMIT_BYTES = 256 * 1024;
const DEFAULT_TASK_TIMEOUT_SECONDS = 99_999_999; // the guide's Task State page (the spec says 60; AWS uses this)
// The partition may still be a placeholder such as ${Token[Ref:AWS::Partition]} (see definitionFromTemplate).
const PARTITION = String.raw`(?:[^:$]+|\$\{Token\[[^\]]+\]\})`;
const LAMBDA_INVOKE = new RegExp(`^arn:${PARTITION}:states:::lambda:invoke$`);
const INTEGRATION = new RegExp(`^arn:${PARTITION}:states:::([^:]+):`);
// Task State: a Resource is an activity or service integration (arn:<partition>:states:...) or else a
// Lambda function ARN, which Step Functions invokes directly (CDK LambdaInvoke with payloadResponseOnly).
const STATES_RESOURCE = new RegExp(`^arn:${PARTITION}:states:`);
const isFunctionResource = (resource: string) => !STATES_RESOURCE.test(resource);

/** Ends the execution at once: uncatchable errors, Fail states, quotas, timeouts. */
class Terminal extends Error {
  constructor(readonly status: 'FAILED' | 'TIMED_OUT', readonly error: string, readonly cause: string) {
    super(`${error}: ${cause}`);
  }
}

const runtimeError = (cause: string) => new Terminal('FAILED', 'States.Runtime', cause);
const tooLarge = (name: string) => `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.`;
const clone = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));
const sizeOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function runStateMachine(definition: object | string, input: any, options: RunOptions): Promise<ExecutionResult> {
  const machine = typeof definition === 'string' ? JSON.parse(definition) : definition;
  if ((machine as any).QueryLanguage === 'JSONata') throw new InterpreterError('JSONata state machines are not supported');
  if (sizeOf(input) > PAYLOAD_LIMIT_BYTES) throw new InterpreterError('StartExecution rejects input over 256 KiB');
  return new Execution(machine, clone(input ?? {}), options).run();
}

class Execution {
  readonly history: HistoryEvent[] = [];
  readonly invocations: Invocation[] = [];
  transitions = 0;
  private readonly clock: Clock;
  private readonly startTime: number;
  private readonly deadline: number | undefined;
  private readonly name: string;

  constructor(private readonly machine: any, private readonly input: any, private readonly options: RunOptions) {
    this.clock = options.clock;
    this.startTime = this.clock.now();
    this.deadline = machine.TimeoutSeconds === undefined ? undefined : this.startTime + machine.TimeoutSeconds * 1000;
    this.name = options.executionName ?? 'test-execution';
  }

  async run(): Promise<ExecutionResult> {
    this.emit({ type: 'ExecutionStarted', input: this.input });
    let name: string = this.machine.StartAt;
    let data = this.input;
    try {
      for (;;) {
        const state = this.machine.States?.[name];
        if (!state) throw new InterpreterError(`no state named '${name}'`);
        if (this.options.stop?.({ state: name, time: this.clock.now(), transitions: this.transitions })) {
          this.emit({ type: 'ExecutionAborted' });
          return this.result('ABORTED');
        }
        this.countTransition();
        const step = await this.runState(name, state, data);
        if (step.next === undefined) {
          this.emit({ type: 'ExecutionSucceeded', output: step.output });
          return this.result('SUCCEEDED', { output: step.output });
        }
        [name, data] = [step.next, step.output];
      }
    } catch (e) {
      if (!(e instanceof Terminal)) throw e;
      this.emit({ type: e.status === 'TIMED_OUT' ? 'ExecutionTimedOut' : 'ExecutionFailed', error: e.error, cause: e.cause });
      return this.result(e.status, { error: e.error, cause: e.cause });
    }
  }

  private result(status: ExecutionResult['status'], rest: Partial<ExecutionResult> = {}): ExecutionResult {
    return {
      status,
      ...rest,
      history: this.history,
      transitions: this.transitions,
      invocations: this.invocations,
      startTime: this.startTime,
      stopTime: this.clock.now(),
    };
  }

  private async runState(name: string, state: any, raw: any): Promise<{ next?: string; output: any }> {
    const ctx = this.context(name, this.clock.now(), 0);
    const leave = (type: string, output: any) => {
      this.checkSize(name, output);
      this.emit({ type, state: name, output });
      return { next: state.End ? undefined : state.Next, output };
    };
    for (const field of ['Assign', 'Output', 'Arguments']) {
      if (field in state) throw new InterpreterError(`state '${name}': ${field} is not supported`);
    }
    switch (state.Type) {
      case 'Pass': {
        this.emit({ type: 'PassStateEntered', state: name, input: raw });
        const effective = this.parameters(state, applyPath(raw, state.InputPath, ctx), ctx);
        const result = 'Result' in state ? clone(state.Result) : effective;
        return leave('PassStateExited', applyPath(applyResultPath(raw, result, state.ResultPath), state.OutputPath, ctx));
      }
      case 'Wait': {
        this.emit({ type: 'WaitStateEntered', state: name, input: raw });
        const effective = applyPath(raw, state.InputPath, ctx);
        this.sleep(this.waitMs(state, effective, ctx));
        return leave('WaitStateExited', applyPath(effective, state.OutputPath, ctx));
      }
      case 'Choice': {
        this.emit({ type: 'ChoiceStateEntered', state: name, input: raw });
        const effective = applyPath(raw, state.InputPath, ctx);
        const rule = (state.Choices ?? []).find((r: any) => evaluateRule(r, effective, ctx));
        const next = rule?.Next ?? state.Default;
        // Choice: no rule matching and no Default raises States.NoChoiceMatched; a Choice state has
        // no Catch, so the execution fails. The cause text is ours.
        if (next === undefined) throw new Terminal('FAILED', 'States.NoChoiceMatched', `no choice rule of '${name}' matched and it has no Default`);
        const output = applyPath(effective, state.OutputPath, ctx);
        this.checkSize(name, output);
        this.emit({ type: 'ChoiceStateExited', state: name, output });
        return { next, output };
      }
      case 'Succeed': {
        this.emit({ type: 'SucceedStateEntered', state: name, input: raw });
        const output = applyPath(applyPath(raw, state.InputPath, ctx), state.OutputPath, ctx);
        this.checkSize(name, output);
        this.emit({ type: 'SucceedStateExited', state: name, output });
        return { output };
      }
      case 'Fail': {
        this.emit({ type: 'FailStateEntered', state: name, input: raw });
        const error = state.ErrorPath !== undefined ? evaluate(state.ErrorPath, raw, ctx, 'ErrorPath') : state.Error;
        const cause = state.CausePath !== undefined ? evaluate(state.CausePath, raw, ctx, 'CausePath') : state.Cause;
        throw new Terminal('FAILED', error, cause);
      }
      case 'Task':
        return this.runTask(name, state, raw);
      default:
        throw new InterpreterError(`state '${name}': type ${state.Type} is not supported`);
    }
  }

  private async runTask(name: string, state: any, raw: any): Promise<{ next?: string; output: any }> {
    this.emit({ type: 'TaskStateEntered', state: name, input: raw });
    const entered = this.clock.now();
    const retriers: any[] = state.Retry ?? [];
    // Errors, "Complex retry scenarios": a retrier's counts hold across all its visits within one entry
    // of the state (a later entry starts from zero). The spec's example (ErrorA, ErrorB, ErrorC, ErrorB,
    // ErrorB wait 1, 2, 5, 4 s, then the fifth is not retried) needs MaxAttempts counted per error name
    // and the backoff per retrier; how AWS counts mixed errors is unverified (with one error name both
    // readings agree).
    const used = retriers.map(() => ({ total: 0, byError: new Map<string, number>() }));
    for (let attempt = 0; ; attempt++) {
      const ctx = this.context(name, entered, attempt);
      const effective = this.parameters(state, applyPath(raw, state.InputPath, ctx), ctx);
      this.checkSize(name, effective); // guide, States.DataLimitExceeded: the input after Parameters counts too
      const failure = await this.invoke(name, state, raw, effective, ctx);
      if (!('error' in failure)) {
        const selected = state.ResultSelector === undefined ? failure.result : template(state.ResultSelector, failure.result, ctx);
        const output = applyPath(applyResultPath(raw, selected, state.ResultPath), state.OutputPath, ctx);
        this.checkSize(name, output);
        this.emit({ type: 'TaskStateExited', state: name, output });
        return { next: state.End ? undefined : state.Next, output };
      }
      const r = retriers.findIndex((retrier) => errorMatches(retrier.ErrorEquals, failure.error));
      // Errors: the FIRST retrier whose ErrorEquals names the error applies; if it is exhausted,
      // no later retrier is tried and the Catchers are scanned.
      const count = r >= 0 ? used[r].byError.get(failure.error) ?? 0 : 0;
      if (r >= 0 && count < (retriers[r].MaxAttempts ?? 3)) {
        const { IntervalSeconds = 1, BackoffRate = 2.0, MaxDelaySeconds } = retriers[r];
        // JitterStrategy FULL would randomise this delay; ignored so tests stay deterministic.
        const delay = Math.min(IntervalSeconds * BackoffRate ** used[r].total, MaxDelaySeconds ?? Infinity);
        used[r].total++;
        used[r].byError.set(failure.error, count + 1);
        this.countTransition();
        this.sleep(delay * 1000);
        continue;
      }
      const catcher = (state.Catch ?? []).find((c: any) => errorMatches(c.ErrorEquals, failure.error));
      if (!catcher) throw new Terminal('FAILED', failure.error, failure.cause);
      // Errors, "Fallback states": the error output goes through the Catcher's ResultPath (default $);
      // OutputPath is not applied (as AWS records it; see LocalStack's execute_state.py).
      const output = applyResultPath(raw, { Error: failure.error, Cause: failure.cause }, catcher.ResultPath === undefined ? '$' : catcher.ResultPath);
      this.checkSize(name, output);
      this.emit({ type: 'TaskStateExited', state: name, output });
      return { next: catcher.Next, output };
    }
  }

  /** Invokes the task once; a task failure is returned (it may be retried or caught), not thrown. */
  private async invoke(name: string, state: any, raw: any, parameters: any, ctx: any): Promise<{ result: any } | { error: string; cause: string }> {
    const resource: string = state.Resource;
    // A Lambda function resource logs LambdaFunction* events; integrations log Task* events (HistoryEvent).
    const kind = isFunctionResource(resource) ? 'LambdaFunction' : 'Task';
    this.emit({ type: `${kind}Scheduled`, state: name, resource, parameters });
    this.emit({ type: `${kind}Started`, state: name, resource });
    // TimeoutSecondsPath is read from the state's input (which input AWS uses is unverified; ours have none).
    const timeoutSeconds = state.TimeoutSecondsPath !== undefined
      ? evaluate(state.TimeoutSecondsPath, raw, ctx, 'TimeoutSecondsPath')
      : state.TimeoutSeconds ?? DEFAULT_TASK_TIMEOUT_SECONDS;
    const started = this.clock.now();
    let taskTime = 0; // the invoker's time, applied below so a timeout stops the clock at the deadline
    const taskClock: Clock = { now: () => this.clock.now() + taskTime, advance: (ms) => { if (ms > 0) taskTime += ms; } };
    this.invocations.push({ state: name, resource, parameters: clone(parameters), timestamp: started, attempt: ctx.State.RetryCount });
    let failure: { error: string; cause: string } | undefined;
    let result: any;
    try {
      result = clone(await this.options.invoke(resource, clone(parameters), { clock: taskClock, stateName: name, attempt: ctx.State.RetryCount }));
    } catch (e: any) {
      if (e instanceof InterpreterError) throw e;
      failure = { error: typeof e?.name === 'string' && e.name ? e.name : 'Error', cause: typeof e?.message === 'string' ? e.message : String(e) };
    }
    const elapsed = this.clock.now() - started + taskTime;
    if (elapsed > timeoutSeconds * 1000) {
      // Task State: running longer than TimeoutSeconds fails the state with States.Timeout.
      this.sleep(Math.max(0, started + timeoutSeconds * 1000 - this.clock.now()));
      this.emit({ type: `${kind}TimedOut`, state: name, resource, error: 'States.Timeout', cause: '' });
      return { error: 'States.Timeout', cause: '' };
    }
    this.sleep(taskTime);
    if (!failure && LAMBDA_INVOKE.test(resource) && result?.FunctionError) {
      // The function threw: Error is its errorType, Cause the error payload as Lambda returned it
      // (AWS-recorded histories in LocalStack's test_task_service_lambda.snapshot.json).
      failure = { error: result.Payload?.errorType ?? 'Lambda.Unknown', cause: JSON.stringify(result.Payload) };
    }
    if (!failure && sizeOf(result) > PAYLOAD_LIMIT_BYTES) {
      // The guide calls States.DataLimitExceeded terminal, but AWS's recorded histories show an oversized
      // task result as a TaskFailed that Catch (even States.ALL) handles (LocalStack test_states_errors).
      // The name in the cause is the service for optimized integrations (recorded: 'lambda'), else the ARN.
      failure = { error: 'States.DataLimitExceeded', cause: tooLarge(INTEGRATION.exec(resource)?.[1] ?? resource) };
    }
    if (failure) {
      this.emit({ type: `${kind}Failed`, state: name, resource, ...failure });
      return failure;
    }
    this.emit({ type: `${kind}Succeeded`, state: name, resource, output: result });
    return { result };
  }

  private waitMs(state: any, input: any, ctx: any): number {
    const seconds = state.SecondsPath !== undefined ? evaluate(state.SecondsPath, input, ctx, 'SecondsPath') : state.Seconds;
    if (seconds !== undefined) {
      if (!Number.isInteger(seconds) || seconds < 0) throw runtimeError(`Wait: seconds must be a non-negative integer, got ${JSON.stringify(seconds)}`);
      return seconds * 1000;
    }
    const stamp = state.TimestampPath !== undefined ? evaluate(state.TimestampPath, input, ctx, 'TimestampPath') : state.Timestamp;
    const until = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
    if (Number.isNaN(until)) throw runtimeError(`Wait: invalid timestamp ${JSON.stringify(stamp)}`);
    return Math.max(0, until - this.clock.now()); // a time already passed: no wait
  }

  /** Advances the clock, stopping at the execution's own TimeoutSeconds if it comes first. */
  private sleep(ms: number) {
    if (this.deadline !== undefined && this.clock.now() + ms > this.deadline) {
      this.clock.advance(Math.max(0, this.deadline - this.clock.now()));
      throw new Terminal('TIMED_OUT', 'States.Timeout', `the execution ran longer than its TimeoutSeconds (${this.machine.TimeoutSeconds})`);
    }
    this.clock.advance(ms);
  }

  private parameters(state: any, input: any, ctx: any) {
    return state.Parameters === undefined ? input : template(state.Parameters, input, ctx);
  }

  private checkSize(name: string, value: unknown) {
    // Recorded by AWS for a Pass state's oversized Result: ExecutionFailed, States.DataLimitExceeded.
    if (sizeOf(value) > PAYLOAD_LIMIT_BYTES) throw new Terminal('FAILED', 'States.DataLimitExceeded', tooLarge(name));
  }

  private countTransition() {
    this.transitions++;
    if (this.options.maxTransitions !== undefined && this.transitions > this.options.maxTransitions) {
      throw new InterpreterError(`more than ${this.options.maxTransitions} transitions`);
    }
  }

  private emit(event: Omit<HistoryEvent, 'id' | 'timestamp'>) {
    // At the quota, event 25,000 itself is the ExecutionFailed: States.Runtime with this cause
    // (loads/ardere#86; floci-io/floci#2734 shows the recorded history).
    if (this.history.length >= HISTORY_LIMIT - 1 && !event.type.startsWith('Execution')) {
      throw runtimeError(`The execution reached the maximum number of history events (${HISTORY_LIMIT}).`);
    }
    this.history.push({ id: this.history.length + 1, timestamp: this.clock.now(), ...event });
  }

  /** The context object, `$$` (guide: "Context object"). */
  private context(state: string, enteredTime: number, retryCount: number) {
    const machineName = 'StateMachine';
    return {
      Execution: {
        Id: `arn:aws:states:us-east-1:123456789012:execution:${machineName}:${this.name}`,
        Input: this.input,
        Name: this.name,
        StartTime: new Date(this.startTime).toISOString(),
        RoleArn: 'arn:aws:iam::123456789012:role/StateMachineRole',
      },
      State: { EnteredTime: new Date(enteredTime).toISOString(), Name: state, RetryCount: retryCount },
      StateMachine: { Id: `arn:aws:states:us-east-1:123456789012:stateMachine:${machineName}`, Name: machineName },
    };
  }
}

/**
 * Errors: a name matches itself; States.ALL matches any error (the terminal ones never reach a Catcher
 * here); States.TaskFailed matches any error a task reports except the States.* ones (States.Timeout
 * included), as LocalStack's error_equals_decl.py reproduces AWS.
 */
function errorMatches(errorEquals: string[], error: string): boolean {
  return errorEquals.some((e) => e === error || e === 'States.ALL' || (e === 'States.TaskFailed' && !error.startsWith('States.')));
}

// ---- Paths (Input and Output Processing: "Paths" and "Reference Paths") ----

type Segment = string | number;

function parsePath(path: string): { context: boolean; segments: Segment[] } {
  if (typeof path !== 'string' || !path.startsWith('$')) throw new InterpreterError(`not a path: ${JSON.stringify(path)}`);
  const context = path.startsWith('$$');
  const segments: Segment[] = [];
  const unsupported = () => new InterpreterError(`JSONPath ${path} is beyond what this interpreter supports`);
  let i = context ? 2 : 1;
  while (i < path.length) {
    if (path[i] === '.' && path[i + 1] !== '.') {
      const m = /^[^.[]+/.exec(path.slice(i + 1));
      if (!m || m[0] === '*') throw unsupported();
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (path[i] === '[') {
      const m = /^\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\d+))\]/.exec(path.slice(i));
      if (!m) throw unsupported();
      segments.push(m[3] !== undefined ? Number(m[3]) : (m[1] ?? m[2]).replace(/\\(.)/g, '$1'));
      i += m[0].length;
    } else {
      throw unsupported();
    }
  }
  return { context, segments };
}

function lookup(input: any, path: string, ctx: any): { found: boolean; value?: any } {
  const { context, segments } = parsePath(path);
  let value = context ? ctx : input;
  for (const s of segments) {
    const ok = typeof s === 'number' ? Array.isArray(value) && s < value.length : isObject(value) && Object.prototype.hasOwnProperty.call(value, s);
    if (!ok) return { found: false };
    value = value[s as any];
  }
  return { found: true, value };
}

/** A path, an intrinsic function, or `$$` context path, as `.$` keys and *Path fields take them. */
function evaluate(expr: string, input: any, ctx: any, field: string): any {
  if (typeof expr === 'string' && expr.startsWith('States.')) return intrinsic(expr, input, ctx);
  const { found, value } = lookup(input, expr, ctx);
  // States.Runtime: a path that selects nothing fails the execution; no Catcher sees it.
  if (!found) throw runtimeError(`The JSONPath '${expr}' specified for the field '${field}' could not be found in the input '${JSON.stringify(input)}'`);
  return clone(value);
}

/** InputPath / OutputPath: absent means `$`; null means `{}` (Input and Output Processing). */
function applyPath(input: any, path: string | null | undefined, ctx: any): any {
  if (path === undefined || path === '$') return input;
  if (path === null) return {};
  return evaluate(path, input, ctx, 'InputPath/OutputPath');
}

/**
 * ResultPath, a reference path into the state's RAW input: `$` (default) replaces it, null keeps it,
 * `$.a.b` sets a.b, creating missing objects; a path through a non-object is States.Runtime.
 */
function applyResultPath(raw: any, result: any, path: string | null | undefined): any {
  if (path === undefined || path === '$') return result;
  if (path === null) return raw;
  const { context, segments } = parsePath(path);
  if (context || segments.some((s) => typeof s === 'number')) throw new InterpreterError(`ResultPath ${path} is not supported`);
  const fail = () => runtimeError(`Unable to apply ResultPath '${path}' to the input '${JSON.stringify(raw)}'`);
  if (!isObject(raw)) throw fail();
  const output = clone(raw);
  let node = output;
  for (const s of segments.slice(0, -1) as string[]) {
    if (node[s] === undefined) node[s] = {};
    if (!isObject(node[s])) throw fail();
    node = node[s];
  }
  node[segments[segments.length - 1] as string] = result;
  return output;
}

/** Parameters / ResultSelector payload templates: keys ending in `.$` take a path or intrinsic. */
function template(value: any, input: any, ctx: any): any {
  if (Array.isArray(value)) return value.map((v) => template(v, input, ctx));
  if (!isObject(value)) return value;
  const out: Record<string, any> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key.endsWith('.$')) out[key.slice(0, -2)] = evaluate(v, input, ctx, key);
    else out[key] = template(v, input, ctx);
  }
  return out;
}

// ---- Intrinsic functions (guide: "Intrinsic functions") ----

type Arg = { literal: string } | { value: any };

function intrinsic(expr: string, input: any, ctx: any): any {
  let i = 0;
  const fail = (why: string): never => { throw runtimeError(`intrinsic ${expr}: ${why}`); };
  const space = () => { while (expr[i] === ' ') i++; };
  const call = (): any => {
    const name = /^States\.[A-Za-z]+/.exec(expr.slice(i))?.[0] ?? fail('expected States.<Function>(');
    i += name.length;
    if (expr[i++] !== '(') fail('expected (');
    const args: Arg[] = [];
    space();
    while (expr[i] !== ')') {
      args.push(arg());
      space();
      if (expr[i] === ',') {
        i++;
        space();
      } else if (expr[i] !== ')') {
        fail(`unexpected ${expr[i] ?? 'end'}`);
      }
    }
    i++;
    return apply(name, args);
  };
  const arg = (): Arg => {
    const rest = expr.slice(i);
    if (rest.startsWith("'")) {
      const m = /^'((?:[^'\\]|\\.)*)'/.exec(rest) ?? fail('unterminated string');
      i += m[0].length;
      return { literal: m[1] };
    }
    if (rest.startsWith('States.')) return { value: call() };
    const m = /^(-?\d+(?:\.\d+)?|null|true|false)(?=\s*[,)])/.exec(rest);
    if (m) { i += m[0].length; return { value: JSON.parse(m[1]) }; }
    if (rest.startsWith('$')) {
      let depth = 0;
      let end = 0;
      while (end < rest.length && (depth > 0 || (rest[end] !== ',' && rest[end] !== ')'))) {
        depth += rest[end] === '[' ? 1 : rest[end] === ']' ? -1 : 0;
        end++;
      }
      i += end;
      return { value: evaluate(rest.slice(0, end).trim(), input, ctx, expr) };
    }
    return fail(`unexpected argument at ${rest}`);
  };
  const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
  const plain = (a: Arg) => ('literal' in a ? unescape(a.literal) : a.value);
  const apply = (name: string, args: Arg[]): any => {
    switch (name) {
      case 'States.Format': {
        const [format, ...values] = args;
        if (!format || !('literal' in format)) return fail('the first argument must be a string literal');
        const pieces = format.literal.split(/(?<!\\)\{\}/);
        if (pieces.length - 1 !== values.length) fail(`${pieces.length - 1} placeholders, ${values.length} values`);
        return pieces.map((p, n) => unescape(p) + (n < values.length ? render(plain(values[n])) : '')).join('');
      }
      case 'States.StringToJson': {
        const s = plain(args[0]);
        try { return JSON.parse(s); } catch { return fail(`not JSON: ${s}`); }
      }
      case 'States.JsonToString': return JSON.stringify(plain(args[0]));
      case 'States.MathAdd': {
        const [a, b] = args.map(plain);
        if (typeof a !== 'number' || typeof b !== 'number') fail('arguments must be numbers');
        return a + b;
      }
      case 'States.Array': return args.map(plain);
      default: throw new InterpreterError(`intrinsic ${name} is not supported`);
    }
  };
  const render = (v: any) => (typeof v === 'string' ? v : JSON.stringify(v));
  const value = call();
  if (i !== expr.length) fail('trailing characters');
  return value;
}

// ---- Choice rules (Choice State) ----

const COMPARISONS: Record<string, (a: any, b: any) => boolean> = {
  Equals: (a, b) => a === b,
  LessThan: (a, b) => a < b,
  GreaterThan: (a, b) => a > b,
  LessThanEquals: (a, b) => a <= b,
  GreaterThanEquals: (a, b) => a >= b,
};
const TYPE_CHECKS: Record<string, (v: any) => any> = {
  String: (v) => (typeof v === 'string' ? v : undefined),
  Numeric: (v) => (typeof v === 'number' ? v : undefined),
  Boolean: (v) => (typeof v === 'boolean' ? v : undefined),
  Timestamp: (v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : undefined),
};

function evaluateRule(rule: any, input: any, ctx: any): boolean {
  if (rule.And) return rule.And.every((r: any) => evaluateRule(r, input, ctx));
  if (rule.Or) return rule.Or.some((r: any) => evaluateRule(r, input, ctx));
  if (rule.Not) return !evaluateRule(rule.Not, input, ctx);
  const { found, value } = lookup(input, rule.Variable, ctx);
  if ('IsPresent' in rule) return found === rule.IsPresent;
  // Choice State: a Variable that selects nothing fails the execution (States.Runtime).
  if (!found) throw runtimeError(`Invalid path '${rule.Variable}': The choice state's condition path references an invalid value.`);
  const typeTest = Object.keys(rule).find((k) => /^Is(Null|String|Numeric|Boolean|Timestamp)$/.test(k));
  if (typeTest) {
    const is = typeTest === 'IsNull' ? value === null : TYPE_CHECKS[typeTest.slice(2)](value) !== undefined;
    return is === rule[typeTest];
  }
  if ('StringMatches' in rule) {
    // Only `*` is special; `\*` and `\\` are escapes.
    const pattern = (rule.StringMatches as string).replace(/\\(.)|(\*)|([^\\*]+)/g, (_m, esc, star, text) =>
      star ? '.*' : (esc ?? text).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return typeof value === 'string' && new RegExp(`^${pattern}$`, 's').test(value);
  }
  for (const key of Object.keys(rule)) {
    const m = /^(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$/.exec(key);
    if (!m) continue;
    const [, type, op, isPath] = m;
    let other = rule[key];
    if (isPath) {
      const ref = lookup(input, other, ctx);
      if (!ref.found) throw runtimeError(`Invalid path '${other}': The choice state's condition path references an invalid value.`);
      other = ref.value;
    }
    // "Step Functions doesn't attempt to match a numeric field to a string value": a type mismatch is false.
    const a = TYPE_CHECKS[type](value);
    const b = TYPE_CHECKS[type](other);
    return a !== undefined && b !== undefined && COMPARISONS[op](a, b);
  }
  throw new InterpreterError(`unsupported choice rule ${JSON.stringify(rule)}`);
}

// ---- Lambda ----

export interface LambdaContext {
  readonly functionName: string;
  readonly clock: Clock;
  readonly stateName: string;
  readonly attempt: number;
}

/**
 * A TaskInvoker that runs `handler` as the Lambda function, for both ways a state machine calls one.
 * `arn:aws:states:::lambda:invoke`: the handler gets Parameters.Payload and its return value comes back
 * inside Invoke's response as Step Functions shows it ({ ExecutedVersion, Payload, SdkHttpMetadata,
 * SdkResponseMetadata, StatusCode }, less the HTTP headers AWS adds); an error it throws becomes a
 * function error (FunctionError 'Unhandled', Payload { errorType, errorMessage, trace }, as the Node.js
 * runtime reports it). A function ARN as Resource (payloadResponseOnly): the handler gets the state's
 * effective input and its return value is the result; an error fails the task with Error = errorType,
 * Cause = that payload as JSON. Both round-trip values through JSON. Throw a TaskError (see
 * lambdaServiceError) to model a failure of the Invoke call itself.
 */
export function lambdaInvoker(handler: (event: any, context: LambdaContext) => unknown): TaskInvoker {
  let requests = 0;
  return async (resource, parameters, context) => {
    const direct = isFunctionResource(resource);
    if (!direct && !LAMBDA_INVOKE.test(resource)) throw new InterpreterError(`lambdaInvoker runs Lambda functions, not ${resource}`);
    const requestId = `00000000-0000-4000-8000-${String(++requests).padStart(12, '0')}`;
    const base = { ExecutedVersion: '$LATEST', SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: { RequestId: requestId }, StatusCode: 200 };
    const event = clone((direct ? parameters : parameters.Payload) ?? {});
    try {
      const value = clone((await handler(event, { functionName: direct ? resource : parameters.FunctionName, ...context })) ?? null);
      return direct ? value : { ...base, Payload: value };
    } catch (e: any) {
      if (e instanceof TaskError || e instanceof InterpreterError) throw e;
      const Payload = { errorType: e?.name ?? 'Error', errorMessage: e?.message ?? String(e), trace: String(e?.stack ?? '').split('\n') };
      if (direct) throw new TaskError(Payload.errorType, JSON.stringify(Payload));
      return { ...base, FunctionError: 'Unhandled', Payload };
    }
  };
}

/**
 * A failed Invoke call as Step Functions reports it: Error `Lambda.<code>`, Cause the message with
 * the SDK's details (format from AWS-recorded histories, e.g. Lambda.ResourceNotFoundException).
 */
export function lambdaServiceError(code: string, message = code, statusCode = 500): TaskError {
  return new TaskError(`Lambda.${code}`,
    `${message} (Service: AWSLambda; Status Code: ${statusCode}; Error Code: ${code}; Request ID: 00000000-0000-4000-8000-000000000000; Proxy: null)`);
}

// ---- Templates ----

/** Turns a CloudFormation intrinsic into the text that stands for it in the definition. */
export type TokenResolver = (cfnIntrinsic: Record<string, any>) => string | undefined;

/** `${Token[Ref:X]}`, `${Token[Fn::GetAtt:X.Attr]}`, or `${Token[Fn::Other:<args as JSON>]}`. */
export function tokenPlaceholder(cfnIntrinsic: Record<string, any>): string {
  const [fn, args] = Object.entries(cfnIntrinsic)[0];
  if (fn === 'Ref') return `\${Token[Ref:${args}]}`;
  if (fn === 'Fn::GetAtt') return `\${Token[Fn::GetAtt:${Array.isArray(args) ? args.join('.') : args}]}`;
  return `\${Token[${fn}:${JSON.stringify(args)}]}`;
}

/**
 * The definition of an AWS::StepFunctions::StateMachine in a synthesized template
 * (Template.fromStack(stack).toJSON()). DefinitionString may be a string or an Fn::Join of
 * strings and intrinsics; each intrinsic becomes `resolve(intrinsic)` or its tokenPlaceholder.
 * `select` picks the machine by logical id or predicate when the template has several.
 */
export function definitionFromTemplate(
  cfnTemplate: any,
  select?: string | ((logicalId: string, resource: any) => boolean),
  resolve?: TokenResolver,
): any {
  const machines = Object.entries<any>(cfnTemplate?.Resources ?? {}).filter(([id, r]) =>
    r.Type === 'AWS::StepFunctions::StateMachine' && (select === undefined || (typeof select === 'string' ? id === select : select(id, r))));
  if (machines.length !== 1) {
    throw new Error(`expected one AWS::StepFunctions::StateMachine, found ${machines.length}: ${machines.map(([id]) => id).join(', ')}`);
  }
  const props = machines[0][1].Properties ?? {};
  const token = (fn: any) => resolve?.(fn) ?? tokenPlaceholder(fn);
  const plain = (v: any): string => {
    if (typeof v === 'string') return v;
    if (isObject(v) && Array.isArray(v['Fn::Join'])) return v['Fn::Join'][1].map(plain).join(v['Fn::Join'][0]);
    return token(v);
  };
  let text: string;
  if (props.DefinitionString !== undefined) {
    const ds = props.DefinitionString;
    const join = isObject(ds) && Array.isArray(ds['Fn::Join']) && ds['Fn::Join'][0] === '' ? ds['Fn::Join'][1] : undefined;
    const parts: any[] | undefined = typeof ds === 'string' ? [ds] : join;
    if (!parts) throw new Error(`unsupported DefinitionString: ${JSON.stringify(ds).slice(0, 200)}`);
    // The strings are JSON text; an intrinsic stands inside a JSON string (escape it) or for a whole value.
    text = parts.reduce((acc: string, part) => acc + (typeof part === 'string' ? part
      : insideJsonString(acc) ? JSON.stringify(plain(part)).slice(1, -1) : JSON.stringify(plain(part))), '');
  } else if (props.Definition !== undefined) {
    const deep = (v: any): any => (Array.isArray(v) ? v.map(deep)
      : isObject(v) ? (Object.keys(v).length === 1 && /^(Ref|Fn::)/.test(Object.keys(v)[0]) ? plain(v) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])))
        : v);
    text = JSON.stringify(deep(props.Definition));
  } else {
    throw new Error('the state machine has neither DefinitionString nor Definition (DefinitionS3Location is not supported)');
  }
  for (const [key, value] of Object.entries<any>(props.DefinitionSubstitutions ?? {})) {
    text = text.split(`\${${key}}`).join(JSON.stringify(plain(value)).slice(1, -1));
  }
  return JSON.parse(text);
}

function insideJsonString(text: string): boolean {
  let inside = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && inside) i++;
    else if (text[i] === '"') inside = !inside;
  }
  return inside;
}
