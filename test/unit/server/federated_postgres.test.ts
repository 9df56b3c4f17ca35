/**
 * The federated rounds suite on a real PostgreSQL server: a throw-away cluster started from the
 * machine's PostgreSQL binaries (or LOCALFIT_TEST_DATABASE_URL). Without binaries it says so
 * in a test of its own rather than skipping in silence (as postgres.test.ts does).
 */
import { expect, test } from 'vitest';
import { defineFederatedSuite } from './federated_suite.ts';
import { postgresBackend } from './support/backends.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

if ('missing' in binaries) {
  test(`federated PostgreSQL suite NOT RUN: ${binaries.missing}`, () => {
    console.warn(`\n*** The federated PostgreSQL suite did NOT run: ${binaries.missing}.\n`);
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  defineFederatedSuite(postgresBackend(binaries.dir));
}
