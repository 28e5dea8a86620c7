/* test_introspect.c: POST /introspect's pieces (server/introspect.c):
 * the configured clients' rules, HTTP Basic credentials (RFC 7617; its
 * example "Aladdin:open sesame" from section 2 among them) with every
 * stated answer for missing, malformed, oversized and binary values, the
 * token parameter of the form body (RFC 7662 section 2.1) and the answer
 * (section 2.2): exactly {"active":false} for anything inactive. The
 * base64 strings were made with coreutils' base64, not with the code. */
#include <stdint.h>
#include <string.h>

#include "introspect.h"
#include "test.h"

#define SECRET_A "0123456789abcdef"
#define SECRET_B "ABCDEFGHIJKLMNOP"

static enum introspect_auth auth(const struct introspect_clients *cs,
                                 const char *value, unsigned *client)
{
  char *copy = test_dup(value, strlen(value));
  enum introspect_auth r =
      introspect_authenticate(cs, copy, strlen(value), 1, client);

  free(copy);
  return r;
}

static char err[256]; /* the reason of the last refusal */

static int add(struct introspect_clients *cs, const char *id,
               const char *secret)
{
  return introspect_client_add(cs, id, strlen(id), secret, strlen(secret), err,
                               sizeof err);
}

static void test_clients(void)
{
  struct introspect_clients cs = {0};
  char id[80], big[200];

  CHECK(add(&cs, "apache", SECRET_A) == 0);
  CHECK(add(&cs, "envoy", SECRET_B) == 0);
  CHECK(cs.count == 2 && strcmp(cs.c[1].id, "envoy") == 0);
  /* The id: 1 to 64 unreserved characters, once. */
  CHECK(add(&cs, "apache", SECRET_B) == -1);
  CHECK(add(&cs, "", SECRET_A) == -1);
  CHECK(add(&cs, "a:b", SECRET_A) == -1);
  CHECK(add(&cs, "a b", SECRET_A) == -1);
  CHECK(add(&cs, "caf\xc3\xa9", SECRET_A) == -1);
  memset(id, 'x', 64);
  id[64] = '\0';
  CHECK(add(&cs, id, SECRET_A) == 0);
  id[64] = 'x';
  id[65] = '\0';
  CHECK(add(&cs, id, SECRET_A) == -1);
  CHECK(introspect_client_add(&cs, NULL, 0, SECRET_A, 16, err, sizeof err) ==
        -1);
  /* A NUL byte inside the id. */
  CHECK(introspect_client_add(&cs, "ab\0c", 4, SECRET_A, 16, err, sizeof err) ==
        -1);
  /* The secret: 16 to 128 unreserved characters, never quoted back. */
  CHECK(add(&cs, "short", "0123456789abcde") == -1);
  CHECK(introspect_client_add(&cs, "withnul", 7, "0123456789abcde\0", 16, err,
                              sizeof err) == -1);
  CHECK(strstr(err, "0123456789") == NULL);
  CHECK(add(&cs, "plus", "0123456789abcde+") == -1);
  CHECK(strstr(err, "0123456789abcde+") == NULL && strstr(err, "plus") != NULL);
  memset(big, 's', 128);
  big[128] = '\0';
  CHECK(add(&cs, "long", big) == 0);
  big[128] = 's';
  big[129] = '\0';
  CHECK(add(&cs, "longer", big) == -1);
  CHECK(introspect_client_add(&cs, "nosecret", 8, NULL, 0, err, sizeof err) ==
        -1);
  /* At most INTROSPECT_CLIENTS_MAX. */
  while (cs.count < INTROSPECT_CLIENTS_MAX) {
    snprintf(id, sizeof id, "c%u", cs.count);
    CHECK(add(&cs, id, SECRET_A) == 0);
  }
  CHECK(add(&cs, "onemore", SECRET_A) == -1);
  CHECK(strstr(err, "more than") != NULL);
}

static void test_authenticate(void)
{
  struct introspect_clients cs = {0}, none = {0};
  unsigned client = 99;
  char big[INTROSPECT_CRED_MAX + 8];

  CHECK(add(&cs, "apache", SECRET_A) == 0);
  CHECK(add(&cs, "envoy", SECRET_B) == 0);
  CHECK(add(&cs, "Aladdin", "opensesame-opensesame") == 0);

  /* "apache:0123456789abcdef" and "envoy:ABCDEFGHIJKLMNOP". */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_OK);
  CHECK(client == 0);
  CHECK(auth(&cs, "Basic ZW52b3k6QUJDREVGR0hJSktMTU5PUA==", &client) ==
        INTROSPECT_AUTH_OK);
  CHECK(client == 1);
  /* The scheme in any case, blanks around (RFC 7235 section 2.1). */
  CHECK(auth(&cs, "bAsIc \t YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY= \t", &client) ==
        INTROSPECT_AUTH_OK);
  CHECK(auth(&cs, "  Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_OK);

  /* Missing: nothing, or another scheme. */
  CHECK(introspect_authenticate(&cs, NULL, 0, 0, &client) ==
        INTROSPECT_AUTH_MISSING);
  CHECK(client == 0);
  CHECK(auth(&cs, "", &client) == INTROSPECT_AUTH_MISSING);
  CHECK(auth(&cs, "   ", &client) == INTROSPECT_AUTH_MISSING);
  CHECK(auth(&cs, "Bearer YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_MISSING);
  CHECK(auth(&cs, "BasicYXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_MISSING);
  CHECK(auth(&cs, "Basi", &client) == INTROSPECT_AUTH_MISSING);

  /* Malformed: no credentials, bad base64, no ':', empty id, repeated. */
  CHECK(auth(&cs, "Basic", &client) == INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic   ", &client) == INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY", &client) ==
        INTROSPECT_AUTH_MALFORMED); /* unpadded */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=YXBh", &client) ==
        INTROSPECT_AUTH_MALFORMED); /* padding inside */
  CHECK(auth(&cs, "Basic YXBh=2hl", &client) == INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic YX!hY2hl", &client) == INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic YXBhY2hl OjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic ====", &client) == INTROSPECT_AUTH_MALFORMED);
  /* Not canonical (RFC 4648 section 3.5): bits under the padding set. */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWZ=", &client) ==
        INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic YXBhY2hlOg==", &client) == INTROSPECT_AUTH_WRONG);
  CHECK(auth(&cs, "Basic YXBhY2hlOh==", &client) == INTROSPECT_AUTH_MALFORMED);
  CHECK(auth(&cs, "Basic YXBhY2hlMDEyMzQ1Njc4OWFiY2RlZg==", &client) ==
        INTROSPECT_AUTH_MALFORMED); /* "apache0123456789abcdef" */
  CHECK(auth(&cs, "Basic OjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_MALFORMED); /* ":0123456789abcdef" */
  CHECK(introspect_authenticate(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=",
                                38, 2, &client) == INTROSPECT_AUTH_MALFORMED);
  /* Oversized: refused before decoding, even when well-formed. */
  memcpy(big, "Basic ", 6);
  memset(big + 6, 'Q', sizeof big - 6);
  CHECK(introspect_authenticate(&cs, big, sizeof big, 1, &client) ==
        INTROSPECT_AUTH_MALFORMED);
  /* An oversized value of another scheme is simply not ours. */
  memcpy(big, "Bearer", 6);
  CHECK(introspect_authenticate(&cs, big, sizeof big, 1, &client) ==
        INTROSPECT_AUTH_MISSING);

  /* Wrong: unknown id, wrong secret, a right secret of another client,
   * an empty secret, RFC 7617's own example (not configured as such). */
  CHECK(auth(&cs, "Basic YXBhY2hlOg==", &client) ==
        INTROSPECT_AUTH_WRONG); /* "apache:" */
  CHECK(auth(&cs, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &client) ==
        INTROSPECT_AUTH_WRONG); /* "Aladdin:open sesame" */
  CHECK(auth(&cs, "Basic YXBhY2hlOkFCQ0RFRkdISUpLTE1OT1A=", &client) ==
        INTROSPECT_AUTH_WRONG); /* "apache:ABCDEFGHIJKLMNOP" */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWc=", &client) ==
        INTROSPECT_AUTH_WRONG); /* "apache:0123456789abcdeg" */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWYA", &client) ==
        INTROSPECT_AUTH_WRONG); /* "apache:0123456789abcdef\0" */
  CHECK(auth(&cs, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY6", &client) ==
        INTROSPECT_AUTH_WRONG); /* "apache:0123456789abcdef:" */
  /* No client configured: nobody gets in. */
  CHECK(auth(&none, "Basic YXBhY2hlOjAxMjM0NTY3ODlhYmNkZWY=", &client) ==
        INTROSPECT_AUTH_WRONG);
  CHECK(client == 0);
}

static enum introspect_form token(const char *body, char *out, size_t *len)
{
  char *copy = test_dup(body, strlen(body));
  enum introspect_form r = introspect_token(copy, strlen(body), out, len);

  free(copy);
  return r;
}

static void test_token(void)
{
  char out[INTROSPECT_TOKEN_MAX], body[INTROSPECT_TOKEN_MAX + 16];
  size_t len;

  /* RFC 7662 section 2.1's example body, and the hint ignored. */
  CHECK(token("token=mF_9.B5f-4.1JqM&token_type_hint=access_token", out,
              &len) == INTROSPECT_FORM_OK);
  CHECK(strcmp(out, "mF_9.B5f-4.1JqM") == 0 && len == 15);
  CHECK(token("token_type_hint=refresh_token&token=a%2Bb", out, &len) ==
        INTROSPECT_FORM_OK);
  CHECK(strcmp(out, "a+b") == 0);
  CHECK(token("", out, &len) == INTROSPECT_FORM_MISSING);
  CHECK(introspect_token(NULL, 0, out, &len) == INTROSPECT_FORM_MISSING);
  CHECK(token("token=", out, &len) == INTROSPECT_FORM_MISSING);
  CHECK(token("token_type_hint=access_token", out, &len) ==
        INTROSPECT_FORM_MISSING);
  CHECK(token("token=a&token=a", out, &len) == INTROSPECT_FORM_REPEATED);
  CHECK(token("token=%zz", out, &len) == INTROSPECT_FORM_MALFORMED);
  /* 255 bytes fit; 256 do not. */
  memcpy(body, "token=", 6);
  memset(body + 6, 'a', INTROSPECT_TOKEN_MAX - 1);
  body[6 + INTROSPECT_TOKEN_MAX - 1] = '\0';
  CHECK(token(body, out, &len) == INTROSPECT_FORM_OK &&
        len == INTROSPECT_TOKEN_MAX - 1);
  body[6 + INTROSPECT_TOKEN_MAX - 1] = 'a';
  body[6 + INTROSPECT_TOKEN_MAX] = '\0';
  CHECK(token(body, out, &len) == INTROSPECT_FORM_MALFORMED);
  /* Binary: a NUL byte is data, and the token is then simply not one. */
  CHECK(token("token=ta1_%00x", out, &len) == INTROSPECT_FORM_OK && len == 6);
}

static void test_render(void)
{
  const char *tenant = "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1";
  struct introspect_claims c = {.tenant_id = tenant};
  char out[512];

  CHECK(introspect_render(out, sizeof out, NULL) == 16);
  CHECK(strcmp(out, "{\"active\":false}") == 0);
  CHECK(introspect_render(out, 17, NULL) == 16);
  CHECK(introspect_render(out, 16, NULL) == -1);
  CHECK(introspect_render(out, 0, NULL) == -1);

  /* Nothing optional known. */
  CHECK(introspect_render(out, sizeof out, &c) > 0);
  CHECKF(strcmp(out, "{\"active\":true,\"token_type\":\"bearer\",\"sub\":"
                     "\"0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1\",\"tenant_id\":"
                     "\"0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1\"}") == 0,
         "%s", out);
  /* Everything known. */
  c.scope = "metrics:write reports:*";
  c.token_id = 42;
  c.iat = 1764939600;
  c.exp = 1796475600;
  CHECK(introspect_render(out, sizeof out, &c) == (long)strlen(out));
  CHECKF(strcmp(out, "{\"active\":true,\"scope\":\"metrics:write "
                     "reports:*\",\"token_type\":\"bearer\",\"sub\":"
                     "\"0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1\",\"tenant_id\":"
                     "\"0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1\",\"token_id\":42,"
                     "\"iat\":1764939600,\"exp\":1796475600}") == 0,
         "%s", out);
  c.scope = "*";
  c.token_id = UINT64_MAX;
  c.iat = 0;
  c.exp = 0;
  CHECK(introspect_render(out, sizeof out, &c) > 0);
  CHECK(strstr(out, "\"scope\":\"*\"") != NULL);
  CHECK(strstr(out, "\"token_id\":18446744073709551615}") != NULL);
  CHECK(strstr(out, "iat") == NULL && strstr(out, "exp") == NULL);
  /* Strings are escaped, whatever reaches the renderer. */
  c.scope = "a\"b\\c\n";
  CHECK(introspect_render(out, sizeof out, &c) > 0);
  CHECKF(strstr(out, "\"scope\":\"a\\\"b\\\\c\\u000a\"") != NULL, "%s", out);
  /* Too small a buffer: -1, and the inactive answer when it fits. */
  CHECK(introspect_render(out, 40, &c) == -1);
  CHECK(strcmp(out, "{\"active\":false}") == 0);
  CHECK(introspect_render(out, 10, &c) == -1 && out[0] == '\0');
  /* No tenant: inactive. */
  c.tenant_id = NULL;
  CHECK(introspect_render(out, sizeof out, &c) == 16);
  CHECK(strcmp(out, "{\"active\":false}") == 0);
}

static long scope(const char *json, char *out, size_t out_size)
{
  char *copy = test_dup(json, strlen(json));
  long r = introspect_scope(copy, strlen(json), out, out_size);

  free(copy);
  return r;
}

/* The abilities as the database stores them become the scope. */
static void test_scope(void)
{
  char out[64], big[5000];
  size_t n = 0;

  CHECK(scope("[\"metrics:write\", \"reports:*\"]", out, sizeof out) == 23);
  CHECK(strcmp(out, "metrics:write reports:*") == 0);
  CHECK(scope("[\"*\"]", out, sizeof out) == 1 && strcmp(out, "*") == 0);
  CHECK(scope(" [ \"a\" ,\n\"b-c_d\"\t] ", out, sizeof out) == 7);
  CHECK(strcmp(out, "a b-c_d") == 0);
  CHECK(scope("[]", out, sizeof out) == 0 && out[0] == '\0');
  CHECK(scope("[ ]", out, sizeof out) == 0);
  /* Not such an array: -1 and an empty out. */
  CHECK(scope("", out, sizeof out) == -1 && out[0] == '\0');
  CHECK(introspect_scope(NULL, 0, out, sizeof out) == -1);
  CHECK(scope("\"a\"", out, sizeof out) == -1);
  CHECK(scope("[\"a\"", out, sizeof out) == -1);
  CHECK(scope("[\"a\",]", out, sizeof out) == -1 && out[0] == '\0');
  CHECK(scope("[,\"a\"]", out, sizeof out) == -1);
  CHECK(scope("[\"a\" \"b\"]", out, sizeof out) == -1);
  CHECK(scope("[\"\"]", out, sizeof out) == -1);
  CHECK(scope("[\"a b\"]", out, sizeof out) == -1);
  CHECK(scope("[\"a\\\"b\"]", out, sizeof out) == -1);
  CHECK(scope("[\"caf\xc3\xa9\"]", out, sizeof out) == -1);
  CHECK(scope("[\"a\x01\"]", out, sizeof out) == -1);
  CHECK(scope("[1]", out, sizeof out) == -1);
  CHECK(scope("[\"a\"] x", out, sizeof out) == -1);
  CHECK(scope("[\"a\"]]", out, sizeof out) == -1);
  /* Exactly fits, one byte short. */
  CHECK(scope("[\"abc\", \"de\"]", out, 7) == 6);
  CHECK(scope("[\"abc\", \"de\"]", out, 6) == -1 && out[0] == '\0');
  CHECK(scope("[\"a\"]", out, 0) == -1);
  /* A stored set of 64 long patterns fits a 4600-byte scope. */
  big[n++] = '[';
  for (int i = 0; i < 64; i++) {
    n += (size_t)snprintf(big + n, sizeof big - n, "%s\"%062d:*\"",
                          i ? ", " : "", i);
  }
  big[n++] = ']';
  big[n] = '\0';
  {
    char wide[4600];
    CHECK(scope(big, wide, sizeof wide) == 64 * 64 + 63);
  }
}

/* The limiter key of a client: in 100::/64, distinct per client. */
static void test_limit_key(void)
{
  unsigned char a[16], b[16];
  static const unsigned char want[16] = {0x01, 0,   0,   0,   0, 0, 0, 0,
                                         'i',  'n', 't', 'r', 0, 0, 1, 2};

  introspect_limit_key(258, a);
  CHECK(memcmp(a, want, 16) == 0);
  introspect_limit_key(0, a);
  introspect_limit_key(1, b);
  CHECK(memcmp(a, b, 16) != 0);
  CHECK(a[0] == 0x01 && a[1] == 0 && memcmp(a, b, 15) == 0);
}

int main(void)
{
  test_limit_key();
  test_scope();
  test_clients();
  test_authenticate();
  test_token();
  test_render();
  return test_finish("introspect");
}
