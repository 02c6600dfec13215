import { restoreDistributions } from '../../../src/handlers/distribution/restore';

describe('restoreDistributions', () => {
  test('keeps values that already have the API type', () => {
    const typed = [{
      region: 'us-east-1',
      fastLaunchConfigurations: [{ enabled: false, maxParallelLaunches: 10, snapshotConfiguration: { targetResourceCount: 2 } }],
      launchTemplateConfigurations: [{ launchTemplateId: 'lt-0123456789abcdef0', setDefaultVersion: true }],
    }];

    expect(restoreDistributions(typed)).toEqual(typed);
  });

  test('leaves absent members absent', () => {
    const plain = [{ region: 'us-east-1', fastLaunchConfigurations: [{ enabled: 'false' }] }];

    expect(restoreDistributions(plain)).toEqual([{ region: 'us-east-1', fastLaunchConfigurations: [{ enabled: false }] }]);
  });

  test('does not modify its input', () => {
    const input = [{ region: 'us-east-1', launchTemplateConfigurations: [{ launchTemplateId: 'lt-0123456789abcdef0', setDefaultVersion: 'true' }] }];
    const copy = structuredClone(input);

    restoreDistributions(input);

    expect(input).toEqual(copy);
  });

  test.each([
    ['an empty string', ''],
    ['a number', 1],
  ])('rejects %s for a boolean, naming the path', (_label, value) => {
    expect(() => restoreDistributions([{ region: 'us-east-1', fastLaunchConfigurations: [{}, { enabled: value }] }]))
      .toThrow(/^Distributions\[0\]\.fastLaunchConfigurations\[1\]\.enabled: expected "true" or "false"/);
  });

  test.each([
    ['a fraction', '1.5'],
    ['hex', '0x10'],
    ['an empty string', ''],
    ['a boolean', true],
  ])('rejects %s for an integer, naming the path', (_label, value) => {
    expect(() => restoreDistributions([{ region: 'us-east-1', fastLaunchConfigurations: [{ enabled: 'true', maxParallelLaunches: value }] }]))
      .toThrow(/^Distributions\[0\]\.fastLaunchConfigurations\[0\]\.maxParallelLaunches: expected an integer/);
  });

  test('rejects a non-list where the API has a list, naming the path', () => {
    expect(() => restoreDistributions([{ region: 'us-east-1', launchTemplateConfigurations: { setDefaultVersion: 'true' } }]))
      .toThrow('Distributions[0].launchTemplateConfigurations must be a list');
  });

  test('rejects Distributions that are not a list', () => {
    expect(() => restoreDistributions({ region: 'us-east-1' })).toThrow('Distributions must be a list');
  });
});
