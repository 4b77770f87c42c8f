// Native reference sender for the side-by-side harness (bench/run).
// Does per datagram what perfgen does: a 32-byte PRF1 header (flow, sequence, priority, CLOCK_MONOTONIC ns),
// priorities cycling through the mix, one SOL_SOCKET/SO_PRIORITY cmsg each, sent with sendmmsg(2) in batches
// (or sendmsg(2) one by one) on a connected, non-blocking UDP socket.
//
//   sender sendmmsg|sendmsg DEST_IP PORT BATCH SIZE SECONDS WARMUP_SECONDS [PRIOS]   -> prints "pps=N packets=N"
//   sender hold PORT SECONDS   -> binds 127.0.0.1:PORT and never reads (the loopback sink)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_PRIORITY
#define SO_PRIORITY 12
#endif
#define MAX_BATCH 1024

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int hold(int port, int seconds) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("hold: bind"); return 1; }
    sleep(seconds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "hold") == 0) return hold(atoi(argv[2]), atoi(argv[3]));
    if (argc < 8) {
        fprintf(stderr, "usage: sender sendmmsg|sendmsg DEST_IP PORT BATCH SIZE SECONDS WARMUP [PRIOS]\n       sender hold PORT SECONDS\n");
        return 2;
    }
    int use_mmsg = strcmp(argv[1], "sendmmsg") == 0;
    int batch = atoi(argv[4]), size = atoi(argv[5]);
    double seconds = atof(argv[6]), warmup = atof(argv[7]);
    uint32_t prios[64]; int nprio = 0;
    const char *list = argc > 8 ? argv[8] : "0,1,2,3,4,5,6";
    for (const char *p = list; *p && nprio < 64; ) { prios[nprio++] = (uint32_t)strtoul(p, (char **)&p, 0); if (*p == ',') p++; }
    if (batch < 1 || batch > MAX_BATCH || size < 32 || size > 65507 || nprio == 0) { fprintf(stderr, "bad arguments\n"); return 2; }

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        perror("socket/connect"); return 1;
    }

    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iovs[MAX_BATCH];
    static char cmsgbuf[MAX_BATCH][CMSG_SPACE(sizeof(uint32_t))];
    char *payload = aligned_alloc(64, (size_t)MAX_BATCH * ((size + 63) & ~63));
    memset(payload, 0, (size_t)MAX_BATCH * ((size + 63) & ~63));
    for (int i = 0; i < batch; i++) {
        iovs[i].iov_base = payload + (size_t)i * ((size + 63) & ~63);
        iovs[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_control = cmsgbuf[i];
        msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint32_t));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SO_PRIORITY;
        c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
    }

    uint64_t seq = 0, start = now_ns(), measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(seconds * 1e9), counted_from_seq = 0;
    int measuring = warmup <= 0;
    uint64_t t;
    while ((t = now_ns()) < end) {
        if (!measuring && t >= measure_from) { measuring = 1; counted_from_seq = seq; }
        for (int i = 0; i < batch; i++) {
            uint32_t prio = prios[seq % nprio];
            char *h = iovs[i].iov_base;
            uint32_t magic = 0x31465250u, flow = 0, reserved = 0;
            uint64_t ts = now_ns(), s = seq + i;
            memcpy(h, &magic, 4); memcpy(h + 4, &flow, 4); memcpy(h + 8, &s, 8);
            memcpy(h + 16, &prio, 4); memcpy(h + 20, &reserved, 4); memcpy(h + 24, &ts, 8);
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msgs[i].msg_hdr)), &prio, 4);
        }
        int sent = 0;
        while (sent < batch) {
            int n;
            if (use_mmsg) {
                n = sendmmsg(fd, msgs + sent, batch - sent, MSG_DONTWAIT);
            } else {
                n = sendmsg(fd, &msgs[sent].msg_hdr, MSG_DONTWAIT) >= 0 ? 1 : -1;
            }
            if (n > 0) { sent += n; continue; }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == ENOBUFS) { struct pollfd p = {fd, POLLOUT, 0}; poll(&p, 1, 100); continue; }
            sent++; // a per-packet error: skip it, as the C# sender does
        }
        seq += batch;
    }
    double secs = (double)(t - (measuring ? measure_from : start)) / 1e9;
    uint64_t packets = seq - counted_from_seq;
    printf("pps=%.0f packets=%llu\n", packets / secs, (unsigned long long)packets);
    return 0;
}
