"""schemathesis hooks for tests/contract/run.sh (SCHEMATHESIS_HOOKS).

positive_data_acceptance expects 2xx, 403 and 422 for schema-valid requests
(tests/contract/schemathesis.toml). This check narrows the 422: a
schema-valid request may be refused only for what no JSON schema can say,
each named below; any other 422 code for valid data is a schema that is
looser than the service, and fails the run.
"""

import schemathesis

# code -> why no schema can say it
NAMED_REFUSALS = {
    # Path syntax: dot segments (also `..;x`, `..%3Bx`), `//`, encoded
    # separators and dots, raw characters: a rule over segments and escapes.
    "invalid_path": "path syntax",
    # The same rule over an object key's segments.
    "invalid_key": "object key syntax",
    # Lifetimes relative to now (a past expires_at), and not_before before
    # the expiry: comparisons with the clock and between fields.
    "invalid_times": "time relative to now or to another field",
    # policy_resource must cover the signed URL: a relation between fields.
    "policy_resource_mismatch": "relation between path and policy_resource",
    # Wildcards in a pattern follow CloudFront's rules (path syntax too).
    "invalid_policy_resource": "pattern syntax",
    # CloudFront's own parameter names, in any case, as query names.
    "reserved_query_parameter": "case-insensitive reserved names",
}


@schemathesis.check
def positive_refusals_are_named(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        code = response.json().get("code")
    except Exception:  # noqa: BLE001 - a non-JSON 422 is its own failure
        code = None
    if code not in NAMED_REFUSALS:
        raise AssertionError(
            f"a schema-valid request was refused with 422 {code!r}, which is not a named exception "
            f"(tests/contract/hooks.py): the schema is looser than the service"
        )
    return None
