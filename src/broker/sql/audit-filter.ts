import type { AuditFilter } from '../store/interfaces.js';
import { join, raw, sql, type AuditJson, type Statement } from './statement.js';

/**
 * The WHERE conditions of an audit query, built once for both dialects: one condition per filter that is set
 * (ANDed), each reading the record's JSON the way `json` spells it.
 */
export function auditFilterConditions(json: AuditJson, filter: AuditFilter, afterSeq: number): Statement {
  const member = (key: string): Statement => raw(json.member(key));
  const conditions: Statement[] = [sql`seq > ${afterSeq}`];
  if (filter.since !== undefined) conditions.push(sql`${member('time')} >= ${filter.since}`);
  if (filter.until !== undefined) conditions.push(sql`${member('time')} < ${filter.until}`);
  const equal: ReadonlyArray<[string, string | undefined]> = [
    ['kind', filter.kind],
    ['outcome', filter.outcome],
    ['repository', filter.repository],
    ['request_id', filter.requestId],
  ];
  for (const [key, value] of equal) if (value !== undefined) conditions.push(sql`${member(key)} = ${value}`);
  if (filter.rule !== undefined) {
    conditions.push(
      sql`EXISTS (SELECT 1 FROM ${raw(json.elements('rules', 'text'))} WHERE e.value = ${filter.rule})`,
    );
  }
  if (filter.secret !== undefined) {
    const secret = filter.secret;
    // Requested as written in the request: a plain name, or an optional one ("NAME?"); released (the winner of
    // an entry's alternatives, or a version); or named by a list answer.
    conditions.push(
      sql`(${member('target')} = ${secret}
           OR EXISTS (SELECT 1 FROM ${raw(json.elements('requested', 'text'))} WHERE e.value IN (${secret}, ${`${secret}?`}))
           OR EXISTS (SELECT 1 FROM ${raw(json.elements('released', 'object'))} WHERE ${raw(json.elementMember('name'))} = ${secret})
           OR EXISTS (SELECT 1 FROM ${raw(json.elements('listed', 'object'))} WHERE ${raw(json.elementMember('name'))} = ${secret}))`,
    );
  }
  return join(conditions, ' AND ');
}
