/* test_client.c: client addresses, trusted networks, the client IP header
 * and the limiter's key (server/client.c). A "case" is one request: the
 * peer, its headers (name and value) as they arrived, the --client-ip-header
 * in force, and the address and source client_pick must give. The "xff
 * cases" are requests under the default header, X-Forwarded-For, given as
 * its values alone. Every name and value is an exact-size malloc with no
 * NUL after it, so ASan reports any read past what libmicrohttpd hands
 * over. Bits are numbered from the most significant of the 16 bytes, as
 * prefixes count them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>

#include "client.h"
#include "test.h"

/* The --trusted-proxy values of every case. */
static const char *const trusted_text[] = {"10.0.0.0/8", "192.168.1.1",
                                           "2001:db8:1::/48", "fd00::1"};
#define TRUSTED_N (sizeof trusted_text / sizeof trusted_text[0])

static struct client_net trusted[TRUSTED_N];

/* The address s, which must parse. */
static struct client_addr addr(const char *s)
{
  struct client_addr a;

  CHECKF(client_addr_parse(&a, s, strlen(s)) == 0, "parse \"%s\"", s);
  return a;
}

static struct client_net net(const char *s)
{
  struct client_net n;
  char err[160];

  memset(&n, 0, sizeof n);
  CHECKF(client_net_parse(&n, s, err, sizeof err) == 0, "net \"%s\": %s", s,
         err);
  return n;
}

/* client_addr_parse on an exact-size copy of s[0..len). */
static int parse_copy(struct client_addr *out, const char *s, size_t len)
{
  char *copy = test_dup(s, len);
  int r = client_addr_parse(out, copy, len);

  free(copy);
  return r;
}

/* Text forms that parse, and the text client_addr_format gives back. */
static const struct {
  const char *in, *out;
} good_addrs[] = {
    {"192.0.2.1", "192.0.2.1"},
    {"0.0.0.0", "0.0.0.0"},
    {"255.255.255.255", "255.255.255.255"},
    {"::ffff:192.0.2.1", "192.0.2.1"},
    {"::FFFF:c000:0201", "192.0.2.1"},
    {"[::ffff:192.0.2.1]", "192.0.2.1"},
    {"2001:db8::1", "2001:db8::1"},
    {"2001:DB8::1", "2001:db8::1"},
    {"[2001:db8::1]", "2001:db8::1"},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
    {"::", "::"},
    {"::1", "::1"},
    {"[::]", "::"},
    {"::192.0.2.1", "::192.0.2.1"},
    {"fe80::1", "fe80::1"},
    /* The longest texts: 45 characters, 47 bracketed. */
    {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"[0000:0000:0000:0000:0000:ffff:255.255.255.255]", "255.255.255.255"},
};

/* Values no entry may be: ports, names, zones, blanks inside, lists,
 * partial or out-of-range numbers, stray brackets. */
static const char *const bad_addrs[] = {
    "",
    "1.2.3.4:80",
    "[::1]:80",
    "[2001:db8::1]:443",
    "example.com",
    "localhost",
    "unknown",
    "_hidden",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.-1",
    "0x7f.0.0.1",
    "1.2. 3.4",
    "1.2.3.4 5.6.7.8",
    "1.2.3.4,5.6.7.8",
    "fe80::1%eth0",
    "2001:db8::1::2",
    "2001:db8:::1",
    "12345::1",
    "[::1",
    "::1]",
    "[]",
    "[[::1]]",
    "[1.2.3.4]",
    "1.2.3.4\r\n",
    "for=1.2.3.4",
    "\x80\xff\xfe\x01",
    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555",
    "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 ]",
};

static void check_addr_parse(void)
{
  struct client_addr a, b;
  char text[CLIENT_ADDR_TEXT_MAX];
  char big[4096];

  for (size_t i = 0; i < sizeof good_addrs / sizeof good_addrs[0]; i++) {
    const char *in = good_addrs[i].in;

    memset(&a, 0xaa, sizeof a);
    if (parse_copy(&a, in, strlen(in)) != 0) {
      CHECKF(0, "\"%s\" refused", in);
      continue;
    }
    client_addr_format(&a, text, sizeof text);
    CHECKF(strcmp(text, good_addrs[i].out) == 0, "\"%s\" -> \"%s\", want %s",
           in, text, good_addrs[i].out);
    /* The formatted text parses back to the same bytes. */
    CHECK(parse_copy(&b, text, strlen(text)) == 0 &&
          memcmp(&a, &b, sizeof a) == 0);
  }
  for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++)
    CHECKF(parse_copy(&a, bad_addrs[i], strlen(bad_addrs[i])) != 0,
           "\"%s\" accepted", bad_addrs[i]);

  /* IPv4 is held mapped: 192.0.2.1 is ::ffff:c000:201, byte for byte. */
  a = addr("192.0.2.1");
  CHECK(memcmp(a.b, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x01", 16) == 0);
  b = addr("::ffff:192.0.2.1");
  CHECK(memcmp(&a, &b, sizeof a) == 0);
  b = addr("::192.0.2.1");
  CHECK(memcmp(&a, &b, sizeof a) != 0);

  /* Length is honoured, not a NUL: "1.2.3.45" cut to 7 bytes. */
  CHECK(parse_copy(&a, "1.2.3.45", 7) == 0);
  client_addr_format(&a, text, sizeof text);
  CHECK(strcmp(text, "1.2.3.4") == 0);
  /* NULL, empty, an embedded NUL, and texts too long for any address. */
  CHECK(client_addr_parse(&a, NULL, 0) != 0);
  CHECK(client_addr_parse(&a, NULL, 7) != 0);
  CHECK(parse_copy(&a, "1.2.3.4", 0) != 0);
  CHECK(parse_copy(&a, "1.2.3.4\0", 8) != 0);
  CHECK(parse_copy(&a, "::1\0::2", 7) != 0);
  memset(big, '1', sizeof big);
  for (size_t n = 46; n <= sizeof big; n = n < 64 ? n + 1 : n * 2)
    CHECKF(parse_copy(&a, big, n) != 0, "%zu digits accepted", n);
  memset(big, 0, sizeof big);
  CHECK(parse_copy(&a, big, sizeof big) != 0);
  /* No single byte is an address (a bare digit is not dotted IPv4). */
  for (int c = 0; c < 256; c++) {
    char one = (char)c;
    CHECKF(parse_copy(&a, &one, 1) != 0, "byte %d accepted", c);
  }
}

static void check_format(void)
{
  struct client_addr a = addr("192.0.2.1");
  char text[CLIENT_ADDR_TEXT_MAX], small[4] = "xyz";

  /* Too small a buffer gives "", never a cut address; size 0 writes
   * nothing. */
  client_addr_format(&a, small, sizeof small);
  CHECK(small[0] == '\0');
  small[0] = 'x';
  client_addr_format(&a, small, 0);
  CHECK(small[0] == 'x');
  a = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  client_addr_format(&a, text, sizeof text);
  CHECK(strcmp(text, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 0);
}

static void check_sockaddr(void)
{
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;
  struct sockaddr_un unx;
  struct client_addr a, want;

  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(443);
  REQUIRE(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr) == 1);
  CHECK(client_addr_from_sockaddr(&a, (struct sockaddr *)&sin) == 0);
  want = addr("198.51.100.7");
  CHECK(memcmp(&a, &want, sizeof a) == 0);

  /* A dual-stack socket reports IPv4 peers mapped: the same address. */
  memset(&sin6, 0, sizeof sin6);
  sin6.sin6_family = AF_INET6;
  REQUIRE(inet_pton(AF_INET6, "::ffff:198.51.100.7", &sin6.sin6_addr) == 1);
  CHECK(client_addr_from_sockaddr(&a, (struct sockaddr *)&sin6) == 0);
  CHECK(memcmp(&a, &want, sizeof a) == 0);
  REQUIRE(inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr) == 1);
  sin6.sin6_scope_id = 3;
  CHECK(client_addr_from_sockaddr(&a, (struct sockaddr *)&sin6) == 0);
  want = addr("2001:db8::7");
  CHECK(memcmp(&a, &want, sizeof a) == 0);

  memset(&unx, 0, sizeof unx);
  unx.sun_family = AF_UNIX;
  CHECK(client_addr_from_sockaddr(&a, (struct sockaddr *)&unx) == -1);
  CHECK(client_addr_from_sockaddr(&a, NULL) == -1);
}

/* --trusted-proxy values: accepted ones with the prefix stored (IPv4 as
 * 96 + n) and the network address after clearing the host bits. */
static const struct {
  const char *in, *addr;
  unsigned prefix;
} good_nets[] = {
    {"10.0.0.0/8", "10.0.0.0", 104},
    {"10.1.2.3/8", "10.0.0.0", 104},
    {"10.1.2.3", "10.1.2.3", 128},
    {"10.1.2.3/32", "10.1.2.3", 128},
    {"10.1.2.3/032", "10.1.2.3", 128},
    {"10.1.2.255/31", "10.1.2.254", 127},
    {"10.1.2.3/1", "0.0.0.0", 97},
    {"200.1.2.3/1", "128.0.0.0", 97},
    {"0.0.0.0/0", "0.0.0.0", 96},
    {"255.255.255.255/0", "0.0.0.0", 96},
    {"::/0", "::", 0},
    {"ffff::1/0", "::", 0},
    {"::1", "::1", 128},
    {"2001:db8::1/128", "2001:db8::1", 128},
    {"2001:db8:0:1:ffff::/64", "2001:db8:0:1::", 64},
    {"2001:db8:0:1:ffff::/63", "2001:db8::", 63},
    {"2001:db8::ffff/127", "2001:db8::fffe", 127},
    {"2001:db8::/32", "2001:db8::", 32},
    {"[2001:db8::]/48", "2001:db8::", 48},
    {"::ffff:10.0.0.0/104", "10.0.0.0", 104},
    {"::ffff:10.1.2.3/120", "10.1.2.0", 120},
};

/* Refused, with the expected form in the reason. */
static const char *const bad_nets[] = {
    "",
    "/8",
    "10.0.0.0/",
    "10.0.0.0/33",
    "10.0.0.0/99",
    "10.0.0.0/128",
    "::/129",
    "::/999",
    "10.0.0.0/0032",
    "10.0.0.0/-1",
    "10.0.0.0/+8",
    "10.0.0.0/ 8",
    "10.0.0.0 /8",
    " 10.0.0.0/8",
    "10.0.0.0/8 ",
    "10.0.0.0/8/8",
    "10.0.0.0/8a",
    "10.0.0.0/0x8",
    "10.0.0.0/1e1",
    "10.0.0/8",
    "10.0.0.0.0/8",
    "host.example/8",
    "localhost",
    "[10.0.0.0]/8",
    "[2001:db8::/32]",
    "[2001:db8::]32",
    "10.0.0.0:80",
    "fe80::1%eth0/64",
    "10.0.0.0/8,10.0.0.0/8",
    "10.0.0.0-10.0.0.255",
};

static void check_net_parse(void)
{
  char err[160], text[CLIENT_ADDR_TEXT_MAX];
  struct client_net n;

  for (size_t i = 0; i < sizeof good_nets / sizeof good_nets[0]; i++) {
    err[0] = '\0';
    if (client_net_parse(&n, good_nets[i].in, err, sizeof err) != 0) {
      CHECKF(0, "\"%s\" refused: %s", good_nets[i].in, err);
      continue;
    }
    client_addr_format(&n.addr, text, sizeof text);
    CHECKF(strcmp(text, good_nets[i].addr) == 0 &&
               n.prefix == good_nets[i].prefix,
           "\"%s\" -> %s/%u, want %s/%u", good_nets[i].in, text, n.prefix,
           good_nets[i].addr, good_nets[i].prefix);
  }
  for (size_t i = 0; i < sizeof bad_nets / sizeof bad_nets[0]; i++) {
    err[0] = '\0';
    CHECKF(client_net_parse(&n, bad_nets[i], err, sizeof err) != 0,
           "\"%s\" accepted", bad_nets[i]);
    CHECKF(strncmp(err, "expected ", 9) == 0, "\"%s\": reason \"%s\"",
           bad_nets[i], err);
  }
  /* A bad prefix names the family's range. */
  CHECK(client_net_parse(&n, "10.0.0.0/33", err, sizeof err) != 0 &&
        strstr(err, "0 to 32") != NULL);
  CHECK(client_net_parse(&n, "::/129", err, sizeof err) != 0 &&
        strstr(err, "0 to 128") != NULL);
  /* A small buffer gets a cut, terminated reason. */
  CHECK(client_net_parse(&n, "bogus", err, 8) != 0 && strlen(err) == 7);
}

/* Sets bit b (0 = the most significant of byte 0) of a to its opposite. */
static void flip(struct client_addr *a, unsigned b)
{
  a->b[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
}

/* For every prefix of both families, an address inside the network stays
 * inside whatever bit past the prefix changes, and leaves it whichever bit
 * before the prefix changes. */
static void check_match_all_prefixes(const char *base, unsigned max)
{
  unsigned offset = max == 32 ? 96 : 0;
  long wrong = 0;

  for (unsigned p = 0; p <= max; p++) {
    char text[80];
    struct client_net n;
    struct client_addr a = addr(base);

    snprintf(text, sizeof text, "%s/%u", base, p);
    n = net(text);
    CHECKF(n.prefix == offset + p, "%s: prefix %u", text, n.prefix);
    if (!client_net_match(&n, &a))
      wrong++;
    for (unsigned b = 0; b < max; b++) {
      struct client_addr x = a;

      flip(&x, offset + b);
      if (client_net_match(&n, &x) != (b >= p))
        wrong++;
    }
  }
  CHECKF(wrong == 0, "%s: %ld wrong matches", base, wrong);
}

static void check_match(void)
{
  struct client_net n;
  struct client_addr a;

  check_match_all_prefixes("203.0.113.77", 32);
  check_match_all_prefixes("2001:db8:cafe:beef:1234:5678:9abc:def0", 128);
  check_match_all_prefixes("255.255.255.255", 32);
  check_match_all_prefixes("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128);

  /* /0 of IPv4 holds every IPv4 address and no IPv6 one. */
  n = net("0.0.0.0/0");
  a = addr("255.255.255.255");
  CHECK(client_net_match(&n, &a));
  a = addr("0.0.0.0");
  CHECK(client_net_match(&n, &a));
  a = addr("::1");
  CHECK(!client_net_match(&n, &a));
  a = addr("::");
  CHECK(!client_net_match(&n, &a));
  a = addr("2001:db8::1");
  CHECK(!client_net_match(&n, &a));
  a = addr("::ffff:0:1"); /* 0.0.0.1, mapped */
  CHECK(client_net_match(&n, &a));

  /* /0 of IPv6 holds everything, IPv4 included (it is mapped). */
  n = net("::/0");
  a = addr("192.0.2.1");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8::1");
  CHECK(client_net_match(&n, &a));

  /* /32 and /128: the one address. */
  n = net("192.0.2.1/32");
  a = addr("192.0.2.1");
  CHECK(client_net_match(&n, &a));
  a = addr("192.0.2.0");
  CHECK(!client_net_match(&n, &a));
  a = addr("192.0.2.2");
  CHECK(!client_net_match(&n, &a));
  a = addr("::192.0.2.1");
  CHECK(!client_net_match(&n, &a));
  n = net("2001:db8::1/128");
  a = addr("2001:db8::1");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8::");
  CHECK(!client_net_match(&n, &a));

  /* The /64 boundary, and /63 and /65 around it. */
  n = net("2001:db8:0:1::/64");
  a = addr("2001:db8:0:1::");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8:0:1:ffff:ffff:ffff:ffff");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8:0:2::");
  CHECK(!client_net_match(&n, &a));
  a = addr("2001:db8:0:0:ffff:ffff:ffff:ffff");
  CHECK(!client_net_match(&n, &a));
  n = net("2001:db8::/63");
  a = addr("2001:db8:0:1:ffff:ffff:ffff:ffff");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8:0:2::");
  CHECK(!client_net_match(&n, &a));
  n = net("2001:db8::/65");
  a = addr("2001:db8::7fff:ffff:ffff:ffff");
  CHECK(client_net_match(&n, &a));
  a = addr("2001:db8::8000:0:0:0");
  CHECK(!client_net_match(&n, &a));

  /* Families do not mix: an IPv4 network and the IPv6 texts of its
   * numbers, an IPv6 network and IPv4 addresses. */
  n = net("10.0.0.0/8");
  a = addr("::a00:1");
  CHECK(!client_net_match(&n, &a));
  a = addr("a00::1");
  CHECK(!client_net_match(&n, &a));
  a = addr("::ffff:10.0.0.1");
  CHECK(client_net_match(&n, &a));
  n = net("2001:db8::/32");
  a = addr("32.1.13.184"); /* 0x20010db8 */
  CHECK(!client_net_match(&n, &a));
  n = net("::ffff:0:0/96");
  a = addr("198.51.100.7");
  CHECK(client_net_match(&n, &a));
}

/* --client-ip-header values: RFC 7230 tokens of 1 to 64 characters. */
static void check_header_names(void)
{
  static const char *const good[] = {
      "X-Forwarded-For",
      "x-forwarded-for",
      "X-Real-IP",
      "CF-Connecting-IP",
      "True-Client-IP",
      "a",
      "0",
      "!#$%&'*+-.^_`|~09AZaz",
      "X-Client-IP-0123456789-0123456789-0123456789-0123456789-01234567",
  };
  static const char *const bad[] = {
      "",
      "X-Client-IP-0123456789-0123456789-0123456789-0123456789-012345678",
      "X Real IP",
      "X-Real-IP ",
      " X-Real-IP",
      "X-Real-IP:",
      "X-Real-IP\t",
      "X-Real-IP\r\n",
      "X(Real)IP",
      "X-Real-IP/1",
      "\"X-Real-IP\"",
      "X,Y",
      "X;Y",
      "X=Y",
      "X?",
      "X@Y",
      "[X]",
      "{X}",
      "X\\Y",
      "X\x7fY",
      "X\x01Y",
      "X-Re\xc3\xa1l-IP",
      "\xff",
  };
  char err[160];

  CHECK(strlen(good[8]) == CLIENT_HEADER_MAX);
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    err[0] = '\0';
    CHECKF(client_header_name_check(good[i], err, sizeof err) == 0,
           "\"%s\" refused: %s", good[i], err);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECKF(client_header_name_check(bad[i], err, sizeof err) != 0,
           "\"%s\" accepted", bad[i]);
    CHECKF(strncmp(err, "expected ", 9) == 0, "\"%s\": reason \"%s\"", bad[i],
           err);
  }
  CHECK(client_header_name_check(NULL, err, sizeof err) != 0);
  /* The reason names what is wrong: the length, or the byte and where. */
  CHECK(client_header_name_check("", err, sizeof err) != 0 &&
        strstr(err, "1 to 64") != NULL && strstr(err, "got 0") != NULL);
  CHECK(client_header_name_check("X Y", err, sizeof err) != 0 &&
        strstr(err, "0x20 at position 2") != NULL);
  /* A small buffer gets a cut, terminated reason. */
  memset(err, 'x', sizeof err);
  CHECK(client_header_name_check("X Y", err, 8) != 0 && strlen(err) == 7);
}

/* client_policy_init: the default header, the bounds, what is kept. */
static void check_policy(void)
{
  struct client_policy p;
  char err[160], name[CLIENT_HEADER_MAX + 2];

  CHECK(client_policy_init(&p, trusted, TRUSTED_N, NULL, 64, err, sizeof err) ==
        0);
  CHECK(strcmp(p.header, "X-Forwarded-For") == 0 && p.header_is_xff);
  CHECK(p.trusted == trusted && p.trusted_count == TRUSTED_N);
  CHECK(p.ipv6_prefix == 64);
  CHECK(client_policy_init(&p, trusted, TRUSTED_N, "x-FORWARDED-for", 1, err,
                           sizeof err) == 0 &&
        p.header_is_xff && p.ipv6_prefix == 1);
  CHECK(client_policy_init(&p, NULL, 0, "X-Real-IP", 128, err, sizeof err) ==
            0 &&
        !p.header_is_xff && p.trusted_count == 0);
  CHECK(client_policy_init(&p, NULL, 0, "X-Forwarded-For-Real", 64, err,
                           sizeof err) == 0 &&
        !p.header_is_xff);
  CHECK(client_policy_init(&p, NULL, 0, "X-Forwarded-Fo", 64, err,
                           sizeof err) == 0 &&
        !p.header_is_xff);
  /* The name is copied: the caller's string may go. */
  strcpy(name, "CF-Connecting-IP");
  CHECK(client_policy_init(&p, NULL, 0, name, 64, err, sizeof err) == 0);
  name[0] = 'Q';
  CHECK(strcmp(p.header, "CF-Connecting-IP") == 0);
  /* Refused, with a reason. */
  err[0] = '\0';
  CHECK(client_policy_init(&p, NULL, 0, "X Real", 64, err, sizeof err) != 0 &&
        strncmp(err, "expected ", 9) == 0);
  err[0] = '\0';
  CHECK(client_policy_init(&p, NULL, 0, NULL, 0, err, sizeof err) != 0 &&
        strstr(err, "1 to 128") != NULL);
  err[0] = '\0';
  CHECK(client_policy_init(&p, NULL, 0, NULL, 129, err, sizeof err) != 0 &&
        strstr(err, "1 to 128") != NULL);
  memset(name, 'X', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  CHECK(client_policy_init(&p, NULL, 0, name, 64, err, sizeof err) != 0);
  CHECK(client_policy_init(&p, NULL, 3, NULL, 64, err, sizeof err) != 0);
}

struct hdr {
  const char *name, *value;
};

#define H(...) ((const struct hdr[]){__VA_ARGS__, {NULL, NULL}})
#define XFF_ "X-Forwarded-For"

struct pick_case {
  const char *header; /* --client-ip-header; NULL: the default */
  const char *peer;
  const struct hdr *hdrs; /* NULL: no header at all */
  const char *want;
  enum client_source source;
};

static const struct pick_case pick_cases[] = {
    /* The review's case: a client's own X-Real-IP, passed through by a
     * proxy that appends X-Forwarded-For, no longer names the client. */
    {NULL, "10.1.2.3", H({"X-Real-IP", "198.51.100.7"}, {XFF_, "203.0.113.9"}),
     "203.0.113.9", CLIENT_FROM_FORWARDED},
    {NULL, "10.1.2.3", H({XFF_, "203.0.113.9"}, {"X-Real-IP", "198.51.100.7"}),
     "203.0.113.9", CLIENT_FROM_FORWARDED},
    {NULL, "10.1.2.3", H({"X-Real-IP", "198.51.100.7"}), "10.1.2.3",
     CLIENT_FROM_PEER},
    /* Under the default other headers do not even make it malformed. */
    {NULL, "10.1.2.3",
     H({"X-Real-IP", "garbage"}, {"X-Real-IP", "198.51.100.7"},
       {XFF_, "203.0.113.9"}),
     "203.0.113.9", CLIENT_FROM_FORWARDED},
    {NULL, "10.1.2.3",
     H({"CF-Connecting-IP", "198.51.100.7"}, {"Forwarded", "for=192.0.2.1"}),
     "10.1.2.3", CLIENT_FROM_PEER},
    /* Names compare without regard to case, and only whole. */
    {NULL, "10.1.2.3", H({"x-forwarded-for", "198.51.100.7"}), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {NULL, "10.1.2.3",
     H({"X-FORWARDED-FOR", "198.51.100.7"}, {"x-Forwarded-for", "10.0.0.2"}),
     "198.51.100.7", CLIENT_FROM_FORWARDED},
    {NULL, "10.1.2.3",
     H({"X-Forwarded-For2", "198.51.100.7"}, {"X-Forwarded-Fo", "192.0.2.1"},
       {"X-Forwarded", "192.0.2.2"}, {"X-Forwarded-For ", "192.0.2.3"},
       {"X_Forwarded_For", "192.0.2.4"}, {"XForwarded-For", "192.0.2.5"}),
     "10.1.2.3", CLIENT_FROM_PEER},
    {"x-forwarded-for", "10.1.2.3", H({XFF_, "198.51.100.7, 203.0.113.9"}),
     "203.0.113.9", CLIENT_FROM_FORWARDED},
    /* An untrusted peer: every header ignored. */
    {NULL, "203.0.113.5", H({XFF_, "198.51.100.7"}), "203.0.113.5",
     CLIENT_FROM_PEER},
    {NULL, "203.0.113.5", H({XFF_, "junk"}), "203.0.113.5", CLIENT_FROM_PEER},
    {"X-Real-IP", "203.0.113.5", H({"X-Real-IP", "198.51.100.7"}),
     "203.0.113.5", CLIENT_FROM_PEER},
    {"X-Real-IP", "::a00:1", H({"X-Real-IP", "198.51.100.7"}), "::10.0.0.1",
     CLIENT_FROM_PEER},

    /* --client-ip-header X-Real-IP: exactly one, well-formed. */
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "198.51.100.7"}), "198.51.100.7",
     CLIENT_FROM_HEADER},
    {"X-Real-IP", "10.1.2.3", H({"x-real-ip", "198.51.100.7"}), "198.51.100.7",
     CLIENT_FROM_HEADER},
    {"x-REAL-ip", "10.1.2.3", H({"X-Real-IP", "198.51.100.7"}), "198.51.100.7",
     CLIENT_FROM_HEADER},
    {"X-Real-IP", "192.168.1.1",
     H({XFF_, "203.0.113.9"}, {"X-Real-IP", "198.51.100.7"},
       {XFF_, "203.0.113.10"}),
     "198.51.100.7", CLIENT_FROM_HEADER},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", " \t198.51.100.7 \t"}),
     "198.51.100.7", CLIENT_FROM_HEADER},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "[2001:db8::5]"}), "2001:db8::5",
     CLIENT_FROM_HEADER},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "::ffff:198.51.100.7"}),
     "198.51.100.7", CLIENT_FROM_HEADER},
    {"X-Real-IP", "2001:db8:1:ffff::9", H({"X-Real-IP", "2001:db8::5"}),
     "2001:db8::5", CLIENT_FROM_HEADER},
    /* The one value is believed even when it is itself trusted. */
    {"X-Real-IP", "fd00::1", H({"X-Real-IP", "10.9.9.9"}), "10.9.9.9",
     CLIENT_FROM_HEADER},
    /* Zero: the peer, X-Forwarded-For not consulted instead. */
    {"X-Real-IP", "10.1.2.3", NULL, "10.1.2.3", CLIENT_FROM_PEER},
    {"X-Real-IP", "10.1.2.3", H({XFF_, "198.51.100.7"}), "10.1.2.3",
     CLIENT_FROM_PEER},
    /* Two: malformed, whatever they say, and even when they agree. */
    {"X-Real-IP", "10.1.2.3",
     H({"X-Real-IP", "198.51.100.7"}, {"X-Real-IP", "198.51.100.7"}),
     "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3",
     H({"X-Real-IP", "198.51.100.7"}, {"x-real-ip", "203.0.113.9"},
       {XFF_, "203.0.113.9"}),
     "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3",
     H({"X-Real-IP", "garbage"}, {"X-Real-IP", "198.51.100.7"}), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    /* One malformed value: the peer. */
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", ""}), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "198.51.100.7:4711"}), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "198.51.100.7, 203.0.113.9"}),
     "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "198.51.100.7,"}), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3", H({"X-Real-IP", "\x80\xfe\xff"}), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"X-Real-IP", "10.1.2.3",
     H({"X-Real-IP",
        "1111111111111111111111111111111111111111111111111111111111111111"}),
     "10.1.2.3", CLIENT_FROM_MALFORMED},

    /* Any other name works the same way; X-Real-IP is then ignored. */
    {"CF-Connecting-IP", "10.1.2.3",
     H({"X-Real-IP", "192.0.2.1"}, {"CF-Connecting-IP", "198.51.100.7"},
       {XFF_, "192.0.2.2"}),
     "198.51.100.7", CLIENT_FROM_HEADER},
    {"CF-Connecting-IP", "10.1.2.3",
     H({"X-Real-IP", "192.0.2.1"}, {XFF_, "192.0.2.2"}), "10.1.2.3",
     CLIENT_FROM_PEER},
    {"CF-Connecting-IP", "10.1.2.3",
     H({"cf-connecting-ip", "2001:db8::5"}, {"CF-Connecting-IP", "::1"}),
     "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"True-Client-IP", "fd00::1", H({"True-Client-IP", "2001:db8::5"}),
     "2001:db8::5", CLIENT_FROM_HEADER},
};

/* One request's headers, offered in order as http.c offers them. */
#define REQ_MAX 1100

struct preq {
  struct client_headers h;
  char *copies[2 * REQ_MAX];
  size_t n;
};

static void preq_offer(struct preq *r, const struct client_policy *p,
                       const char *name, const char *value, size_t value_len)
{
  char *n, *v;

  REQUIRE(r->n + 2 <= 2 * REQ_MAX);
  n = test_dup(name, strlen(name));
  v = test_dup(value, value_len);
  r->copies[r->n++] = n;
  r->copies[r->n++] = v;
  client_headers_offer(&r->h, p, n, strlen(name), v, value_len);
}

static void preq_free(struct preq *r)
{
  for (size_t i = 0; i < r->n; i++)
    free(r->copies[i]);
  r->n = 0;
}

static struct client_policy policy(const char *header, unsigned prefix)
{
  struct client_policy p;
  char err[160];

  REQUIRE(client_policy_init(&p, trusted, TRUSTED_N, header, prefix, err,
                             sizeof err) == 0);
  return p;
}

/* client_pick on r from peer; got is the address as text. */
static enum client_source pick(const struct client_policy *p, const char *peer,
                               const struct preq *r, char *got)
{
  struct client_addr peer_a = addr(peer), out;
  enum client_source src;

  memset(&out, 0xaa, sizeof out);
  src = client_pick(&out, &peer_a, p, &r->h);
  client_addr_format(&out, got, CLIENT_ADDR_TEXT_MAX);
  return src;
}

static void check_pick_case(const struct pick_case *c, size_t i)
{
  struct client_policy p = policy(c->header, 64), none;
  char got[CLIENT_ADDR_TEXT_MAX], err[160];
  struct client_addr peer = addr(c->peer), out;
  enum client_source src;
  static struct preq r;

  memset(&r, 0, sizeof r);
  for (size_t k = 0; c->hdrs != NULL && c->hdrs[k].name != NULL; k++)
    preq_offer(&r, &p, c->hdrs[k].name, c->hdrs[k].value,
               strlen(c->hdrs[k].value));
  src = pick(&p, c->peer, &r, got);
  CHECKF(strcmp(got, c->want) == 0 && src == c->source,
         "pick case %zu (peer %s): got %s from %d, want %s from %d", i, c->peer,
         got, (int)src, c->want, (int)c->source);
  /* With no trusted network at all, always the peer. */
  REQUIRE(client_policy_init(&none, NULL, 0, c->header, 64, err, sizeof err) ==
          0);
  src = client_pick(&out, &peer, &none, &r.h);
  CHECKF(src == CLIENT_FROM_PEER && memcmp(&out, &peer, sizeof out) == 0,
         "pick case %zu with no trusted networks", i);
  preq_free(&r);
}

#define XFF(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Requests under the default --client-ip-header, X-Forwarded-For: the
 * peer, the header values in arrival order, and what client_pick gives. */
struct xff_case {
  const char *peer;
  const char *const *xff; /* NULL: no X-Forwarded-For */
  const char *want;
  enum client_source source;
};

static const struct xff_case xff_cases[] = {
    /* An untrusted peer: headers ignored, however they look; near misses of
     * the trusted networks are untrusted. */
    {"203.0.113.5", XFF("198.51.100.7"), "203.0.113.5", CLIENT_FROM_PEER},
    {"203.0.113.5", XFF("junk", "junk"), "203.0.113.5", CLIENT_FROM_PEER},
    {"2001:db8:2::1", XFF("198.51.100.7"), "2001:db8:2::1", CLIENT_FROM_PEER},
    {"192.168.1.2", XFF("198.51.100.7"), "192.168.1.2", CLIENT_FROM_PEER},
    {"::a00:1", XFF("198.51.100.7"), "::10.0.0.1", CLIENT_FROM_PEER},
    /* Trusted, nothing forwarded: the peer. */
    {"10.1.2.3", NULL, "10.1.2.3", CLIENT_FROM_PEER},
    {"::ffff:10.1.2.3", NULL, "10.1.2.3", CLIENT_FROM_PEER},
    /* X-Forwarded-For: the right-most entry outside the trusted networks. */
    {"10.1.2.3", XFF("198.51.100.7"), "198.51.100.7", CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("198.51.100.7, 203.0.113.9"), "203.0.113.9",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("198.51.100.7, 203.0.113.9, 10.0.0.2"), "203.0.113.9",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("198.51.100.7,10.0.0.2,192.168.1.1"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("\t198.51.100.7\t,\t10.0.0.2 "), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("2001:db8::5, [2001:db8:1::7]"), "2001:db8::5",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("::ffff:10.0.0.9, 198.51.100.7"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("198.51.100.7, ::ffff:10.0.0.9"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("192.168.1.2, 192.168.1.1"), "192.168.1.2",
     CLIENT_FROM_FORWARDED},
    /* All trusted: the left-most. */
    {"10.1.2.3", XFF("10.0.0.3, 10.0.0.2"), "10.0.0.3", CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("10.0.0.3"), "10.0.0.3", CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("fd00::1, 192.168.1.1, 2001:db8:1::1"), "fd00::1",
     CLIENT_FROM_FORWARDED},
    /* Entries left of the chosen one are never read, malformed or not. */
    {"10.1.2.3", XFF("garbage, 198.51.100.7"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF(",, 1.2.3.4:80 ,198.51.100.7, 10.0.0.2"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    /* A malformed entry on the way: the peer. */
    {"10.1.2.3", XFF("198.51.100.7, garbage"), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7, garbage, 10.0.0.2"), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("garbage, 10.0.0.2"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF(""), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF(" "), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF(","), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7,"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7, "), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7,,10.0.0.2"), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7 203.0.113.9"), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7;203.0.113.9"), "10.1.2.3",
     CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7:4711"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("[2001:db8::5]:443"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("client.example"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("for=198.51.100.7"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("\x80\xfe\xff"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("198.51.100.7\r"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3",
     XFF("1111111111111111111111111111111111111111111111111111111111111111"),
     "10.1.2.3", CLIENT_FROM_MALFORMED},
    /* Several X-Forwarded-For headers are one list, in arrival order. */
    {"10.1.2.3", XFF("198.51.100.7", "203.0.113.9"), "203.0.113.9",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("198.51.100.7, 10.0.0.5", "10.0.0.6"), "198.51.100.7",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("203.0.113.9", "10.0.0.6, 10.0.0.7"), "203.0.113.9",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("10.0.0.5", "10.0.0.6"), "10.0.0.5",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("bad", "203.0.113.9"), "203.0.113.9",
     CLIENT_FROM_FORWARDED},
    {"10.1.2.3", XFF("bad", "10.0.0.6"), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("203.0.113.9", ""), "10.1.2.3", CLIENT_FROM_MALFORMED},
    {"10.1.2.3", XFF("", "203.0.113.9"), "203.0.113.9", CLIENT_FROM_FORWARDED},
};

/* Every xff case, alone and with X-Real-IP headers (well-formed, twice, or
 * garbage) around its X-Forwarded-For ones, which change nothing; with no
 * trusted network at all, always the peer. */
static void check_pick_xff_cases(void)
{
  struct client_policy p = policy(NULL, 64), none;
  static struct preq r;
  char got[CLIENT_ADDR_TEXT_MAX], err[160];

  REQUIRE(client_policy_init(&none, NULL, 0, NULL, 64, err, sizeof err) == 0);
  for (size_t i = 0; i < sizeof xff_cases / sizeof xff_cases[0]; i++) {
    const struct xff_case *c = &xff_cases[i];
    struct client_addr peer = addr(c->peer), out;
    enum client_source src;

    for (int noise = 0; noise < 2; noise++) {
      memset(&r, 0, sizeof r);
      if (noise)
        preq_offer(&r, &p, "X-Real-IP", "192.0.2.99", 10);
      for (size_t k = 0; c->xff != NULL && c->xff[k] != NULL; k++) {
        preq_offer(&r, &p, "X-Forwarded-For", c->xff[k], strlen(c->xff[k]));
        if (noise)
          preq_offer(&r, &p, "X-Real-IP", "junk", 4);
      }
      src = pick(&p, c->peer, &r, got);
      CHECKF(strcmp(got, c->want) == 0 && src == c->source,
             "xff case %zu, noise %d: got %s from %d, want %s from %d", i,
             noise, got, (int)src, c->want, (int)c->source);
      src = client_pick(&out, &peer, &none, &r.h);
      CHECKF(src == CLIENT_FROM_PEER && memcmp(&out, &peer, sizeof out) == 0,
             "xff case %zu, noise %d, with no trusted networks", i, noise);
      preq_free(&r);
    }
  }
}

/* Every malformed value of bad_addrs that is not a list, as the only
 * X-Forwarded-For and as its right-most entry: the peer. */
static void check_pick_xff_malformed(void)
{
  struct client_policy p = policy(NULL, 64);
  static struct preq r;
  char got[CLIENT_ADDR_TEXT_MAX];

  for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
    char list[128];

    if (strchr(bad_addrs[i], ',') != NULL)
      continue; /* a list: its entries may be fine */
    memset(&r, 0, sizeof r);
    preq_offer(&r, &p, "X-Forwarded-For", bad_addrs[i], strlen(bad_addrs[i]));
    CHECKF(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED &&
               strcmp(got, "10.1.2.3") == 0,
           "\"%s\" alone gave %s", bad_addrs[i], got);
    preq_free(&r);
    snprintf(list, sizeof list, "198.51.100.7, %s", bad_addrs[i]);
    memset(&r, 0, sizeof r);
    preq_offer(&r, &p, "X-Forwarded-For", list, strlen(list));
    CHECKF(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED &&
               strcmp(got, "10.1.2.3") == 0,
           "\"%s\" right-most gave %s", bad_addrs[i], got);
    preq_free(&r);
  }
}

/* A single-address header: every malformed value of bad_addrs, oversized
 * and binary ones, one with a NUL inside, and the right value sent twice
 * or 1000 times: the peer. */
static void check_pick_single_malformed(void)
{
  static const char *const names[] = {"X-Real-IP", "CF-Connecting-IP"};
  static struct preq r;
  char got[CLIENT_ADDR_TEXT_MAX], big[4096];

  memset(big, '1', sizeof big);
  for (size_t ni = 0; ni < 2; ni++) {
    struct client_policy p = policy(names[ni], 64);

    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
      memset(&r, 0, sizeof r);
      preq_offer(&r, &p, names[ni], bad_addrs[i], strlen(bad_addrs[i]));
      CHECKF(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED &&
                 strcmp(got, "10.1.2.3") == 0,
             "%s: \"%s\" gave %s", names[ni], bad_addrs[i], got);
      preq_free(&r);
    }
    for (size_t n = 46; n <= sizeof big; n = n < 64 ? n + 1 : n * 2) {
      memset(&r, 0, sizeof r);
      preq_offer(&r, &p, names[ni], big, n);
      CHECKF(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED,
             "%s: %zu digits", names[ni], n);
      preq_free(&r);
    }
    for (int c = 0; c < 256; c++) {
      char one = (char)c;

      memset(&r, 0, sizeof r);
      preq_offer(&r, &p, names[ni], &one, 1);
      CHECKF(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED,
             "%s: byte %d", names[ni], c);
      preq_free(&r);
    }
    memset(&r, 0, sizeof r);
    preq_offer(&r, &p, names[ni], "198.51.100.7\0", 13);
    CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED);
    preq_free(&r);
    /* The length is honoured: the first 12 bytes are a good address. */
    memset(&r, 0, sizeof r);
    preq_offer(&r, &p, names[ni], "198.51.100.7\0", 12);
    CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_HEADER &&
          strcmp(got, "198.51.100.7") == 0);
    preq_free(&r);
    memset(&r, 0, sizeof r);
    for (unsigned k = 0; k < 1000; k++)
      preq_offer(&r, &p, names[ni], "198.51.100.7", 12);
    CHECK(r.h.seen == 1000 && r.h.kept == 1);
    CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED &&
          strcmp(got, "10.1.2.3") == 0);
    preq_free(&r);
  }
}

/* The last CLIENT_XFF_MAX X-Forwarded-For headers are kept: a client that
 * sends many cannot push out the entries its proxies appended, nor make the
 * request malformed. X-Real-IP headers in between change nothing. */
static void check_pick_many_headers(void)
{
  struct client_policy p = policy(NULL, 64);
  static struct preq r;
  char got[CLIENT_ADDR_TEXT_MAX];

  /* Exactly CLIENT_XFF_MAX headers: all kept, so the left-most entry, the
   * only untrusted one, is reached. */
  memset(&r, 0, sizeof r);
  preq_offer(&r, &p, "X-Forwarded-For", "198.51.100.7", 12);
  for (size_t i = 1; i < CLIENT_XFF_MAX; i++)
    preq_offer(&r, &p, "X-Forwarded-For", "10.0.0.2", 8);
  CHECK(r.h.kept == CLIENT_XFF_MAX && r.h.seen == CLIENT_XFF_MAX);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_FORWARDED &&
        strcmp(got, "198.51.100.7") == 0);
  preq_free(&r);

  /* 17 headers: the client's own first one is dropped; the right-most
   * untrusted entry, appended by a proxy, still decides. */
  memset(&r, 0, sizeof r);
  for (size_t i = 0; i < CLIENT_XFF_MAX; i++) {
    preq_offer(&r, &p, "X-Forwarded-For", "203.0.113.9", 11);
    preq_offer(&r, &p, "X-Real-IP", "192.0.2.1", 9);
  }
  preq_offer(&r, &p, "X-Forwarded-For", "198.51.100.8, 10.0.0.2", 22);
  CHECK(r.h.kept == CLIENT_XFF_MAX && r.h.seen == CLIENT_XFF_MAX + 1);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_FORWARDED &&
        strcmp(got, "198.51.100.8") == 0);
  preq_free(&r);

  /* Garbage beyond the kept headers does not make the request malformed;
   * within them it does. */
  memset(&r, 0, sizeof r);
  preq_offer(&r, &p, "X-Forwarded-For", "not an address", 14);
  for (size_t i = 0; i < CLIENT_XFF_MAX; i++)
    preq_offer(&r, &p, "X-Forwarded-For", "10.0.0.2", 8);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_FORWARDED &&
        strcmp(got, "10.0.0.2") == 0);
  preq_free(&r);
  memset(&r, 0, sizeof r);
  preq_offer(&r, &p, "X-Forwarded-For", "not an address", 14);
  for (size_t i = 0; i < CLIENT_XFF_MAX; i++)
    preq_offer(&r, &p, "X-Forwarded-For", "10.0.0.2", 8);
  preq_offer(&r, &p, "X-Forwarded-For", "198.51.100.9", 12);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_FORWARDED &&
        strcmp(got, "198.51.100.9") == 0);
  preq_free(&r);
  memset(&r, 0, sizeof r);
  preq_offer(&r, &p, "X-Forwarded-For", "not an address", 14);
  for (size_t i = 0; i < CLIENT_XFF_MAX - 1; i++)
    preq_offer(&r, &p, "X-Forwarded-For", "10.0.0.2", 8);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_MALFORMED &&
        strcmp(got, "10.1.2.3") == 0);
  preq_free(&r);

  /* 1000 headers: the last 16 kept, all counted; the right-most entry is
   * untrusted, so the garbage left of it is never read. */
  memset(&r, 0, sizeof r);
  for (size_t i = 0; i < 999; i++)
    preq_offer(&r, &p, "x-forwarded-for", "garbage", 7);
  preq_offer(&r, &p, "X-Forwarded-For", "198.51.100.9", 12);
  CHECK(r.h.kept == CLIENT_XFF_MAX && r.h.seen == 1000);
  CHECK(pick(&p, "10.1.2.3", &r, got) == CLIENT_FROM_FORWARDED &&
        strcmp(got, "198.51.100.9") == 0);
  preq_free(&r);
}

/* NULL where the interface allows it. */
static void check_pick_null(void)
{
  struct client_policy p = policy("X-Real-IP", 64), xff = policy(NULL, 64);
  struct client_addr peer = addr("10.1.2.3"), out;
  struct client_headers h;
  char got[CLIENT_ADDR_TEXT_MAX];

  /* A NULL headers or policy: the peer. */
  CHECK(client_pick(&out, &peer, &p, NULL) == CLIENT_FROM_PEER &&
        memcmp(&out, &peer, sizeof out) == 0);
  memset(&h, 0, sizeof h);
  CHECK(client_pick(&out, &peer, NULL, &h) == CLIENT_FROM_PEER &&
        memcmp(&out, &peer, sizeof out) == 0);
  /* NULL headers, policy or name offered: nothing happens. */
  client_headers_offer(NULL, &p, "X-Real-IP", 9, "198.51.100.7", 12);
  client_headers_offer(&h, NULL, "X-Real-IP", 9, "198.51.100.7", 12);
  client_headers_offer(&h, &p, NULL, 9, "198.51.100.7", 12);
  CHECK(h.seen == 0 && h.kept == 0);
  /* The name is read for its length only. */
  client_headers_offer(&h, &p, "X-Real-IP-more", 9, "198.51.100.7", 12);
  CHECK(client_pick(&out, &peer, &p, &h) == CLIENT_FROM_HEADER);
  client_addr_format(&out, got, sizeof got);
  CHECK(strcmp(got, "198.51.100.7") == 0);
  /* A NULL value is an empty one: malformed. */
  memset(&h, 0, sizeof h);
  client_headers_offer(&h, &p, "X-Real-IP", 9, NULL, 0);
  CHECK(h.seen == 1 &&
        client_pick(&out, &peer, &p, &h) == CLIENT_FROM_MALFORMED);
  memset(&h, 0, sizeof h);
  client_headers_offer(&h, &xff, "X-Forwarded-For", 15, NULL, 0);
  CHECK(client_pick(&out, &peer, &xff, &h) == CLIENT_FROM_MALFORMED);
  /* An empty name matches no policy. */
  memset(&h, 0, sizeof h);
  client_headers_offer(&h, &xff, "", 0, "198.51.100.7", 12);
  CHECK(h.seen == 0);
}

/* client_key: IPv6 cut to the prefix, IPv4 (mapped) untouched. */
static void check_key(void)
{
  static const struct {
    const char *in;
    unsigned prefix;
    const char *want;
  } keys[] = {
      {"2001:db8:0:1:aaaa:bbbb:cccc:dddd", 64, "2001:db8:0:1::"},
      {"2001:db8:0:1:ffff:ffff:ffff:ffff", 64, "2001:db8:0:1::"},
      {"2001:db8:0:1::", 64, "2001:db8:0:1::"},
      {"2001:db8:0:1:aaaa:bbbb:cccc:dddd", 128,
       "2001:db8:0:1:aaaa:bbbb:cccc:dddd"},
      {"2001:db8:0:1:aaaa:bbbb:cccc:dddd", 127,
       "2001:db8:0:1:aaaa:bbbb:cccc:dddc"},
      {"2001:db8:0:1:aaaa:bbbb:cccc:dddd", 48, "2001:db8::"},
      {"2001:db8:ffff:ffff::1", 56, "2001:db8:ffff:ff00::"},
      {"2001:db8:0:1:ffff::", 63, "2001:db8::"},
      {"2001:db8:0:3:ffff::", 63, "2001:db8:0:2::"},
      {"2001:db8::ffff:ffff:ffff:ffff", 65, "2001:db8:0:0:8000::"},
      {"2001:db8::7fff:ffff:ffff:ffff", 65, "2001:db8::"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "8000::"},
      {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, "::"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 9, "ff80::"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 8, "ff00::"},
      {"::1", 64, "::"},
      /* IPv4-compatible ::a.b.c.d is IPv6. */
      {"::192.0.2.1", 64, "::"},
      {"::192.0.2.1", 128, "::192.0.2.1"},
      /* IPv4, in either form: per address at any prefix. */
      {"192.0.2.1", 1, "192.0.2.1"},
      {"192.0.2.1", 64, "192.0.2.1"},
      {"192.0.2.255", 96, "192.0.2.255"},
      {"::ffff:198.51.100.7", 64, "198.51.100.7"},
      {"0.0.0.0", 1, "0.0.0.0"},
      {"255.255.255.255", 127, "255.255.255.255"},
  };
  struct client_policy none;
  struct client_addr a, k;
  char got[CLIENT_ADDR_TEXT_MAX];

  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    struct client_policy p = policy(NULL, keys[i].prefix);

    a = addr(keys[i].in);
    memset(&k, 0xaa, sizeof k);
    client_key(&k, &a, &p);
    client_addr_format(&k, got, sizeof got);
    CHECKF(strcmp(got, keys[i].want) == 0, "key of %s/%u: %s, want %s",
           keys[i].in, keys[i].prefix, got, keys[i].want);
    /* In place, too. */
    client_key(&a, &a, &p);
    CHECK(memcmp(&a, &k, sizeof a) == 0);
  }
  /* Every prefix: the first bits kept, the rest cleared. */
  for (unsigned prefix = 1; prefix <= 128; prefix++) {
    struct client_policy p = policy(NULL, prefix);
    bool ok = true;

    memset(&a, 0xff, sizeof a);
    a.b[0] = 0x20;
    client_key(&k, &a, &p);
    for (unsigned b = 0; b < 128; b++) {
      unsigned want = b < prefix ? (a.b[b / 8] >> (7 - b % 8)) & 1u : 0;
      ok &= ((k.b[b / 8] >> (7 - b % 8)) & 1u) == want;
    }
    CHECKF(ok, "prefix %u", prefix);
  }
  /* A zeroed policy and NULL keep every bit. */
  memset(&none, 0, sizeof none);
  a = addr("2001:db8::1");
  client_key(&k, &a, &none);
  CHECK(memcmp(&a, &k, sizeof a) == 0);
  client_key(&k, &a, NULL);
  CHECK(memcmp(&a, &k, sizeof a) == 0);
}

int main(void)
{
  for (size_t i = 0; i < TRUSTED_N; i++)
    trusted[i] = net(trusted_text[i]);
  check_addr_parse();
  check_format();
  check_sockaddr();
  check_net_parse();
  check_match();
  check_header_names();
  check_policy();
  for (size_t i = 0; i < sizeof pick_cases / sizeof pick_cases[0]; i++)
    check_pick_case(&pick_cases[i], i);
  check_pick_xff_cases();
  check_pick_xff_malformed();
  check_pick_single_malformed();
  check_pick_many_headers();
  check_pick_null();
  check_key();
  return test_finish("client");
}
