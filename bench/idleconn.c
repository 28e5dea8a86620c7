/* idleconn.c: opens N HTTP/1.1 keep-alive connections to 127.0.0.1:PORT,
 * sends one request on each (GET PATH) and reads its response, then keeps
 * them idle. It prints "ready open=A answered=B" once every connection is
 * set up, "alive=C" after SETTLE seconds (connections the server has not
 * closed), then holds them until HOLD seconds pass or it is signalled.
 * Loopback only; N is at most MAX_CONNS. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#define MAX_CONNS 10000
#define RESPONSE_MAX 4096


/* Raises the open-file limit to fit n sockets; 0 on success. */
static int raise_nofile(int n)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return -1;
  if (rl.rlim_cur >= (rlim_t)n + 16)
    return 0;
  rl.rlim_cur = (rlim_t)n + 16;
  if (rl.rlim_max < rl.rlim_cur)
    rl.rlim_max = rl.rlim_cur; /* allowed for root only */
  return setrlimit(RLIMIT_NOFILE, &rl);
}


/* Connects to 127.0.0.1:port with a 5-second receive timeout; -1 on error. */
static int open_conn(int port)
{
  struct sockaddr_in sa;
  struct timeval tv = {5, 0};
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}


/* Sends one keep-alive request and reads until the end of the headers plus
 * any short body; 1 when a "HTTP/1.1 2xx" status line came back. */
static int one_request(int fd, const char *req, size_t req_len)
{
  char buf[RESPONSE_MAX];
  size_t got = 0;
  ssize_t n;

  if (write(fd, req, req_len) != (ssize_t)req_len)
    return 0;
  while (got < sizeof buf - 1) {
    n = read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0)
      return 0;
    got += (size_t)n;
    buf[got] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL)
      break;
  }
  return got > 12 && strncmp(buf, "HTTP/1.1 2", 10) == 0;
}


/* Counts connections still open: readable with EOF or error means closed. */
static int count_alive(const int *fds, int n)
{
  int i, alive = 0;

  for (i = 0; i < n; i++) {
    struct pollfd p = {fds[i], POLLIN, 0};
    char c;
    if (fds[i] < 0)
      continue;
    if (poll(&p, 1, 0) == 0) {
      alive++;
      continue;
    }
    if ((p.revents & POLLIN) && recv(fds[i], &c, 1, MSG_PEEK) > 0)
      alive++; /* unexpected data, but open */
  }
  return alive;
}


int main(int argc, char **argv)
{
  int port, n, settle, hold, i, open_n = 0, answered = 0;
  int *fds;
  char req[256];
  int req_len;

  if (argc != 6) {
    fprintf(stderr, "usage: idleconn PORT N PATH SETTLE_S HOLD_S\n");
    return 2;
  }
  port = atoi(argv[1]);
  n = atoi(argv[2]);
  settle = atoi(argv[4]);
  hold = atoi(argv[5]);
  if (port < 1 || port > 65535 || n < 1 || n > MAX_CONNS || settle < 0 ||
      hold < settle || hold > 3600 || argv[3][0] != '/') {
    fprintf(stderr, "idleconn: bad arguments (N 1..%d, PATH starts with /, "
                    "HOLD >= SETTLE, HOLD <= 3600)\n", MAX_CONNS);
    return 2;
  }
  req_len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Connection: keep-alive\r\n\r\n", argv[3], port);
  if (req_len < 0 || (size_t)req_len >= sizeof req) {
    fprintf(stderr, "idleconn: PATH too long\n");
    return 2;
  }
  if (raise_nofile(n) != 0)
    fprintf(stderr, "idleconn: cannot raise the open-file limit: %s\n",
            strerror(errno));
  fds = malloc((size_t)n * sizeof *fds);
  if (fds == NULL) {
    fprintf(stderr, "idleconn: out of memory\n");
    return 1;
  }
  for (i = 0; i < n; i++) {
    fds[i] = open_conn(port);
    if (fds[i] < 0)
      continue;
    open_n++;
    answered += one_request(fds[i], req, (size_t)req_len);
  }
  printf("ready open=%d answered=%d\n", open_n, answered);
  fflush(stdout);
  sleep((unsigned)settle);
  printf("alive=%d\n", count_alive(fds, n));
  fflush(stdout);
  sleep((unsigned)(hold - settle));
  for (i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
  return 0;
}
