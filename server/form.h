/* form.h: application/x-www-form-urlencoded bodies (the HTML form
 * encoding RFC 7009 requests use): "name=value" pairs joined by '&', '+'
 * for a space, %XX for any byte. No libmicrohttpd types; unit-tested. */
#ifndef TENANT_AUTHD_FORM_H
#define TENANT_AUTHD_FORM_H

#include <stdbool.h>
#include <stddef.h>

enum form_result {
  FORM_OK,        /* found once: out holds the decoded value */
  FORM_ABSENT,    /* no pair with that name */
  FORM_REPEATED,  /* more than one pair with that name */
  FORM_MALFORMED, /* a bad %XX escape, or the value does not fit out */
};

/* Looks up name in body[0..len): decodes its value into out[0..out_size)
 * (NUL-terminated, *out_len bytes, which may include NUL bytes). Every
 * pair is checked, so a repeated name is seen wherever it is. */
enum form_result form_get(const char *body, size_t len, const char *name,
                          char *out, size_t out_size, size_t *out_len);

/* True when the Content-Type value is application/x-www-form-urlencoded,
 * in any case, with or without parameters (";charset=..."). */
bool form_content_type_ok(const char *value);

#endif
