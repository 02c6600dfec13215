import * as http from 'http';
import { AddressInfo } from 'net';
import { WaitConditionSignal } from '../../../src/handlers/import-image/common';
import { sendSignal } from '../../../src/handlers/import-image/signal';
import { isTransient } from '../../../src/handlers/shared/util';

interface Received {
  readonly method?: string;
  readonly url?: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

let server: http.Server;
let baseUrl: string;
let received: Received[];
let answer: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = answer;
      res.end(answer >= 300 ? '<Error><Code>SignatureDoesNotMatch</Code></Error>' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  answer = 200;
});

const SIGNAL: WaitConditionSignal = {
  Status: 'SUCCESS', Reason: 'image is AVAILABLE as ami-0123456789abcdef0 — 完了', UniqueId: 'import-ami-0123456789abcdef0', Data: 'ami-0123456789abcdef0',
};
const PRESIGNED_PATH = '/arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/my-stack/1111/SignalABC?X-Amz-Expires=86400&X-Amz-Signature=signal-secret';

describe('sendSignal', () => {
  test('PUTs the signal JSON to the presigned URL, path and query as given, with no Content-Type', async () => {
    await sendSignal(`${baseUrl}${PRESIGNED_PATH}`, SIGNAL);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('PUT');
    expect(request.url).toBe(PRESIGNED_PATH);
    // The URL is signed without a Content-Type: sending one breaks the signature.
    expect(request.headers['content-type']).toBeUndefined();
    expect(JSON.parse(request.body)).toEqual(SIGNAL);
    expect(Number(request.headers['content-length'])).toBe(Buffer.byteLength(request.body, 'utf8'));
  });

  test('fails with a transient error on a 5xx, so the caller retries', async () => {
    answer = 503;

    const error = await sendSignal(`${baseUrl}${PRESIGNED_PATH}`, SIGNAL).then(() => undefined, (err: Error) => err);

    expect(error?.message).toBe('the wait condition handle answered HTTP 503');
    expect(isTransient(error)).toBe(true);
  });

  test('fails with an error that is not transient on a 4xx (an expired or wrong URL), and never shows the URL', async () => {
    answer = 403;

    const error = await sendSignal(`${baseUrl}${PRESIGNED_PATH}`, SIGNAL).then(() => undefined, (err: Error) => err);

    expect(error?.message).toBe('the wait condition handle answered HTTP 403');
    expect(isTransient(error)).toBe(false);
    expect(`${error?.message} ${error?.stack}`).not.toContain('signal-secret');
  });

  test('fails when nothing listens, with an error a retry treats as transient', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await sendSignal(`http://127.0.0.1:${port}/x`, SIGNAL).then(() => undefined, (err: Error) => err);

    expect(error).toBeDefined();
    expect(isTransient(error)).toBe(true);
  });
});
