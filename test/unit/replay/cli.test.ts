// `localfit replay`: arguments, help and errors (the full run is in movielens.test.ts).
import { describe, expect, test } from 'vitest';
import { main } from '../../../models/cli/main.ts';
import { parseReplayArgs, REPLAY_USAGE } from '../../../models/cli/replay.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) },
    out,
    err,
  };
}

describe('localfit replay', () => {
  test('parses its options', () => {
    expect(parseReplayArgs(['movielens'])).toEqual({
      dataset: 'movielens',
      json: false,
      quiet: false,
      federated: false,
    });
    expect(
      parseReplayArgs(['movielens', '--data', 'd', '--json', '--save', 's', '--quiet']),
    ).toEqual({
      dataset: 'movielens',
      data: 'd',
      save: 's',
      json: true,
      quiet: true,
      federated: false,
    });
    expect(parseReplayArgs(['--help'])).toBe('help');
  });

  test("parses the federated simulation's options", () => {
    expect(
      parseReplayArgs([
        'movielens',
        '--federated',
        '--epsilon',
        '2',
        '--rounds',
        '3',
        '--clip',
        '0.25',
        '--seed',
        '7',
      ]),
    ).toMatchObject({ federated: true, epsilon: 2, rounds: 3, clip: 0.25, seed: 7 });
    expect(parseReplayArgs(['movielens', '--federated', '--epsilon', 'inf'])).toMatchObject({
      epsilon: Number.POSITIVE_INFINITY,
    });
  });

  test('help, unknown data sets and options', async () => {
    const help = capture();
    expect(await main(['replay', '--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toBe(REPLAY_USAGE);
    for (const argv of [
      ['replay'],
      ['replay', 'netflix'],
      ['replay', 'movielens', '--frobnicate'],
      ['replay', 'movielens', '--data'],
      ['replay', 'movielens', '--epsilon', '8'], // without --federated
      ['replay', 'movielens', '--federated', '--epsilon', '0'],
      ['replay', 'movielens', '--federated', '--epsilon', 'lots'],
      ['replay', 'movielens', '--federated', '--rounds', '2.5'],
      ['replay', 'movielens', '--federated', '--clip', '-1'],
      ['replay', 'movielens', '--federated', '--save', 'dir'],
    ]) {
      const bad = capture();
      expect(await main(argv, bad.io)).toBe(2);
      expect(bad.err.join('\n')).toMatch(/^localfit: /);
    }
  });

  test('a data directory without MovieLens is a clear error', async () => {
    const run = capture();
    expect(
      await main(['replay', 'movielens', '--data', '/nonexistent/movielens', '--quiet'], run.io),
    ).toBe(1);
    expect(run.err.join('\n')).toMatch(/cannot read .*ratings\.csv.*--data DIR/);
  });
});
