/* ability.h: tenant-authd's one ability matcher, plain C (no MariaDB or
 * libmicrohttpd types), with the rules of SQL's verify_tenant_token_ability.
 *
 * Terms (docs/sql-reference.md):
 *   name     segment *( ":" segment ), 1 to 64 bytes; segment [a-z][a-z0-9_-]*
 *   pattern  "*" / name / name ":*", at most 64 bytes
 *   set      a token's abilities as tenant_tokens stores them and
 *            verify_tenant_token_hashes returns them: a JSON array of
 *            patterns, e.g. ["metrics:write","reports:*"]
 *
 * A set grants a name when it holds "*", the name itself, or "p:*" where
 * "p:" is a prefix of the name ending at one of its colons: "metrics:*"
 * grants metrics:write and metrics:write:raw, not metrics nor metricsx:write.
 *
 * Bad input is denied, never guessed at: a set that is not such an array
 * (malformed JSON, a non-string or escaped element, an element that is no
 * pattern, more than ABILITY_SET_PATTERNS patterns, more than
 * ABILITY_SET_MAX bytes, NUL or other binary bytes) grants nothing, even if
 * it also holds "*"; so does a NULL set or a name that is no name. */
#ifndef TENANT_AUTH_ABILITY_H
#define TENANT_AUTH_ABILITY_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds: a name or pattern's bytes; a set's patterns (as
 * tenant_auth_abilities allows) and bytes (the column's VARCHAR(4500)). */
#define ABILITY_NAME_MAX 64
#define ABILITY_SET_PATTERNS 64
#define ABILITY_SET_MAX 4500

/* True when s[0..len) is an ability name (no wildcard). */
bool ability_name_valid(const char *s, size_t len);

/* True when s[0..len) is a pattern: "*", a name, or a name followed by ":*". */
bool ability_pattern_valid(const char *s, size_t len);

/* True when the set set[0..set_len) is well formed and grants the ability
 * name[0..name_len). */
bool ability_granted(const char *set, size_t set_len, const char *name,
                     size_t name_len);

#endif
