/* client.h: who a request comes from. A "client address" is an IPv4 or IPv6
 * address held as 16 bytes, IPv4 as the mapped form ::ffff:a.b.c.d, so one
 * comparison serves both families. The "peer" is the TCP peer; a "trusted
 * proxy" is a network (--trusted-proxy) whose forwarding is believed. The
 * "client IP header" (--client-ip-header) is the one request header a
 * trusted proxy names the client in; every other header is ignored. A
 * "policy" holds those settings and the IPv6 prefix clients are counted by
 * (--ipv6-prefix); a client's "key" is its address with that prefix
 * applied, what the failure limiter counts. Plain C: no libmicrohttpd
 * types, so tests and fuzzers can link this file alone. */
#ifndef TENANT_AUTHD_CLIENT_H
#define TENANT_AUTHD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CLIENT_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */
#define CLIENT_XFF_MAX 16       /* X-Forwarded-For headers kept: the last */
#define CLIENT_HEADER_MAX 64    /* --client-ip-header: longest name */
#define CLIENT_HEADER_DEFAULT "X-Forwarded-For"
#define CLIENT_IPV6_PREFIX_DEFAULT 64

struct client_addr {
  uint8_t b[16];
};

/* A network: the first `prefix` bits of addr (an IPv4 prefix n is 96 + n). */
struct client_net {
  struct client_addr addr;
  unsigned prefix;
};

/* Whose forwarding is believed, which header it is read from, and how
 * IPv6 clients are grouped. Filled by client_policy_init; read-only after,
 * so one policy serves every thread. */
struct client_policy {
  const struct client_net *trusted; /* borrowed: must outlive the policy */
  size_t trusted_count;
  char header[CLIENT_HEADER_MAX + 1]; /* the client IP header's name */
  size_t header_len;
  bool header_is_xff;   /* it is X-Forwarded-For: a list, read from the right */
  unsigned ipv6_prefix; /* 1 to 128 */
};

/* The client IP header's values in one request, as received: pointers into
 * the request (not NUL-terminated), in arrival order. Start it zeroed
 * (memset or "= {0}") and hand it every request header with
 * client_headers_offer. */
struct client_headers {
  const char *value[CLIENT_XFF_MAX];
  size_t value_len[CLIENT_XFF_MAX];
  unsigned kept; /* values held: the last CLIENT_XFF_MAX, or the first one */
  unsigned seen; /* client IP headers received, held or not */
};

/* Where client_pick took the address from. */
enum client_source {
  CLIENT_FROM_PEER,      /* the peer is not trusted, or no header was sent */
  CLIENT_FROM_FORWARDED, /* X-Forwarded-For from a trusted peer */
  CLIENT_FROM_MALFORMED, /* a trusted peer sent a malformed header: the peer */
  CLIENT_FROM_HEADER     /* another client IP header, from a trusted peer */
};

/* Reads an AF_INET or AF_INET6 socket address; -1 for any other family. */
int client_addr_from_sockaddr(struct client_addr *out,
                              const struct sockaddr *sa);

/* Parses s[0..len): a numeric IPv4 address, or an IPv6 one, bare or in
 * brackets. No blanks, ports or zone ids. Any bytes; 0 on success. */
int client_addr_parse(struct client_addr *out, const char *s, size_t len);

/* Parses "ADDR" or "ADDR/PREFIX" (IPv4 prefix 0 to 32, IPv6 0 to 128); bits
 * past the prefix are cleared. 0 on success, else -1 with the reason. */
int client_net_parse(struct client_net *out, const char *s, char *err,
                     size_t err_size);

/* True when a lies inside net. */
bool client_net_match(const struct client_net *net,
                      const struct client_addr *a);

/* Writes a as text (dotted IPv4 for a mapped address), NUL-terminated;
 * out_size should be CLIENT_ADDR_TEXT_MAX. */
void client_addr_format(const struct client_addr *a, char *out,
                        size_t out_size);

/* Checks a --client-ip-header value: an HTTP field name (RFC 7230 token:
 * letters, digits and !#$%&'*+-.^_`|~) of 1 to CLIENT_HEADER_MAX
 * characters. NULL counts as empty. 0 when good, else -1 with the reason
 * (starting "expected") in err. */
int client_header_name_check(const char *name, char *err, size_t err_size);

/* Fills p from the settings: n trusted networks (kept by pointer), the
 * client IP header's name (NULL: CLIENT_HEADER_DEFAULT; copied) and the
 * IPv6 prefix (1 to 128). From struct cfg (config.h):
 *   client_policy_init(&p, cfg->trusted.net, cfg->trusted.count,
 *                      cfg->client_ip_header, cfg->ipv6_prefix, err, size)
 * 0 on success, else -1 with the reason in err and p unusable. */
int client_policy_init(struct client_policy *p,
                       const struct client_net *trusted, size_t n,
                       const char *header, unsigned ipv6_prefix, char *err,
                       size_t err_size);

/* Offers one request header, in arrival order; call it for every header
 * (name compared without regard to case; any bytes, NULL ignored). Only
 * the policy's client IP header is held: for X-Forwarded-For the last
 * CLIENT_XFF_MAX values (past that the oldest, left-most, is dropped: the
 * right-most entries are the ones proxies appended, and a client cannot
 * push them out by sending many headers), for any other name the first
 * value; every one is counted. A NULL value is an empty one. */
void client_headers_offer(struct client_headers *h,
                          const struct client_policy *p, const char *name,
                          size_t name_len, const char *value, size_t value_len);

/* Picks the client address of a request from peer, whose client IP
 * headers were offered to h. Only a peer inside one of the policy's trusted
 * networks is believed; then, with no client IP header, the peer. For
 * X-Forwarded-For: the right-most entry outside the trusted networks,
 * across all its headers in order (the left-most entry when all are
 * inside); a malformed entry read on the way gives the peer. For any other
 * header: its value, which must be one address (blanks around it allowed)
 * in exactly one header; two or more, or a malformed, oversized or binary
 * value, give the peer. A NULL h counts as no header. */
enum client_source client_pick(struct client_addr *out,
                               const struct client_addr *peer,
                               const struct client_policy *p,
                               const struct client_headers *h);

/* The key a is counted under by the failure limiter: an IPv4 (mapped)
 * address as it is, an IPv6 one with the bits past the policy's
 * ipv6_prefix cleared (so every address of a /64 shares one budget). A
 * prefix outside 1 to 128 (a policy never initialised) keeps every bit. */
void client_key(struct client_addr *key, const struct client_addr *a,
                const struct client_policy *p);

#endif
