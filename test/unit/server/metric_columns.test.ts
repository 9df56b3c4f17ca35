/**
 * The metric column table (server/store/metric_columns.ts) against the schema the migrations
 * build: every column it names exists in version_install_totals with the type its kind says
 * (a count is bigint, a sum float8), and every numeric running total in the table is in it —
 * so ingest's upsert and the status SELECT, both generated from the table, miss nothing.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Database } from '../../../server/db/database.ts';
import { openDatabase } from '../../../server/db/open.ts';
import { emptyMetricSums, METRIC_COLUMNS } from '../../../server/store/metric_columns.ts';

let db: Database;
beforeAll(async () => {
  db = await openDatabase({ memory: true });
});
afterAll(() => db.close());

async function totalsColumns(): Promise<Map<string, string>> {
  const { rows } = await db.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns
     where table_name = 'version_install_totals'`,
  );
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}

test('every metric column exists with the type of its kind', async () => {
  const schema = await totalsColumns();
  for (const [column, kind] of Object.entries(METRIC_COLUMNS))
    expect([column, schema.get(column)]).toEqual([
      column,
      kind === 'count' ? 'bigint' : 'double precision',
    ]);
});

test('every numeric running total of the table is a metric column', async () => {
  const schema = await totalsColumns();
  // Not sums: keys, the histograms (arrays), the last ranking depth and the time span.
  const notSums = new Set(['ranking_k', 'first_start', 'last_end']);
  const numeric = [...schema]
    .filter(
      ([name, type]) => (type === 'bigint' || type === 'double precision') && !notSums.has(name),
    )
    .map(([name]) => name)
    .sort();
  expect(numeric).toEqual(Object.keys(METRIC_COLUMNS).sort());
});

test('the empty row is zero in every column', () => {
  const empty = emptyMetricSums();
  expect(Object.keys(empty).sort()).toEqual(Object.keys(METRIC_COLUMNS).sort());
  expect(new Set(Object.values(empty))).toEqual(new Set([0]));
});
