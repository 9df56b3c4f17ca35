/**
 * The retraining scheduler suite on a real PostgreSQL server (a throw-away cluster from the
 * machine's binaries, or LOCALFIT_TEST_DATABASE_URL); says so in a test of its own when there
 * is none, as postgres.test.ts does.
 */
import { expect, test } from 'vitest';
import { defineSchedulerSuite } from './scheduler_suite.ts';
import { postgresBackend } from './support/backends.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

if ('missing' in binaries) {
  test(`PostgreSQL scheduler suite NOT RUN: ${binaries.missing}`, () => {
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  defineSchedulerSuite(postgresBackend(binaries.dir));
}
