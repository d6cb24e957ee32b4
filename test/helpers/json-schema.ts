/**
 * JSON Schema 2020-12 validation for tests, by the Python `jsonschema` package in .venv
 * (test/helpers/validate_json.py): one process for a whole batch of checks.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export type SchemaCheck = { name: string; schema: unknown; instance: unknown };
export type SchemaResult = { name: string; errors: string[] };

const root = path.join(import.meta.dirname, '..', '..');

/** Validates every check; returns each check's errors (empty when valid). */
export function validateAll(checks: SchemaCheck[]): SchemaResult[] {
  const out = execFileSync(path.join(root, '.venv', 'bin', 'python'), [path.join(import.meta.dirname, 'validate_json.py')], {
    input: JSON.stringify({ checks }), encoding: 'utf8', maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as SchemaResult[];
}

/** A schema that resolves `#/components/schemas/...` against `components`. */
export function withComponents(schema: unknown, components: unknown): Record<string, unknown> {
  return { ...(schema as Record<string, unknown>), components };
}
