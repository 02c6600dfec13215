/**
 * A local stand-in for EC2 (VM Import) and EC2 Image Builder that speaks their real
 * wire protocols, so the SHIPPED handler bundles can run against it unchanged:
 * EC2's query protocol (form-encoded POST, XML answers) and Image Builder's
 * rest-json. Each request is checked (SigV4 signature, protocol, and the input
 * against the official API model); each problem is recorded in `problems` and
 * answered with a 400, so a test fails loudly instead of passing on a request
 * AWS would reject. The state machine follows the behaviour in
 * /work/shared/notes/aws-facts.md.
 */
import { createHash, createHmac, randomBytes } from 'crypto';
import * as http from 'http';
import { AddressInfo } from 'net';
import { loadServiceModel, ModelMemberRef, ServiceModel, ServiceName, validateRequest, validateShape } from './api-model';

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
  /** HTTP status; defaults: 400, or the model's status for a modeled Image Builder error. */
  readonly status?: number;
  /** How many matching calls fail; default 1. */
  readonly count?: number;
}

/** How an import task started from now on will go. */
export interface ImportPlan {
  /** DescribeImportImageTasks calls (naming the task) until it finishes. Default 3. */
  readonly steps?: number;
  /** Set: the task ends `deleted` with this StatusMessage instead of completing. */
  readonly failMessage?: string;
  /** Set: the task completes, but Image Builder marks the image FAILED with this reason. */
  readonly imageFailureReason?: string;
  /**
   * GetImage calls after the task ended during which the image still reads PENDING:
   * Image Builder follows the task asynchronously. Default 0.
   */
  readonly imageLag?: number;
}

export interface FakeImportTask {
  readonly id: string;
  readonly clientToken?: string;
  readonly input: any;
  readonly plan: Required<Pick<ImportPlan, 'steps'>> & ImportPlan;
  status: 'active' | 'completed' | 'deleting' | 'deleted';
  statusMessage?: string;
  describeCount: number;
  imageId?: string;
  snapshotIds: string[];
  cancelReason?: string;
  /** True once EC2 no longer describes it (finished over 7 days ago). */
  forgotten: boolean;
}

export interface FakeAmi {
  readonly id: string;
  readonly snapshotIds: string[];
  readonly importTaskId: string;
}

export interface FakeImage {
  readonly arn: string;
  readonly name: string;
  readonly version: string;
  readonly platform: string;
  readonly osVersion?: string;
  readonly vmImportTaskId: string;
  readonly clientToken: string;
  readonly input: any;
  tags: Record<string, string>;
  cancelled: boolean;
  /** GetImage calls answered since the import task ended (see ImportPlan.imageLag). */
  getsAfterTaskEnded: number;
  /** Set by a test: DeleteImage answers ResourceDependencyException (shared, or used by a recipe). */
  inUse: boolean;
}

export interface FakeDistributionConfiguration {
  readonly arn: string;
  readonly name: string;
  readonly clientToken: string;
  description?: string;
  distributions: any[];
  tags: Record<string, string>;
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

const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const EC2_VERSION = '2016-11-15';
/** The walk of a healthy import, as DescribeImportImageTasks reports it. */
const PROGRESS_MESSAGES = ['pending', 'converting', 'booting'];
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
  readonly images = new Map<string, FakeImage>();
  readonly distributionConfigurations = new Map<string, FakeDistributionConfiguration>();
  readonly pipelines: Array<{ name: string; arn: string; distributionConfigurationArn: string }> = [];

  /** Applies to import tasks started after it is set. */
  importPlan: ImportPlan = {};
  /** Page size of ListImagePipelines when the request sets none (small, so pagination is exercised). */
  pipelinePageSize = 25;

  readonly region: string;
  readonly account: string;
  readonly accessKeyId: string;
  private readonly secretAccessKey: string;
  private readonly server: http.Server;
  private readonly faults: Array<Fault & { remaining: number }> = [];
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

  /** Base URL for AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_IMAGEBUILDER. */
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

  /** The next `count` calls (of `operations`, or any) are throttled the way each service throttles. */
  throttle(service: ServiceName, count: number, operations?: string[], code?: string): void {
    if (service === 'ec2') {
      this.failNext({ service, operations, count, code: code ?? 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 });
    } else {
      this.failNext({ service, operations, count, code: code ?? 'ThrottlingException', message: 'Rate exceeded', status: 429 });
    }
  }

  /** Calls of one operation, in order. */
  callsOf(operation: string): RecordedCall[] {
    return this.calls.filter((call) => call.operation === operation);
  }

  /** EC2 stops describing a task, as it does 7 days after the task finished. */
  forgetTask(importTaskId: string): void {
    this.task(importTaskId).forgotten = true;
  }

  /** An image pipeline that uses a distribution configuration (blocks its deletion). */
  addPipeline(name: string, distributionConfigurationArn: string): string {
    const arn = `arn:aws:imagebuilder:${this.region}:${this.account}:image-pipeline/${name.toLowerCase()}`;
    this.pipelines.push({ name, arn, distributionConfigurationArn });
    return arn;
  }

  task(importTaskId: string): FakeImportTask {
    const task = this.importTasks.get(importTaskId);
    if (!task) throw new Error(`the fake has no import task ${importTaskId}`);
    return task;
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
    const service = this.serviceOf(request);
    const requestId = this.requestId();
    try {
      if (service === 'ec2') {
        this.sendEc2(res, requestId, this.ec2Request(request));
      } else if (service === 'imagebuilder') {
        this.sendJson(res, requestId, 200, this.imageBuilderRequest(request, requestId));
      } else {
        throw new AwsError('UnknownService', `no fake for this request: ${request.method} ${request.rawPath}`, 400);
      }
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalFailure', `fake AWS bug: ${(err as Error).stack}`, 500);
      if (!(err instanceof AwsError)) this.problems.push(e.message);
      if (service === 'ec2') {
        sendEc2Error(res, requestId, e);
      } else {
        res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': e.code });
        res.end(JSON.stringify({ message: e.message }));
      }
    }
  }

  /** The service the request was signed for (the credential scope says it); else a guess for the report. */
  private serviceOf(request: ParsedRequest): ServiceName | undefined {
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(String(request.headers.authorization ?? ''));
    if (scope?.[1] === 'ec2' || scope?.[1] === 'imagebuilder') return scope[1];
    this.problems.push(`request without a SigV4 credential scope for ec2 or imagebuilder: ${request.method} ${request.rawPath}`);
    return String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded') ? 'ec2' : 'imagebuilder';
  }

  private requestId(): string {
    return `${randomBytes(4).toString('hex')}-${(++this.counter).toString(16).padStart(4, '0')}-4000-8000-${randomBytes(6).toString('hex')}`;
  }

  private newId(prefix: string): string {
    return `${prefix}-${randomBytes(8).toString('hex').slice(0, 17)}`;
  }

  /** Records the call, checks it, and raises a pending fault: the common part of both protocols. */
  private admit(service: ServiceName, operation: string, input: any, request: ParsedRequest, wireProblems: string[]): void {
    const resourceTags = this.tagsOfNamedResource(service, input);
    const call: RecordedCall = { service, operation, input, ...(resourceTags ? { resourceTags } : {}) };
    this.calls.push(call);
    const problems = [
      ...wireProblems,
      ...this.signatureProblems(service, request),
      ...validateRequest(service, operation, input),
    ];
    if (problems.length > 0) {
      this.problems.push(...problems.map((p) => `${service} ${operation}: ${p}`));
      throw service === 'ec2'
        ? new AwsError('InvalidParameterValue', `rejected by the API model: ${problems.join('; ')}`)
        : new AwsError('ValidationException', `rejected by the API model: ${problems.join('; ')}`);
    }
    const fault = this.faults.find((f) => f.service === service && f.remaining > 0 && (!f.operations || f.operations.includes(operation)));
    if (fault) {
      fault.remaining--;
      this.calls[this.calls.indexOf(call)] = { ...call, fault: fault.code };
      const modeled = loadServiceModel(service).shapes[fault.code]?.error?.httpStatusCode;
      throw new AwsError(fault.code, fault.message, fault.status ?? modeled ?? 400);
    }
  }

  /** A copy of the tags of the existing resource a request names (import task, image, distribution configuration). */
  private tagsOfNamedResource(service: ServiceName, input: any): Record<string, string> | undefined {
    if (service === 'ec2') {
      const task = typeof input?.ImportTaskId === 'string' ? this.importTasks.get(input.ImportTaskId) : undefined;
      if (!task) return undefined;
      // The tags ImportImage put on the task (CancelImportTask authorizes aws:ResourceTag on it).
      const tags = (task.input.TagSpecifications ?? []).filter((spec: any) => spec.ResourceType === 'import-image-task').flatMap((spec: any) => spec.Tags ?? []);
      return Object.fromEntries(tags.map((t: any) => [t.Key, t.Value]));
    }
    const arn = input?.imageBuildVersionArn ?? input?.distributionConfigurationArn ?? input?.resourceArn;
    const found = typeof arn === 'string' ? this.images.get(arn) ?? this.distributionConfigurations.get(arn) : undefined;
    return found ? { ...found.tags } : undefined;
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
    if (scopeService !== service) problems.push(`signed for service ${scopeService}, not ${service}`);
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

  // ---------------------------------------------------------------- EC2 query protocol

  private ec2Request(request: ParsedRequest): { operation: string; output: unknown } {
    const wire: string[] = [];
    if (request.method !== 'POST' || request.rawPath !== '/') wire.push(`EC2 query requests are POST /, got ${request.method} ${request.rawPath}`);
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      wire.push(`content-type ${request.headers['content-type']} is not form-encoded`);
    }
    const params = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(request.body.toString('utf8'))) {
      if (params.has(k)) wire.push(`parameter ${k} sent twice`);
      params.set(k, v);
    }
    const operation = params.get('Action') ?? '';
    if (params.get('Version') !== EC2_VERSION) wire.push(`Version ${params.get('Version')} is not ${EC2_VERSION}`);
    const model = loadServiceModel('ec2');
    const op = model.operations[operation];
    if (!op) {
      this.calls.push({ service: 'ec2', operation, input: Object.fromEntries(params) });
      this.problems.push(`ec2: unknown Action ${JSON.stringify(operation)}`);
      throw new AwsError('InvalidAction', `The action ${operation} is not valid for this web service.`);
    }
    const consumed = new Set(['Action', 'Version']);
    const input = op.input ? decodeQueryValue(model, op.input.shape, params, '', consumed, wire) ?? {} : {};
    for (const key of params.keys()) {
      if (!consumed.has(key)) wire.push(`unknown parameter ${key} (not in ${op.input?.shape ?? 'the input'})`);
    }
    this.admit('ec2', operation, input, request, wire);
    return { operation, output: this.ec2Operation(operation, input) };
  }

  private ec2Operation(operation: string, input: any): unknown {
    switch (operation) {
      case 'ImportImage': return this.importImage(input);
      case 'DescribeImportImageTasks': return this.describeImportImageTasks(input);
      case 'CancelImportTask': return this.cancelImportTask(input);
      case 'DescribeImages': return this.describeImages(input);
      case 'DeregisterImage': return this.deregisterImage(input);
      case 'DeleteSnapshot': return this.deleteSnapshot(input);
      case 'CreateTags': return {};
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
    const task: FakeImportTask = {
      id: this.newId('import-ami'),
      clientToken: input.ClientToken,
      input,
      plan: { steps: 3, ...this.importPlan },
      status: 'active',
      statusMessage: PROGRESS_MESSAGES[0],
      describeCount: 0,
      snapshotIds: [],
      forgotten: false,
    };
    this.importTasks.set(task.id, task);
    return this.importTaskView(task, false);
  }

  /** One DescribeImportImageTasks naming a task moves it one step: time passes between polls. */
  private advance(task: FakeImportTask): void {
    if (task.status !== 'active') return;
    task.describeCount++;
    if (task.describeCount < task.plan.steps) {
      task.statusMessage = PROGRESS_MESSAGES[Math.min(task.describeCount, PROGRESS_MESSAGES.length - 1)];
      return;
    }
    if (task.plan.failMessage !== undefined) {
      task.status = 'deleted';
      task.statusMessage = task.plan.failMessage;
      return;
    }
    task.status = 'completed';
    task.statusMessage = undefined;
    task.snapshotIds = (task.input.DiskContainers ?? []).map(() => this.newId('snap'));
    task.snapshotIds.forEach((id) => this.snapshots.add(id));
    task.imageId = this.newId('ami');
    this.amis.set(task.imageId, { id: task.imageId, snapshotIds: [...task.snapshotIds], importTaskId: task.id });
  }

  private importTaskView(task: FakeImportTask, forDescribe: boolean): Record<string, unknown> {
    const disks: any[] = task.input.DiskContainers ?? [];
    const done = task.status === 'completed';
    const view: Record<string, unknown> = {
      ImportTaskId: task.id,
      Status: task.status,
      ...(task.statusMessage !== undefined ? { StatusMessage: task.statusMessage } : {}),
      ...(task.status === 'active' ? { Progress: String(Math.min(95, 10 + task.describeCount * 20)) } : {}),
      ...(task.input.Platform ? { Platform: task.input.Platform } : {}),
      ...(task.input.Architecture ? { Architecture: task.input.Architecture } : {}),
      ...(task.input.LicenseType ? { LicenseType: task.input.LicenseType } : {}),
      ...(task.input.Description ? { Description: task.input.Description } : {}),
      ...(done ? { ImageId: task.imageId } : {}),
      SnapshotDetails: disks.map((disk, i) => ({
        ...(disk.Format ? { Format: disk.Format } : {}),
        ...(disk.UserBucket ? { UserBucket: { S3Bucket: disk.UserBucket.S3Bucket, S3Key: disk.UserBucket.S3Key } } : {}),
        ...(disk.Url ? { Url: disk.Url } : {}),
        DiskImageSize: 8589934592,
        ...(done ? { SnapshotId: task.snapshotIds[i], Status: 'completed', DeviceName: deviceName(i) } : { Status: task.status }),
      })),
    };
    const tags = (task.input.TagSpecifications ?? []).flatMap((spec: any) => spec.Tags ?? []);
    if (tags.length > 0) view.Tags = tags;
    if (!forDescribe) {
      // ImportImage's result has no BootMode member; the task description does.
      return view;
    }
    return { ...view, ...(task.input.BootMode ? { BootMode: task.input.BootMode } : {}) };
  }

  private describeImportImageTasks(input: any): unknown {
    const ids: string[] = input.ImportTaskIds ?? [];
    for (const id of ids) {
      if (!/^import-ami-[0-9a-f]{8,17}$/.test(id)) {
        throw new AwsError('InvalidConversionTaskId.Malformed', `Invalid id: "${id}" (expecting "import-ami-...")`);
      }
    }
    const tasks = [...this.importTasks.values()].filter((t) => !t.forgotten && (ids.length === 0 || ids.includes(t.id)));
    tasks.forEach((t) => this.advance(t));
    return { ImportImageTasks: tasks.map((t) => this.importTaskView(t, true)) };
  }

  private cancelImportTask(input: any): unknown {
    const task = this.importTasks.get(input.ImportTaskId);
    if (!task || task.forgotten) {
      throw new AwsError('InvalidConversionTaskId', `The import task ID '${input.ImportTaskId}' does not exist`);
    }
    if (task.status !== 'active') {
      throw new AwsError('IncorrectState', `The import task ${task.id} is not active (${task.status}); it cannot be cancelled.`);
    }
    task.status = 'deleted';
    task.cancelReason = input.CancelReason;
    task.statusMessage = 'ClientError: User initiated task cancelation';
    return { ImportTaskId: task.id, PreviousState: 'active', State: 'deleting' };
  }

  private describeImages(input: any): unknown {
    const ids: string[] = input.ImageIds ?? [];
    const missing = ids.filter((id) => !this.amis.has(id));
    if (missing.length > 0) throw new AwsError('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`);
    return {
      Images: ids.map((id) => this.amis.get(id)!).map((ami) => ({
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
      })),
    };
  }

  private deregisterImage(input: any): unknown {
    if (!this.amis.delete(input.ImageId)) throw new AwsError('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
    return { Return: true };
  }

  private deleteSnapshot(input: any): unknown {
    const id: string = input.SnapshotId;
    if (!this.snapshots.has(id)) throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
    const user = [...this.amis.values()].find((ami) => ami.snapshotIds.includes(id));
    if (user) throw new AwsError('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.id}`);
    this.snapshots.delete(id);
    return {};
  }

  private sendEc2(res: http.ServerResponse, requestId: string, result: { operation: string; output: unknown }): void {
    const model = loadServiceModel('ec2');
    const outputShape = model.operations[result.operation].output?.shape;
    let inner = '';
    if (outputShape) {
      const problems = validateShape('ec2', outputShape, result.output);
      if (problems.length > 0) throw new Error(`the fake's own ${result.operation} response breaks the model: ${problems.join('; ')}`);
      inner = xmlMembers(model, outputShape, result.output as Record<string, unknown>);
    } else {
      // Operations without output answer <return>true</return>, as EC2 does.
      inner = '<return>true</return>';
    }
    const name = `${result.operation}Response`;
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<${name} xmlns="${EC2_NAMESPACE}"><requestId>${requestId}</requestId>${inner}</${name}>`;
    res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
    res.end(body);
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
      case 'GetImage': return this.getImage(input);
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
    const arn = `arn:aws:imagebuilder:${this.region}:${this.account}:image/${input.name.toLowerCase()}/${input.semanticVersion}/1`;
    if (this.images.has(arn)) {
      throw new AwsError('ResourceAlreadyExistsException', `The image with name ${input.name} and version ${input.semanticVersion} already exists.`);
    }
    this.images.set(arn, {
      arn,
      name: input.name,
      version: input.semanticVersion,
      platform: input.platform,
      osVersion: input.osVersion,
      vmImportTaskId: input.vmImportTaskId,
      clientToken: input.clientToken,
      input,
      tags: { ...(input.tags ?? {}) },
      cancelled: false,
      getsAfterTaskEnded: 0,
      inUse: false,
    });
    return { imageArn: arn, clientToken: input.clientToken };
  }

  image(arn: string): FakeImage {
    const image = this.images.get(arn);
    if (!image) throw new AwsError('ResourceNotFoundException', `The image ${arn} cannot be found.`, 404);
    return image;
  }

  /** Image Builder follows the import task: PENDING while it runs, then AVAILABLE with its AMI, or FAILED. */
  imageStatus(image: FakeImage): { status: string; reason?: string } {
    if (image.cancelled) return { status: 'CANCELLED', reason: 'Image creation cancelled by the user' };
    const task = this.importTasks.get(image.vmImportTaskId);
    if (!task || task.status === 'active' || image.getsAfterTaskEnded < (task.plan.imageLag ?? 0)) return { status: 'PENDING' };
    if (task.status === 'completed') {
      return task.plan.imageFailureReason !== undefined ? { status: 'FAILED', reason: task.plan.imageFailureReason } : { status: 'AVAILABLE' };
    }
    // state.reason is at most 1024 characters in the model.
    return { status: 'FAILED', reason: `VM import task ${task.id} failed: ${task.statusMessage ?? task.status}`.slice(0, 1024) };
  }

  private getImage(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    const view = this.imageView(image);
    if (this.importTasks.get(image.vmImportTaskId)?.status !== 'active') image.getsAfterTaskEnded++;
    return { image: view };
  }

  private imageView(image: FakeImage): Record<string, unknown> {
    const state = this.imageStatus(image);
    const task = this.importTasks.get(image.vmImportTaskId);
    const ami = state.status === 'AVAILABLE' && task?.imageId && this.amis.has(task.imageId) ? task.imageId : undefined;
    return {
      arn: image.arn,
      type: 'AMI',
      name: image.name,
      version: image.version,
      platform: image.platform,
      ...(image.osVersion ? { osVersion: image.osVersion } : {}),
      state,
      dateCreated: '2024-01-01T00:00:00.000Z',
      buildType: 'IMPORT',
      imageSource: 'IMPORTED',
      outputResources: { amis: ami ? [{ region: this.region, image: ami, name: image.name, accountId: this.account }] : [] },
      ...(Object.keys(image.tags).length > 0 ? { tags: image.tags } : {}),
    };
  }

  private cancelImageCreation(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    const status = this.imageStatus(image).status;
    if (status !== 'PENDING') throw new AwsError('InvalidRequestException', `The image ${image.arn} is ${status} and cannot be cancelled.`);
    image.cancelled = true;
    return { clientToken: input.clientToken, imageBuildVersionArn: image.arn };
  }

  private deleteImage(input: any): unknown {
    const image = this.image(input.imageBuildVersionArn);
    if (image.inUse) throw new AwsError('ResourceDependencyException', `The image ${image.arn} is in use by an image recipe.`);
    if (this.imageStatus(image).status === 'PENDING') {
      throw new AwsError('ResourceDependencyException', `The image ${image.arn} cannot be deleted while it is being created.`);
    }
    // Like AWS: the AMI and its snapshots stay; only the Image Builder resource goes.
    this.images.delete(image.arn);
    return { imageBuildVersionArn: image.arn };
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
    const start = input.nextToken ? Number(input.nextToken) : 0;
    if (!Number.isInteger(start) || start < 0 || start > this.pipelines.length) throw new AwsError('InvalidPaginationTokenException', 'Invalid nextToken.');
    const size = input.maxResults ?? this.pipelinePageSize;
    const page = this.pipelines.slice(start, start + size);
    const next = start + size < this.pipelines.length ? String(start + size) : undefined;
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

  private sendJson(res: http.ServerResponse, requestId: string, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
    res.end(JSON.stringify(body));
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

function sendEc2Error(res: http.ServerResponse, requestId: string, e: AwsError): void {
  res.writeHead(e.status, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(e.code)}</Code>`
    + `<Message>${xmlEscape(e.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`);
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

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * EC2 query keys: queryName, else locationName with its first letter
 * capitalized, else the member name (the ec2 protocol's naming rule).
 */
function ec2QueryKey(name: string, ref: ModelMemberRef): string {
  if (ref.queryName) return ref.queryName;
  const n = ref.locationName ?? name;
  return n.charAt(0).toUpperCase() + n.slice(1);
}

/**
 * Rebuilds an input value from EC2 query parameters. Lists are always
 * flattened in the ec2 protocol: `Key.1`, `Key.1.Member`, ...
 */
function decodeQueryValue(
  model: ServiceModel, shapeName: string, params: Map<string, string>, key: string, consumed: Set<string>, problems: string[],
): unknown {
  const shape = model.shapes[shapeName];
  const has = (k: string) => params.has(k) || [...params.keys()].some((p) => p.startsWith(`${k}.`));
  switch (shape.type) {
    case 'structure': {
      const out: Record<string, unknown> = {};
      for (const [name, ref] of Object.entries(shape.members ?? {})) {
        const k = key ? `${key}.${ec2QueryKey(name, ref)}` : ec2QueryKey(name, ref);
        if (has(k)) out[name] = decodeQueryValue(model, ref.shape, params, k, consumed, problems);
      }
      return out;
    }
    case 'list': {
      if (params.get(key) === '') {
        consumed.add(key);
        return [];
      }
      const items: unknown[] = [];
      for (let i = 1; i <= 1000 && has(`${key}.${i}`); i++) {
        items.push(decodeQueryValue(model, shape.member!.shape, params, `${key}.${i}`, consumed, problems));
      }
      return items;
    }
    case 'map':
      problems.push(`${key}: maps in EC2 query input are not decoded by the fake (extend it)`);
      return undefined;
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

/** Serializes a structure's members as EC2 XML: element names are the locationNames; lists wrap `item`s. */
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

function xmlElement(model: ServiceModel, shapeName: string, value: unknown, element: string): string {
  const shape = model.shapes[shapeName];
  switch (shape.type) {
    case 'structure':
      return `<${element}>${xmlMembers(model, shapeName, value as Record<string, unknown>)}</${element}>`;
    case 'list': {
      const itemName = shape.member!.locationName ?? 'member';
      return `<${element}>${(value as unknown[]).map((item) => xmlElement(model, shape.member!.shape, item, itemName)).join('')}</${element}>`;
    }
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
