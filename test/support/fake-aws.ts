/**
 * A local stand-in for EC2 (VM Import), EC2 Image Builder, CloudFormation (stack
 * reads and wait condition signals) and Step Functions (executions are recorded,
 * not run) that speaks their real wire protocols, so the SHIPPED handler bundles
 * can run against it unchanged: the query protocols of EC2 and CloudFormation
 * (form-encoded POST, XML answers), Image Builder's rest-json and Step Functions'
 * awsJson1_0. Each request is checked (SigV4 signature, protocol, and the input
 * against the official API model); each problem is recorded in `problems` and
 * answered with a 400, so a test fails loudly instead of passing on a request
 * AWS would reject.
 *
 * The fake is as unkind as AWS on purpose: cancellation and failure take several
 * polls to settle, Image Builder refuses to delete what is not terminal, listings
 * come in small pages, quotas and throttling can be switched on. Each behaviour
 * says where it comes from (an API reference page, AWS's own resource provider, a
 * public issue) or that it is an assumption; the knobs on FakeAws document their
 * AWS-like defaults. The project's AWS facts are in aws-facts.md (shared notes).
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'crypto';
import * as http from 'http';
import { AddressInfo } from 'net';
import {
  loadServiceModel, ModelMemberRef, modeledErrorStatus, serviceForSigningName, ServiceModel, ServiceName, SIGNING_NAMES,
  validateRequest, validateShape,
} from './api-model';

/** One request the fake received, decoded into the operation's input (SDK member names). */
export interface RecordedCall {
  readonly service: ServiceName;
  readonly operation: string;
  readonly input: any;
  /**
   * Tags of the existing resource the call names, as they were when the call
   * arrived (IAM evaluates aws:ResourceTag then). Absent when it names none.
   */
  readonly resourceTags?: Record<string, string>;
  /**
   * EC2 calls that name several resources (CreateTags, DeleteTags: Resources; RegisterImage:
   * its snapshots): each one's tags as they were when the call arrived. Absent otherwise.
   */
  readonly resourceTagsById?: Record<string, Record<string, string>>;
  /**
   * The code of the injected fault (failNext, throttle) the fake answered with instead
   * of running the call; an IAM proof tells an injected AccessDeniedException from the rest.
   */
  readonly fault?: string;
}

/** An error answer the fake gives instead of running the operation. */
export interface Fault {
  readonly service: ServiceName;
  /** Only calls of these operations; all of the service's when absent. */
  readonly operations?: string[];
  readonly code: string;
  readonly message: string;
  /** HTTP status; default: the model's status for a modeled error, else 400. */
  readonly status?: number;
  /** How many matching calls fail; default 1. */
  readonly count?: number;
}

/** How an import task started from now on will go. */
export interface ImportPlan {
  /** DescribeImportImageTasks calls (that show the task) until it finishes. Default 3. */
  readonly steps?: number;
  /**
   * Set: the task runs this long by the fake's clock (`FakeAws.now`), however often it is
   * described, then finishes as planned: for tests that drive hours of simulated time.
   */
  readonly durationMs?: number;
  /**
   * Set: the task fails with this StatusMessage instead of completing (any text,
   * multi-byte and long messages included: EC2 shows such messages verbatim).
   */
  readonly failMessage?: string;
  /**
   * Describes during which a failed task reads `deleting` before `deleted`. Default 1:
   * a failed task "ends deleted/deleting" (aws-facts.md, EC2 VM Import).
   */
  readonly failDeletingDescribes?: number;
  /** Set: the task completes, but Image Builder marks the image FAILED with this reason. */
  readonly imageFailureReason?: string;
  /**
   * GetImage calls after the task completed during which the image still reads PENDING:
   * Image Builder follows the task asynchronously. Default 0.
   */
  readonly imageLag?: number;
}

export type ImportTaskStatus = 'active' | 'completed' | 'deleting' | 'deleted';

export interface FakeImportTask {
  readonly id: string;
  readonly clientToken?: string;
  readonly input: any;
  readonly plan: Required<Pick<ImportPlan, 'steps' | 'failDeletingDescribes'>> & ImportPlan;
  status: ImportTaskStatus;
  statusMessage?: string;
  /** Describes that showed the task while it was active. */
  describeCount: number;
  /** The fake's clock when ImportImage started the task. */
  readonly startedAt: number;
  /** Describes that showed the task while it was deleting. */
  deletingDescribes: number;
  imageId?: string;
  snapshotIds: string[];
  /** Set by CancelImportTask. */
  cancelReason?: string;
  cancelled: boolean;
  /** True once EC2 no longer describes it (finished over 7 days ago). */
  forgotten: boolean;
}

export interface FakeAmi {
  readonly id: string;
  readonly snapshotIds: string[];
  /** The ImportImage task that made it; absent for an AMI RegisterImage made. */
  readonly importTaskId?: string;
  /** RegisterImage: the request, its name, state and tags. */
  readonly register?: {
    readonly input: any;
    readonly name: string;
    readonly creationDate: string;
    state: 'pending' | 'available' | 'failed';
    /** DescribeImages calls that showed it pending (see FakeAws.amiPendingDescribes). */
    describes: number;
    stateReason?: { Code: string; Message: string };
  };
}

/** How a snapshot import task started from now on goes (ImportSnapshot). */
export interface SnapshotPlan {
  /** DescribeImportSnapshotTasks calls (that show the task) until it finishes. Default 3. */
  readonly steps?: number;
  /** Set: the task runs this long by the fake's clock, however often it is described. */
  readonly durationMs?: number;
  /** Set: the task fails with this StatusMessage (ends deleting, then deleted). */
  readonly failMessage?: string;
  /** The size EC2 reports, in GiB (SnapshotTaskDetail.DiskImageSize). Default 8. */
  readonly sizeGiB?: number;
}

export type SnapshotTaskStatus = 'active' | 'completed' | 'deleting' | 'deleted';

export interface FakeSnapshotTask {
  readonly id: string;
  readonly clientToken?: string;
  readonly input: any;
  readonly plan: Required<Pick<SnapshotPlan, 'steps' | 'sizeGiB'>> & SnapshotPlan;
  status: SnapshotTaskStatus;
  statusMessage?: string;
  describeCount: number;
  deletingDescribes: number;
  readonly startedAt: number;
  snapshotId?: string;
  cancelled: boolean;
  cancelReason?: string;
  forgotten: boolean;
  /** Its tags: those ImportSnapshot gave it, then CreateTags and DeleteTags. */
  tags: Record<string, string>;
}

export interface FakeImage {
  readonly arn: string;
  readonly name: string;
  readonly version: string;
  /** The build version, the last segment of the ARN (1, 2, ...). */
  readonly buildVersion: number;
  readonly platform: string;
  readonly osVersion?: string;
  readonly vmImportTaskId: string;
  readonly clientToken: string;
  readonly input: any;
  readonly dateCreated: string;
  tags: Record<string, string>;
  /** CancelImageCreation was called. */
  cancelled: boolean;
  /** GetImage calls answered since the import task ended (see ImportPlan.imageLag, FakeAws.imageSettleGets). */
  getsAfterTaskEnded: number;
  /** GetImage calls answered since CancelImageCreation (see FakeAws.imageSettleGets). */
  getsAfterCancel: number;
  /** Set by a test: DeleteImage answers ResourceDependencyException (shared, or used by a recipe). */
  inUse: boolean;
  /** Set by a test: the image's resource policy (GetImagePolicy); a shared image cannot be deleted. */
  policy?: string;
  /** Set for an image DistributeImage made (vmImportTaskId is then ''): how its distribution goes. */
  distribution?: FakeDistribution;
}

/** How a distribution started from now on (DistributeImage) goes. */
export interface DistributionPlan {
  /**
   * GetImage calls of the distributed image until it ends. Default 3: the distribution
   * phase copies and exports AMIs, which takes minutes to hours (an assumption about its
   * length; the API reference says only to follow the image with GetImage).
   */
  readonly steps?: number;
  /** Set: it runs this long by the fake's clock (`FakeAws.now`), however often it is read, then ends as planned. */
  readonly durationMs?: number;
  /** Set: it ends FAILED with this state.reason (GetImage reports a failed distribution so). */
  readonly failureReason?: string;
}

export interface FakeDistribution {
  readonly plan: Required<Pick<DistributionPlan, 'steps'>> & DistributionPlan;
  readonly input: any;
  /** The fake's clock when DistributeImage started it. */
  readonly startedAt: number;
  /** GetImage calls answered while it ran. */
  gets: number;
  /** One AMI per Region of the distribution configuration, reported once it is AVAILABLE. */
  readonly amis: Array<{ region: string; image: string }>;
}

export interface FakeRecipe {
  readonly arn: string;
  readonly name: string;
  readonly parentImage: string;
  readonly platform: string;
}

export interface FakeDistributionConfiguration {
  readonly arn: string;
  readonly name: string;
  readonly clientToken: string;
  description?: string;
  distributions: any[];
  tags: Record<string, string>;
}

export interface FakeStackResource {
  status: string;
  type: string;
  physicalId?: string;
  reason?: string;
  lastUpdated: Date;
}

export interface FakeStack {
  readonly stackId: string;
  readonly stackName: string;
  readonly created: Date;
  status: string;
  reason?: string;
  readonly resources: Map<string, FakeStackResource>;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface FakeExecution {
  readonly arn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The input string as sent (StartExecution idempotency compares it). */
  readonly rawInput: string;
  /** The input, parsed. */
  readonly input: unknown;
  readonly startDate: Date;
  status: ExecutionStatus;
  stopDate?: Date;
  output?: string;
  /** From StopExecution (or finishExecution). */
  error?: string;
  cause?: string;
}

/** The body of a wait condition signal (CloudFormation user guide, "Wait condition signal syntax"). */
export interface WaitConditionSignal {
  readonly Status: 'SUCCESS' | 'FAILURE';
  readonly Reason: string;
  readonly UniqueId: string;
  readonly Data: string;
}

/** One request that reached a wait condition handle URL, and what the fake answered. */
export interface SignalAttempt {
  readonly handle: string;
  readonly method: string;
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
}

export interface FakeAwsOptions {
  /** Fake credentials the bundle signs with; signatures are verified with these. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly region?: string;
  readonly account?: string;
}

export const FAKE_ACCOUNT = '123456789012';
export const FAKE_REGION = 'us-east-1';
export const FAKE_ACCESS_KEY_ID = 'AKIAFAKEBUNDLETEST01';
export const FAKE_SECRET_ACCESS_KEY = 'fake/secret/for/local/signature/checks';
/** The stack a wait condition handle belongs to unless a test names another (the one run-bundle's events carry). */
export const FAKE_STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/bundle-test/8f1f3c10-0000-4000-8000-000000000001';

const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
/** The walk of a healthy import, as DescribeImportImageTasks reports it. */
const PROGRESS_MESSAGES = ['pending', 'converting', 'booting'];
/**
 * The StatusMessage of a cancelled task once it reads `deleted`: AWS Tools for
 * PowerShell reference, Get-EC2ImportImageTask example output.
 */
export const CANCELLED_TASK_MESSAGE = 'User initiated task cancelation';
/**
 * The walk of a snapshot import, as DescribeImportSnapshotTasks reports it: an assumption
 * modeled on public output of `aws ec2 describe-import-snapshot-tasks` (pending, then
 * downloading/converting, then completed).
 */
const SNAPSHOT_PROGRESS_MESSAGES = ['pending', 'downloading/converting', 'downloading/converting'];
/** StatusMessage while a cancelled task reads `deleting`: an assumption (not documented). */
export const CANCELLING_TASK_MESSAGE = 'cancelling';
/** Image Builder's terminal image statuses; DeleteImage and CancelImageCreation depend on them. */
const TERMINAL_IMAGE_STATUSES = new Set(['AVAILABLE', 'CANCELLED', 'FAILED', 'DEPRECATED', 'DELETED', 'DISABLED']);
/**
 * Step Functions' error namespace in `__type` (seen in public wire captures; the
 * SDK drops everything up to '#'). Model violations come from another one.
 */
const SFN_ERROR_NAMESPACE = 'com.amazonaws.swf.service.v2.model#';
const SFN_VALIDATION_NAMESPACE = 'com.amazon.coral.validate#';
/**
 * The presigning identity of wait condition handle URLs: CloudFormation signs them
 * with its own credentials, never the caller's.
 */
const HANDLE_ACCESS_KEY_ID = 'AKIAFAKEWAITHANDLE01';
const HANDLE_SECRET_ACCESS_KEY = 'fake/cloudformation/wait-condition/presigning';
const WAIT_CONDITION_BUCKET_PREFIX = 'cloudformation-waitcondition-';
const MAX_BODY_BYTES = 1024 * 1024;

/** An answer the fake sends as an AWS error. */
class AwsError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

interface ParsedRequest {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

interface WaitConditionHandle {
  readonly name: string;
  readonly stackId: string;
  /** The S3 object key: the stack ARN and the handle's name. */
  readonly key: string;
  readonly url: string;
}

export class FakeAws {
  /** Starts a server on 127.0.0.1 and a random port; call close() when done. */
  static async start(options: FakeAwsOptions = {}): Promise<FakeAws> {
    const fake = new FakeAws(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  /** Every request, in order: for IAM checks and assertions. Throttled and rejected calls included. */
  readonly calls: RecordedCall[] = [];
  /** Requests AWS would reject (model, protocol, signature): a test expects this to stay empty. */
  readonly problems: string[] = [];

  readonly importTasks = new Map<string, FakeImportTask>();
  readonly amis = new Map<string, FakeAmi>();
  readonly snapshots = new Set<string>();
  /** Snapshot import tasks (ImportSnapshot), by id. */
  readonly snapshotTasks = new Map<string, FakeSnapshotTask>();
  /** Tags of AMIs, snapshots and snapshot tasks, by resource id (RegisterImage TagSpecifications, CreateTags, DeleteTags). */
  readonly ec2Tags = new Map<string, Record<string, string>>();
  readonly images = new Map<string, FakeImage>();
  readonly recipes: FakeRecipe[] = [];
  readonly distributionConfigurations = new Map<string, FakeDistributionConfiguration>();
  readonly pipelines: Array<{ name: string; arn: string; distributionConfigurationArn: string }> = [];
  /** CloudFormation stacks a test declared (setStack, setStackResource), by stack id. */
  readonly stacks = new Map<string, FakeStack>();
  /** Step Functions executions started through the fake, by execution ARN. */
  readonly executions = new Map<string, FakeExecution>();
  /** The signals each wait condition handle counts, in arrival order, by handle name. */
  readonly signals = new Map<string, WaitConditionSignal[]>();
  /** Every request to a wait condition handle URL, accepted or not. */
  readonly signalAttempts: SignalAttempt[] = [];

  /** Applies to import tasks started after it is set. */
  importPlan: ImportPlan = {};
  /** The fake's clock (epoch ms), read by durationMs plans; a simulated-clock test replaces it. */
  now: () => number = Date.now;
  /**
   * Set by a test: runs before each admitted call is served, to make something happen between
   * two calls of a handler (a race: another actor's change lands in between).
   */
  beforeOperation?: (service: ServiceName, operation: string, input: any) => void;

  // ---- knobs (AWS-like defaults; each says where it comes from)

  /**
   * GetImage calls after an import task failed or was cancelled, or after
   * CancelImageCreation, during which the image stays non-terminal (BUILDING, or
   * PENDING while the task still runs) before it reads FAILED or CANCELLED. Default 3:
   * "after a failure or CancelImageCreation the image stays non-terminal for minutes"
   * (aws-facts.md); AWS's own AWS::ImageBuilder::Image delete handler polls GetImage
   * until CANCELLED (aws-cloudformation-resource-providers-imagebuilder, image DeleteHandler).
   */
  imageSettleGets = 3;
  /**
   * CancelImageCreation on a terminal image answers this code. Default
   * InvalidParameterValueException: AWS's own image delete handler treats that code as
   * "already terminal". The model lists InvalidRequestException and ResourceInUseException
   * for the operation instead; which one AWS sends is unverified.
   */
  cancelTerminalErrorCode = 'InvalidParameterValueException';
  /**
   * ImportVmImage with a name and version that already exist: false (default) makes the next
   * build version (.../1.0.0/2), as the newest API reference says (aws-facts.md); true answers
   * ResourceAlreadyExistsException, the older behaviour. Unverified which one AWS does today.
   */
  refuseSameNameVersion = false;
  /** Applies to distributions started after it is set (DistributeImage). */
  distributionPlan: DistributionPlan = {};
  /**
   * Distributions running at once; DistributeImage beyond answers ServiceQuotaExceededException
   * (a code the model lists for DistributeImage; which quota AWS applies is unverified).
   * Default undefined: unlimited.
   */
  maxRunningDistributions?: number;
  /**
   * DescribeImportImageTasks calls (that show the task) during which a cancelled task
   * reads `deleting` before `deleted`. Default 2: CancelImportTask answers State deleting
   * (EC2 API reference example); how long it stays so is an assumption.
   */
  taskCancelDescribes = 2;
  /**
   * CancelImportTask on a task that is not active (completed, deleting, deleted) answers
   * this code. Default IncorrectState, EC2's generic "the resource is in an incorrect state
   * for the request"; the code EC2 really sends here is unverified.
   */
  cancelInactiveTaskErrorCode = 'IncorrectState';
  /**
   * Concurrent active import tasks allowed; ImportImage beyond answers importQuotaErrorCode.
   * Default undefined: unlimited. The quota's default value is unconfirmed (aws-facts.md).
   */
  maxActiveImportTasks?: number;
  /** Unverified (aws-facts.md: ResourceCountLimitExceeded or ResourceLimitExceeded). */
  importQuotaErrorCode = 'ResourceCountLimitExceeded';
  /** Page size of DescribeImportImageTasks listings without MaxResults (small, so pagination is exercised). */
  importTaskPageSize = 2;
  /** Applies to snapshot import tasks started after it is set. */
  snapshotPlan: SnapshotPlan = {};
  /** Per disk (its S3 key, or its URL): overrides snapshotPlan, e.g. one disk of several fails. */
  snapshotPlanByDisk: Record<string, SnapshotPlan> = {};
  /**
   * Concurrent active snapshot import tasks allowed; ImportSnapshot beyond answers importQuotaErrorCode.
   * Default undefined: unlimited. Whether snapshot and image imports share one quota is unverified (an assumption: separate).
   */
  maxActiveSnapshotTasks?: number;
  /**
   * DescribeImages calls during which an AMI RegisterImage made reads pending before available.
   * Default 1: an AMI registered from snapshots is usable within moments (an assumption; AWS does not say how long).
   */
  amiPendingDescribes = 1;
  /** Set: the next AMIs RegisterImage makes end `failed` with this StateReason message (an assumption of how EC2 reports it). */
  registerFailureMessage?: string;
  /** Page size of DescribeImages and DescribeSnapshots listings without MaxResults (small, so pagination is exercised). */
  ec2ListPageSize = 2;
  /** Page size of ListImagePipelines when the request sets none. */
  pipelinePageSize = 25;
  /** Page size of ListImageBuildVersions and ListImageRecipes without maxResults (the model allows 1..25). */
  imageBuilderListPageSize = 2;
  /** Page size of ListExecutions without maxResults (AWS's default is 100; small, so pagination is exercised). */
  executionPageSize = 2;
  /**
   * A signal whose request carries a non-empty Content-Type answers S3's 403
   * SignatureDoesNotMatch. Default true: the CloudFormation user guide says the
   * Content-Type "must be an empty string or omitted", which older handle URLs (SigV2,
   * Content-Type signed) enforce. Current handle URLs seen in public repositories are
   * SigV4 with X-Amz-SignedHeaders=host, under which S3 would not check it: false models those.
   */
  signalContentTypeStrict = true;
  /**
   * A signal whose UniqueId the handle already counted: 'ignore' (default) as the
   * CloudFormation user guide says ("a retransmission of the previously sent signal ...
   * ignore it"), or 'replace' (the later signal wins).
   */
  signalReuse: 'ignore' | 'replace' = 'ignore';
  /**
   * StopExecution on an execution that already finished: undefined (default) succeeds and
   * changes nothing; a code answers that error instead. The API reference does not say;
   * awslabs/visual-asset-management-system#344 reports a stop of a SUCCEEDED execution
   * succeeding with the status unchanged. Unverified.
   */
  stopFinishedExecutionErrorCode?: string;

  readonly region: string;
  readonly account: string;
  readonly accessKeyId: string;
  private readonly secretAccessKey: string;
  private readonly server: http.Server;
  private readonly faults: Array<Fault & { remaining: number }> = [];
  private readonly handles = new Map<string, WaitConditionHandle>();
  /** Highest build version made per image name/version (build numbers are never reused: an assumption). */
  private readonly buildCounters = new Map<string, number>();
  private counter = 0;

  private constructor(options: FakeAwsOptions) {
    this.region = options.region ?? FAKE_REGION;
    this.account = options.account ?? FAKE_ACCOUNT;
    this.accessKeyId = options.accessKeyId ?? FAKE_ACCESS_KEY_ID;
    this.secretAccessKey = options.secretAccessKey ?? FAKE_SECRET_ACCESS_KEY;
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  /** Base URL for AWS_ENDPOINT_URL_EC2 / _IMAGEBUILDER / _CLOUDFORMATION / _SFN. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    // Lambda's SDK keeps connections alive; without this close() waits for their timeout.
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The next `count` matching calls fail with this error. */
  failNext(fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.count ?? 1 });
  }

  /**
   * The next `count` calls (of `operations`, or any) are throttled the way each service
   * throttles. None of the four models lists a throttling error for these calls; the codes
   * are the ones the services send and the SDK retries as throttling: EC2
   * RequestLimitExceeded (503, aws-facts.md), Image Builder ThrottlingException (429),
   * CloudFormation Throttling (400, "Rate exceeded"), Step Functions ThrottlingException (400).
   */
  throttle(service: ServiceName, count: number, operations?: string[], code?: string): void {
    const defaults: Record<ServiceName, { code: string; status: number; message: string }> = {
      ec2: { code: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' },
      imagebuilder: { code: 'ThrottlingException', status: 429, message: 'Rate exceeded' },
      cloudformation: { code: 'Throttling', status: 400, message: 'Rate exceeded' },
      sfn: { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' },
    };
    const d = defaults[service];
    // A code the model lists keeps its modeled status (Image Builder's CallRateLimitExceededException: 429).
    const status = code ? modeledErrorStatus(service, code) ?? d.status : d.status;
    this.failNext({ service, operations, count, code: code ?? d.code, message: d.message, status });
  }

  /** Calls of one operation, in order. */
  callsOf(operation: string): RecordedCall[] {
    return this.calls.filter((call) => call.operation === operation);
  }

  /** EC2 stops describing a task, as it does 7 days after the task finished. */
  forgetTask(importTaskId: string): void {
    const snapshotTask = this.snapshotTasks.get(importTaskId);
    if (snapshotTask) snapshotTask.forgotten = true;
    else this.task(importTaskId).forgotten = true;
  }

  snapshotTask(importTaskId: string): FakeSnapshotTask {
    const task = this.snapshotTasks.get(importTaskId);
    if (!task) throw new Error(`the fake has no snapshot import task ${importTaskId}`);
    return task;
  }

  /**
   * What a RegisterImage request would do, without one: for a test where another actor (a
   * poll still in flight) registers an AMI between two calls of the handler under test.
   */
  registerImageNow(input: any): string {
    return (this.registerImage(input) as { ImageId: string }).ImageId;
  }

  /** The tags of an AMI, snapshot or snapshot task (a copy). */
  tagsOf(resourceId: string): Record<string, string> {
    return { ...(this.ec2Tags.get(resourceId) ?? this.snapshotTasks.get(resourceId)?.tags) };
  }

  /** An image pipeline that uses a distribution configuration (blocks its deletion). */
  addPipeline(name: string, distributionConfigurationArn: string): string {
    const arn = `arn:aws:imagebuilder:${this.region}:${this.account}:image-pipeline/${name.toLowerCase()}`;
    this.pipelines.push({ name, arn, distributionConfigurationArn });
    return arn;
  }

  /**
   * An image recipe (owner Self) whose parent is `parentImageArn` (an image build
   * version ARN, or a version ARN meaning all its builds). While it exists, DeleteImage
   * of that image answers ResourceDependencyException ("in use", aws-facts.md).
   */
  addRecipe(name: string, parentImageArn: string, platform = 'Linux'): string {
    const arn = `arn:aws:imagebuilder:${this.region}:${this.account}:image-recipe/${name.toLowerCase()}/1.0.0`;
    this.recipes.push({ arn, name, parentImage: parentImageArn, platform });
    return arn;
  }

  removeRecipe(arn: string): void {
    const i = this.recipes.findIndex((r) => r.arn === arn);
    if (i < 0) throw new Error(`the fake has no recipe ${arn}`);
    this.recipes.splice(i, 1);
  }

  task(importTaskId: string): FakeImportTask {
    const task = this.importTasks.get(importTaskId);
    if (!task) throw new Error(`the fake has no import task ${importTaskId}`);
    return task;
  }

  /** A stack DescribeStacks and DescribeStackResource answer for, in this status (default CREATE_IN_PROGRESS). */
  setStack(stackId: string, status = 'CREATE_IN_PROGRESS', reason?: string): FakeStack {
    const m = /^arn:aws[^:]*:cloudformation:[^:]+:\d{12}:stack\/([^/]+)\/[^/]+$/.exec(stackId);
    if (!m) throw new Error(`not a stack id: ${stackId}`);
    const stack: FakeStack = this.stacks.get(stackId) ?? { stackId, stackName: m[1], created: new Date(), status, resources: new Map() };
    stack.status = status;
    stack.reason = reason;
    this.stacks.set(stackId, stack);
    return stack;
  }

  /** A resource of a stack (the stack is declared CREATE_IN_PROGRESS if the test did not declare it). */
  setStackResource(stackId: string, logicalId: string, resource: { status: string; type: string; physicalId?: string; reason?: string }): void {
    const stack = this.stacks.get(stackId) ?? this.setStack(stackId);
    stack.resources.set(logicalId, { ...resource, lastUpdated: new Date() });
  }

  removeStackResource(stackId: string, logicalId: string): void {
    this.stacks.get(stackId)?.resources.delete(logicalId);
  }

  /** The stack no longer exists at all (use setStack(id, 'DELETE_COMPLETE') for a deleted one AWS still describes by id). */
  removeStack(stackId: string): void {
    this.stacks.delete(stackId);
  }

  /**
   * Ends an execution as its state machine would (the fake runs none): SUCCEEDED,
   * FAILED, TIMED_OUT or ABORTED, with an output (SUCCEEDED) or error and cause.
   */
  finishExecution(arn: string, status: Exclude<ExecutionStatus, 'RUNNING'>, details: { output?: unknown; error?: string; cause?: string } = {}): void {
    const execution = this.executions.get(arn);
    if (!execution) throw new Error(`the fake has no execution ${arn}`);
    if (execution.status !== 'RUNNING') throw new Error(`execution ${arn} already ended ${execution.status}`);
    execution.status = status;
    execution.stopDate = new Date();
    if (details.output !== undefined) execution.output = typeof details.output === 'string' ? details.output : JSON.stringify(details.output);
    execution.error = details.error;
    execution.cause = details.cause;
  }

  /**
   * The presigned URL `Ref` of an AWS::CloudFormation::WaitConditionHandle returns,
   * on the fake server. Modeled on handle URLs in public repositories (2018 and 2025):
   *   https://cloudformation-waitcondition-<region>.s3.<region>.amazonaws.com/
   *   arn%3Aaws%3Acloudformation%3A<region>%3A<account>%3Astack/<stack>/<uuid>/<HandleLogicalId>
   *   ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=...&X-Amz-SignedHeaders=host&X-Amz-Expires=86399
   *   &X-Amz-Credential=<key>%2F<date>%2F<region>%2Fs3%2Faws4_request&X-Amz-Signature=<64 hex>
   * Here the bucket is the first path segment (path style). The signature is real
   * (SigV4 query presigning for S3), so a handler that mangles the URL is refused.
   */
  waitConditionHandle(name: string, stackId = FAKE_STACK_ID): string {
    const existing = this.handles.get(name);
    if (existing) return existing.url;
    const stack = /^arn:aws[^:]*:cloudformation:[^:]+:\d{12}:(stack\/.+)$/.exec(stackId);
    if (!stack) throw new Error(`not a stack id: ${stackId}`);
    const key = `${stackId}/${name}`;
    const path = `/${WAIT_CONDITION_BUCKET_PREFIX}${this.region}/${key.split('/').map(uriEscape).join('/')}`;
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    const params: Array<[string, string]> = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Date', amzDate],
      ['X-Amz-SignedHeaders', 'host'],
      ['X-Amz-Expires', '86399'],
      ['X-Amz-Credential', `${HANDLE_ACCESS_KEY_ID}/${date}/${this.region}/s3/aws4_request`],
    ];
    const query = params.map(([k, v]) => `${k}=${uriEscape(v)}`).join('&');
    const host = new URL(this.url).host;
    const signature = this.presignature(path, query, host);
    const url = `${this.url}${path}?${query}&X-Amz-Signature=${signature}`;
    this.handles.set(name, { name, stackId, key, url });
    this.signals.set(name, []);
    return url;
  }

  // ---------------------------------------------------------------- transport

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let request: ParsedRequest;
    try {
      request = await readRequest(req);
    } catch (err) {
      this.problems.push(`unreadable request ${req.method} ${req.url}: ${(err as Error).message}`);
      res.writeHead(400).end();
      return;
    }
    // Wait condition signals go to S3 with a presigned URL: no Authorization header, no API model.
    if (request.rawPath.startsWith(`/${WAIT_CONDITION_BUCKET_PREFIX}`)) {
      this.waitConditionSignal(request, res);
      return;
    }
    const requestId = this.requestId();
    if (request.headers.authorization === undefined) {
      // Neither a signal nor a signed request: nothing AWS would serve.
      this.problems.push(`unsigned request to no wait condition handle: ${request.method} ${request.rawPath}`);
      res.writeHead(400, { 'content-type': 'text/plain', 'x-amzn-requestid': requestId });
      res.end('MissingAuthenticationToken: the request is not signed and is no wait condition signal');
      return;
    }
    const service = this.serviceOf(request);
    try {
      switch (service) {
        case 'ec2':
        case 'cloudformation':
          this.sendXml(res, service, requestId, this.queryRequest(service, request));
          break;
        case 'imagebuilder':
          this.sendJson(res, requestId, 200, this.imageBuilderRequest(request, requestId), 'application/json');
          break;
        case 'sfn':
          this.sendJson(res, requestId, 200, this.awsJsonRequest(request), 'application/x-amz-json-1.0');
          break;
      }
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalFailure', `fake AWS bug: ${(err as Error).stack}`, 500);
      if (!(err instanceof AwsError)) this.problems.push(e.message);
      sendError(res, service, requestId, e);
    }
  }

  /** The service the request was signed for (the credential scope says it); else a guess for the report. */
  private serviceOf(request: ParsedRequest): ServiceName {
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(String(request.headers.authorization ?? ''));
    const service = scope ? serviceForSigningName(scope[1]) : undefined;
    if (service) return service;
    this.problems.push(`request without a SigV4 credential scope of ${Object.values(SIGNING_NAMES).join(', ')}: ${request.method} ${request.rawPath}`);
    const contentType = String(request.headers['content-type']);
    if (contentType.startsWith('application/x-www-form-urlencoded')) {
      return new URLSearchParams(request.body.toString('utf8')).get('Version') === '2010-05-15' ? 'cloudformation' : 'ec2';
    }
    return contentType.startsWith('application/x-amz-json') ? 'sfn' : 'imagebuilder';
  }

  private requestId(): string {
    return `${randomBytes(4).toString('hex')}-${(++this.counter).toString(16).padStart(4, '0')}-4000-8000-${randomBytes(6).toString('hex')}`;
  }

  private newId(prefix: string): string {
    return `${prefix}-${randomBytes(8).toString('hex').slice(0, 17)}`;
  }

  /** Records the call, checks it, and raises a pending fault: the common part of all protocols. */
  private admit(service: ServiceName, operation: string, input: any, request: ParsedRequest, wireProblems: string[]): void {
    const resourceTags = this.tagsOfNamedResource(service, input);
    const resourceTagsById = service === 'ec2' ? this.tagsOfNamedEc2Resources(operation, input) : undefined;
    const call: RecordedCall = {
      service, operation, input, ...(resourceTags ? { resourceTags } : {}), ...(resourceTagsById ? { resourceTagsById } : {}),
    };
    this.calls.push(call);
    const problems = [
      ...wireProblems,
      ...this.signatureProblems(service, request),
      ...validateRequest(service, operation, input),
    ];
    if (problems.length > 0) {
      this.problems.push(...problems.map((p) => `${service} ${operation}: ${p}`));
      const code = { ec2: 'InvalidParameterValue', cloudformation: 'ValidationError', imagebuilder: 'ValidationException', sfn: 'ValidationException' }[service];
      throw new AwsError(code, `rejected by the API model: ${problems.join('; ')}`);
    }
    const fault = this.faults.find((f) => f.service === service && f.remaining > 0 && (!f.operations || f.operations.includes(operation)));
    if (fault) {
      fault.remaining--;
      this.calls[this.calls.indexOf(call)] = { ...call, fault: fault.code };
      throw new AwsError(fault.code, fault.message, fault.status ?? modeledErrorStatus(service, fault.code) ?? 400);
    }
    this.beforeOperation?.(service, operation, input);
  }

  /** A copy of the tags of the existing resource a request names (import task, image, distribution configuration). */
  private tagsOfNamedResource(service: ServiceName, input: any): Record<string, string> | undefined {
    if (service === 'ec2') {
      const snapshotTask = typeof input?.ImportTaskId === 'string' ? this.snapshotTasks.get(input.ImportTaskId) : undefined;
      if (snapshotTask) return { ...snapshotTask.tags };
      // DeregisterImage and DeleteSnapshot name one AMI or snapshot (both authorize aws:ResourceTag on it).
      for (const id of [input?.ImageId, input?.SnapshotId]) {
        if (typeof id === 'string' && (this.amis.has(id) || this.snapshots.has(id))) return this.tagsOf(id);
      }
      const task = typeof input?.ImportTaskId === 'string' ? this.importTasks.get(input.ImportTaskId) : undefined;
      if (!task) return undefined;
      // The tags ImportImage put on the task (CancelImportTask authorizes aws:ResourceTag on it).
      return Object.fromEntries(taskTags(task).map((t: any) => [t.Key, t.Value]));
    }
    if (service !== 'imagebuilder') return undefined;
    const arn = input?.imageBuildVersionArn ?? input?.distributionConfigurationArn ?? input?.resourceArn;
    const found = typeof arn === 'string' ? this.images.get(arn) ?? this.distributionConfigurations.get(arn) : undefined;
    return found ? { ...found.tags } : undefined;
  }

  /** Tags of each resource a CreateTags, DeleteTags or RegisterImage names, before the call runs. */
  private tagsOfNamedEc2Resources(operation: string, input: any): Record<string, Record<string, string>> | undefined {
    const ids: string[] = operation === 'CreateTags' || operation === 'DeleteTags'
      ? (input?.Resources ?? [])
      : operation === 'RegisterImage' ? (input?.BlockDeviceMappings ?? []).map((m: any) => m?.Ebs?.SnapshotId).filter(Boolean) : [];
    if (ids.length === 0) return undefined;
    return Object.fromEntries(ids.map((id) => [id, this.tagsOf(id)]));
  }

  /** Recomputes the SigV4 signature with the fake credentials: proves the bundle signs as AWS checks. */
  private signatureProblems(service: ServiceName, request: ParsedRequest): string[] {
    const auth = String(request.headers.authorization ?? '');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return [`Authorization is not a SigV4 header: ${JSON.stringify(auth.slice(0, 80))}`];
    const [, keyId, date, region, scopeService, signedHeaders, signature] = m;
    const problems: string[] = [];
    if (keyId !== this.accessKeyId) problems.push(`signed with access key ${keyId}, not the configured ${this.accessKeyId}`);
    if (region !== this.region) problems.push(`signed for region ${region}, not ${this.region}`);
    if (scopeService !== SIGNING_NAMES[service]) problems.push(`signed for service ${scopeService}, not ${SIGNING_NAMES[service]}`);
    const amzDate = String(request.headers['x-amz-date'] ?? '');
    if (!amzDate.startsWith(date)) problems.push(`x-amz-date ${amzDate} does not match the credential date ${date}`);
    if (!signedHeaders.split(';').includes('host')) problems.push('the host header is not signed');

    const canonicalHeaders = signedHeaders.split(';')
      .map((name) => `${name}:${String(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
    const canonicalRequest = [
      request.method,
      canonicalPath(request.rawPath),
      canonicalQuery(request.rawQuery),
      canonicalHeaders,
      signedHeaders,
      String(request.headers['x-amz-content-sha256'] ?? sha256(request.body)),
    ].join('\n');
    const scope = `${date}/${region}/${scopeService}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
    let key: Buffer = hmac(`AWS4${this.secretAccessKey}`, date);
    for (const part of [region, scopeService, 'aws4_request']) key = hmac(key, part);
    if (createHmac('sha256', key).update(stringToSign).digest('hex') !== signature) {
      problems.push('SignatureDoesNotMatch: the SigV4 signature does not verify with the fake credentials');
    }
    return problems;
  }

  // ---------------------------------------------------------------- query protocols (EC2, CloudFormation)

  private queryRequest(service: 'ec2' | 'cloudformation', request: ParsedRequest): { operation: string; output: unknown } {
    const model = loadServiceModel(service);
    const version = String(model.metadata.apiVersion);
    const wire: string[] = [];
    if (request.method !== 'POST' || request.rawPath !== '/') wire.push(`query requests are POST /, got ${request.method} ${request.rawPath}`);
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      wire.push(`content-type ${request.headers['content-type']} is not form-encoded`);
    }
    const params = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(request.body.toString('utf8'))) {
      if (params.has(k)) wire.push(`parameter ${k} sent twice`);
      params.set(k, v);
    }
    const operation = params.get('Action') ?? '';
    if (params.get('Version') !== version) wire.push(`Version ${params.get('Version')} is not ${version}`);
    const op = model.operations[operation];
    if (!op) {
      this.calls.push({ service, operation, input: Object.fromEntries(params) });
      this.problems.push(`${service}: unknown Action ${JSON.stringify(operation)}`);
      throw new AwsError('InvalidAction', `The action ${operation} is not valid for this web service.`);
    }
    const consumed = new Set(['Action', 'Version']);
    const flavor = service === 'ec2' ? 'ec2' : 'query';
    const input = op.input ? decodeQueryValue(model, flavor, op.input.shape, params, '', consumed, wire) ?? {} : {};
    for (const key of params.keys()) {
      if (!consumed.has(key)) wire.push(`unknown parameter ${key} (not in ${op.input?.shape ?? 'the input'})`);
    }
    this.admit(service, operation, input, request, wire);
    const output = service === 'ec2' ? this.ec2Operation(operation, input) : this.cloudFormationOperation(operation, input);
    return { operation, output };
  }

  private sendXml(res: http.ServerResponse, service: 'ec2' | 'cloudformation', requestId: string, result: { operation: string; output: unknown }): void {
    const model = loadServiceModel(service);
    const out = model.operations[result.operation].output;
    let inner = '';
    if (out) {
      const problems = validateShape(service, out.shape, result.output);
      if (problems.length > 0) throw new Error(`the fake's own ${result.operation} response breaks the model: ${problems.join('; ')}`);
      inner = xmlMembers(model, out.shape, result.output as Record<string, unknown>);
    } else if (service === 'ec2') {
      // EC2 operations without output answer <return>true</return>.
      inner = '<return>true</return>';
    }
    const name = `${result.operation}Response`;
    const body = service === 'ec2'
      ? `<${name} xmlns="${EC2_NAMESPACE}"><requestId>${requestId}</requestId>${inner}</${name}>`
      // awsQuery: the members sit in the operation's result wrapper, the request id in ResponseMetadata.
      : `<${name} xmlns="${model.metadata.xmlNamespace}">${out?.resultWrapper ? `<${out.resultWrapper}>${inner}</${out.resultWrapper}>` : inner}`
        + `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${name}>`;
    res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  }

  // ---------------------------------------------------------------- EC2

  private ec2Operation(operation: string, input: any): unknown {
    switch (operation) {
      case 'ImportImage': return this.importImage(input);
      case 'DescribeImportImageTasks': return this.describeImportImageTasks(input);
      case 'CancelImportTask': return this.cancelImportTask(input);
      case 'DescribeImages': return this.describeImages(input);
      case 'DeregisterImage': return this.deregisterImage(input);
      case 'DeleteSnapshot': return this.deleteSnapshot(input);
      case 'CreateTags': return this.createTags(input);
      case 'DeleteTags': return this.deleteTags(input);
      case 'ImportSnapshot': return this.importSnapshot(input);
      case 'DescribeImportSnapshotTasks': return this.describeImportSnapshotTasks(input);
      case 'RegisterImage': return this.registerImage(input);
      case 'DescribeSnapshots': return this.describeSnapshots(input);
      default:
        this.problems.push(`ec2 ${operation}: the fake does not implement it (add it, or the handler calls something unexpected)`);
        throw new AwsError('UnsupportedOperation', `The fake does not support ${operation}.`);
    }
  }

  private importImage(input: any): unknown {
    if (input.ClientToken) {
      const existing = [...this.importTasks.values()].find((t) => t.clientToken === input.ClientToken);
      if (existing) {
        // EC2 idempotency: same token and parameters -> the first task; other parameters -> an error.
        if (JSON.stringify(existing.input) !== JSON.stringify(input)) {
          throw new AwsError('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that has different parameters.');
        }
        return this.importTaskView(existing, false);
      }
    }
    const active = [...this.importTasks.values()].filter((t) => t.status === 'active').length;
    if (this.maxActiveImportTasks !== undefined && active >= this.maxActiveImportTasks) {
      // The message is an assumption; the code is configurable (importQuotaErrorCode).
      throw new AwsError(this.importQuotaErrorCode,
        `You have reached the limit of ${this.maxActiveImportTasks} concurrent active import image tasks in this Region.`);
    }
    const task: FakeImportTask = {
      id: this.newId('import-ami'),
      clientToken: input.ClientToken,
      input,
      plan: { steps: 3, failDeletingDescribes: 1, ...this.importPlan },
      status: 'active',
      statusMessage: PROGRESS_MESSAGES[0],
      describeCount: 0,
      startedAt: this.now(),
      deletingDescribes: 0,
      snapshotIds: [],
      cancelled: false,
      forgotten: false,
    };
    this.importTasks.set(task.id, task);
    return this.importTaskView(task, false);
  }

  /** One DescribeImportImageTasks that shows a task moves it one step: time passes between polls. */
  private advance(task: FakeImportTask): void {
    if (task.status === 'deleting') {
      const limit = task.cancelled ? this.taskCancelDescribes : task.plan.failDeletingDescribes;
      if (task.deletingDescribes >= limit) {
        task.status = 'deleted';
        if (task.cancelled) task.statusMessage = CANCELLED_TASK_MESSAGE;
      } else {
        task.deletingDescribes++;
      }
      return;
    }
    if (task.status !== 'active') return;
    task.describeCount++;
    if (task.plan.durationMs !== undefined) {
      const share = (this.now() - task.startedAt) / task.plan.durationMs;
      if (share < 1) {
        task.statusMessage = PROGRESS_MESSAGES[Math.min(Math.floor(share * PROGRESS_MESSAGES.length), PROGRESS_MESSAGES.length - 1)];
        return;
      }
    } else if (task.describeCount < task.plan.steps) {
      task.statusMessage = PROGRESS_MESSAGES[Math.min(task.describeCount, PROGRESS_MESSAGES.length - 1)];
      return;
    }
    if (task.plan.failMessage !== undefined) {
      // A failed task never gets an AMI; it shows deleting, then deleted, with the message verbatim.
      task.statusMessage = task.plan.failMessage;
      if (task.plan.failDeletingDescribes > 0) {
        task.status = 'deleting';
        task.deletingDescribes = 1;
      } else {
        task.status = 'deleted';
      }
      return;
    }
    task.status = 'completed';
    task.statusMessage = undefined;
    task.snapshotIds = (task.input.DiskContainers ?? []).map(() => this.newId('snap'));
    task.snapshotIds.forEach((id) => this.snapshots.add(id));
    task.imageId = this.newId('ami');
    this.amis.set(task.imageId, { id: task.imageId, snapshotIds: [...task.snapshotIds], importTaskId: task.id });
  }

  /** Percent done as EC2 reports it while a task runs (an assumption: EC2's own steps are uneven). */
  private progressOf(task: FakeImportTask): number {
    if (task.plan.durationMs !== undefined) return Math.min(95, Math.max(1, Math.floor(100 * (this.now() - task.startedAt) / task.plan.durationMs)));
    return Math.min(95, 10 + task.describeCount * 20);
  }

  private importTaskView(task: FakeImportTask, forDescribe: boolean): Record<string, unknown> {
    const disks: any[] = task.input.DiskContainers ?? [];
    const done = task.status === 'completed';
    const view: Record<string, unknown> = {
      ImportTaskId: task.id,
      Status: task.status,
      ...(task.statusMessage !== undefined ? { StatusMessage: task.statusMessage } : {}),
      ...(task.status === 'active' ? { Progress: String(this.progressOf(task)) } : {}),
      ...(task.input.Platform ? { Platform: task.input.Platform } : {}),
      ...(task.input.Architecture ? { Architecture: task.input.Architecture } : {}),
      ...(task.input.LicenseType ? { LicenseType: task.input.LicenseType } : {}),
      ...(task.input.Description ? { Description: task.input.Description } : {}),
      // A completed task keeps its AMI and snapshots in the description.
      ...(done ? { ImageId: task.imageId } : {}),
      SnapshotDetails: disks.map((disk, i) => ({
        ...(disk.Format ? { Format: disk.Format } : {}),
        ...(disk.UserBucket ? { UserBucket: { S3Bucket: disk.UserBucket.S3Bucket, S3Key: disk.UserBucket.S3Key } } : {}),
        ...(disk.Url ? { Url: disk.Url } : {}),
        DiskImageSize: 8589934592,
        ...(done ? { SnapshotId: task.snapshotIds[i], Status: 'completed', DeviceName: deviceName(i) } : { Status: task.status }),
      })),
    };
    const tags = taskTags(task);
    if (tags.length > 0) view.Tags = tags;
    if (!forDescribe) {
      // ImportImage's result has no BootMode member; the task description does.
      return view;
    }
    return { ...view, ...(task.input.BootMode ? { BootMode: task.input.BootMode } : {}) };
  }

  /**
   * Named tasks, or (no ImportTaskIds) every task EC2 still describes: active, or
   * finished and not forgotten (API reference: "currently active or were completed or
   * canceled in the previous 7 days"), with the Tags ImportImage gave them.
   * Filters: the API reference documents only `task-state` (active | completed |
   * deleting | deleted); other filter names are ignored here (their behaviour is
   * undocumented: a handler must not rely on them, e.g. on tag filters).
   * Each call advances every task it matches before filtering and paging (time passes).
   * A listing is paged by MaxResults / NextToken (default importTaskPageSize); named
   * tasks are paged only when MaxResults is given (an assumption).
   */
  private describeImportImageTasks(input: any): unknown {
    const ids: string[] = input.ImportTaskIds ?? [];
    for (const id of ids) {
      if (!/^import-ami-[0-9a-f]{8,17}$/.test(id)) {
        throw new AwsError('InvalidConversionTaskId.Malformed', `Invalid id: "${id}" (expecting "import-ami-...")`);
      }
    }
    let tasks = [...this.importTasks.values()].filter((t) => !t.forgotten && (ids.length === 0 || ids.includes(t.id)));
    tasks.forEach((t) => this.advance(t));
    for (const filter of input.Filters ?? []) {
      if (filter.Name === 'task-state') tasks = tasks.filter((t) => (filter.Values ?? []).includes(t.status));
    }
    const size = input.MaxResults ?? (ids.length === 0 ? this.importTaskPageSize : tasks.length);
    const { page, next } = paginate(tasks, input.NextToken, size, () => new AwsError('InvalidParameterValue', `Invalid NextToken: ${input.NextToken}`));
    return { ImportImageTasks: page.map((t) => this.importTaskView(t, true)), ...(next ? { NextToken: next } : {}) };
  }

  private cancelImportTask(input: any): unknown {
    // CancelImportTask cancels image and snapshot imports alike (EC2 API reference).
    const snapshotTask = this.snapshotTasks.get(input.ImportTaskId);
    if (snapshotTask) return this.cancelSnapshotTask(snapshotTask, input);
    const task = this.importTasks.get(input.ImportTaskId);
    if (!task || task.forgotten) {
      throw new AwsError('InvalidConversionTaskId', `The import task ID '${input.ImportTaskId}' does not exist`);
    }
    if (task.status !== 'active') {
      throw new AwsError(this.cancelInactiveTaskErrorCode, `The import task ${task.id} is not active (${task.status}); it cannot be cancelled.`);
    }
    // Answer from the EC2 API reference example: PreviousState active, State deleting. A cancelled task never gets an AMI.
    task.status = 'deleting';
    task.cancelled = true;
    task.deletingDescribes = 0;
    task.cancelReason = input.CancelReason;
    task.statusMessage = CANCELLING_TASK_MESSAGE;
    return { ImportTaskId: task.id, PreviousState: 'active', State: 'deleting' };
  }

  /**
   * Named AMIs (an unknown id answers InvalidAMIID.NotFound, as EC2 does), or every AMI of
   * the account. Owners: only `self` is modeled (this account's AMIs, which are all the fake
   * has). Filters (EC2 API reference, DescribeImages): `tag:<key>`, `name`, `image-id` and
   * `state` are modeled; any other name is refused, so a handler cannot rely on a filter the
   * fake would silently ignore (an assumption: EC2 answers unknown filter names with an error).
   * Each call that shows a pending AMI RegisterImage made moves it on (amiPendingDescribes).
   * Listings are paged (ec2ListPageSize); named AMIs are not.
   */
  private describeImages(input: any): unknown {
    const ids: string[] = input.ImageIds ?? [];
    const missing = ids.filter((id) => !this.amis.has(id));
    if (missing.length > 0) throw new AwsError('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`);
    for (const owner of input.Owners ?? []) {
      if (owner !== 'self' && owner !== this.account) throw new AwsError('InvalidParameterValue', `The fake models only Owners self, got ${owner}`);
    }
    let amis = ids.length > 0 ? ids.map((id) => this.amis.get(id)!) : [...this.amis.values()];
    amis = amis.filter((ami) => ec2Filter(input.Filters, {
      'name': () => [this.amiName(ami)],
      'image-id': () => [ami.id],
      'state': () => [ami.register?.state ?? 'available'],
    }, this.tagsOf(ami.id)));
    amis.forEach((ami) => this.advanceAmi(ami));
    const size = ids.length > 0 ? amis.length : input.MaxResults ?? this.ec2ListPageSize;
    const { page, next } = paginate(amis, input.NextToken, size, () => new AwsError('InvalidParameterValue', `Invalid NextToken: ${input.NextToken}`));
    return { Images: page.map((ami) => this.amiView(ami)), ...(next ? { NextToken: next } : {}) };
  }

  private amiName(ami: FakeAmi): string {
    return ami.register?.name ?? ami.importTaskId ?? ami.id;
  }

  /** A registered AMI reads pending for amiPendingDescribes calls, then available (or failed). */
  private advanceAmi(ami: FakeAmi): void {
    const reg = ami.register;
    if (!reg || reg.state !== 'pending') return;
    if (reg.describes++ < this.amiPendingDescribes) return;
    reg.state = reg.stateReason ? 'failed' : 'available';
  }

  private amiView(ami: FakeAmi): Record<string, unknown> {
    const reg = ami.register;
    const tags = Object.entries(this.tagsOf(ami.id)).map(([Key, Value]) => ({ Key, Value }));
    if (!reg) {
      return {
        ImageId: ami.id,
        State: 'available',
        OwnerId: this.account,
        Name: ami.importTaskId,
        RootDeviceType: 'ebs',
        RootDeviceName: deviceName(0),
        VirtualizationType: 'hvm',
        BlockDeviceMappings: ami.snapshotIds.map((snapshotId, i) => ({
          DeviceName: deviceName(i),
          Ebs: { SnapshotId: snapshotId, VolumeSize: 8, VolumeType: 'gp2', DeleteOnTermination: true, Encrypted: false },
        })),
        ...(tags.length > 0 ? { Tags: tags } : {}),
      };
    }
    const input = reg.input;
    return {
      ImageId: ami.id,
      Name: reg.name,
      State: reg.state,
      OwnerId: this.account,
      CreationDate: reg.creationDate,
      Architecture: input.Architecture ?? 'i386',
      ...(input.Description !== undefined ? { Description: input.Description } : {}),
      ...(input.BootMode !== undefined ? { BootMode: input.BootMode } : {}),
      ...(input.TpmSupport !== undefined ? { TpmSupport: input.TpmSupport } : {}),
      ...(input.ImdsSupport !== undefined ? { ImdsSupport: input.ImdsSupport } : {}),
      ...(input.EnaSupport !== undefined ? { EnaSupport: input.EnaSupport } : {}),
      ImageType: 'machine',
      RootDeviceType: 'ebs',
      RootDeviceName: input.RootDeviceName,
      VirtualizationType: input.VirtualizationType ?? 'paravirtual',
      BlockDeviceMappings: (input.BlockDeviceMappings ?? []).map((m: any) => ({
        DeviceName: m.DeviceName,
        Ebs: { SnapshotId: m.Ebs?.SnapshotId, VolumeSize: 8, VolumeType: 'gp2', DeleteOnTermination: m.Ebs?.DeleteOnTermination ?? true, Encrypted: false },
      })),
      ...(reg.stateReason ? { StateReason: reg.stateReason } : {}),
      ...(tags.length > 0 ? { Tags: tags } : {}),
    };
  }

  private deregisterImage(input: any): unknown {
    if (!this.amis.delete(input.ImageId)) throw new AwsError('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
    this.ec2Tags.delete(input.ImageId);
    return { Return: true };
  }

  private deleteSnapshot(input: any): unknown {
    const id: string = input.SnapshotId;
    if (!this.snapshots.has(id)) throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
    const user = [...this.amis.values()].find((ami) => ami.snapshotIds.includes(id));
    if (user) throw new AwsError('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.id}`);
    this.snapshots.delete(id);
    this.ec2Tags.delete(id);
    return {};
  }

  /**
   * Snapshots by id (an unknown one answers InvalidSnapshot.NotFound), or every snapshot of the
   * account (OwnerIds self, the only owner modeled). Filters: `tag:<key>` and `snapshot-id`;
   * other names are refused (as in describeImages). A snapshot VM Import made has the volume
   * id vol-ffffffff and the description "Created by AWS-VMImport service for <task id>"
   * (f5devcentral/f5-bigip-image-generator#15 quotes that description; the volume id is an
   * observation of imported snapshots, unverified).
   */
  private describeSnapshots(input: any): unknown {
    const ids: string[] = input.SnapshotIds ?? [];
    const missing = ids.filter((id) => !this.snapshots.has(id));
    if (missing.length > 0) throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${missing.join(', ')}' does not exist.`);
    for (const owner of input.OwnerIds ?? []) {
      if (owner !== 'self' && owner !== this.account) throw new AwsError('InvalidParameterValue', `The fake models only OwnerIds self, got ${owner}`);
    }
    const all = ids.length > 0 ? ids : [...this.snapshots];
    const matching = all.filter((id) => ec2Filter(input.Filters, { 'snapshot-id': () => [id] }, this.tagsOf(id)));
    const size = ids.length > 0 ? matching.length : input.MaxResults ?? this.ec2ListPageSize;
    const { page, next } = paginate(matching, input.NextToken, size, () => new AwsError('InvalidParameterValue', `Invalid NextToken: ${input.NextToken}`));
    return {
      Snapshots: page.map((id) => {
        const task = [...this.snapshotTasks.values()].find((t) => t.snapshotId === id)
          ?? [...this.importTasks.values()].find((t) => t.snapshotIds.includes(id));
        const tags = Object.entries(this.tagsOf(id)).map(([Key, Value]) => ({ Key, Value }));
        return {
          SnapshotId: id,
          OwnerId: this.account,
          State: 'completed',
          VolumeId: 'vol-ffffffff',
          VolumeSize: 8,
          Encrypted: false,
          Progress: '100%',
          StartTime: new Date(),
          ...(task ? { Description: `Created by AWS-VMImport service for ${task.id}` } : {}),
          ...(tags.length > 0 ? { Tags: tags } : {}),
        };
      }),
      ...(next ? { NextToken: next } : {}),
    };
  }

  /** The id kinds CreateTags and DeleteTags know here, and EC2's not-found code for each. */
  private ec2Taggable(id: string): Record<string, string> {
    const known = this.amis.has(id) || this.snapshots.has(id) || this.snapshotTasks.has(id);
    if (!known) {
      const code = id.startsWith('ami-') ? 'InvalidAMIID.NotFound' : id.startsWith('snap-') ? 'InvalidSnapshot.NotFound' : 'InvalidID';
      throw new AwsError(code, `The resource id '${id}' does not exist`);
    }
    const tags = this.ec2Tags.get(id) ?? (this.snapshotTasks.get(id)?.tags) ?? {};
    if (!this.ec2Tags.has(id) && !this.snapshotTasks.has(id)) this.ec2Tags.set(id, tags);
    return tags;
  }

  /**
   * Adds or overwrites tags (EC2 API reference, CreateTags). A resource may hold 50 tags:
   * beyond, TagLimitExceeded (the EC2 error code list). Keys starting aws: are refused.
   * All resources are checked before any is changed (an assumption: EC2 documents no partial success).
   */
  private createTags(input: any): unknown {
    const resources: string[] = input.Resources ?? [];
    const tags: Array<{ Key?: string; Value?: string }> = input.Tags ?? [];
    if (tags.some((t) => (t.Key ?? '').toLowerCase().startsWith('aws:'))) throw new AwsError('InvalidParameterValue', 'Tag keys starting with \'aws:\' are reserved for internal use');
    const targets = resources.map((id) => this.ec2Taggable(id));
    for (const [i, target] of targets.entries()) {
      const after = { ...target, ...Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? ''])) };
      if (Object.keys(after).length > 50) throw new AwsError('TagLimitExceeded', `The maximum number of tags for ${resources[i]} (50) would be exceeded`);
    }
    for (const target of targets) for (const t of tags) target[t.Key ?? ''] = t.Value ?? '';
    return {};
  }

  /** Removes tags by key, or by key and value when a value is given (EC2 API reference, DeleteTags). */
  private deleteTags(input: any): unknown {
    const resources: string[] = input.Resources ?? [];
    const targets = resources.map((id) => this.ec2Taggable(id));
    for (const target of targets) {
      for (const t of input.Tags ?? []) {
        if (t.Value === undefined || target[t.Key] === t.Value) delete target[t.Key];
      }
    }
    return {};
  }

  // ---------------------------------------------------------------- EC2 snapshot import (ImportSnapshot)

  /**
   * Starts a snapshot import (EC2 API reference, ImportSnapshot). ClientToken idempotency as
   * ImportImage's: the same token and parameters answer the first task, other parameters
   * IdempotentParameterMismatch. TagSpecifications tag only the task: EC2 has no tag-on-create
   * for the snapshot (boto/boto3#4659), so the snapshot starts untagged. The format must be
   * VHD, VMDK or RAW (the model's SnapshotDiskContainer documentation); anything else answers
   * InvalidParameter (the code is an assumption). KmsKeyId without Encrypted is refused (API
   * reference: "KmsKeyId ... Encrypted must be true"). Beyond maxActiveSnapshotTasks active
   * tasks: importQuotaErrorCode.
   */
  private importSnapshot(input: any): unknown {
    if (input.ClientToken) {
      const existing = [...this.snapshotTasks.values()].find((t) => t.clientToken === input.ClientToken);
      if (existing) {
        if (JSON.stringify(existing.input) !== JSON.stringify(input)) {
          throw new AwsError('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that has different parameters.');
        }
        return this.snapshotTaskView(existing);
      }
    }
    const disk = input.DiskContainer ?? {};
    if (!['VHD', 'VMDK', 'RAW'].includes(String(disk.Format ?? '').toUpperCase())) {
      throw new AwsError('InvalidParameter', `Unsupported disk format ${disk.Format}: use VHD, VMDK or RAW`);
    }
    if (!disk.Url && !(disk.UserBucket?.S3Bucket && disk.UserBucket?.S3Key)) throw new AwsError('InvalidParameter', 'The disk container needs a Url or a UserBucket');
    if (input.KmsKeyId && !input.Encrypted) throw new AwsError('InvalidParameterCombination', 'KmsKeyId requires Encrypted to be true');
    for (const spec of input.TagSpecifications ?? []) {
      if (spec.ResourceType !== 'import-snapshot-task') throw new AwsError('InvalidParameterValue', `'${spec.ResourceType}' is not a valid taggable resource type for this operation.`);
    }
    const active = [...this.snapshotTasks.values()].filter((t) => t.status === 'active').length;
    if (this.maxActiveSnapshotTasks !== undefined && active >= this.maxActiveSnapshotTasks) {
      throw new AwsError(this.importQuotaErrorCode, `You have reached the limit of ${this.maxActiveSnapshotTasks} concurrent active import snapshot tasks in this Region.`);
    }
    const planKey = disk.UserBucket?.S3Key ?? disk.Url;
    const task: FakeSnapshotTask = {
      id: this.newId('import-snap'),
      clientToken: input.ClientToken,
      input,
      plan: { steps: 3, sizeGiB: 8, ...this.snapshotPlan, ...this.snapshotPlanByDisk[planKey] },
      status: 'active',
      statusMessage: SNAPSHOT_PROGRESS_MESSAGES[0],
      describeCount: 0,
      deletingDescribes: 0,
      startedAt: this.now(),
      cancelled: false,
      forgotten: false,
      tags: Object.fromEntries((input.TagSpecifications ?? []).flatMap((spec: any) => spec.Tags ?? []).map((t: any) => [t.Key, t.Value])),
    };
    this.snapshotTasks.set(task.id, task);
    return this.snapshotTaskView(task);
  }

  /** One describe that shows a snapshot task moves it one step, as for image imports. */
  private advanceSnapshotTask(task: FakeSnapshotTask): void {
    if (task.status === 'deleting') {
      const limit = task.cancelled ? this.taskCancelDescribes : 1;
      if (task.deletingDescribes >= limit) {
        task.status = 'deleted';
        if (task.cancelled) task.statusMessage = CANCELLED_TASK_MESSAGE;
      } else {
        task.deletingDescribes++;
      }
      return;
    }
    if (task.status !== 'active') return;
    task.describeCount++;
    if (task.plan.durationMs !== undefined) {
      const share = (this.now() - task.startedAt) / task.plan.durationMs;
      if (share < 1) {
        const step = Math.min(Math.floor(share * SNAPSHOT_PROGRESS_MESSAGES.length), SNAPSHOT_PROGRESS_MESSAGES.length - 1);
        task.statusMessage = SNAPSHOT_PROGRESS_MESSAGES[step];
        return;
      }
    } else if (task.describeCount < task.plan.steps) {
      task.statusMessage = SNAPSHOT_PROGRESS_MESSAGES[Math.min(task.describeCount, SNAPSHOT_PROGRESS_MESSAGES.length - 1)];
      return;
    }
    if (task.plan.failMessage !== undefined) {
      // A failed task never gets a snapshot; it shows deleting, then deleted, with the message verbatim.
      task.statusMessage = task.plan.failMessage;
      task.status = 'deleting';
      task.deletingDescribes = 1;
      return;
    }
    task.status = 'completed';
    task.statusMessage = 'completed';
    task.snapshotId = this.newId('snap');
    this.snapshots.add(task.snapshotId);
  }

  private snapshotTaskView(task: FakeSnapshotTask): Record<string, unknown> {
    const disk = task.input.DiskContainer ?? {};
    const progress = task.plan.durationMs !== undefined
      ? Math.min(95, Math.max(1, Math.floor(100 * (this.now() - task.startedAt) / task.plan.durationMs)))
      : Math.min(95, 10 + task.describeCount * 20);
    const tags = Object.entries(task.tags).map(([Key, Value]) => ({ Key, Value }));
    return {
      ImportTaskId: task.id,
      ...(task.input.Description !== undefined ? { Description: task.input.Description } : {}),
      SnapshotTaskDetail: {
        DiskImageSize: task.plan.sizeGiB,
        Format: String(disk.Format).toUpperCase(),
        Status: task.status,
        ...(task.statusMessage !== undefined ? { StatusMessage: task.statusMessage } : {}),
        ...(task.status === 'active' ? { Progress: String(progress) } : {}),
        ...(task.snapshotId ? { SnapshotId: task.snapshotId } : {}),
        ...(disk.Url ? { Url: disk.Url } : {}),
        ...(disk.UserBucket ? { UserBucket: { S3Bucket: disk.UserBucket.S3Bucket, S3Key: disk.UserBucket.S3Key } } : {}),
        ...(task.input.Encrypted ? { Encrypted: true } : {}),
        ...(task.input.KmsKeyId ? { KmsKeyId: task.input.KmsKeyId } : {}),
      },
      ...(tags.length > 0 ? { Tags: tags } : {}),
    };
  }

  /**
   * Named tasks, or every task EC2 still describes (API reference: tasks "currently active or
   * were completed or canceled in the previous 7 days"). A malformed id answers
   * InvalidConversionTaskId.Malformed; an unknown well-formed one is left out (as for image
   * tasks: an assumption). Filters: only `task-state` is modeled, other names are ignored (the
   * API documents none by name). Listings are paged (importTaskPageSize).
   */
  private describeImportSnapshotTasks(input: any): unknown {
    const ids: string[] = input.ImportTaskIds ?? [];
    for (const id of ids) {
      if (!/^import-snap-[0-9a-f]{8,17}$/.test(id)) throw new AwsError('InvalidConversionTaskId.Malformed', `Invalid id: "${id}" (expecting "import-snap-...")`);
    }
    let tasks = [...this.snapshotTasks.values()].filter((t) => !t.forgotten && (ids.length === 0 || ids.includes(t.id)));
    tasks.forEach((t) => this.advanceSnapshotTask(t));
    for (const filter of input.Filters ?? []) {
      if (filter.Name === 'task-state') tasks = tasks.filter((t) => (filter.Values ?? []).includes(t.status));
    }
    const size = input.MaxResults ?? (ids.length === 0 ? this.importTaskPageSize : tasks.length);
    const { page, next } = paginate(tasks, input.NextToken, size, () => new AwsError('InvalidParameterValue', `Invalid NextToken: ${input.NextToken}`));
    return { ImportSnapshotTasks: page.map((t) => this.snapshotTaskView(t)), ...(next ? { NextToken: next } : {}) };
  }

  /** As for an image task: an active one goes deleting, then deleted; EC2 removes its partial snapshot (an assumption). */
  private cancelSnapshotTask(task: FakeSnapshotTask, input: any): unknown {
    if (task.forgotten) throw new AwsError('InvalidConversionTaskId', `The import task ID '${task.id}' does not exist`);
    if (task.status !== 'active') {
      throw new AwsError(this.cancelInactiveTaskErrorCode, `The import task ${task.id} is not active (${task.status}); it cannot be cancelled.`);
    }
    task.status = 'deleting';
    task.cancelled = true;
    task.deletingDescribes = 0;
    task.cancelReason = input.CancelReason;
    task.statusMessage = CANCELLING_TASK_MESSAGE;
    return { ImportTaskId: task.id, PreviousState: 'active', State: 'deleting' };
  }

  /**
   * Registers an AMI from snapshots (EC2 API reference, RegisterImage). AMI names are unique per
   * account and Region: a name in use answers InvalidAMIName.Duplicate (EC2 error code list).
   * Every snapshot must exist (InvalidSnapshot.NotFound); the root device must be one of the
   * mappings (InvalidBlockDeviceMapping: the code is an assumption). TagSpecifications may only
   * tag the image ("If you specify another value for ResourceType, the request fails").
   * RegisterImage takes no client token (the model has none). The AMI reads pending for
   * amiPendingDescribes describes, then available, or failed with registerFailureMessage.
   */
  private registerImage(input: any): unknown {
    if (input.ImageLocation) throw new AwsError('InvalidParameterValue', 'The fake models only AMIs registered from EBS snapshots');
    const taken = [...this.amis.values()].find((ami) => this.amiName(ami) === input.Name);
    if (taken) throw new AwsError('InvalidAMIName.Duplicate', `AMI name ${input.Name} is already in use by AMI ${taken.id}`);
    const mappings: any[] = input.BlockDeviceMappings ?? [];
    const snapshotIds = mappings.map((m) => m.Ebs?.SnapshotId).filter(Boolean);
    const missing = snapshotIds.filter((id: string) => !this.snapshots.has(id));
    if (missing.length > 0) throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${missing.join(', ')}' does not exist.`);
    if (!mappings.some((m) => m.DeviceName === input.RootDeviceName)) {
      throw new AwsError('InvalidBlockDeviceMapping', `The root device name ${input.RootDeviceName} is not in the block device mapping`);
    }
    for (const spec of input.TagSpecifications ?? []) {
      if (spec.ResourceType !== 'image') throw new AwsError('InvalidParameterValue', `'${spec.ResourceType}' is not a valid taggable resource type for this operation.`);
    }
    const id = this.newId('ami');
    this.amis.set(id, {
      id,
      snapshotIds,
      register: {
        input,
        name: input.Name,
        creationDate: new Date(this.now()).toISOString(),
        state: 'pending',
        describes: 0,
        ...(this.registerFailureMessage ? { stateReason: { Code: 'Client.InvalidSnapshot', Message: this.registerFailureMessage } } : {}),
      },
    });
    const tags = Object.fromEntries((input.TagSpecifications ?? []).flatMap((spec: any) => spec.Tags ?? []).map((t: any) => [t.Key, t.Value]));
    if (Object.keys(tags).length > 0) this.ec2Tags.set(id, tags);
    return { ImageId: id };
  }

  // ---------------------------------------------------------------- CloudFormation

  private cloudFormationOperation(operation: string, input: any): unknown {
    switch (operation) {
      case 'DescribeStacks': return this.describeStacks(input);
      case 'DescribeStackResource': return this.describeStackResource(input);
      default:
        this.problems.push(`cloudformation ${operation}: the fake does not implement it (add it, or the handler calls something unexpected)`);
        throw new AwsError('InvalidAction', `The fake does not support ${operation}.`);
    }
  }

  /**
   * A stack by name or unique id; a deleted stack (DELETE_COMPLETE) only by its id (the
   * model's StackName documentation). Unknown: ValidationError "Stack with id X does not
   * exist", as CloudFormation answers (boto/boto3#2807 shows the wire response).
   */
  private stack(nameOrId: string): FakeStack {
    const byId = this.stacks.get(nameOrId);
    const found = byId ?? [...this.stacks.values()].find((s) => s.stackName === nameOrId && s.status !== 'DELETE_COMPLETE');
    if (!found) throw new AwsError('ValidationError', `Stack with id ${nameOrId} does not exist`);
    return found;
  }

  private describeStacks(input: any): unknown {
    const stacks = input.StackName !== undefined ? [this.stack(input.StackName)] : [...this.stacks.values()].filter((s) => s.status !== 'DELETE_COMPLETE');
    return {
      Stacks: stacks.map((s) => ({
        StackId: s.stackId,
        StackName: s.stackName,
        CreationTime: s.created,
        StackStatus: s.status,
        ...(s.reason !== undefined ? { StackStatusReason: s.reason } : {}),
      })),
    };
  }

  /**
   * A resource the stack lacks: ValidationError "Resource X does not exist for stack Y",
   * Y as the request named it (the wording of AWS CLI errors in public issues, e.g.
   * aws-samples/amazon-rekognition-video-analyzer#23; moto and localstack answer the same).
   */
  private describeStackResource(input: any): unknown {
    const stack = this.stack(input.StackName);
    const resource = stack.resources.get(input.LogicalResourceId);
    if (!resource) throw new AwsError('ValidationError', `Resource ${input.LogicalResourceId} does not exist for stack ${input.StackName}`);
    return {
      StackResourceDetail: {
        StackName: stack.stackName,
        StackId: stack.stackId,
        LogicalResourceId: input.LogicalResourceId,
        ...(resource.physicalId !== undefined ? { PhysicalResourceId: resource.physicalId } : {}),
        ResourceType: resource.type,
        LastUpdatedTimestamp: resource.lastUpdated,
        ResourceStatus: resource.status,
        ...(resource.reason !== undefined ? { ResourceStatusReason: resource.reason } : {}),
      },
    };
  }

  // ---------------------------------------------------------------- Step Functions (awsJson1_0)

  private awsJsonRequest(request: ParsedRequest): unknown {
    const service = 'sfn';
    const model = loadServiceModel(service);
    const wire: string[] = [];
    if (request.method !== 'POST' || request.rawPath !== '/') wire.push(`awsJson requests are POST /, got ${request.method} ${request.rawPath}`);
    const contentType = `application/x-amz-json-${model.metadata.jsonVersion}`;
    if (!String(request.headers['content-type']).startsWith(contentType)) wire.push(`content-type ${request.headers['content-type']} is not ${contentType}`);
    const target = String(request.headers['x-amz-target'] ?? '');
    const prefix = `${model.metadata.targetPrefix}.`;
    const operation = target.startsWith(prefix) ? target.slice(prefix.length) : '';
    const op = model.operations[operation];
    if (!op) {
      this.calls.push({ service, operation: target, input: undefined });
      this.problems.push(`sfn: X-Amz-Target ${JSON.stringify(target)} names no operation`);
      throw new AwsError('UnknownOperationException', `no operation for X-Amz-Target ${target}`);
    }
    let body: unknown = {};
    try {
      body = JSON.parse(request.body.toString('utf8') || '{}');
    } catch {
      wire.push(`the body is not JSON: ${request.body.toString('utf8').slice(0, 80)}`);
    }
    const input = op.input ? decodeJsonValue(model, op.input.shape, body, '', wire) as Record<string, unknown> : {};
    this.admit(service, operation, input, request, wire);
    const output = this.sfnOperation(operation, input);
    if (op.output) {
      const problems = validateShape(service, op.output.shape, output);
      if (problems.length > 0) throw new Error(`the fake's own ${operation} response breaks the model: ${problems.join('; ')}`);
    }
    return toJsonWire(output);
  }

  private sfnOperation(operation: string, input: any): unknown {
    switch (operation) {
      case 'StartExecution': return this.startExecution(input);
      case 'StopExecution': return this.stopExecution(input);
      case 'DescribeExecution': return this.describeExecutionOp(input);
      case 'ListExecutions': return this.listExecutions(input);
      default:
        this.problems.push(`sfn ${operation}: the fake does not implement it (add it, or the handler calls something unexpected)`);
        throw new AwsError('UnsupportedOperation', `The fake does not support ${operation}.`);
    }
  }

  /**
   * The fake knows no state machines: any well-formed state machine ARN of this account and
   * Region is accepted (an assumption; AWS answers StateMachineDoesNotExist for unknown ones).
   * Idempotent per the API reference: the same name and input as a RUNNING execution returns
   * the same executionArn and startDate; a closed execution or another input answers
   * ExecutionAlreadyExists. Input must be JSON (InvalidExecutionInput); names follow the
   * characters the model's documentation forbids (InvalidName).
   */
  private startExecution(input: any): unknown {
    const m = new RegExp(`^arn:aws:states:${this.region}:${this.account}:stateMachine:([A-Za-z0-9_-]{1,80})$`).exec(input.stateMachineArn);
    if (!m) throw new AwsError('InvalidArn', `Invalid Arn: '${input.stateMachineArn}'`);
    const name: string = input.name ?? randomUUID();
    // White space, brackets, wildcards, the listed specials, control characters.
    const control = [...name].some((c) => c.codePointAt(0)! < 0x20 || (c.codePointAt(0)! >= 0x7f && c.codePointAt(0)! <= 0x9f));
    if (control || /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/.test(name)) throw new AwsError('InvalidName', `Invalid Name: '${name}'`);
    const rawInput: string = input.input ?? '{}';
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawInput);
    } catch {
      throw new AwsError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${rawInput.slice(0, 100)}'`);
    }
    const arn = `arn:aws:states:${this.region}:${this.account}:execution:${m[1]}:${name}`;
    const existing = this.executions.get(arn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.rawInput === rawInput) return { executionArn: arn, startDate: existing.startDate };
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const execution: FakeExecution = { arn, stateMachineArn: input.stateMachineArn, name, rawInput, input: parsed, startDate: new Date(), status: 'RUNNING' };
    this.executions.set(arn, execution);
    return { executionArn: arn, startDate: execution.startDate };
  }

  private execution(arn: string): FakeExecution {
    if (!/^arn:aws:states:[^:]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn)) throw new AwsError('InvalidArn', `Invalid Arn: '${arn}'`);
    const execution = this.executions.get(arn);
    if (!execution) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return execution;
  }

  private stopExecution(input: any): unknown {
    const execution = this.execution(input.executionArn);
    if (execution.status !== 'RUNNING') {
      // See stopFinishedExecutionErrorCode: unverified, so configurable.
      if (this.stopFinishedExecutionErrorCode) {
        throw new AwsError(this.stopFinishedExecutionErrorCode, `Execution ${execution.arn} is ${execution.status}`);
      }
      return { stopDate: execution.stopDate! };
    }
    execution.status = 'ABORTED';
    execution.stopDate = new Date();
    execution.error = input.error;
    execution.cause = input.cause;
    return { stopDate: execution.stopDate };
  }

  private describeExecutionOp(input: any): unknown {
    const e = this.execution(input.executionArn);
    return {
      executionArn: e.arn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
      ...(e.stopDate ? { stopDate: e.stopDate } : {}),
      input: e.rawInput,
      inputDetails: { included: true },
      ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    };
  }

  /** Newest first (API reference); maxResults 0 or absent means the default page (executionPageSize here). */
  private listExecutions(input: any): unknown {
    if (input.mapRunArn !== undefined || input.stateMachineArn === undefined) {
      this.problems.push('sfn ListExecutions: the fake lists by stateMachineArn only');
      throw new AwsError('ValidationException', 'The fake lists executions by stateMachineArn only.');
    }
    const all = [...this.executions.values()]
      .filter((e) => e.stateMachineArn === input.stateMachineArn && (!input.statusFilter || e.status === input.statusFilter))
      .reverse()
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
    const size = input.maxResults ? input.maxResults : this.executionPageSize;
    const { page, next } = paginate(all, input.nextToken, size, () => new AwsError('InvalidToken', `Invalid Token: '${input.nextToken}'`));
    return {
      executions: page.map((e) => ({
        executionArn: e.arn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate,
        ...(e.stopDate ? { stopDate: e.stopDate } : {}),
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  // ---------------------------------------------------------------- Image Builder rest-json

  private imageBuilderRequest(request: ParsedRequest, requestId: string): unknown {
    const model = loadServiceModel('imagebuilder');
    const match = matchRestOperation(model, request);
    if (!match) {
      this.calls.push({ service: 'imagebuilder', operation: `${request.method} ${request.rawPath}`, input: undefined });
      this.problems.push(`imagebuilder: no operation is routed at ${request.method} ${request.rawPath}`);
      throw new AwsError('UnknownOperationException', `no operation at ${request.method} ${request.rawPath}`, 404);
    }
    const wire: string[] = [];
    const input = decodeRestJsonInput(model, match.operation, match.labels, request, wire);
    this.admit('imagebuilder', match.operation, input, request, wire);
    const outputShape = model.operations[match.operation].output?.shape;
    const result = this.imageBuilderOperation(match.operation, input) as object;
    // Image Builder answers with its requestId wherever the output has the member.
    const output = outputShape && model.shapes[outputShape].members?.requestId ? { requestId, ...result } : result;
    if (outputShape) {
      const problems = validateShape('imagebuilder', outputShape, output);
      if (problems.length > 0) throw new Error(`the fake's own ${match.operation} response breaks the model: ${problems.join('; ')}`);
    }
    return output;
  }

  private imageBuilderOperation(operation: string, input: any): unknown {
    switch (operation) {
      case 'ImportVmImage': return this.importVmImage(input);
      case 'DistributeImage': return this.distributeImage(input);
      case 'ListImages': return this.listImages(input);
      case 'GetImage': return this.getImage(input);
      case 'ListImageBuildVersions': return this.listImageBuildVersions(input);
      case 'ListImageRecipes': return this.listImageRecipes(input);
      case 'GetImagePolicy': return this.getImagePolicy(input);
      case 'CancelImageCreation': return this.cancelImageCreation(input);
      case 'DeleteImage': return this.deleteImage(input);
      case 'CreateDistributionConfiguration': return this.createDistributionConfiguration(input);
      case 'UpdateDistributionConfiguration': return this.updateDistributionConfiguration(input);
      case 'DeleteDistributionConfiguration': return this.deleteDistributionConfiguration(input);
      case 'GetDistributionConfiguration': return this.getDistributionConfiguration(input);
      case 'ListImagePipelines': return this.listImagePipelines(input);
      case 'TagResource': return this.tagResource(input);
      case 'UntagResource': return this.untagResource(input);
      default:
        this.problems.push(`imagebuilder ${operation}: the fake does not implement it (add it, or the handler calls something unexpected)`);
        throw new AwsError('InvalidRequestException', `The fake does not support ${operation}.`);
    }
  }

  private importVmImage(input: any): unknown {
    const same = [...this.images.values()].find((i) => i.clientToken === input.clientToken);
    if (same) {
      if (JSON.stringify(same.input) !== JSON.stringify(input)) {
        throw new AwsError('IdempotentParameterMismatchException', 'The client token is already used for a request with other parameters.');
      }
      return { imageArn: same.arn, clientToken: input.clientToken };
    }
    const task = this.importTasks.get(input.vmImportTaskId);
    if (!task) throw new AwsError('InvalidRequestException', `The VM import task ${input.vmImportTaskId} does not exist.`);
    const versionArn = `arn:aws:imagebuilder:${this.region}:${this.account}:image/${input.name.toLowerCase()}/${input.semanticVersion}`;
    const last = this.buildCounters.get(versionArn) ?? 0;
    if (last > 0 && this.refuseSameNameVersion) {
      throw new AwsError('ResourceAlreadyExistsException', `The image with name ${input.name} and version ${input.semanticVersion} already exists.`);
    }
    const buildVersion = last + 1;
    this.buildCounters.set(versionArn, buildVersion);
    const arn = `${versionArn}/${buildVersion}`;
    this.images.set(arn, {
      arn,
      name: input.name,
      version: input.semanticVersion,
      buildVersion,
      platform: input.platform,
      osVersion: input.osVersion,
      vmImportTaskId: input.vmImportTaskId,
      clientToken: input.clientToken,
      input,
      dateCreated: new Date().toISOString(),
      tags: { ...(input.tags ?? {}) },
      cancelled: false,
      getsAfterTaskEnded: 0,
      getsAfterCancel: 0,
      inUse: false,
    });
    return { imageArn: arn, clientToken: input.clientToken };
  }

  image(arn: string): FakeImage {
    const image = this.images.get(arn);
    if (!image) throw new AwsError('ResourceNotFoundException', `The image ${arn} cannot be found.`, 404);
    return image;
  }

  /**
   * Image Builder follows the import task: PENDING while it runs, then AVAILABLE with its
   * AMI (or FAILED: imageFailureReason). After the task failed or was cancelled, or after
   * CancelImageCreation, the image stays non-terminal for imageSettleGets GetImage calls
   * (BUILDING; PENDING while the task still runs), then reads FAILED or CANCELLED.
   */
  imageStatus(image: FakeImage): { status: string; reason?: string } {
    if (image.distribution) return this.distributionStatus(image, image.distribution);
    const task = this.importTasks.get(image.vmImportTaskId);
    const running = !task || task.status === 'active';
    if (image.cancelled) {
      if (image.getsAfterCancel < this.imageSettleGets) return { status: running ? 'PENDING' : 'BUILDING' };
      return { status: 'CANCELLED', reason: 'Image creation cancelled by the user' };
    }
    if (running) return { status: 'PENDING' };
    if (task.status === 'completed') {
      if (image.getsAfterTaskEnded < (task.plan.imageLag ?? 0)) return { status: 'PENDING' };
      return task.plan.imageFailureReason !== undefined ? { status: 'FAILED', reason: task.plan.imageFailureReason } : { status: 'AVAILABLE' };
    }
    if (image.getsAfterTaskEnded < Math.max(this.imageSettleGets, task.plan.imageLag ?? 0)) return { status: 'BUILDING' };
    // state.reason is at most 1024 characters (code points) in the model; cut without splitting a character.
    return { status: 'FAILED', reason: [...`VM import task ${task.id} failed: ${task.statusMessage ?? task.status}`].slice(0, 1024).join('') };
  }

  private getImage(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    const view = this.imageView(image);
    if (this.importTasks.get(image.vmImportTaskId)?.status !== 'active') image.getsAfterTaskEnded++;
    if (image.cancelled) image.getsAfterCancel++;
    if (image.distribution && !image.cancelled) image.distribution.gets++;
    return { image: view };
  }

  private imageView(image: FakeImage): Record<string, unknown> {
    const state = this.imageStatus(image);
    const task = this.importTasks.get(image.vmImportTaskId);
    const ami = state.status === 'AVAILABLE' && task?.imageId && this.amis.has(task.imageId) ? task.imageId : undefined;
    if (image.distribution) return this.distributedImageView(image, image.distribution, state);
    return {
      arn: image.arn,
      type: 'AMI',
      name: image.name,
      version: image.version,
      platform: image.platform,
      ...(image.osVersion ? { osVersion: image.osVersion } : {}),
      state,
      dateCreated: image.dateCreated,
      buildType: 'IMPORT',
      imageSource: 'IMPORTED',
      outputResources: { amis: ami ? [{ region: this.region, image: ami, name: image.name, accountId: this.account }] : [] },
      ...(Object.keys(image.tags).length > 0 ? { tags: image.tags } : {}),
    };
  }

  /**
   * The build versions of one image version (imageVersionArn .../image/<name>/<version>),
   * as ImageSummary. Filters: the ones the model documents for this call (name, osVersion,
   * platform, type, version); any other name answers InvalidParameterValueException (an
   * assumption). An unknown version lists nothing (an assumption).
   */
  private listImageBuildVersions(input: any): unknown {
    let images = [...this.images.values()].filter((i) => i.arn.startsWith(`${input.imageVersionArn}/`)).sort((a, b) => a.buildVersion - b.buildVersion);
    const fields: Record<string, (i: FakeImage) => string | undefined> = {
      name: (i) => i.name, osVersion: (i) => i.osVersion, platform: (i) => i.platform, type: () => 'AMI', version: (i) => i.version,
    };
    images = images.filter((i) => imageBuilderFilter(input.filters, fields, i));
    const { page, next } = paginate(images, input.nextToken, input.maxResults ?? this.imageBuilderListPageSize,
      () => new AwsError('InvalidPaginationTokenException', 'Invalid nextToken.'));
    return {
      imageSummaryList: page.map((i) => {
        const v = this.imageView(i);
        // ImageSummary has these members of Image, plus owner.
        const keys = ['arn', 'name', 'type', 'version', 'platform', 'osVersion', 'state', 'dateCreated', 'outputResources', 'tags', 'buildType', 'imageSource'];
        return { ...Object.fromEntries(keys.filter((k) => v[k] !== undefined).map((k) => [k, v[k]])), owner: this.account };
      }),
      ...(next ? { nextToken: next } : {}),
    };
  }

  /** Recipes of owner Self (the default owner per the model); filters name, parentImage, platform (the model's list). */
  private listImageRecipes(input: any): unknown {
    const owner = input.owner ?? 'Self';
    const fields: Record<string, (r: FakeRecipe) => string | undefined> = {
      name: (r) => r.name, parentImage: (r) => r.parentImage, platform: (r) => r.platform,
    };
    const recipes = owner === 'Self' ? this.recipes.filter((r) => imageBuilderFilter(input.filters, fields, r)) : [];
    const { page, next } = paginate(recipes, input.nextToken, input.maxResults ?? this.imageBuilderListPageSize,
      () => new AwsError('InvalidPaginationTokenException', 'Invalid nextToken.'));
    return {
      imageRecipeSummaryList: page.map((r) => ({
        arn: r.arn, name: r.name, platform: r.platform, owner: this.account, parentImage: r.parentImage, dateCreated: '2024-01-01T00:00:00.000Z',
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  /** An image without a policy answers ResourceNotFoundException (an assumption). */
  private getImagePolicy(input: any): unknown {
    const image = this.image(input.imageArn);
    if (image.policy === undefined) throw new AwsError('ResourceNotFoundException', `The image ${image.arn} has no resource policy.`, 404);
    return { policy: image.policy };
  }

  /**
   * Only a non-terminal image can be cancelled (API reference); a terminal one answers
   * cancelTerminalErrorCode, with the model's status when the model lists that code and
   * 400 otherwise. A second cancel while it settles is accepted (an assumption).
   */
  private cancelImageCreation(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    const status = this.imageStatus(image).status;
    if (TERMINAL_IMAGE_STATUSES.has(status)) {
      const code = this.cancelTerminalErrorCode;
      throw new AwsError(code, `The image ${image.arn} is ${status}: only images in a non-terminal state can be cancelled.`,
        modeledErrorStatus('imagebuilder', code) ?? 400);
    }
    if (!image.cancelled) {
      image.cancelled = true;
      image.getsAfterCancel = 0;
    }
    return { clientToken: input.clientToken, imageBuildVersionArn: image.arn };
  }

  /**
   * ResourceDependencyException while a recipe uses the image, while it is shared (a
   * policy), and while it is not terminal (aws-facts.md: DeleteImage refuses until then).
   * The AMI and its snapshots stay: DeleteImage removes only the Image Builder resource.
   */
  private deleteImage(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    const versionArn = image.arn.slice(0, image.arn.lastIndexOf('/'));
    const recipe = this.recipes.find((r) => r.parentImage === image.arn || r.parentImage === versionArn);
    if (image.inUse || recipe) {
      throw new AwsError('ResourceDependencyException', `The image ${image.arn} is in use by an image recipe${recipe ? ` (${recipe.arn})` : ''}.`);
    }
    if (image.policy !== undefined) throw new AwsError('ResourceDependencyException', `The image ${image.arn} is shared with other accounts.`);
    const status = this.imageStatus(image).status;
    if (!TERMINAL_IMAGE_STATUSES.has(status)) {
      throw new AwsError('ResourceDependencyException', `The image ${image.arn} cannot be deleted while it is being created (${status}).`);
    }
    this.images.delete(image.arn);
    return { imageBuildVersionArn: image.arn };
  }

  // ---------------------------------------------------------------- DistributeImage

  /**
   * DistributeImage (API reference): sourceImage is an AMI id, `ssm:<parameter>` or an
   * Image Builder image ARN, which must be AVAILABLE (a version ARN resolves to its newest
   * AVAILABLE build); the distribution configuration must exist. Idempotent by clientToken
   * (same parameters: the first answer; others: IdempotentParameterMismatchException).
   * The name and version Image Builder gives the distributed image are not documented:
   * here an image source's own name and version with the next build number, and for an
   * AMI or SSM source the AMI id (or parameter path) as name and 1.0.0 (assumptions; the
   * handlers must not depend on them). An AMI source must be an AMI the fake knows (the
   * import made it); an SSM parameter is not resolved (the fake has no SSM).
   */
  private distributeImage(input: any): unknown {
    const same = [...this.images.values()].find((i) => i.distribution && i.clientToken === input.clientToken);
    if (same) {
      if (JSON.stringify(same.distribution!.input) !== JSON.stringify(input)) {
        throw new AwsError('IdempotentParameterMismatchException', 'The client token is already used for a request with other parameters.');
      }
      return { clientToken: input.clientToken, imageBuildVersionArn: same.arn };
    }
    const config = this.distributionConfiguration(input.distributionConfigurationArn);
    const running = [...this.images.values()].filter((i) => i.distribution && !TERMINAL_IMAGE_STATUSES.has(this.imageStatus(i).status)).length;
    if (this.maxRunningDistributions !== undefined && running >= this.maxRunningDistributions) {
      throw new AwsError('ServiceQuotaExceededException', `You have reached the limit of ${this.maxRunningDistributions} concurrent distributions.`);
    }
    const source: string = input.sourceImage;
    let name: string;
    let version: string;
    let platform = 'Linux';
    if (source.startsWith('arn:')) {
      const image = this.resolveSourceImage(source);
      name = image.name.toLowerCase();
      version = image.version;
      platform = image.platform;
    } else if (source.startsWith('ssm:')) {
      name = `ssm${source.slice(4).toLowerCase().replace(/[^a-z0-9-_]/g, '-')}`;
      version = '1.0.0';
    } else {
      if (!this.amis.has(source)) throw new AwsError('InvalidRequestException', `The source image ${source} does not exist.`);
      name = source;
      version = '1.0.0';
    }
    const versionArn = `arn:aws:imagebuilder:${this.region}:${this.account}:image/${name}/${version}`;
    const buildVersion = Math.max(this.buildCounters.get(versionArn) ?? 0,
      ...[...this.images.values()].filter((i) => i.arn.startsWith(`${versionArn}/`)).map((i) => i.buildVersion)) + 1;
    this.buildCounters.set(versionArn, buildVersion);
    const arn = `${versionArn}/${buildVersion}`;
    this.images.set(arn, {
      arn,
      name,
      version,
      buildVersion,
      platform,
      vmImportTaskId: '',
      clientToken: input.clientToken,
      input,
      dateCreated: new Date(this.now()).toISOString(),
      tags: { ...(input.tags ?? {}) },
      cancelled: false,
      getsAfterTaskEnded: 0,
      getsAfterCancel: 0,
      inUse: false,
      distribution: {
        plan: { steps: 3, ...this.distributionPlan },
        input,
        startedAt: this.now(),
        gets: 0,
        amis: config.distributions.map((d: any) => ({ region: d.region, image: this.newId('ami') })),
      },
    });
    return { clientToken: input.clientToken, imageBuildVersionArn: arn };
  }

  private resolveSourceImage(arn: string): FakeImage {
    const direct = this.images.get(arn);
    const image = direct ?? [...this.images.values()]
      .filter((i) => i.arn.startsWith(`${arn}/`) && this.imageStatus(i).status === 'AVAILABLE')
      .sort((a, b) => b.buildVersion - a.buildVersion)[0];
    if (!image) throw new AwsError('ResourceNotFoundException', `The image ${arn} cannot be found.`, 404);
    const status = this.imageStatus(image).status;
    if (status !== 'AVAILABLE') throw new AwsError('InvalidRequestException', `The image ${arn} is ${status}; only AVAILABLE images can be distributed.`);
    return image;
  }

  /**
   * PENDING at the first read, then DISTRIBUTING until the plan's steps (or duration) are
   * done, then AVAILABLE with one AMI per Region, or FAILED with the plan's reason. After
   * CancelImageCreation it stays DISTRIBUTING for imageSettleGets reads, then CANCELLED
   * (as an imported image does: aws-facts.md).
   */
  private distributionStatus(image: FakeImage, distribution: FakeDistribution): { status: string; reason?: string } {
    if (image.cancelled) {
      if (image.getsAfterCancel < this.imageSettleGets) return { status: 'DISTRIBUTING' };
      return { status: 'CANCELLED', reason: 'Image creation cancelled by the user' };
    }
    const { plan } = distribution;
    const running = plan.durationMs !== undefined ? this.now() - distribution.startedAt < plan.durationMs : distribution.gets < plan.steps;
    if (running) return { status: distribution.gets === 0 ? 'PENDING' : 'DISTRIBUTING' };
    if (plan.failureReason !== undefined) return { status: 'FAILED', reason: [...plan.failureReason].slice(0, 1024).join('') };
    return { status: 'AVAILABLE' };
  }

  private distributedImageView(
    image: FakeImage, distribution: FakeDistribution, state: { status: string; reason?: string },
  ): Record<string, unknown> {
    const done = state.status === 'AVAILABLE';
    return {
      arn: image.arn,
      type: 'AMI',
      name: image.name,
      version: image.version,
      platform: image.platform,
      state,
      dateCreated: image.dateCreated,
      outputResources: { amis: done ? distribution.amis.map((ami) => ({ ...ami, name: image.name, accountId: this.account })) : [] },
      ...(Object.keys(image.tags).length > 0 ? { tags: image.tags } : {}),
    };
  }

  /**
   * ListImages: the image VERSIONS of owner Self (the model's default owner), as
   * ImageVersion, which carries no tags; filters name, osVersion, platform, type, version
   * (the model's list); pages of imageBuilderListPageSize unless maxResults.
   */
  private listImages(input: any): unknown {
    const owner = input.owner ?? 'Self';
    const versions = new Map<string, FakeImage>();
    for (const image of [...this.images.values()].sort((a, b) => a.arn.localeCompare(b.arn))) {
      const versionArn = image.arn.slice(0, image.arn.lastIndexOf('/'));
      if (!versions.has(versionArn)) versions.set(versionArn, image);
    }
    const fields: Record<string, (i: FakeImage) => string | undefined> = {
      name: (i) => i.name, osVersion: (i) => i.osVersion, platform: (i) => i.platform, type: () => 'AMI', version: (i) => i.version,
    };
    const listed = owner === 'Self' ? [...versions.entries()].filter(([, i]) => imageBuilderFilter(input.filters, fields, i)) : [];
    const { page, next } = paginate(listed, input.nextToken, input.maxResults ?? this.imageBuilderListPageSize,
      () => new AwsError('InvalidPaginationTokenException', 'Invalid nextToken.'));
    return {
      imageVersionList: page.map(([arn, i]) => ({
        arn, name: i.name, type: 'AMI', version: i.version, platform: i.platform, owner: this.account, dateCreated: i.dateCreated,
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  private distributionConfiguration(arn: string): FakeDistributionConfiguration {
    const config = this.distributionConfigurations.get(arn);
    if (!config) throw new AwsError('ResourceNotFoundException', `The distribution configuration ${arn} cannot be found.`, 404);
    return config;
  }

  private checkDistributions(distributions: any[]): void {
    const regions = distributions.map((d) => d.region);
    if (new Set(regions).size !== regions.length) {
      throw new AwsError('InvalidParameterCombinationException', 'Each Region may appear only once in a distribution configuration.');
    }
  }

  private createDistributionConfiguration(input: any): unknown {
    const same = [...this.distributionConfigurations.values()].find((c) => c.clientToken === input.clientToken);
    if (same) return { clientToken: input.clientToken, distributionConfigurationArn: same.arn };
    const arn = `arn:aws:imagebuilder:${this.region}:${this.account}:distribution-configuration/${input.name.toLowerCase().replace(/[^a-z0-9-_]/g, '-')}`;
    if (this.distributionConfigurations.has(arn)) {
      throw new AwsError('ResourceAlreadyExistsException', `The distribution configuration ${arn} already exists.`);
    }
    this.checkDistributions(input.distributions);
    this.distributionConfigurations.set(arn, {
      arn,
      name: input.name,
      clientToken: input.clientToken,
      description: input.description,
      distributions: input.distributions,
      tags: { ...(input.tags ?? {}) },
    });
    return { clientToken: input.clientToken, distributionConfigurationArn: arn };
  }

  private updateDistributionConfiguration(input: any): unknown {
    const config = this.distributionConfiguration(input.distributionConfigurationArn);
    this.checkDistributions(input.distributions);
    config.description = input.description;
    config.distributions = input.distributions;
    return { clientToken: input.clientToken, distributionConfigurationArn: config.arn };
  }

  private deleteDistributionConfiguration(input: any): unknown {
    const config = this.distributionConfiguration(input.distributionConfigurationArn);
    if (this.pipelines.some((p) => p.distributionConfigurationArn === config.arn)) {
      throw new AwsError('ResourceDependencyException', `The distribution configuration ${config.arn} is referenced by an image pipeline.`);
    }
    this.distributionConfigurations.delete(config.arn);
    return { distributionConfigurationArn: config.arn };
  }

  private getDistributionConfiguration(input: any): unknown {
    const c = this.distributionConfiguration(input.distributionConfigurationArn);
    return {
      distributionConfiguration: {
        arn: c.arn,
        name: c.name,
        distributions: c.distributions,
        timeoutMinutes: 720,
        dateCreated: '2024-01-01T00:00:00.000Z',
        ...(c.description ? { description: c.description } : {}),
        ...(Object.keys(c.tags).length > 0 ? { tags: c.tags } : {}),
      },
    };
  }

  private listImagePipelines(input: any): unknown {
    const { page, next } = paginate(this.pipelines, input.nextToken, input.maxResults ?? this.pipelinePageSize,
      () => new AwsError('InvalidPaginationTokenException', 'Invalid nextToken.'));
    return {
      imagePipelineList: page.map((p) => ({ arn: p.arn, name: p.name, platform: 'Linux', status: 'ENABLED', distributionConfigurationArn: p.distributionConfigurationArn })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  private taggable(arn: string): { tags: Record<string, string> } {
    const found = this.images.get(arn) ?? this.distributionConfigurations.get(arn);
    if (!found) throw new AwsError('ResourceNotFoundException', `The resource ${arn} cannot be found.`, 404);
    return found;
  }

  private tagResource(input: any): unknown {
    const resource = this.taggable(input.resourceArn);
    resource.tags = { ...resource.tags, ...input.tags };
    return {};
  }

  private untagResource(input: any): unknown {
    const resource = this.taggable(input.resourceArn);
    resource.tags = Object.fromEntries(Object.entries(resource.tags).filter(([k]) => !input.tagKeys.includes(k)));
    return {};
  }

  private sendJson(res: http.ServerResponse, requestId: string, status: number, body: unknown, contentType: string): void {
    res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': requestId });
    res.end(JSON.stringify(body));
  }

  // ---------------------------------------------------------------- wait condition signals (S3 presigned PUT)

  /** SigV4 query presigning for S3: the path is the object key encoded once, the payload unsigned. */
  private presignature(path: string, query: string, host: string): string {
    const params = new URLSearchParams(query);
    const date = String(params.get('X-Amz-Date'));
    const canonicalRequest = ['PUT', path, canonicalQuery(query), `host:${host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const scope = `${date.slice(0, 8)}/${this.region}/s3/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
    let key: Buffer = hmac(`AWS4${HANDLE_SECRET_ACCESS_KEY}`, date.slice(0, 8));
    for (const part of [this.region, 's3', 'aws4_request']) key = hmac(key, part);
    return createHmac('sha256', key).update(stringToSign).digest('hex');
  }

  /**
   * A PUT of a signal to a handle URL, answered as S3 answers (200 with an empty body,
   * or an S3 XML error). Method PUT, Content-Type empty or absent, and a JSON body with
   * Status SUCCESS | FAILURE and string Reason, UniqueId, Data: the CloudFormation user
   * guide ("Create wait conditions in a CloudFormation template"). S3 stores any body, so
   * a malformed signal is answered 200 but not counted (CloudFormation cannot read it),
   * and recorded as a problem. Signals are counted per UniqueId (see signalReuse).
   */
  private waitConditionSignal(request: ParsedRequest, res: http.ServerResponse): void {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const path = request.rawPath;
    const key = path.split('/').slice(2).map(safeDecode).join('/');
    const handle = [...this.handles.values()].find((h) => h.key === key && path.startsWith(`/${WAIT_CONDITION_BUCKET_PREFIX}${this.region}/`));
    const contentType = request.headers['content-type'];
    const body = request.body.toString('utf8');
    const answer = (status: number, code?: string, message?: string) => {
      const attempt = { handle: handle?.name ?? key, method: request.method, status, body };
      this.signalAttempts.push(contentType !== undefined ? { ...attempt, contentType } : attempt);
      if (code) {
        this.problems.push(`wait condition signal ${request.method} ${path}: ${code}: ${message}`);
        res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message ?? '')}</Message><RequestId>${requestId}</RequestId></Error>`);
      } else {
        res.writeHead(status, { 'x-amz-request-id': requestId, 'etag': `"${createHash('md5').update(request.body).digest('hex')}"`, 'content-length': '0' });
        res.end();
      }
    };
    if (!handle) return answer(403, 'AccessDenied', `no wait condition handle at ${path}`);
    if (request.headers.authorization) return answer(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter should be specified');
    const params = new URLSearchParams(request.rawQuery);
    const signature = params.get('X-Amz-Signature');
    const unsigned = request.rawQuery.split('&').filter((p) => !p.startsWith('X-Amz-Signature=')).join('&');
    const canonicalUri = path.split('/').map((segment) => uriEscape(safeDecode(segment))).join('/');
    const host = String(request.headers.host ?? '');
    // The signature covers the method, so anything but PUT fails it too, as in S3.
    const expected = request.method === 'PUT' ? this.presignature(canonicalUri, unsigned, host) : undefined;
    if (!signature || signature !== expected) {
      return answer(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    }
    if (this.signalContentTypeStrict && contentType !== undefined && contentType !== '') {
      return answer(403, 'SignatureDoesNotMatch', `The request signature we calculated does not match the signature you provided (Content-Type ${JSON.stringify(contentType)} was not signed).`);
    }
    let signal: any;
    try {
      signal = JSON.parse(body);
    } catch {
      signal = undefined;
    }
    const bad = !signal || typeof signal !== 'object' || !['SUCCESS', 'FAILURE'].includes(signal.Status)
      || ['Reason', 'UniqueId', 'Data'].some((k) => typeof signal[k] !== 'string');
    if (bad) {
      this.problems.push(`wait condition signal to ${handle.name}: not {Status: SUCCESS|FAILURE, Reason, UniqueId, Data: strings}: ${body.slice(0, 200)}`);
      return answer(200);
    }
    const list = this.signals.get(handle.name)!;
    const value: WaitConditionSignal = { Status: signal.Status, Reason: signal.Reason, UniqueId: signal.UniqueId, Data: signal.Data };
    const same = list.findIndex((s) => s.UniqueId === value.UniqueId);
    if (same < 0) list.push(value);
    else if (this.signalReuse === 'replace') list[same] = value;
    return answer(200);
  }
}

// ---------------------------------------------------------------- helpers

function readRequest(req: http.IncomingMessage): Promise<ParsedRequest> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body over 1 MiB'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      resolve({
        method: req.method ?? 'GET',
        rawPath: q < 0 ? url : url.slice(0, q),
        rawQuery: q < 0 ? '' : url.slice(q + 1),
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
    });
  });
}

/** Each protocol's error shape. */
function sendError(res: http.ServerResponse, service: ServiceName, requestId: string, e: AwsError): void {
  switch (service) {
    case 'ec2':
      res.writeHead(e.status, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(e.code)}</Code>`
        + `<Message>${xmlEscape(e.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`);
      return;
    case 'cloudformation':
      // awsQuery errors, as CloudFormation sends them (boto/boto3#2807 shows one on the wire).
      res.writeHead(e.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(`<ErrorResponse xmlns="${loadServiceModel('cloudformation').metadata.xmlNamespace}">\n  <Error>\n`
        + `    <Type>${e.status >= 500 ? 'Receiver' : 'Sender'}</Type>\n    <Code>${xmlEscape(e.code)}</Code>\n`
        + `    <Message>${xmlEscape(e.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`);
      return;
    case 'sfn': {
      const namespace = e.code === 'ValidationException' ? SFN_VALIDATION_NAMESPACE : SFN_ERROR_NAMESPACE;
      res.writeHead(e.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId });
      res.end(JSON.stringify({ __type: `${namespace}${e.code}`, message: e.message }));
      return;
    }
    case 'imagebuilder':
      res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': e.code });
      res.end(JSON.stringify({ message: e.message }));
      return;
  }
}

/** The Tags ImportImage asked for on the task itself (TagSpecifications of resource type import-image-task). */
function taskTags(task: FakeImportTask): Array<{ Key: string; Value: string }> {
  return (task.input.TagSpecifications ?? [])
    .filter((spec: any) => spec.ResourceType === 'import-image-task')
    .flatMap((spec: any) => spec.Tags ?? []);
}

/** A page of `items` after the opaque `token` (a base64 offset here). */
function paginate<T>(items: T[], token: string | undefined, size: number, invalid: () => AwsError): { page: T[]; next?: string } {
  let start = 0;
  if (token !== undefined) {
    const m = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
    start = m ? Number(m[1]) : -1;
    if (start < 0 || start > items.length) throw invalid();
  }
  const end = start + Math.max(1, size);
  return { page: items.slice(start, end), ...(end < items.length ? { next: Buffer.from(`offset:${end}`).toString('base64') } : {}) };
}

/**
 * EC2 filters (DescribeImages, DescribeSnapshots): each must match one of its values;
 * `tag:<key>` matches the resource's tag; other names must be in `fields`, or are refused.
 */
function ec2Filter(
  filters: Array<{ Name?: string; Values?: string[] }> | undefined, fields: Record<string, () => string[]>, tags: Record<string, string>,
): boolean {
  return (filters ?? []).every((f) => {
    const name = f.Name ?? '';
    const values = f.Values ?? [];
    if (name.startsWith('tag:')) return tags[name.slice(4)] !== undefined && values.includes(tags[name.slice(4)]);
    const field = fields[name];
    if (!field) throw new AwsError('InvalidParameterValue', `The filter '${name}' is invalid (the fake models ${['tag:<key>', ...Object.keys(fields)].join(', ')})`);
    return field().some((v) => values.includes(v));
  });
}

/** Image Builder filters: each named filter must match one of its values; unknown names are refused. */
function imageBuilderFilter<T>(
  filters: Array<{ name?: string; values?: string[] }> | undefined, fields: Record<string, (item: T) => string | undefined>, item: T,
): boolean {
  return (filters ?? []).every((f) => {
    const field = f.name !== undefined ? fields[f.name] : undefined;
    if (!field) throw new AwsError('InvalidParameterValueException', `The filter name ${f.name} is not supported (supported: ${Object.keys(fields).join(', ')}).`);
    return (f.values ?? []).includes(field(item) ?? '');
  });
}

function deviceName(i: number): string {
  return i === 0 ? '/dev/sda1' : `/dev/sd${String.fromCharCode(0x61 + i)}`;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 3986 encoding, as SigV4 wants it. */
function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Services other than S3 sign the path encoded once more, segment by segment. */
function canonicalPath(rawPath: string): string {
  return rawPath.split('/').map(uriEscape).join('/');
}

function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery.split('&').filter((p) => p !== '').map((pair) => {
    const i = pair.indexOf('=');
    const key = decodeURIComponent(i < 0 ? pair : pair.slice(0, i));
    const value = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1));
    return `${uriEscape(key)}=${uriEscape(value)}`;
  }).sort().join('&');
}

/** XML text; non-ASCII passes as is (the response is UTF-8), so multi-byte messages survive. */
function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

type QueryFlavor = 'ec2' | 'query';

/**
 * Query keys of a structure member. ec2: queryName, else locationName with its first
 * letter capitalized, else the member name. awsQuery: locationName, else the member name.
 * (botocore's EC2Serializer and QuerySerializer.)
 */
function queryKey(flavor: QueryFlavor, name: string, ref: ModelMemberRef): string {
  if (flavor === 'query') return ref.locationName ?? name;
  if (ref.queryName) return ref.queryName;
  const n = ref.locationName ?? name;
  return n.charAt(0).toUpperCase() + n.slice(1);
}

/**
 * Rebuilds an input value from query parameters. ec2 lists are always flattened
 * (`Key.1`); awsQuery lists are `Key.member.1` unless flattened, maps `Key.entry.1.key`.
 */
function decodeQueryValue(
  model: ServiceModel, flavor: QueryFlavor, shapeName: string, params: Map<string, string>, key: string, consumed: Set<string>, problems: string[],
): unknown {
  const shape = model.shapes[shapeName];
  const has = (k: string) => params.has(k) || [...params.keys()].some((p) => p.startsWith(`${k}.`));
  switch (shape.type) {
    case 'structure': {
      const out: Record<string, unknown> = {};
      for (const [name, ref] of Object.entries(shape.members ?? {})) {
        const k = key ? `${key}.${queryKey(flavor, name, ref)}` : queryKey(flavor, name, ref);
        if (has(k)) out[name] = decodeQueryValue(model, flavor, ref.shape, params, k, consumed, problems);
      }
      return out;
    }
    case 'list': {
      if (params.get(key) === '') {
        consumed.add(key);
        return [];
      }
      const prefix = flavor === 'ec2' || shape.flattened ? key : `${key}.${shape.member!.locationName ?? 'member'}`;
      const items: unknown[] = [];
      for (let i = 1; i <= 1000 && has(`${prefix}.${i}`); i++) {
        items.push(decodeQueryValue(model, flavor, shape.member!.shape, params, `${prefix}.${i}`, consumed, problems));
      }
      return items;
    }
    case 'map': {
      if (flavor === 'ec2') {
        problems.push(`${key}: maps in EC2 query input are not decoded by the fake (extend it)`);
        return undefined;
      }
      const prefix = shape.flattened ? key : `${key}.entry`;
      const keyName = shape.key!.locationName ?? 'key';
      const valueName = shape.value!.locationName ?? 'value';
      const out: Record<string, unknown> = {};
      for (let i = 1; i <= 1000 && has(`${prefix}.${i}`); i++) {
        const k = decodeQueryValue(model, flavor, shape.key!.shape, params, `${prefix}.${i}.${keyName}`, consumed, problems);
        out[String(k)] = decodeQueryValue(model, flavor, shape.value!.shape, params, `${prefix}.${i}.${valueName}`, consumed, problems);
      }
      return out;
    }
    default: {
      const raw = params.get(key);
      if (raw === undefined) {
        problems.push(`${key}: expected a scalar (${shapeName}), got nested parameters`);
        return undefined;
      }
      consumed.add(key);
      return decodeScalar(shape.type, raw, key, problems);
    }
  }
}

function decodeScalar(type: string, raw: string, where: string, problems: string[]): unknown {
  switch (type) {
    case 'boolean':
      if (raw === 'true' || raw === 'false') return raw === 'true';
      problems.push(`${where}: ${JSON.stringify(raw)} is not a boolean`);
      return raw;
    case 'integer': case 'long': case 'short': case 'byte':
      if (/^-?[0-9]+$/.test(raw)) return Number(raw);
      problems.push(`${where}: ${JSON.stringify(raw)} is not an integer`);
      return raw;
    case 'float': case 'double':
      if (raw.trim() !== '' && !Number.isNaN(Number(raw))) return Number(raw);
      problems.push(`${where}: ${JSON.stringify(raw)} is not a number`);
      return raw;
    case 'timestamp': {
      const d = new Date(/^[0-9.]+$/.test(raw) ? Number(raw) * 1000 : raw);
      if (Number.isNaN(d.getTime())) problems.push(`${where}: ${JSON.stringify(raw)} is not a timestamp`);
      return d;
    }
    default:
      return raw;
  }
}

/**
 * Rebuilds an awsJson input: member names as sent (locationName, else the member name),
 * epoch-second timestamps back into Dates, unknown members reported.
 */
function decodeJsonValue(model: ServiceModel, shapeName: string, value: unknown, where: string, problems: string[]): unknown {
  const shape = model.shapes[shapeName];
  if (value === null || value === undefined) return value;
  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || Array.isArray(value)) return value;
      const body = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const known = new Set<string>();
      for (const [name, ref] of Object.entries(shape.members ?? {})) {
        const wireName = ref.locationName ?? name;
        known.add(wireName);
        if (wireName in body) out[name] = decodeJsonValue(model, ref.shape, body[wireName], `${where}${where ? '.' : ''}${name}`, problems);
      }
      for (const k of Object.keys(body)) if (!known.has(k)) problems.push(`unknown body member ${where}${where ? '.' : ''}${k} (not in ${shapeName})`);
      return out;
    }
    case 'list':
      return Array.isArray(value) ? value.map((v, i) => decodeJsonValue(model, shape.member!.shape, v, `${where}[${i}]`, problems)) : value;
    case 'map':
      return typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, decodeJsonValue(model, shape.value!.shape, v, `${where}.${k}`, problems)]))
        : value;
    case 'timestamp':
      return typeof value === 'number' ? new Date(value * 1000) : value;
    default:
      return value;
  }
}

/** awsJson answers carry timestamps as epoch seconds. */
function toJsonWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toJsonWire);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonWire(v)]));
  return value;
}

/** Serializes a structure's members as query-protocol XML: element names are the locationNames. */
function xmlMembers(model: ServiceModel, shapeName: string, value: Record<string, unknown>): string {
  const shape = model.shapes[shapeName];
  let xml = '';
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const ref = shape.members?.[name];
    if (!ref) throw new Error(`the fake's response has ${name}, which ${shapeName} lacks`);
    xml += xmlElement(model, ref.shape, v, ref.locationName ?? name);
  }
  return xml;
}

/** Lists wrap their items (`item` in EC2, `member` in awsQuery) unless flattened. */
function xmlElement(model: ServiceModel, shapeName: string, value: unknown, element: string): string {
  const shape = model.shapes[shapeName];
  switch (shape.type) {
    case 'structure':
      return `<${element}>${xmlMembers(model, shapeName, value as Record<string, unknown>)}</${element}>`;
    case 'list': {
      const items = value as unknown[];
      if (shape.flattened) return items.map((item) => xmlElement(model, shape.member!.shape, item, shape.member!.locationName ?? element)).join('');
      const itemName = shape.member!.locationName ?? 'member';
      return `<${element}>${items.map((item) => xmlElement(model, shape.member!.shape, item, itemName)).join('')}</${element}>`;
    }
    case 'map':
      throw new Error(`the fake does not serialize maps into XML (${shapeName}); extend it`);
    case 'timestamp':
      return `<${element}>${(value as Date).toISOString()}</${element}>`;
    default:
      return `<${element}>${xmlEscape(String(value))}</${element}>`;
  }
}

interface RestMatch {
  readonly operation: string;
  readonly labels: Record<string, string>;
}

const routeCache = new Map<ServiceModel, Array<{ operation: string; method: string; regex: RegExp; names: string[] }>>();

/** Finds the operation whose http method and requestUri template match the request. */
function matchRestOperation(model: ServiceModel, request: ParsedRequest): RestMatch | undefined {
  let routes = routeCache.get(model);
  if (!routes) {
    routes = Object.values(model.operations).filter((op) => op.http).map((op) => {
      const template = op.http!.requestUri.split('?')[0];
      const names: string[] = [];
      const pattern = template.split(/(\{[^}]+\})/).map((part) => {
        const label = /^\{([^}+]+)(\+?)\}$/.exec(part);
        if (!label) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(label[1]);
        return label[2] ? '(.+)' : '([^/]+)';
      }).join('');
      return { operation: op.name, method: op.http!.method, regex: new RegExp(`^${pattern}$`), names };
    });
    routeCache.set(model, routes);
  }
  for (const route of routes) {
    if (route.method !== request.method) continue;
    const m = route.regex.exec(request.rawPath);
    if (m) {
      return { operation: route.operation, labels: Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
    }
  }
  return undefined;
}

/** Rebuilds a rest-json input from uri labels, query string, headers and the JSON body. */
function decodeRestJsonInput(
  model: ServiceModel, operation: string, labels: Record<string, string>, request: ParsedRequest, problems: string[],
): Record<string, unknown> {
  const op = model.operations[operation];
  const input: Record<string, unknown> = {};
  if (!op.input) return input;
  const shape = model.shapes[op.input.shape];
  const query = new URLSearchParams(request.rawQuery);
  let body: Record<string, unknown> = {};
  const text = request.body.toString('utf8');
  if (text.trim() !== '') {
    if (!String(request.headers['content-type']).startsWith('application/json')) {
      problems.push(`a JSON body sent with content-type ${request.headers['content-type']}`);
    }
    try {
      body = JSON.parse(text);
    } catch {
      problems.push(`the body is not JSON: ${text.slice(0, 80)}`);
    }
  }
  const bodyKeys = new Set(Object.keys(body));
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    const wireName = ref.locationName ?? name;
    const memberType = model.shapes[ref.shape].type;
    switch (ref.location) {
      case 'uri':
        if (wireName in labels) input[name] = labels[wireName];
        break;
      case 'querystring': {
        const values = query.getAll(wireName);
        if (values.length === 0) break;
        input[name] = memberType === 'list'
          ? values.map((v) => decodeScalar(model.shapes[model.shapes[ref.shape].member!.shape].type, v, wireName, problems))
          : decodeScalar(memberType, values[0], wireName, problems);
        break;
      }
      case 'header': {
        const v = request.headers[wireName.toLowerCase()];
        if (v !== undefined) input[name] = decodeScalar(memberType, String(v), wireName, problems);
        break;
      }
      default:
        if (wireName in body) {
          input[name] = body[wireName];
          bodyKeys.delete(wireName);
        }
    }
  }
  for (const key of bodyKeys) problems.push(`unknown body member ${key} (not in ${op.input.shape})`);
  return input;
}

/**
 * For a test file: a fresh fake for each test, closed afterwards, and the test
 * fails when any request it sent is one AWS would reject. Returns the current fake.
 */
export function useFakeAwsPerTest(): () => FakeAws {
  let current: FakeAws | undefined;
  beforeEach(async () => {
    current = await FakeAws.start();
  });
  afterEach(async () => {
    const fake = current!;
    current = undefined;
    await fake.close();
    expect(fake.problems).toEqual([]);
  });
  return () => {
    if (!current) throw new Error('the fake AWS endpoint exists only while a test runs');
    return current;
  };
}
