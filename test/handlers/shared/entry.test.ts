import { entryHandler, HANDLER_ENTRY_ENV } from '../../../src/handlers/shared/entry';

const onEvent = async () => 'on-event ran';
const isComplete = async () => 'is-complete ran';
const entries = { 'on-event': onEvent, 'is-complete': isComplete };

describe('entryHandler (one asset, one entry per function)', () => {
  test('runs the entry the function names', async () => {
    await expect(entryHandler(entries, 'is-complete')({})).resolves.toBe('is-complete ran');
    await expect(entryHandler(entries, 'on-event')({})).resolves.toBe('on-event ran');
  });

  test('reads the entry from HANDLER_ENTRY by default', async () => {
    const before = process.env[HANDLER_ENTRY_ENV];
    process.env[HANDLER_ENTRY_ENV] = 'on-event';
    try {
      await expect(entryHandler(entries)({})).resolves.toBe('on-event ran');
    } finally {
      if (before === undefined) delete process.env[HANDLER_ENTRY_ENV];
      else process.env[HANDLER_ENTRY_ENV] = before;
    }
  });

  test('fails the init naming the entries when HANDLER_ENTRY is missing or unknown', () => {
    expect(() => entryHandler(entries, undefined)).toThrow('HANDLER_ENTRY is not set; this asset runs "on-event" or "is-complete": set it on the function');
    expect(() => entryHandler(entries, 'poller')).toThrow('HANDLER_ENTRY is "poller"; this asset runs "on-event" or "is-complete"');
    // Not an own entry: an inherited property must not be taken for one.
    expect(() => entryHandler(entries, 'toString')).toThrow('HANDLER_ENTRY is "toString"');
  });
});
