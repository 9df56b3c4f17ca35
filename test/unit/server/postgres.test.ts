/**
 * The shared server suite on a real PostgreSQL server: a throw-away cluster started from the
 * machine's PostgreSQL binaries (or LOCALFIT_TEST_DATABASE_URL). Without binaries the suite
 * cannot run, and says so in a test of its own rather than skipping in silence; set
 * LOCALFIT_REQUIRE_POSTGRES=1 to make that a failure.
 */
import { expect, test } from 'vitest';
import { defineServerSuite } from './suite.ts';
import { postgresBackend } from './support/backends.ts';
import { findPostgresBinaries } from './support/postgres_cluster.ts';

const binaries = process.env.LOCALFIT_TEST_DATABASE_URL
  ? { dir: '' }
  : await findPostgresBinaries();

if ('missing' in binaries) {
  test(`PostgreSQL suite NOT RUN: ${binaries.missing}`, () => {
    console.warn(
      `\n*** The PostgreSQL server suite did NOT run: ${binaries.missing}.\n` +
        '*** Install PostgreSQL (initdb, pg_ctl, postgres) or set LOCALFIT_TEST_DATABASE_URL.\n',
    );
    expect(process.env.LOCALFIT_REQUIRE_POSTGRES ?? '', 'PostgreSQL is required here').toBe('');
  });
} else {
  defineServerSuite(postgresBackend(binaries.dir));
}
