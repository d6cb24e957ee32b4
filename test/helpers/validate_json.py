"""Validates JSON instances against JSON Schema 2020-12 schemas for the TypeScript tests.

Reads {"checks": [{"name", "schema", "instance"}]} on stdin (each schema may carry its own
`components` for `#/components/schemas/...` references) and writes [{"name", "errors"}] on stdout,
one entry per check, errors empty when the instance is valid.
"""
import json
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


def errors_of(schema, instance):
    validator = Draft202012Validator(schema)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [describe(e) for e in found]


def describe(error):
    """The error, or for a failed anyOf/oneOf the closest branch's error (the useful one)."""
    if error.context:
        error = best_match(error.context)
    return f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message[:300]}"


def main():
    checks = json.load(sys.stdin)["checks"]
    json.dump([{"name": c["name"], "errors": errors_of(c["schema"], c["instance"])} for c in checks], sys.stdout)


if __name__ == "__main__":
    main()
