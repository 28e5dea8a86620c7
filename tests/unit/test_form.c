/* test_form.c: form_get and form_content_type_ok on the cases RFC 7009
 * requests bring (token=...&token_type_hint=...), the HTML form encoding's
 * rules ('+' is a space, %XX any byte, a name may repeat) and hostile
 * input: bad escapes, overlong values, NUL bytes, no '=' at all. */
#include <string.h>

#include "form.h"
#include "test.h"

static enum form_result get(const char *body, const char *name, char *out,
                            size_t out_size, size_t *len)
{
  char *copy = test_dup(body, strlen(body));
  enum form_result r = form_get(copy, strlen(body), name, out, out_size, len);

  free(copy);
  return r;
}

int main(void)
{
  char out[80];
  size_t len;

  CHECK(get("token=abc&token_type_hint=access_token", "token", out, sizeof out,
            &len) == FORM_OK);
  CHECK(strcmp(out, "abc") == 0 && len == 3);
  CHECK(get("token_type_hint=x&token=abc", "token", out, sizeof out, &len) ==
        FORM_OK);
  CHECK(strcmp(out, "abc") == 0);
  CHECK(get("token_type_hint=x", "token", out, sizeof out, &len) ==
        FORM_ABSENT);
  CHECK(get("", "token", out, sizeof out, &len) == FORM_ABSENT);
  CHECK(get("tokenx=1&xtoken=2", "token", out, sizeof out, &len) ==
        FORM_ABSENT);
  CHECK(get("token=a&token=b", "token", out, sizeof out, &len) ==
        FORM_REPEATED);
  CHECK(get("token=a&to%6Ben=b", "token", out, sizeof out, &len) ==
        FORM_REPEATED);
  /* Decoding: '+' and %XX, in names too; %00 gives a NUL byte. */
  CHECK(get("t%6Fken=a+b%2Bc%25", "token", out, sizeof out, &len) == FORM_OK);
  CHECK(strcmp(out, "a b+c%") == 0 && len == 6);
  CHECK(get("token=a%00b", "token", out, sizeof out, &len) == FORM_OK);
  CHECK(len == 3 && out[1] == '\0');
  /* Empty values: "token=" and "token". */
  CHECK(get("token=", "token", out, sizeof out, &len) == FORM_OK && len == 0);
  CHECK(get("a=1&token", "token", out, sizeof out, &len) == FORM_OK &&
        len == 0);
  /* Bad escapes and overlong values. */
  CHECK(get("token=%", "token", out, sizeof out, &len) == FORM_MALFORMED);
  CHECK(get("token=%4", "token", out, sizeof out, &len) == FORM_MALFORMED);
  CHECK(get("token=%zz", "token", out, sizeof out, &len) == FORM_MALFORMED);
  CHECK(get("token=abcdef", "token", out, 6, &len) == FORM_MALFORMED);
  CHECK(get("token=abcde", "token", out, 6, &len) == FORM_OK && len == 5);
  /* Junk around it. */
  CHECK(get("&&=&token=x&", "token", out, sizeof out, &len) == FORM_OK &&
        strcmp(out, "x") == 0);
  CHECK(form_get(NULL, 0, "token", out, sizeof out, &len) == FORM_ABSENT);

  CHECK(form_content_type_ok("application/x-www-form-urlencoded"));
  CHECK(
      form_content_type_ok("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
  CHECK(!form_content_type_ok("application/x-www-form-urlencodedx"));
  CHECK(!form_content_type_ok("application/json"));
  CHECK(!form_content_type_ok(NULL));
  CHECK(!form_content_type_ok(""));
  return test_finish("test_form");
}
