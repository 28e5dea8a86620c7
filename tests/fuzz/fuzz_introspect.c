/* fuzz_introspect.c: fuzz target for POST /introspect's parsing
 * (server/introspect.c). One client is configured, "apache" with the
 * secret SECRET. The first input byte picks what the rest is:
 *   0: an Authorization value. Whatever introspect_authenticate answers,
 *      INTROSPECT_AUTH_OK means the value decodes, by OpenSSL's own base64
 *      decoder (EVP_DecodeBlock, not the code under test), to exactly
 *      "apache:" SECRET after the scheme "Basic" (RFC 7617 section 2).
 *   1: the clear "id:secret" a client would send: it is base64-encoded by
 *      OpenSSL and sent as "Basic <base64>"; the answer must be the one
 *      introspect.h states: OK exactly for the configured pair, MALFORMED
 *      without a ':' or with an empty id or when the value is longer than
 *      INTROSPECT_CRED_MAX, WRONG otherwise.
 *   2: a form body: introspect_token's value, when OK, is 1 to
 *      INTROSPECT_TOKEN_MAX - 1 bytes; rendered as a scope, the answer
 *      holds no raw control byte and no unescaped quote inside the scope
 *      (2048 bytes hold the answer of any such token: 255 bytes of six
 *      each, escaped).
 *   3: a stored set of abilities for introspect_scope: when it parses, the
 *      scope is scope-tokens (RFC 6749 section 3.3) joined by single
 *      spaces, and the JSON array written back from those tokens parses to
 *      the same scope; the first byte after the mode picks the room given.
 * Every call is also repeated: parsing is a pure function of the bytes. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "introspect.h"

#define ID "apache"
#define SECRET "0123456789abcdef"
#define CREDS ID ":" SECRET

static struct introspect_clients clients;

static void setup(void)
{
  char err[256];

  if (clients.count > 0)
    return;
  FUZZ_CHECK(introspect_client_add(&clients, ID, strlen(ID), SECRET,
                                   strlen(SECRET), err, sizeof err) == 0);
}

static bool blank(char c)
{
  return c == ' ' || c == '\t';
}

/* Mode 0: any value; OK only for the configured pair. */
static void fuzz_value(const char *v, size_t n)
{
  unsigned client = 7, again_client;
  enum introspect_auth r = introspect_authenticate(&clients, v, n, 1, &client);
  unsigned char plain[INTROSPECT_CRED_MAX];
  size_t i = 0, end = n;
  int dec;

  again_client = client;
  FUZZ_CHECK(introspect_authenticate(&clients, v, n, 1, &again_client) == r);
  FUZZ_CHECK(again_client == client);
  FUZZ_CHECK(r < INTROSPECT_AUTH_OUTCOMES);
  /* Two headers are refused whatever they hold. */
  FUZZ_CHECK(introspect_authenticate(&clients, v, n, 2, &client) ==
             INTROSPECT_AUTH_MALFORMED);
  if (r != INTROSPECT_AUTH_OK) {
    FUZZ_CHECK(client == 0);
    return;
  }
  FUZZ_CHECK(client == 0);
  FUZZ_CHECK(n <= INTROSPECT_CRED_MAX);
  while (i < n && blank(v[i]))
    i++;
  FUZZ_CHECK(n - i > 6 && strncasecmp(v + i, "basic", 5) == 0 &&
             blank(v[i + 5]));
  i += 5;
  while (i < n && blank(v[i]))
    i++;
  while (end > i && blank(v[end - 1]))
    end--;
  dec = EVP_DecodeBlock(plain, (const unsigned char *)v + i, (int)(end - i));
  FUZZ_CHECK(dec >= (int)strlen(CREDS));
  /* EVP_DecodeBlock counts padding as zero bytes. */
  FUZZ_CHECK(memcmp(plain, CREDS, strlen(CREDS)) == 0);
  for (int k = (int)strlen(CREDS); k < dec; k++)
    FUZZ_CHECK(plain[k] == 0);
}

/* Mode 1: the clear pair, encoded as a client would. */
static void fuzz_pair(const char *p, size_t n)
{
  unsigned char value[6 + 4 * ((4096 + 2) / 3) + 1];
  const char *colon = memchr(p, ':', n);
  enum introspect_auth want, r;
  unsigned client = 7;
  size_t len;

  if (n > 4096)
    return;
  memcpy(value, "Basic ", 6);
  len =
      6 + (size_t)EVP_EncodeBlock(value + 6, (const unsigned char *)p, (int)n);
  if (len > INTROSPECT_CRED_MAX || n == 0 || colon == NULL || colon == p)
    want = INTROSPECT_AUTH_MALFORMED;
  else if (n == strlen(CREDS) && memcmp(p, CREDS, n) == 0)
    want = INTROSPECT_AUTH_OK;
  else
    want = INTROSPECT_AUTH_WRONG;
  r = introspect_authenticate(&clients, (const char *)value, len, 1, &client);
  FUZZ_CHECK(r == want);
  FUZZ_CHECK(client == 0);
}

/* Mode 2: a form body, its token rendered. */
static void fuzz_form(const char *b, size_t n)
{
  char tok[INTROSPECT_TOKEN_MAX], again[INTROSPECT_TOKEN_MAX], out[2048];
  struct introspect_claims c = {.tenant_id =
                                    "0b6e7c51-4a0e-4a39-9a4e-0cc1e3b3b0f1"};
  size_t len = 12345, again_len;
  enum introspect_form r = introspect_token(b, n, tok, &len);
  long w;

  FUZZ_CHECK(introspect_token(b, n, again, &again_len) == r);
  if (r != INTROSPECT_FORM_OK)
    return;
  FUZZ_CHECK(len == again_len && memcmp(tok, again, len) == 0);
  FUZZ_CHECK(len >= 1 && len < INTROSPECT_TOKEN_MAX && tok[len] == '\0');
  c.scope = tok;
  w = introspect_render(out, sizeof out, &c);
  FUZZ_CHECK(w > 0 && (size_t)w == strlen(out));
  FUZZ_CHECK(strncmp(out, "{\"active\":true,\"scope\":\"", 24) == 0);
  for (long k = 0; k < w; k++) {
    FUZZ_CHECK((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
    /* Inside the scope, a quote is always escaped. */
    if (k > 24 && out[k] == '"' &&
        strncmp(out + k, "\",\"token_type\":", 15) != 0) {
      long bs = 0;
      while (out[k - 1 - bs] == '\\')
        bs++;
      FUZZ_CHECK(bs % 2 == 1);
    }
    if (strncmp(out + k, "\",\"token_type\":", 15) == 0)
      break;
  }
}

/* Mode 3: the scope of a stored set of abilities. */
static void fuzz_scope(const char *j, size_t n)
{
  char out[5000], again[5000], rebuilt[12000];
  size_t room, r = 0;
  long len;

  if (n == 0)
    return;
  room = 1 + (unsigned char)j[0] * 20;
  j++;
  n--;
  len = introspect_scope(j, n, out, room);
  if (len < 0) {
    FUZZ_CHECK(out[0] == '\0');
    return;
  }
  FUZZ_CHECK((size_t)len < room && strlen(out) == (size_t)len);
  FUZZ_CHECK(len == 0 || (out[0] != ' ' && out[len - 1] != ' '));
  rebuilt[r++] = '[';
  for (long k = 0; k < len; k++) {
    unsigned char c = (unsigned char)out[k];
    if (c == ' ') {
      FUZZ_CHECK(out[k + 1] != ' ');
      memcpy(rebuilt + r, "\",\"", 3);
      r += 3;
      continue;
    }
    FUZZ_CHECK(c >= 0x21 && c <= 0x7e && c != '"' && c != '\\');
    if (k == 0)
      rebuilt[r++] = '"';
    rebuilt[r++] = (char)c;
  }
  if (len > 0)
    rebuilt[r++] = '"';
  rebuilt[r++] = ']';
  FUZZ_CHECK(introspect_scope(rebuilt, r, again, sizeof again) == len);
  FUZZ_CHECK(memcmp(out, again, (size_t)len + 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *v = (const char *)data + 1;

  setup();
  if (size == 0)
    return 0;
  switch (data[0] % 4) {
  case 0:
    fuzz_value(v, size - 1);
    break;
  case 1:
    fuzz_pair(v, size - 1);
    break;
  case 2:
    fuzz_form(v, size - 1);
    break;
  default:
    fuzz_scope(v, size - 1);
    break;
  }
  return 0;
}
