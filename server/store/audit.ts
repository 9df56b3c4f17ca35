/**
 * The audit log: every admin action, who asked, when, what and why. Written in the same
 * transaction as the change it records, so the log and the state never disagree.
 */
import type { AuditAction, AuditEntry } from '../../src/protocol/admin.ts';
import type { Queryable } from '../db/database.ts';

export interface AuditRecord {
  actor: string;
  action: AuditAction;
  versionId?: string;
  why?: string;
  details?: Record<string, unknown>;
}

export async function recordAudit(tx: Queryable, record: AuditRecord): Promise<void> {
  await tx.query(
    `insert into audit_log (at, actor, action, version_id, why, details)
     values (clock_timestamp(), $1, $2, $3, $4, $5::jsonb)`,
    [
      record.actor,
      record.action,
      record.versionId ?? null,
      record.why ?? null,
      JSON.stringify(record.details ?? {}),
    ],
  );
}

interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  action: AuditAction;
  version_id: string | null;
  why: string | null;
  details: Record<string, unknown>;
}

/** The most recent entries, newest first. */
export async function listAudit(db: Queryable, limit: number): Promise<AuditEntry[]> {
  const { rows } = await db.query<AuditRow>(
    'select id, at, actor, action, version_id, why, details from audit_log order by id desc limit $1',
    [limit],
  );
  return rows.map((row) => ({
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    versionId: row.version_id,
    why: row.why,
    details: row.details,
  }));
}
