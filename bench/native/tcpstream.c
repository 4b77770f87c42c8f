// One TCP stream, for bench/gateway: "recv PORT" accepts one connection and prints the bytes it read and the seconds
// between the first and the last; "send ADDR PORT SECONDS" writes 64 KiB chunks for SECONDS, then closes.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int receive(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)) { perror("bind/listen"); return 2; }
  int s = accept(l, NULL, NULL);
  if (s < 0) { perror("accept"); return 2; }
  static char buf[1 << 16];
  long long total = 0;
  double first = 0, last = 0;
  for (ssize_t n; (n = read(s, buf, sizeof buf)) > 0;) {
    if (total == 0) first = now();
    total += n;
    last = now();
  }
  printf("bytes=%lld seconds=%.3f mbps=%.1f\n", total, last - first, last > first ? total * 8 / (last - first) / 1e6 : 0);
  return 0;
}

static int send_for(const char *addr, int port, double seconds) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, addr, &a.sin_addr);
  for (int tries = 0; connect(s, (struct sockaddr *)&a, sizeof a); tries++) {
    if (tries == 50) { perror("connect"); return 2; }
    usleep(100000);
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
  }
  static char buf[1 << 16];
  double end = now() + seconds;
  while (now() < end)
    if (write(s, buf, sizeof buf) < 0) { perror("write"); return 2; }
  close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "recv")) return receive(atoi(argv[2]));
  if (argc == 5 && !strcmp(argv[1], "send")) return send_for(argv[2], atoi(argv[3]), atof(argv[4]));
  fprintf(stderr, "usage: tcpstream recv PORT | tcpstream send ADDR PORT SECONDS\n");
  return 2;
}
