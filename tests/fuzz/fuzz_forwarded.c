/* fuzz_forwarded.c: fuzz target for the forwarding headers and trusted
 * networks (server/client.c): client_resolve, client_addr_parse and
 * client_net_parse. Input layout: byte 0 picks the request's shape (bits
 * 0-1: X-Real-IP sent 0 to 3 times; bits 2-3: one of 4 trusted-network
 * lists; bits 4-6: one of 8 peers); the rest is split at '\n' into values,
 * the first one the X-Real-IP value when it is sent, every other one an
 * X-Forwarded-For header (none when the rest is empty). Each value is an
 * exact-size copy, so ASan sees a read past its end. client_resolve's
 * answer is compared with one worked out here from client.h's rule; every
 * address that parses formats and parses back to itself; every network
 * that parses holds its own address and exactly the addresses that agree
 * with it on the first prefix bits. */
#include <stdbool.h>
#include <string.h>

#include "client.h"
#include "fuzz.h"

#define MAX_VALUES 40

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


/* client.h's rule, from the right: the first entry outside the trusted
 * networks, else the left-most; -1 on a malformed entry on the way. */
static int forwarded_model(struct client_addr *out, const struct client_net *n,
                           size_t count, const char *const *v,
                           const size_t *len, unsigned headers)
{
  bool found = false;
  /* Only the last CLIENT_XFF_MAX headers are kept. */
  unsigned first = headers > CLIENT_XFF_MAX ? headers - CLIENT_XFF_MAX : 0;

  for (unsigned k = headers; k-- > first;) {
    size_t end = len[k];

    for (;;) {
      size_t start = end;
      struct client_addr a;

      while (start > 0 && v[k][start - 1] != ',')
        start--;
      if (!parse_entry(&a, v[k] + start, end - start))
        return -1;
      *out = a;
      found = true;
      if (!trusted_model(n, count, &a))
        return 0;
      if (start == 0)
        break;
      end = start - 1;
    }
  }
  return found ? 0 : -1;
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


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *v[MAX_VALUES];
  size_t len[MAX_VALUES];
  char *copies[MAX_VALUES];
  unsigned nv = 0, real_count, list, peer, first_xff;
  struct client_headers h;
  struct client_addr out, want;
  enum client_source src, want_src;
  const char *rest;
  size_t rest_len;

  if (!ready)
    setup();
  if (size == 0)
    return 0;
  real_count = data[0] & 3u;
  list = (data[0] >> 2) & 3u;
  peer = (data[0] >> 4) & 7u;
  rest = (const char *)data + 1;
  rest_len = size - 1;

  /* Split the rest at '\n' into exact-size copies. */
  if (rest_len > 0) {
    size_t start = 0;

    for (size_t i = 0; i <= rest_len && nv < MAX_VALUES; i++) {
      if (i < rest_len && rest[i] != '\n')
        continue;
      len[nv] = i - start;
      copies[nv] = calloc(len[nv] > 0 ? len[nv] : 1, 1);
      FUZZ_CHECK(copies[nv] != NULL);
      if (len[nv] > 0)
        memcpy(copies[nv], rest + start, len[nv]);
      v[nv] = copies[nv];
      nv++;
      start = i + 1;
    }
  }

  memset(&h, 0, sizeof h);
  first_xff = 0;
  if (real_count > 0 && nv > 0) {
    h.real_ip = v[0];
    h.real_ip_len = len[0];
    h.real_ip_count = real_count;
    first_xff = 1;
  }
  for (unsigned k = first_xff; k < nv; k++)
    client_headers_add_xff(&h, v[k], len[k]);

  /* The model's answer. */
  want = peer_addr[peer];
  want_src = CLIENT_FROM_PEER;
  if (net_count[list] > 0 &&
      trusted_model(nets[list], net_count[list], &peer_addr[peer])) {
    if (h.real_ip_count > 0) {
      if (h.real_ip_count == 1 && parse_entry(&want, h.real_ip, h.real_ip_len))
        want_src = CLIENT_FROM_REAL_IP;
      else
        want_src = CLIENT_FROM_MALFORMED;
    } else if (h.xff_count > 0) {
      /* From every header sent, not from what client.h kept. */
      if (forwarded_model(&want, nets[list], net_count[list], v + first_xff,
                          len + first_xff, nv - first_xff) == 0)
        want_src = CLIENT_FROM_FORWARDED;
      else
        want_src = CLIENT_FROM_MALFORMED;
    }
    if (want_src == CLIENT_FROM_MALFORMED)
      want = peer_addr[peer];
  }

  memset(&out, 0xa5, sizeof out);
  src = client_resolve(&out, &peer_addr[peer], nets[list], net_count[list], &h);
  FUZZ_CHECK(src == want_src);
  FUZZ_CHECK(same(&out, &want));
  if (src == CLIENT_FROM_PEER || src == CLIENT_FROM_MALFORMED)
    FUZZ_CHECK(same(&out, &peer_addr[peer]));

  /* Each value alone, as an address and as a --trusted-proxy value (up to
   * its first NUL, as a command-line argument would be). */
  for (unsigned k = 0; k < nv; k++) {
    struct client_addr a;
    char *z = malloc(len[k] + 1);

    FUZZ_CHECK(z != NULL);
    (void)parse_entry(&a, v[k], len[k]);
    memcpy(z, v[k], len[k]);
    z[len[k]] = '\0';
    check_net(z);
    free(z);
  }
  for (unsigned k = 0; k < nv; k++)
    free(copies[k]);
  return 0;
}
