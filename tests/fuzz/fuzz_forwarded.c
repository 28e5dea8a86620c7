/* fuzz_forwarded.c: fuzz target for the client IP header and trusted
 * networks (server/client.c): client_headers_offer, client_pick,
 * client_key, client_header_name_check, client_addr_parse and
 * client_net_parse. Input layout: byte 0 picks the request's shape (bits
 * 0-1: the --client-ip-header, one of "X-Forwarded-For",
 * "x-forwarded-for", "X-Real-IP" and "CF-Connecting-IP"; bits 2-3: one of 4
 * trusted-network lists; bits 4-6: one of 8 peers; bit 7 unused); the rest
 * is split at '\n' into headers in arrival order: a line holding ": " is
 * NAME: VALUE split at the first one, any other line a value of the
 * configured header under its configured name (none when the rest is
 * empty). Each name and value is an exact-size copy, so ASan sees a read
 * past its end. client_pick's answer is compared with one worked out here
 * from client.h's rule (split into entries, then read from the right: not
 * client.c's walk, so that it shares no bug with it); the key of the
 * address picked keeps exactly the first --ipv6-prefix bits of an IPv6
 * address and all of an IPv4 one;
 * every name is judged against RFC 7230's token rule; every address that
 * parses formats and parses back to itself; every network that parses
 * holds its own address and exactly the addresses that agree with it on
 * the first prefix bits. */
#include <stdbool.h>
#include <string.h>

#include "client.h"
#include "fuzz.h"

#define MAX_LINES 40

static const char *const header_names[4] = {
    "X-Forwarded-For", "x-forwarded-for", "X-Real-IP", "CF-Connecting-IP"};

static const char *const peers[8] = {"10.0.0.1", "192.0.2.1", "2001:db8::1",
                                     "::1",      "127.0.0.1", "::ffff:10.0.0.9",
                                     "fe80::1",  "0.0.0.0"};

static const char *const trusted_lists[4][3] = {
    {NULL},
    {"10.0.0.0/8", "2001:db8::/32", "127.0.0.1"},
    {"0.0.0.0/0", NULL},
    {"::/0", NULL},
};

static struct client_net nets[4][3];
static size_t net_count[4];
static struct client_addr peer_addr[8];
static bool ready;

/* Parses the fixed peers and networks once; they must parse. */
static void setup(void)
{
  char err[160];

  for (size_t i = 0; i < 8; i++)
    FUZZ_CHECK(client_addr_parse(&peer_addr[i], peers[i], strlen(peers[i])) ==
               0);
  for (size_t l = 0; l < 4; l++) {
    for (size_t i = 0; i < 3 && trusted_lists[l][i] != NULL; i++) {
      FUZZ_CHECK(client_net_parse(&nets[l][i], trusted_lists[l][i], err,
                                  sizeof err) == 0);
      net_count[l]++;
    }
  }
  ready = true;
}


static bool blank(char c)
{
  return c == ' ' || c == '\t';
}


static bool same(const struct client_addr *a, const struct client_addr *b)
{
  return memcmp(a, b, sizeof *a) == 0;
}


/* Bit b of a, 0 being the most significant bit of byte 0. */
static unsigned bit(const struct client_addr *a, unsigned b)
{
  return (a->b[b / 8] >> (7 - b % 8)) & 1u;
}


/* net holds a exactly when their first prefix bits agree. */
static bool in_net(const struct client_net *n, const struct client_addr *a)
{
  for (unsigned b = 0; b < n->prefix; b++) {
    if (bit(&n->addr, b) != bit(a, b))
      return false;
  }
  return true;
}


static bool trusted_model(const struct client_net *n, size_t count,
                          const struct client_addr *a)
{
  for (size_t i = 0; i < count; i++) {
    if (in_net(&n[i], a))
      return true;
  }
  return false;
}


/* HTTP names are equal when they are byte for byte but for ASCII case. */
static bool name_equal(const char *a, size_t a_len, const char *b)
{
  static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static const char lower[] = "abcdefghijklmnopqrstuvwxyz";

  if (a_len != strlen(b))
    return false;
  for (size_t i = 0; i < a_len; i++) {
    char x = a[i], y = b[i];
    const char *p;

    if (x != '\0' && (p = strchr(upper, x)) != NULL)
      x = lower[p - upper];
    if (y != '\0' && (p = strchr(upper, y)) != NULL)
      y = lower[p - upper];
    if (x != y)
      return false;
  }
  return true;
}


/* RFC 7230: token = 1*tchar, and here at most CLIENT_HEADER_MAX of them. */
static bool name_model(const char *s)
{
  static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz";
  size_t n = strlen(s);

  if (n < 1 || n > CLIENT_HEADER_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (strchr(tchar, s[i]) == NULL)
      return false;
  }
  return true;
}


/* Parses s[0..len) as client_addr_parse does, after trimming blanks here;
 * on success the address formats and parses back to itself. */
static bool parse_entry(struct client_addr *out, const char *s, size_t len)
{
  char text[CLIENT_ADDR_TEXT_MAX];
  struct client_addr again;
  char *copy;
  int r;

  while (len > 0 && blank(s[0])) {
    s++;
    len--;
  }
  while (len > 0 && blank(s[len - 1]))
    len--;
  copy = calloc(len > 0 ? len : 1, 1);
  FUZZ_CHECK(copy != NULL);
  if (len > 0)
    memcpy(copy, s, len);
  r = client_addr_parse(out, copy, len);
  free(copy);
  if (r != 0)
    return false;
  /* Nothing with a blank, NUL, comma or port-like suffix gets through. */
  FUZZ_CHECK(len > 0 && len < CLIENT_ADDR_TEXT_MAX + 2);
  for (size_t i = 0; i < len; i++)
    FUZZ_CHECK(s[i] != '\0' && !blank(s[i]) && s[i] != ',');
  client_addr_format(out, text, sizeof text);
  FUZZ_CHECK(text[0] != '\0' && strlen(text) < sizeof text);
  FUZZ_CHECK(client_addr_parse(&again, text, strlen(text)) == 0);
  FUZZ_CHECK(same(out, &again));
  return true;
}


/* One X-Forwarded-For entry: where it starts in which header value. */
struct entry {
  const char *s;
  size_t len;
};


/* client.h's rule for X-Forwarded-For, worked out another way than
 * client.c's walk: first the kept headers (the last CLIENT_XFF_MAX) are
 * split at every ',' into one list of entries, left to right, then the
 * list is read from its right end: the first entry outside the trusted
 * networks, else the left-most; -1 on a malformed entry on the way. */
static int forwarded_model(struct client_addr *out, const struct client_net *n,
                           size_t count, const char *const *v,
                           const size_t *len, unsigned headers)
{
  unsigned first = headers > CLIENT_XFF_MAX ? headers - CLIENT_XFF_MAX : 0;
  struct entry *e;
  size_t most = 0, entries = 0;
  int r = -1;

  for (unsigned k = first; k < headers; k++)
    most += len[k] + 1; /* at most one entry per byte, plus one */
  e = calloc(most > 0 ? most : 1, sizeof *e);
  FUZZ_CHECK(e != NULL);
  for (unsigned k = first; k < headers; k++) {
    const char *at = v[k], *end = v[k] + len[k], *comma;

    while ((comma = memchr(at, ',', (size_t)(end - at))) != NULL) {
      e[entries++] = (struct entry){at, (size_t)(comma - at)};
      at = comma + 1;
    }
    e[entries++] = (struct entry){at, (size_t)(end - at)};
  }
  FUZZ_CHECK(entries <= most);
  for (size_t i = entries; i-- > 0;) {
    struct client_addr a;

    if (!parse_entry(&a, e[i].s, e[i].len)) {
      r = -1;
      break;
    }
    *out = a;
    r = 0;
    if (!trusted_model(n, count, &a))
      break;
  }
  free(e);
  return r;
}


/* client_net_parse on the NUL-terminated s: on success, the network is
 * well-formed and holds what its prefix says. */
static void check_net(const char *s)
{
  struct client_net n;
  char err[160];
  struct client_addr a;

  err[0] = '\0';
  if (client_net_parse(&n, s, err, sizeof err) != 0) {
    FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof err);
    return;
  }
  FUZZ_CHECK(n.prefix <= 128);
  for (unsigned b = n.prefix; b < 128; b++)
    FUZZ_CHECK(bit(&n.addr, b) == 0);
  FUZZ_CHECK(client_net_match(&n, &n.addr));
  /* An IPv4 network: prefix 96 or more, and its address is mapped. */
  if (strchr(s, ':') == NULL)
    FUZZ_CHECK(n.prefix >= 96 && n.addr.b[10] == 0xff && n.addr.b[11] == 0xff);
  /* Flipping each bit in turn: inside exactly when past the prefix. */
  for (unsigned b = 0; b < 128; b++) {
    a = n.addr;
    a.b[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
    FUZZ_CHECK(client_net_match(&n, &a) == (b >= n.prefix));
    FUZZ_CHECK(in_net(&n, &a) == (b >= n.prefix));
  }
}


/* client_header_name_check on the NUL-terminated s agrees with the token
 * rule; a good name makes a policy that reads lists exactly when it is
 * X-Forwarded-For. */
static void check_name(const char *s)
{
  struct client_policy p;
  char err[160];
  bool good = name_model(s);

  err[0] = '\0';
  FUZZ_CHECK((client_header_name_check(s, err, sizeof err) == 0) == good);
  if (!good) {
    FUZZ_CHECK(strncmp(err, "expected ", 9) == 0 && strlen(err) < sizeof err);
    FUZZ_CHECK(client_policy_init(&p, NULL, 0, s, 64, err, sizeof err) != 0);
    return;
  }
  FUZZ_CHECK(client_policy_init(&p, NULL, 0, s, 64, err, sizeof err) == 0);
  FUZZ_CHECK(strcmp(p.header, s) == 0);
  FUZZ_CHECK(p.header_is_xff == name_equal(s, strlen(s), "X-Forwarded-For"));
}


/* The key of a at every prefix: IPv4 (mapped) whole, IPv6 the first
 * prefix bits then zeros. */
static void check_key(const struct client_addr *a)
{
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  bool v4 = memcmp(a->b, mapped, sizeof mapped) == 0;
  char err[160];

  for (unsigned prefix = 1; prefix <= 128; prefix++) {
    struct client_policy p;
    struct client_addr k;

    FUZZ_CHECK(client_policy_init(&p, NULL, 0, NULL, prefix, err, sizeof err) ==
               0);
    client_key(&k, a, &p);
    for (unsigned b = 0; b < 128; b++)
      FUZZ_CHECK(bit(&k, b) == (v4 || b < prefix ? bit(a, b) : 0u));
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *name[MAX_LINES], *v[MAX_LINES], *match_v[MAX_LINES];
  size_t name_len[MAX_LINES], len[MAX_LINES], match_len[MAX_LINES];
  char *copies[2 * MAX_LINES];
  unsigned nl = 0, nc = 0, matches = 0, hdr, list, peer;
  struct client_policy policy;
  struct client_headers h;
  struct client_addr out, want;
  enum client_source src, want_src;
  const char *rest;
  size_t rest_len;
  char err[160];

  if (!ready)
    setup();
  if (size == 0)
    return 0;
  hdr = data[0] & 3u;
  list = (data[0] >> 2) & 3u;
  peer = (data[0] >> 4) & 7u;
  rest = (const char *)data + 1;
  rest_len = size - 1;
  FUZZ_CHECK(client_policy_init(&policy, nets[list], net_count[list],
                                header_names[hdr], 64, err, sizeof err) == 0);

  /* Split the rest at '\n' into headers, each part an exact-size copy. */
  if (rest_len > 0) {
    size_t start = 0;

    for (size_t i = 0; i <= rest_len && nl < MAX_LINES; i++) {
      const char *line = rest + start, *sep = NULL, *n;
      size_t line_len, n_len;

      if (i < rest_len && rest[i] != '\n')
        continue;
      line_len = i - start;
      for (size_t j = 0; j + 1 < line_len && sep == NULL; j++) {
        if (line[j] == ':' && line[j + 1] == ' ')
          sep = line + j;
      }
      if (sep != NULL) {
        n = line;
        n_len = (size_t)(sep - line);
        line = sep + 2;
        line_len -= n_len + 2;
      } else {
        n = header_names[hdr];
        n_len = strlen(n);
      }
      copies[nc] = malloc(n_len > 0 ? n_len : 1);
      FUZZ_CHECK(copies[nc] != NULL);
      memcpy(copies[nc], n, n_len);
      name[nl] = copies[nc++];
      name_len[nl] = n_len;
      copies[nc] = malloc(line_len > 0 ? line_len : 1);
      FUZZ_CHECK(copies[nc] != NULL);
      memcpy(copies[nc], line, line_len);
      v[nl] = copies[nc++];
      len[nl] = line_len;
      nl++;
      start = i + 1;
    }
  }

  memset(&h, 0, sizeof h);
  for (unsigned k = 0; k < nl; k++) {
    client_headers_offer(&h, &policy, name[k], name_len[k], v[k], len[k]);
    if (name_equal(name[k], name_len[k], header_names[hdr])) {
      match_v[matches] = v[k];
      match_len[matches] = len[k];
      matches++;
    }
  }
  FUZZ_CHECK(h.seen == matches);

  /* The model's answer, from every header sent, not from what was kept. */
  want = peer_addr[peer];
  want_src = CLIENT_FROM_PEER;
  if (net_count[list] > 0 &&
      trusted_model(nets[list], net_count[list], &peer_addr[peer]) &&
      matches > 0) {
    if (hdr < 2) {
      if (forwarded_model(&want, nets[list], net_count[list], match_v,
                          match_len, matches) == 0)
        want_src = CLIENT_FROM_FORWARDED;
      else
        want_src = CLIENT_FROM_MALFORMED;
    } else if (matches == 1 && parse_entry(&want, match_v[0], match_len[0])) {
      want_src = CLIENT_FROM_HEADER;
    } else {
      want_src = CLIENT_FROM_MALFORMED;
    }
    if (want_src == CLIENT_FROM_MALFORMED)
      want = peer_addr[peer];
  }

  memset(&out, 0xa5, sizeof out);
  src = client_pick(&out, &peer_addr[peer], &policy, &h);
  FUZZ_CHECK(src == want_src);
  FUZZ_CHECK(same(&out, &want));
  if (src == CLIENT_FROM_PEER || src == CLIENT_FROM_MALFORMED)
    FUZZ_CHECK(same(&out, &peer_addr[peer]));
  check_key(&out);

  /* Each value alone, as an address and as a --trusted-proxy value, and
   * each name as a --client-ip-header value (up to its first NUL, as a
   * command-line argument would be). */
  for (unsigned k = 0; k < nl; k++) {
    struct client_addr a;
    size_t most = len[k] > name_len[k] ? len[k] : name_len[k];
    char *z = malloc(most + 1);

    FUZZ_CHECK(z != NULL);
    (void)parse_entry(&a, v[k], len[k]);
    memcpy(z, v[k], len[k]);
    z[len[k]] = '\0';
    check_net(z);
    memcpy(z, name[k], name_len[k]);
    z[name_len[k]] = '\0';
    check_name(z);
    free(z);
  }
  for (unsigned k = 0; k < nc; k++)
    free(copies[k]);
  return 0;
}
