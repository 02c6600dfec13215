/**
 * The functions of one provider share one asset (one upload, one cached copy of
 * the SDK). Each function's HANDLER_ENTRY, set by its generated `*-function.ts`
 * construct, names the `*.lambda.ts` entry it runs.
 */
export const HANDLER_ENTRY_ENV = 'HANDLER_ENTRY';

/** The `handler` a `*.lambda.ts` entry exports. */
export type EntryHandler = (event: any, context?: any) => Promise<unknown>;

/**
 * The handler of the entry this function runs, picked once, when Lambda loads
 * the module. An unknown or missing entry fails the init with the names it
 * could have been, before any event is handled.
 */
export function entryHandler(entries: Record<string, EntryHandler>, name = process.env[HANDLER_ENTRY_ENV]): EntryHandler {
  const handler = name !== undefined && Object.prototype.hasOwnProperty.call(entries, name) ? entries[name] : undefined;
  if (typeof handler !== 'function') {
    const names = Object.keys(entries).map((n) => JSON.stringify(n)).join(' or ');
    throw new Error(`${HANDLER_ENTRY_ENV} is ${name === undefined ? 'not set' : JSON.stringify(name)}; this asset runs ${names}: set it on the function`);
  }
  return handler;
}
