/* client.c: client addresses, trusted networks, the client IP header and
 * the limiter's key; see client.h. An "entry" is one comma-separated element
 * of an X-Forwarded-For value, blanks around it trimmed. A "tchar" is a
 * byte RFC 7230 allows in a header name. */
#include "client.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t client_v4_mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

static bool client_blank(char c)
{
  return c == ' ' || c == '\t';
}

static bool client_is_v4(const struct client_addr *a)
{
  return memcmp(a->b, client_v4_mapped, sizeof client_v4_mapped) == 0;
}

static void client_set_v4(struct client_addr *out, const void *in4)
{
  memcpy(out->b, client_v4_mapped, sizeof client_v4_mapped);
  memcpy(out->b + 12, in4, 4);
}

int client_addr_from_sockaddr(struct client_addr *out,
                              const struct sockaddr *sa)
{
  if (sa == NULL)
    return -1;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    client_set_v4(out, &in4->sin_addr);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(out->b, &in6->sin6_addr, sizeof out->b);
    return 0;
  }
  return -1;
}

int client_addr_parse(struct client_addr *out, const char *s, size_t len)
{
  char text[CLIENT_ADDR_TEXT_MAX + 2];
  struct in_addr in4;

  if (s == NULL || len == 0 || len >= sizeof text ||
      memchr(s, '\0', len) != NULL)
    return -1;
  if (s[0] == '[') {
    if (len < 3 || s[len - 1] != ']')
      return -1;
    memcpy(text, s + 1, len - 2);
    text[len - 2] = '\0';
    return inet_pton(AF_INET6, text, out->b) == 1 ? 0 : -1;
  }
  memcpy(text, s, len);
  text[len] = '\0';
  if (memchr(text, ':', len) != NULL)
    return inet_pton(AF_INET6, text, out->b) == 1 ? 0 : -1;
  if (inet_pton(AF_INET, text, &in4) != 1)
    return -1;
  client_set_v4(out, &in4);
  return 0;
}

int client_net_parse(struct client_net *out, const char *s, char *err,
                     size_t err_size)
{
  const char *slash = strchr(s, '/');
  size_t addr_len = slash != NULL ? (size_t)(slash - s) : strlen(s);
  unsigned max, prefix;
  bool v4;

  if (client_addr_parse(&out->addr, s, addr_len) != 0) {
    snprintf(err, err_size,
             "expected a numeric IPv4 or IPv6 address, optionally "
             "/PREFIX, got \"%.64s\"",
             s);
    return -1;
  }
  v4 = memchr(s, ':', addr_len) == NULL;
  max = v4 ? 32 : 128;
  prefix = max;
  if (slash != NULL) {
    const char *p = slash + 1;
    size_t n = strlen(p);

    prefix = 0;
    if (n == 0 || n > 3) {
      prefix = max + 1;
    } else {
      for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
          prefix = max + 1;
          break;
        }
        prefix = prefix * 10 + (unsigned)(p[i] - '0');
      }
    }
    if (prefix > max) {
      snprintf(err, err_size, "expected a prefix from 0 to %u after \"/\"",
               max);
      return -1;
    }
  }
  out->prefix = v4 ? 96 + prefix : prefix;
  for (unsigned bit = out->prefix; bit < 128; bit++)
    out->addr.b[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
  return 0;
}

bool client_net_match(const struct client_net *net, const struct client_addr *a)
{
  unsigned full = net->prefix / 8, rest = net->prefix % 8;
  uint8_t mask;

  if (memcmp(net->addr.b, a->b, full) != 0)
    return false;
  if (rest == 0)
    return true;
  mask = (uint8_t)(0xffu << (8 - rest));
  return (a->b[full] & mask) == net->addr.b[full];
}

void client_addr_format(const struct client_addr *a, char *out, size_t out_size)
{
  const char *r;

  if (out_size == 0)
    return;
  if (client_is_v4(a))
    r = inet_ntop(AF_INET, a->b + 12, out, (socklen_t)out_size);
  else
    r = inet_ntop(AF_INET6, a->b, out, (socklen_t)out_size);
  if (r == NULL)
    out[0] = '\0';
}

static bool client_trusted(const struct client_net *trusted, size_t n,
                           const struct client_addr *a)
{
  for (size_t i = 0; i < n; i++) {
    if (client_net_match(&trusted[i], a))
      return true;
  }
  return false;
}

/* Parses s[0..len) with the blanks around it trimmed; 0 on success. */
static int client_parse_trimmed(struct client_addr *out, const char *s,
                                size_t len)
{
  while (len > 0 && client_blank(s[0])) {
    s++;
    len--;
  }
  while (len > 0 && client_blank(s[len - 1]))
    len--;
  return client_addr_parse(out, s, len);
}

/* Walks the X-Forwarded-For entries of the count values v from the right;
 * 0 with *out set to the first one outside the trusted networks (or the
 * left-most), -1 when any entry read on the way is malformed or there is
 * none. */
static int client_forwarded(struct client_addr *out,
                            const struct client_net *trusted, size_t n,
                            const char *const *v, const size_t *len,
                            unsigned count)
{
  bool found = false;

  for (unsigned k = count; k-- > 0;) {
    size_t end = len[k];

    for (;;) {
      size_t start = end;
      struct client_addr a;

      while (start > 0 && v[k][start - 1] != ',')
        start--;
      if (client_parse_trimmed(&a, v[k] + start, end - start) != 0)
        return -1;
      *out = a;
      found = true;
      if (!client_trusted(trusted, n, &a))
        return 0;
      if (start == 0)
        break;
      end = start - 1;
    }
  }
  return found ? 0 : -1;
}

/* True for the bytes of an RFC 7230 token. */
static bool client_tchar(unsigned char c)
{
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
      (c >= 'a' && c <= 'z'))
    return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char client_lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* True when a[0..a_len) and b[0..b_len) are equal but for case. */
static bool client_same_name(const char *a, size_t a_len, const char *b,
                             size_t b_len)
{
  if (a_len != b_len)
    return false;
  for (size_t i = 0; i < a_len; i++) {
    if (client_lower(a[i]) != client_lower(b[i]))
      return false;
  }
  return true;
}

int client_header_name_check(const char *name, char *err, size_t err_size)
{
  size_t len = name != NULL ? strlen(name) : 0;

  if (len == 0 || len > CLIENT_HEADER_MAX) {
    snprintf(err, err_size,
             "expected a header name of 1 to %d characters, got %zu",
             CLIENT_HEADER_MAX, len);
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    if (!client_tchar((unsigned char)name[i])) {
      snprintf(err, err_size,
               "expected a header name of letters, digits and "
               "!#$%%&'*+-.^_`|~, got byte 0x%02x at position %zu",
               (unsigned char)name[i], i + 1);
      return -1;
    }
  }
  return 0;
}

int client_policy_init(struct client_policy *p,
                       const struct client_net *trusted, size_t n,
                       const char *header, unsigned ipv6_prefix, char *err,
                       size_t err_size)
{
  memset(p, 0, sizeof *p);
  if (header == NULL)
    header = CLIENT_HEADER_DEFAULT;
  if (client_header_name_check(header, err, err_size) != 0)
    return -1;
  if (ipv6_prefix < 1 || ipv6_prefix > 128) {
    snprintf(err, err_size, "expected an IPv6 prefix from 1 to 128, got %u",
             ipv6_prefix);
    return -1;
  }
  if (n > 0 && trusted == NULL) {
    snprintf(err, err_size, "expected %zu trusted networks, got none", n);
    return -1;
  }
  p->trusted = trusted;
  p->trusted_count = n;
  p->header_len = strlen(header);
  memcpy(p->header, header, p->header_len + 1);
  p->header_is_xff =
      client_same_name(header, p->header_len, CLIENT_HEADER_DEFAULT,
                       strlen(CLIENT_HEADER_DEFAULT));
  p->ipv6_prefix = ipv6_prefix;
  return 0;
}

void client_headers_offer(struct client_headers *h,
                          const struct client_policy *p, const char *name,
                          size_t name_len, const char *value, size_t value_len)
{
  if (h == NULL || p == NULL || name == NULL || p->header_len == 0 ||
      !client_same_name(name, name_len, p->header, p->header_len))
    return;
  if (value == NULL) {
    value = "";
    value_len = 0;
  }
  if (h->seen < UINT_MAX)
    h->seen++;
  if (!p->header_is_xff) {
    /* One value is all that can be believed; a second makes it malformed. */
    if (h->kept == 0) {
      h->value[0] = value;
      h->value_len[0] = value_len;
      h->kept = 1;
    }
    return;
  }
  if (h->kept == CLIENT_XFF_MAX) {
    memmove(h->value, h->value + 1, (CLIENT_XFF_MAX - 1) * sizeof h->value[0]);
    memmove(h->value_len, h->value_len + 1,
            (CLIENT_XFF_MAX - 1) * sizeof h->value_len[0]);
    h->kept--;
  }
  h->value[h->kept] = value;
  h->value_len[h->kept] = value_len;
  h->kept++;
}

enum client_source client_pick(struct client_addr *out,
                               const struct client_addr *peer,
                               const struct client_policy *p,
                               const struct client_headers *h)
{
  *out = *peer;
  if (p == NULL || p->trusted_count == 0 ||
      !client_trusted(p->trusted, p->trusted_count, peer))
    return CLIENT_FROM_PEER;
  if (h == NULL || h->seen == 0 || h->kept == 0)
    return CLIENT_FROM_PEER;
  if (p->header_is_xff) {
    if (client_forwarded(out, p->trusted, p->trusted_count, h->value,
                         h->value_len, h->kept) == 0)
      return CLIENT_FROM_FORWARDED;
  } else if (h->seen == 1 &&
             client_parse_trimmed(out, h->value[0], h->value_len[0]) == 0) {
    return CLIENT_FROM_HEADER;
  }
  *out = *peer;
  return CLIENT_FROM_MALFORMED;
}

void client_key(struct client_addr *key, const struct client_addr *a,
                const struct client_policy *p)
{
  unsigned prefix = p != NULL ? p->ipv6_prefix : 128;

  *key = *a;
  if (client_is_v4(a) || prefix < 1 || prefix >= 128)
    return;
  key->b[prefix / 8] &= (uint8_t)(0xff00u >> (prefix % 8));
  for (unsigned i = prefix / 8 + 1; i < 16; i++)
    key->b[i] = 0;
}
