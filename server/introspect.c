/* introspect.c: Basic credentials, the token parameter and the RFC 7662
 * answer; see introspect.h. */
#include "introspect.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "form.h"

#define INTROSPECT_SCHEME "basic"
#define INTROSPECT_SCHEME_LEN 5

const char *const introspect_auth_names[INTROSPECT_AUTH_OUTCOMES] = {
    "ok", "missing", "malformed", "wrong"};

/* RFC 3986 section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static bool introspect_unreserved(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool introspect_all_unreserved(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    if (!introspect_unreserved((unsigned char)s[i]))
      return false;
  }
  return true;
}

int introspect_client_add(struct introspect_clients *cs, const char *id,
                          size_t id_len, const char *secret, size_t secret_len,
                          char *err, size_t err_size)
{
  struct introspect_client c;

  if (id == NULL || id_len == 0 || id_len > INTROSPECT_ID_MAX ||
      !introspect_all_unreserved(id, id_len)) {
    snprintf(err, err_size,
             "introspection-client: expected 1 to %d characters of A-Z, "
             "a-z, 0-9, '-', '.', '_' and '~'",
             INTROSPECT_ID_MAX);
    return -1;
  }
  memcpy(c.id, id, id_len);
  c.id[id_len] = '\0';
  if (secret == NULL || secret_len < INTROSPECT_SECRET_MIN ||
      secret_len > INTROSPECT_SECRET_MAX ||
      !introspect_all_unreserved(secret, secret_len)) {
    snprintf(err, err_size,
             "introspection-secret of client %s: expected %d to %d "
             "characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'",
             c.id, INTROSPECT_SECRET_MIN, INTROSPECT_SECRET_MAX);
    return -1;
  }
  for (unsigned i = 0; i < cs->count; i++) {
    if (strcmp(cs->c[i].id, c.id) == 0) {
      snprintf(err, err_size, "introspection-client: %s given twice", c.id);
      return -1;
    }
  }
  if (cs->count >= INTROSPECT_CLIENTS_MAX) {
    snprintf(err, err_size, "introspection-client: more than %d clients",
             INTROSPECT_CLIENTS_MAX);
    return -1;
  }
  if (token_sha256(id, id_len, c.id_hash) != 0 ||
      token_sha256(secret, secret_len, c.secret_hash) != 0) {
    snprintf(err, err_size, "introspection-client %s: cannot hash", c.id);
    return -1;
  }
  cs->c[cs->count++] = c;
  return 0;
}

static bool introspect_blank(char c)
{
  return c == ' ' || c == '\t';
}

static int introspect_b64(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Decodes padded base64 s[0..len) into out (room for out_size bytes);
 * the length, or -1 when it is not canonical padded base64 or does not
 * fit. */
static long introspect_b64_decode(const char *s, size_t len, unsigned char *out,
                                  size_t out_size)
{
  size_t o = 0;

  if (len == 0 || len % 4 != 0)
    return -1;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    unsigned pad = 0;
    uint32_t n = 0;

    for (int k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)s[i + (size_t)k];
      if (c == '=' && i + 4 == len && k >= 2) {
        v[k] = 0;
        pad++;
        continue;
      }
      /* A character after padding, or padding too early. */
      if (pad > 0 || (v[k] = introspect_b64(c)) < 0)
        return -1;
    }
    /* RFC 4648 section 3.5: the bits under the padding must be zero, so
     * that one string stands for one value. */
    if ((pad == 1 && (v[2] & 0x3) != 0) || (pad == 2 && (v[1] & 0xf) != 0))
      return -1;
    n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
        (uint32_t)v[3];
    if (o + 3 - pad > out_size)
      return -1;
    out[o++] = (unsigned char)(n >> 16);
    if (pad < 2)
      out[o++] = (unsigned char)(n >> 8);
    if (pad < 1)
      out[o++] = (unsigned char)n;
  }
  return (long)o;
}

enum introspect_auth
introspect_authenticate(const struct introspect_clients *cs, const char *value,
                        size_t len, unsigned count, unsigned *client)
{
  unsigned char plain[INTROSPECT_CRED_MAX];
  unsigned char id_hash[TOKEN_HASH_LEN], secret_hash[TOKEN_HASH_LEN];
  const unsigned char *colon;
  unsigned found = 0, match = 0;
  size_t i = 0;
  long n;

  *client = 0;
  if (count > 1)
    return INTROSPECT_AUTH_MALFORMED;
  if (count == 0 || value == NULL || len == 0)
    return INTROSPECT_AUTH_MISSING;
  while (i < len && introspect_blank(value[i]))
    i++;
  if (len - i < INTROSPECT_SCHEME_LEN)
    return INTROSPECT_AUTH_MISSING;
  for (size_t k = 0; k < INTROSPECT_SCHEME_LEN; k++) {
    char c = value[i + k];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != INTROSPECT_SCHEME[k])
      return INTROSPECT_AUTH_MISSING;
  }
  i += INTROSPECT_SCHEME_LEN;
  /* "Basicx" is another scheme; "Basic" alone has no credentials. */
  if (i < len && !introspect_blank(value[i]))
    return INTROSPECT_AUTH_MISSING;
  if (len > INTROSPECT_CRED_MAX)
    return INTROSPECT_AUTH_MALFORMED;
  while (i < len && introspect_blank(value[i]))
    i++;
  while (len > i && introspect_blank(value[len - 1]))
    len--;
  n = introspect_b64_decode(value + i, len - i, plain, sizeof plain);
  if (n < 0)
    return INTROSPECT_AUTH_MALFORMED;
  colon = memchr(plain, ':', (size_t)n);
  if (colon == NULL || colon == plain) {
    OPENSSL_cleanse(plain, sizeof plain);
    return INTROSPECT_AUTH_MALFORMED;
  }
  if (token_sha256(plain, (size_t)(colon - plain), id_hash) != 0 ||
      token_sha256(colon + 1, (size_t)(plain + n - colon - 1), secret_hash) !=
          0) {
    OPENSSL_cleanse(plain, sizeof plain);
    return INTROSPECT_AUTH_WRONG;
  }
  OPENSSL_cleanse(plain, sizeof plain);
  /* Every client, both hashes, no early exit: at most one client has the
   * id, since ids are distinct. */
  for (unsigned k = 0; k < cs->count; k++) {
    unsigned same =
        (unsigned)(CRYPTO_memcmp(id_hash, cs->c[k].id_hash, TOKEN_HASH_LEN) |
                   CRYPTO_memcmp(secret_hash, cs->c[k].secret_hash,
                                 TOKEN_HASH_LEN)) == 0;
    found |= same;
    match |= same * k;
  }
  OPENSSL_cleanse(secret_hash, sizeof secret_hash);
  if (!found)
    return INTROSPECT_AUTH_WRONG;
  *client = match;
  return INTROSPECT_AUTH_OK;
}

void introspect_limit_key(unsigned client, unsigned char key[16])
{
  static const unsigned char prefix[12] = {0x01, 0x00, 0,   0,   0,   0,
                                           0,    0,    'i', 'n', 't', 'r'};

  memcpy(key, prefix, sizeof prefix);
  key[12] = (unsigned char)(client >> 24);
  key[13] = (unsigned char)(client >> 16);
  key[14] = (unsigned char)(client >> 8);
  key[15] = (unsigned char)client;
}

enum introspect_form introspect_token(const char *body, size_t len,
                                      char out[INTROSPECT_TOKEN_MAX],
                                      size_t *out_len)
{
  switch (form_get(body, len, "token", out, INTROSPECT_TOKEN_MAX, out_len)) {
  case FORM_OK:
    return *out_len > 0 ? INTROSPECT_FORM_OK : INTROSPECT_FORM_MISSING;
  case FORM_ABSENT:
    return INTROSPECT_FORM_MISSING;
  case FORM_REPEATED:
    return INTROSPECT_FORM_REPEATED;
  case FORM_MALFORMED:
    break;
  }
  return INTROSPECT_FORM_MALFORMED;
}

static bool introspect_json_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static bool introspect_scope_char(unsigned char c)
{
  return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

long introspect_scope(const char *json, size_t len, char *out, size_t out_size)
{
  size_t i = 0, o = 0;
  bool first = true;

  if (out_size == 0)
    return -1;
  out[0] = '\0';
  while (i < len && introspect_json_blank(json[i]))
    i++;
  if (i == len || json[i++] != '[')
    goto bad;
  for (;;) {
    size_t start;

    while (i < len && introspect_json_blank(json[i]))
      i++;
    if (i == len)
      goto bad;
    if (json[i] == ']' && first) {
      i++;
      break;
    }
    if (json[i++] != '"')
      goto bad;
    start = i;
    while (i < len && introspect_scope_char((unsigned char)json[i]))
      i++;
    if (i == len || json[i] != '"' || i == start)
      goto bad;
    if (o + !first + (i - start) + 1 > out_size)
      goto bad;
    if (!first)
      out[o++] = ' ';
    memcpy(out + o, json + start, i - start);
    o += i - start;
    first = false;
    i++;
    while (i < len && introspect_json_blank(json[i]))
      i++;
    if (i == len)
      goto bad;
    if (json[i] == ']') {
      i++;
      break;
    }
    if (json[i++] != ',')
      goto bad;
  }
  while (i < len && introspect_json_blank(json[i]))
    i++;
  if (i != len)
    goto bad;
  out[o] = '\0';
  return (long)o;
bad:
  out[0] = '\0';
  return -1;
}

bool introspect_add(char *out, size_t size, size_t *o, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (*o >= size)
    return false;
  va_start(ap, fmt);
  n = vsnprintf(out + *o, size - *o, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= size - *o)
    return false;
  *o += (size_t)n;
  return true;
}

/* Appends s JSON-escaped (RFC 8259 section 7), without quotes. */
static bool introspect_add_escaped(char *out, size_t size, size_t *o,
                                   const char *s)
{
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    bool ok;

    if (c == '"' || c == '\\')
      ok = introspect_add(out, size, o, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      ok = introspect_add(out, size, o, "\\u%04x", c);
    else
      ok = introspect_add(out, size, o, "%c", c);
    if (!ok)
      return false;
  }
  return true;
}

long introspect_render(char *out, size_t out_size,
                       const struct introspect_claims *claims)
{
  static const char inactive[] = "{\"active\":false}";
  size_t o = 0;
  bool ok;

  if (out_size == 0)
    return -1;
  out[0] = '\0';
  if (claims == NULL || claims->tenant_id == NULL)
    goto inactive;
  ok = introspect_add(out, out_size, &o, "{\"active\":true");
  if (ok && claims->scope != NULL)
    ok = introspect_add(out, out_size, &o, ",\"scope\":\"") &&
         introspect_add_escaped(out, out_size, &o, claims->scope) &&
         introspect_add(out, out_size, &o, "\"");
  ok = ok && introspect_add(out, out_size, &o, ",\"token_type\":\"bearer\"");
  ok = ok && introspect_add(out, out_size, &o, ",\"sub\":\"") &&
       introspect_add_escaped(out, out_size, &o, claims->tenant_id) &&
       introspect_add(out, out_size, &o, "\",\"tenant_id\":\"") &&
       introspect_add_escaped(out, out_size, &o, claims->tenant_id) &&
       introspect_add(out, out_size, &o, "\"");
  if (ok && claims->token_id != 0)
    ok = introspect_add(out, out_size, &o, ",\"token_id\":%" PRIu64,
                        claims->token_id);
  if (ok && claims->iat != 0)
    ok = introspect_add(out, out_size, &o, ",\"iat\":%" PRId64, claims->iat);
  if (ok && claims->exp != 0)
    ok = introspect_add(out, out_size, &o, ",\"exp\":%" PRId64, claims->exp);
  ok = ok && introspect_add(out, out_size, &o, "}");
  if (ok)
    return (long)o;
  if (out_size >= sizeof inactive)
    memcpy(out, inactive, sizeof inactive);
  else
    out[0] = '\0';
  return -1;
inactive:
  if (out_size < sizeof inactive)
    return -1;
  memcpy(out, inactive, sizeof inactive);
  return (long)(sizeof inactive - 1);
}
