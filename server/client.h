/* client.h: who a request comes from. A "client address" is an IPv4 or IPv6
 * address held as 16 bytes, IPv4 as the mapped form ::ffff:a.b.c.d, so one
 * comparison serves both families. The "peer" is the TCP peer; a "trusted
 * proxy" is a network (--trusted-proxy) whose X-Real-IP and X-Forwarded-For
 * headers are believed. Plain C: no libmicrohttpd types, so tests and fuzzers
 * can link this file alone. */
#ifndef TENANT_AUTHD_CLIENT_H
#define TENANT_AUTHD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CLIENT_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */
#define CLIENT_XFF_MAX 16       /* X-Forwarded-For headers kept: the last */

struct client_addr {
  uint8_t b[16];
};

/* A network: the first `prefix` bits of addr (an IPv4 prefix n is 96 + n). */
struct client_net {
  struct client_addr addr;
  unsigned prefix;
};

/* The forwarding headers of one request, as received: pointers into the
 * request (not NUL-terminated), in the order the headers arrived. */
struct client_headers {
  const char *real_ip; /* the first X-Real-IP, NULL when none */
  size_t real_ip_len;
  unsigned real_ip_count; /* X-Real-IP headers seen */
  const char *xff[CLIENT_XFF_MAX];
  size_t xff_len[CLIENT_XFF_MAX];
  unsigned xff_count; /* X-Forwarded-For headers kept (at most the max) */
};

/* Adds one X-Forwarded-For header, in arrival order. Past CLIENT_XFF_MAX the
 * oldest (left-most) is dropped: the right-most entries are the ones proxies
 * appended, and a client cannot push them out by sending many headers. */
void client_headers_add_xff(struct client_headers *h, const char *value,
                            size_t len);

/* Where client_resolve took the address from. */
enum client_source {
  CLIENT_FROM_PEER,      /* the peer is not trusted, or no header was sent */
  CLIENT_FROM_REAL_IP,   /* X-Real-IP from a trusted peer */
  CLIENT_FROM_FORWARDED, /* X-Forwarded-For from a trusted peer */
  CLIENT_FROM_MALFORMED  /* a trusted peer sent a malformed header: the peer */
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

/* Picks the client address of a request from peer, whose forwarding
 * headers are h. Only a peer inside one of the n trusted networks is
 * believed: then X-Real-IP when sent (exactly once, and well-formed), else
 * the right-most X-Forwarded-For entry outside the trusted networks (the
 * left-most one when all are inside). A malformed value gives the peer. */
enum client_source client_resolve(struct client_addr *out,
                                  const struct client_addr *peer,
                                  const struct client_net *trusted, size_t n,
                                  const struct client_headers *h);

#endif
