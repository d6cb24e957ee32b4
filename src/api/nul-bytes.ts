/**
 * NUL bytes (U+0000) are refused at the edge, in every string a request carries: path parameters,
 * query values, JSON bodies (keys and values) and multipart fields. PostgreSQL cannot store them in
 * text (`invalid byte sequence for encoding "UTF8"`, a 500 on 23 endpoints before this check) and
 * no Atelier value needs one, so both backends answer the same 422 naming the field.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/** Where a request value came from (the first element of a 422's `loc`). */
export type Where = 'body' | 'query' | 'path' | 'header' | 'form';

type Loc = (string | number)[];
// A value and how it was reached; the path is rebuilt only on a hit (copying it at every level
// made a 3,000-deep body take seconds).
type Node = { v: unknown; key: string | number | null; parent: Node | null };

function locOf(node: Node): Loc {
  const loc: Loc = [];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) loc.unshift(n.key);
  return loc;
}

/** The location of the first string (or object key) holding a NUL in value, or null. Iterative: nesting depth cannot overflow the stack. */
export function findNul(value: unknown): Loc | null {
  const stack: Node[] = [{ v: value, key: null, parent: null }];
  while (stack.length) {
    const node = stack.pop() as Node;
    const v = node.v;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return locOf(node);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, key: i, parent: node }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (k.includes('\u0000')) return [...locOf(node), k];
        stack.push({ v: item, key: k, parent: node });
      }
    }
  }
  return null;
}

/** Throws a 422 (validation_failed) naming the field when value holds a NUL anywhere. */
export function rejectNul(value: unknown, where: Where): void {
  const loc = findNul(value);
  if (!loc) return;
  const field = loc.map((p) => String(p).replaceAll('\u0000', '\\0')).join('.') || where;
  const msg = 'contains a NUL byte (\\u0000), which no field accepts';
  throw new ApiError('validation_failed', { where, summary: `${field}: ${msg}` }, { param: field, detail: [{ loc: [where, ...loc], msg, type: 'nul_byte' }] });
}

/** A preHandler hook: every route's params, query and parsed body pass rejectNul before the handler runs. */
export async function nulGuard(request: FastifyRequest): Promise<void> {
  rejectNul(request.params, 'path');
  rejectNul(request.query, 'query');
  rejectNul(request.body, 'body');
}
