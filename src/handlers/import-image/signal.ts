import * as http from 'http';
import * as https from 'https';
import { WaitConditionSignal } from './common';
import { retryTransient, Sleep } from '../shared/util';

/**
 * PUTs a wait condition signal to its presigned URL. The URL is a presigned S3
 * PUT signed without a Content-Type, so the request must send none (fetch would
 * add text/plain); https.request sends exactly the headers given. A 5xx answer
 * carries its status, so retryTransient tries again.
 */
export function sendSignal(url: string, signal: WaitConditionSignal): Promise<void> {
  const body = Buffer.from(JSON.stringify(signal), 'utf8');
  const target = new URL(url);
  const client = target.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method: 'PUT', headers: { 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve();
        // Never the URL in a message: it is presigned.
        reject(Object.assign(new Error(`the wait condition handle answered HTTP ${status}`), {
          name: status >= 500 ? 'ServiceUnavailable' : 'SignalRejected', $metadata: { httpStatusCode: status },
        }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Signals a wait condition through the injected sender, retried through 5xx. The
 * UniqueId names the work (one per import or export), so a retried signal replaces
 * the first instead of counting twice.
 */
export async function signalWaitCondition(
  deps: { readonly signal?: (url: string, signal: WaitConditionSignal) => Promise<void>; readonly sleep: Sleep },
  url: string, body: WaitConditionSignal,
): Promise<void> {
  const send = deps.signal;
  if (!send) throw new Error('no wait condition signal sender configured');
  await retryTransient(() => send(url, body), deps.sleep);
  console.log(`signalled ${body.Status} for ${body.UniqueId}: ${body.Reason}`);
}
