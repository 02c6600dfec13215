/**
 * Checks requests against the official AWS API models (botocore service-2.json.gz).
 *
 * SDK v3 serializes whatever it is given: it does not check required members, enums,
 * lengths, ranges or patterns. AWS does, at deploy time. These checks move that failure
 * into the unit tests, which see every request through aws-sdk-client-mock.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

export type ServiceName = 'ec2' | 'imagebuilder' | 'cloudformation' | 'sfn';

/** Each service's folder under botocore's data directory. */
const BOTOCORE_DIRS: Record<ServiceName, string> = {
  ec2: 'ec2',
  imagebuilder: 'imagebuilder',
  cloudformation: 'cloudformation',
  sfn: 'stepfunctions',
};

/**
 * The name each service signs with (SigV4 credential scope): the model's
 * signingName, else its endpointPrefix (Step Functions signs as `states`).
 */
export const SIGNING_NAMES: Record<ServiceName, string> = {
  ec2: 'ec2',
  imagebuilder: 'imagebuilder',
  cloudformation: 'cloudformation',
  sfn: 'states',
};

/** The service a SigV4 credential scope names, if it is one of ours. */
export function serviceForSigningName(scope: string): ServiceName | undefined {
  return (Object.keys(SIGNING_NAMES) as ServiceName[]).find((service) => SIGNING_NAMES[service] === scope);
}

/** The parts of a botocore shape this validator reads. */
export interface ModelShape {
  readonly type: string;
  readonly members?: Record<string, ModelMemberRef>;
  readonly required?: string[];
  readonly member?: ModelMemberRef;
  readonly key?: ModelMemberRef;
  readonly value?: ModelMemberRef;
  readonly enum?: string[];
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
  readonly union?: boolean;
  readonly sensitive?: boolean;
  /** Query protocols: list or map items repeat without a wrapper element. */
  readonly flattened?: boolean;
  readonly document?: boolean;
}

export interface ModelMemberRef {
  readonly shape: string;
  readonly idempotencyToken?: boolean;
  /** Wire placement (rest-json): uri | querystring | header | headers; absent means the body. */
  readonly location?: string;
  /** Wire name: the XML element, query key, header or label. */
  readonly locationName?: string;
  /** EC2 query key, when it differs from the capitalized locationName. */
  readonly queryName?: string;
}

/** The parts of a botocore operation the fake AWS endpoint reads. */
export interface ModelOperation {
  readonly name: string;
  readonly http?: { readonly method: string; readonly requestUri: string; readonly responseCode?: number };
  readonly input?: { readonly shape: string };
  readonly output?: { readonly shape: string; readonly resultWrapper?: string };
}

export interface ServiceModel {
  readonly metadata: Record<string, unknown>;
  readonly operations: Record<string, ModelOperation>;
  readonly shapes: Record<string, ModelShape & {
    readonly error?: { readonly code?: string; readonly httpStatusCode?: number };
    readonly exception?: boolean;
  }>;
}

let dataDirCache: string | undefined;
const modelCache = new Map<ServiceName, ServiceModel>();
const regexCache = new Map<string, RegExp | undefined>();

/** Patterns JS could not compile: skipped, and listed here so a test can report them. */
export const skippedPatterns = new Set<string>();

function botocoreDataDir(): string {
  if (process.env.BOTOCORE_DATA_DIR) {
    return process.env.BOTOCORE_DATA_DIR;
  }
  if (dataDirCache === undefined) {
    try {
      dataDirCache = execFileSync(
        'python3',
        ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__) + "/data")'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      ).trim();
    } catch (e) {
      throw new Error(`Cannot locate the botocore data directory (needs python3 with botocore, or BOTOCORE_DATA_DIR): ${(e as Error).message}`);
    }
  }
  return dataDirCache;
}

/** Loads (once) the newest botocore API model of a service. */
export function loadServiceModel(service: ServiceName): ServiceModel {
  const cached = modelCache.get(service);
  if (cached) {
    return cached;
  }
  const serviceDir = path.join(botocoreDataDir(), BOTOCORE_DIRS[service]);
  // Version folders are ISO dates, so a reverse string sort puts the newest first.
  // Old folders may lack a model, hence the search for the first one that has it.
  const versions = fs.readdirSync(serviceDir).filter(v => /^\d{4}-\d{2}-\d{2}$/.test(v)).sort().reverse();
  for (const version of versions) {
    const gz = path.join(serviceDir, version, 'service-2.json.gz');
    const plain = path.join(serviceDir, version, 'service-2.json');
    let text: string | undefined;
    if (fs.existsSync(gz)) {
      text = zlib.gunzipSync(fs.readFileSync(gz)).toString('utf8');
    } else if (fs.existsSync(plain)) {
      // Older botocore releases shipped the models uncompressed.
      text = fs.readFileSync(plain, 'utf8');
    }
    if (text !== undefined) {
      const model = JSON.parse(text) as ServiceModel;
      modelCache.set(service, model);
      return model;
    }
  }
  throw new Error(`No service-2.json(.gz) for ${service} under ${serviceDir}`);
}

function compilePattern(pattern: string): RegExp | undefined {
  if (regexCache.has(pattern)) {
    return regexCache.get(pattern);
  }
  let re: RegExp | undefined;
  // Smithy patterns are ECMA 262; 'u' is needed for \p{...} classes, but rejects some
  // escapes that non-unicode mode accepts, so fall back before giving up.
  for (const flags of ['u', '']) {
    try {
      re = new RegExp(pattern, flags);
      break;
    } catch {
      // try the next flag set
    }
  }
  if (!re) {
    skippedPatterns.add(pattern);
  }
  regexCache.set(pattern, re);
  return re;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

function show(value: unknown, shape: ModelShape): string {
  if (shape.sensitive) {
    return '<sensitive>';
  }
  const s = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function checkValue(model: ServiceModel, shapeName: string, value: unknown, where: string, problems: string[]): void {
  const shape = model.shapes[shapeName];
  if (!shape) {
    problems.push(`${where}: shape ${shapeName} is missing from the model`);
    return;
  }
  const range = (n: number, what: string) => {
    if (shape.min !== undefined && n < shape.min) {
      problems.push(`${where}: ${what} ${n} is below the minimum ${shape.min} (${shapeName})`);
    }
    if (shape.max !== undefined && n > shape.max) {
      problems.push(`${where}: ${what} ${n} is above the maximum ${shape.max} (${shapeName})`);
    }
  };

  switch (shape.type) {
    case 'string': {
      if (typeof value !== 'string') {
        problems.push(`${where}: expected a string (${shapeName}), got ${typeof value}`);
        return;
      }
      // Smithy counts length in Unicode code points, not UTF-16 units.
      range([...value].length, 'length');
      if (shape.enum && !shape.enum.includes(value)) {
        problems.push(`${where}: ${show(value, shape)} is not one of ${shape.enum.join(' | ')} (${shapeName})`);
      }
      if (shape.pattern !== undefined) {
        const re = compilePattern(shape.pattern);
        // Smithy patterns are not implicitly anchored: a search, as RegExp.test does.
        if (re && !re.test(value)) {
          problems.push(`${where}: ${show(value, shape)} does not match the pattern ${shape.pattern} (${shapeName})`);
        }
      }
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') {
        problems.push(`${where}: expected a boolean (${shapeName}), got ${typeof value}`);
      }
      return;
    case 'integer':
    case 'long':
    case 'short':
    case 'byte':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        problems.push(`${where}: expected an integer (${shapeName}), got ${typeof value === 'number' ? value : typeof value}`);
        return;
      }
      range(value, 'value');
      return;
    case 'float':
    case 'double':
      if (typeof value !== 'number' || Number.isNaN(value)) {
        problems.push(`${where}: expected a number (${shapeName}), got ${typeof value}`);
        return;
      }
      range(value, 'value');
      return;
    case 'timestamp':
      // SDK v3 serializers call Date methods on timestamps; anything else fails or is mis-sent.
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
        problems.push(`${where}: expected a valid Date (${shapeName}), got ${typeof value}`);
      }
      return;
    case 'blob':
      if (value instanceof Uint8Array) {
        range(value.byteLength, 'size');
      } else if (typeof value === 'string') {
        range(Buffer.byteLength(value), 'size');
      } else {
        problems.push(`${where}: expected a Uint8Array or string (${shapeName}), got ${typeof value}`);
      }
      return;
    case 'list': {
      if (!Array.isArray(value)) {
        problems.push(`${where}: expected a list (${shapeName}), got ${typeof value}`);
        return;
      }
      range(value.length, 'item count');
      value.forEach((item, i) => {
        if (item === undefined || item === null) {
          problems.push(`${where}[${i}]: null or undefined list item`);
        } else {
          checkValue(model, shape.member!.shape, item, `${where}[${i}]`, problems);
        }
      });
      return;
    }
    case 'map': {
      if (!isPlainObject(value)) {
        problems.push(`${where}: expected a map object (${shapeName}), got ${Array.isArray(value) ? 'array' : typeof value}`);
        return;
      }
      const entries = Object.entries(value).filter(([, v]) => v !== undefined);
      range(entries.length, 'entry count');
      for (const [k, v] of entries) {
        checkValue(model, shape.key!.shape, k, `${where} key ${JSON.stringify(k)}`, problems);
        if (v === null) {
          problems.push(`${where}[${JSON.stringify(k)}]: null map value`);
        } else {
          checkValue(model, shape.value!.shape, v, `${where}[${JSON.stringify(k)}]`, problems);
        }
      }
      return;
    }
    case 'structure': {
      if (shape.document) {
        return; // free-form JSON
      }
      if (!isPlainObject(value)) {
        problems.push(`${where}: expected an object (${shapeName}), got ${Array.isArray(value) ? 'array' : typeof value}`);
        return;
      }
      checkStructure(model, shapeName, shape, value, where, problems);
      return;
    }
    default:
      problems.push(`${where}: unsupported model type ${shape.type} (${shapeName}); extend the validator`);
  }
}

function checkStructure(
  model: ServiceModel, shapeName: string, shape: ModelShape, value: Record<string, unknown>, where: string, problems: string[],
): void {
  const members = shape.members ?? {};
  const prefix = where ? `${where}.` : '';
  // SDK v3 serializers skip undefined and null members, so they count as absent.
  const present = Object.keys(value).filter(k => value[k] !== undefined && value[k] !== null);
  for (const name of present) {
    if (!(name in members)) {
      problems.push(`${prefix}${name}: unknown member of ${shapeName} (known: ${Object.keys(members).join(', ')})`);
    }
  }
  for (const name of shape.required ?? []) {
    // An absent idempotency token is filled by the SDK (generateIdempotencyToken), so it is fine.
    if (!present.includes(name) && !members[name]?.idempotencyToken) {
      problems.push(`${prefix}${name}: required member of ${shapeName} is missing`);
    }
  }
  if (shape.union && present.length !== 1) {
    problems.push(`${where || shapeName}: union ${shapeName} needs exactly one member set, got ${present.length}`);
  }
  for (const name of present) {
    if (name in members) {
      checkValue(model, members[name].shape, value[name], `${prefix}${name}`, problems);
    }
  }
}

/**
 * Problems with `input` as the request of `operation` (empty when AWS would accept it as far
 * as the model says). Member names are the model's, exactly as SDK v3 uses them.
 */
export function validateRequest(service: ServiceName, operation: string, input: unknown): string[] {
  const model = loadServiceModel(service);
  const op = model.operations[operation];
  if (!op) {
    return [`${operation}: no such operation in the ${service} model`];
  }
  const problems: string[] = [];
  const value = input ?? {};
  if (!op.input) {
    if (isPlainObject(value) && Object.values(value).some(v => v !== undefined)) {
      problems.push(`${operation}: takes no input, got members ${Object.keys(value).join(', ')}`);
    }
    return problems;
  }
  const shape = model.shapes[op.input.shape];
  if (!isPlainObject(value)) {
    return [`${operation}: input must be an object, got ${typeof value}`];
  }
  checkStructure(model, op.input.shape, shape, value, '', problems);
  return problems;
}

/**
 * Problems with `value` as an instance of the model shape `shapeName` (for example
 * a fake endpoint's response, checked against the operation's output shape).
 */
export function validateShape(service: ServiceName, shapeName: string, value: unknown): string[] {
  const problems: string[] = [];
  checkValue(loadServiceModel(service), shapeName, value, shapeName, problems);
  return problems;
}

/**
 * The HTTP status the model gives an error code, matched by shape name or by the
 * wire code the shape declares (query protocols: ChangeSetNotFoundException is
 * sent as ChangeSetNotFound). Undefined when the model does not list the code.
 */
export function modeledErrorStatus(service: ServiceName, code: string): number | undefined {
  const shapes = loadServiceModel(service).shapes;
  const shape = shapes[code]?.exception ? shapes[code] : Object.values(shapes).find((s) => s.exception && s.error?.code === code);
  return shape?.error?.httpStatusCode;
}

/** What expectValidRequests needs of a mock: any AwsClientStub from aws-sdk-client-mock fits. */
export interface MockWithCalls {
  calls(): ReadonlyArray<{ readonly args: readonly unknown[] }>;
}

/**
 * Throws listing every problem in every request the mock received.
 * Call it at the end of a test, after the handler ran.
 */
export function expectValidRequests(mock: MockWithCalls, service: ServiceName): void {
  const problems: string[] = [];
  mock.calls().forEach((call, i) => {
    const command = call.args[0] as { constructor: { name: string }; input?: unknown } | undefined;
    const ctor = command?.constructor?.name ?? '';
    if (!ctor.endsWith('Command')) {
      problems.push(`call ${i}: not an SDK v3 command (${ctor || typeof command})`);
      return;
    }
    const operation = ctor.slice(0, -'Command'.length);
    for (const p of validateRequest(service, operation, command!.input)) {
      problems.push(`call ${i} ${operation}: ${p}`);
    }
  });
  if (problems.length > 0) {
    throw new Error(`Requests the ${service} API model rejects:\n  ${problems.join('\n  ')}`);
  }
}
