// Native reference sender for the side-by-side harness (bench/run).
// Does per datagram what perfgen does: a 32-byte PRF1 header (flow, sequence, priority, CLOCK_MONOTONIC ns),
// priorities cycling through the mix, one SOL_SOCKET/SO_PRIORITY cmsg each, on a connected, non-blocking UDP socket,
// sent with sendmmsg(2) in batches, sendmsg(2) one by one, or io_uring: one IORING_OP_SENDMSG SQE per datagram,
// MSG_DONTWAIT, registered file, a batch per io_uring_enter (raw syscalls). "uring" is the best C configuration
// measured here: SQEs unlinked (no exact order or per-datagram result under back-pressure is promised). "uring-linked"
// links every SQE of a batch (IOSQE_IO_LINK), as the C# backend did before it linked only what needs it. The other
// uring-* modes measure ring options: uring-regring (IORING_REGISTER_RING_FDS), uring-defer
// (SINGLE_ISSUER|DEFER_TASKRUN instead of COOP_TASKRUN), uring-nofile (no registered file).
// "gso:N" before the mode ("gso:16 sendmmsg") sends runs of N datagrams of one priority as one UDP_SEGMENT message;
// "gso-scatter:N" the same with one iovec per datagram, each in its own 2 KB cell (what a run of scattered slots costs).
// "ts" before the mode turns on transmit timestamps as perfgen --tx-timestamps does (SO_TIMESTAMPING TX_SCHED |
// TX_SOFTWARE | SOFTWARE | OPT_ID | OPT_TSONLY, a 16 MiB receive buffer for the error queue) and reads the error queue
// after every send call, 64 reports per recvmmsg, each stamp stored under its OPT_ID key: the best C way to collect them.
//
//   sender [ts] [gso:N] sendmmsg|sendmsg|uring|uring-linked|uring-regring|uring-defer|uring-nofile DEST_IP PORT BATCH SIZE
//          SECONDS WARMUP_SECONDS [PRIOS]   -> prints "pps=N packets=N" (datagrams, one per segment)
//   sender hold PORT SECONDS   -> binds 127.0.0.1:PORT and never reads (the loopback sink)
//   sender forward LISTEN_PORT DEST_IP DEST_PORT SECONDS WARMUP -> the reference forwarder: recvmmsg (64, with
//       SO_RCVPRIORITY) on 127.0.0.1:LISTEN_PORT, each datagram's received priority into its send cmsg, sendmmsg on a
//       connected socket; prints "in_pps=N out_pps=N" over the time after the warm-up
//   sender forward-gso ...     -> the same, each received batch grouped by priority and sent as UDP GSO runs over the
//       receive buffers, runs of small datagrams copied into one piece (the best C configuration for interleaved
//       priorities, and what the C# forwarder does)
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
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef SO_PRIORITY
#define SO_PRIORITY 12
#endif
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#ifndef SO_TIMESTAMPING
#define SO_TIMESTAMPING 37
#endif
#define MAX_BATCH 1024

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// A minimal io_uring: SQ/CQ rings in one mapping (IORING_FEAT_SINGLE_MMAP), SQE array, identity SQ index array.
struct ring {
    int fd, enter_fd;
    unsigned enter_flags;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, sq_entries, tail;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

#ifndef IORING_REGISTER_RING_FDS
#define IORING_REGISTER_RING_FDS 20
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif

static int ring_init(struct ring *r, unsigned entries, int sock, int defer, int regring, int regfile) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = (defer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : IORING_SETUP_COOP_TASKRUN) | IORING_SETUP_SUBMIT_ALL;
    r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (r->fd < 0) { perror("io_uring_setup"); return -1; }
    size_t sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t csz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (csz > sz) sz = csz;
    char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (m == MAP_FAILED || r->sqes == MAP_FAILED) { perror("mmap"); return -1; }
    r->sq_head = (unsigned *)(m + p.sq_off.head); r->sq_tail = (unsigned *)(m + p.sq_off.tail);
    r->sq_mask = (unsigned *)(m + p.sq_off.ring_mask); r->sq_array = (unsigned *)(m + p.sq_off.array);
    r->cq_head = (unsigned *)(m + p.cq_off.head); r->cq_tail = (unsigned *)(m + p.cq_off.tail);
    r->cq_mask = (unsigned *)(m + p.cq_off.ring_mask); r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
    r->sq_entries = p.sq_entries; r->tail = *r->sq_tail;
    for (unsigned i = 0; i < p.sq_entries; i++) r->sq_array[i] = i;
    if (regfile && syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES, &sock, 1) < 0) { perror("register files"); return -1; }
    r->enter_fd = r->fd;
    r->enter_flags = IORING_ENTER_GETEVENTS;
    if (regring) {
        struct { uint32_t offset, resv; uint64_t data; } upd = { (uint32_t)-1, 0, (uint64_t)r->fd };
        if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_RING_FDS, &upd, 1) != 1) { perror("register ring fd"); return -1; }
        r->enter_fd = (int)upd.offset;
        r->enter_flags |= IORING_ENTER_REGISTERED_RING;
    }
    return 0;
}

// Sends msgs[0..n) as SENDMSG SQEs (linked or not); returns how many leading ones ended (sent or a hard error), or
// -errno for EAGAIN/ENOBUFS on the first one. Waits for every CQE, as the C# backend does.
static int ring_send(struct ring *r, struct mmsghdr *msgs, int n, int linked, int fixed, int sock) {
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = &r->sqes[r->tail & *r->sq_mask];
        memset(sqe, 0, sizeof *sqe);
        sqe->opcode = IORING_OP_SENDMSG;
        sqe->fd = fixed ? 0 : sock;
        sqe->flags = (fixed ? IOSQE_FIXED_FILE : 0) | (linked && i < n - 1 ? IOSQE_IO_LINK : 0);
        sqe->addr = (unsigned long)&msgs[i].msg_hdr;
        sqe->len = 1;
        sqe->msg_flags = MSG_DONTWAIT;
        sqe->user_data = i;
        r->tail++;
    }
    __atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
    while (syscall(__NR_io_uring_enter, r->enter_fd, n, n, r->enter_flags, NULL, 0) < 0 && errno == EINTR) {}
    static int res[1024];
    unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) { struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask]; res[c->user_data] = c->res; }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++) {
        if (res[i] >= 0) continue;
        if (res[i] == -EAGAIN || res[i] == -ENOBUFS) return i == 0 ? res[i] : i;
        if (res[i] == -ECANCELED) return i;
        return i + 1;
    }
    return n;
}

static int hold(int port, int seconds) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("hold: bind"); return 1; }
    sleep(seconds);
    return 0;
}

#ifndef SO_RCVPRIORITY
#define SO_RCVPRIORITY 82
#endif

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

// The grouping forwarder's send side: the received batch gathered by priority (order kept within each), each
// priority's datagrams cut into UDP GSO runs of equal size (the last may be shorter), one message per run over the
// receive buffers in place (an iovec per datagram), a priority cmsg and a UDP_SEGMENT cmsg on each.
static int group_runs(struct mmsghdr *in, int n, const uint32_t *prio, char (*buf)[2048], struct mmsghdr *out,
                      struct iovec *iov, char (*ctl)[CMSG_SPACE(4) + CMSG_SPACE(2)], int max_segs) {
    // Buckets by priority in order of first appearance (a linear look-up over the few distinct priorities of a batch),
    // then the batch's datagrams listed bucket by bucket, order kept within each.
    enum { MAXB = 64 };
    static uint32_t key[MAXB];
    static int count[MAXB], start[MAXB], bucket_of[1024], order[1024];
    static char stage[1024 * 256];
    int buckets = 0, m = 0, v = 0, staged = 0;
    for (int i = 0; i < n; i++) {
        int b = 0;
        while (b < buckets && key[b] != prio[i]) b++;
        if (b == buckets) { if (buckets == MAXB) b = MAXB - 1; else { key[b] = prio[i]; count[b] = 0; buckets++; } }
        bucket_of[i] = b; count[b]++;
    }
    for (int b = 0, at = 0; b < buckets; b++) { start[b] = at; at += count[b]; }
    for (int i = 0; i < n; i++) order[start[bucket_of[i]]++] = i;
    for (int p = 0; p < n; ) {
        int first = order[p], k = 1, len = (int)in[first].msg_len, bytes = len;
        while (p + k < n && k < max_segs && prio[order[p + k]] == prio[first]) {
            int l = (int)in[order[p + k]].msg_len;
            if (l > len || bytes + l > 65507) break;
            bytes += l; k++;
            if (l < len) break;
        }
        struct msghdr *h = &out[m].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_iov = &iov[v];
        if (k > 1 && len <= 256) {
            // Small datagrams copied into one piece: the kernel walks one iovec, not one per datagram (as C# does).
            char *dst = stage + staged;
            for (int s = 0; s < k; s++) { memcpy(stage + staged, buf[order[p + s]], in[order[p + s]].msg_len); staged += (int)in[order[p + s]].msg_len; }
            iov[v++] = (struct iovec){dst, (size_t)(stage + staged - dst)};
            h->msg_iovlen = 1;
        } else {
            for (int s = 0; s < k; s++) iov[v++] = (struct iovec){buf[order[p + s]], in[order[p + s]].msg_len};
            h->msg_iovlen = (size_t)k;
        }
        h->msg_control = ctl[m]; h->msg_controllen = CMSG_SPACE(4) + (k > 1 ? CMSG_SPACE(2) : 0);
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SO_PRIORITY; c->cmsg_len = CMSG_LEN(4);
        memcpy(CMSG_DATA(c), &prio[first], 4);
        if (k > 1) {
            struct cmsghdr *g = CMSG_NXTHDR(h, c);
            g->cmsg_level = SOL_UDP; g->cmsg_type = UDP_SEGMENT; g->cmsg_len = CMSG_LEN(2);
            uint16_t gso = (uint16_t)len;
            memcpy(CMSG_DATA(g), &gso, 2);
        }
        p += k; m++;
    }
    return m;
}

static int forward(int listen_port, const char *dest_ip, int dest_port, double seconds, double warmup, int grouped) {
    enum { B = 64, MAXLEN = 2048 };
    int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), one = 1, big = 16 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVPRIORITY, &one, sizeof one);
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(listen_port)}, d = {.sin_family = AF_INET, .sin_port = htons(dest_port)};
    inet_pton(AF_INET, "127.0.0.1", &l.sin_addr);
    inet_pton(AF_INET, dest_ip, &d.sin_addr);
    if (bind(rx, (struct sockaddr *)&l, sizeof l) != 0 || connect(tx, (struct sockaddr *)&d, sizeof d) != 0) { perror("forward: bind/connect"); return 1; }
    static struct mmsghdr in[B], out[B];
    static struct iovec iin[B], iout[B];
    static char buf[B][MAXLEN], cin[B][64], cout[B][CMSG_SPACE(4)];
    for (int i = 0; i < B; i++) {
        iin[i] = (struct iovec){buf[i], MAXLEN};
        iout[i] = (struct iovec){buf[i], 0};  // forwarded in place, as the C# forwarder copies into its slot
        out[i].msg_hdr.msg_iov = &iout[i]; out[i].msg_hdr.msg_iovlen = 1;
        out[i].msg_hdr.msg_control = cout[i]; out[i].msg_hdr.msg_controllen = CMSG_SPACE(4);
        struct cmsghdr *c = CMSG_FIRSTHDR(&out[i].msg_hdr);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SO_PRIORITY; c->cmsg_len = CMSG_LEN(4);
    }
    uint64_t start = now_ns(), from = start + (uint64_t)(warmup * 1e9), end = from + (uint64_t)(seconds * 1e9), t;
    uint64_t nin = 0, nout = 0, in0 = 0, out0 = 0; int measuring = 0;
    while ((t = now_ns()) < end) {
        if (!measuring && t >= from) { measuring = 1; in0 = nin; out0 = nout; }
        for (int i = 0; i < B; i++) {
            in[i].msg_hdr = (struct msghdr){.msg_iov = &iin[i], .msg_iovlen = 1, .msg_control = cin[i], .msg_controllen = sizeof cin[i]};
        }
        int n = recvmmsg(rx, in, B, MSG_DONTWAIT, NULL);
        if (n <= 0) { struct pollfd p = {rx, POLLIN, 0}; poll(&p, 1, 50); continue; }
        nin += n;
        for (int i = 0; i < n; i++) {
            uint32_t prio = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&in[i].msg_hdr); c; c = CMSG_NXTHDR(&in[i].msg_hdr, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_PRIORITY) memcpy(&prio, CMSG_DATA(c), 4);
            iout[i].iov_len = in[i].msg_len;
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&out[i].msg_hdr)), &prio, 4);
        }
        int msgs = n;
        struct mmsghdr *send = out;
        if (grouped) {
            static struct mmsghdr gout[B];
            static struct iovec giov[B];
            static char gctl[B][CMSG_SPACE(4) + CMSG_SPACE(2)];
            static uint32_t prio[B];
            for (int i = 0; i < n; i++) memcpy(&prio[i], CMSG_DATA(CMSG_FIRSTHDR(&out[i].msg_hdr)), 4);
            msgs = group_runs(in, n, prio, buf, gout, giov, gctl, 128);
            send = gout;
        }
        int sent = 0;
        while (sent < msgs) {
            int k = sendmmsg(tx, send + sent, msgs - sent, MSG_DONTWAIT);
            if (k > 0) { sent += k; continue; }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == ENOBUFS) { struct pollfd p = {tx, POLLOUT, 0}; poll(&p, 1, 100); continue; }
            sent++;
        }
        nout += (uint64_t)n; // datagrams: every one was handed to the kernel (a failed message is skipped, as C# does)
    }
    double secs = (double)(t - from) / 1e9;
    printf("in_pps=%.0f out_pps=%.0f\n", (nin - in0) / secs, (nout - out0) / secs);
    return 0;
}

// Transmit timestamps: a stamp per (key, type), as the C# tracker keeps them, and how many pairs completed.
#define TS_KEYS 65536
static uint64_t ts_sched[TS_KEYS], ts_snd[TS_KEYS], ts_pairs;

static int ts_enable(int fd) {
    int flags = SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY, buf = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags);
}

static void ts_drain(int fd) {
    static struct mmsghdr m[64];
    static char control[64][256];
    for (;;) {
        for (int i = 0; i < 64; i++) {
            m[i].msg_hdr = (struct msghdr){.msg_control = control[i], .msg_controllen = sizeof control[i]};
        }
        int n = recvmmsg(fd, m, 64, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int i = 0; i < n; i++) {
            uint64_t ns = 0; int type = -1; uint32_t key = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
                    struct timespec *t = (struct timespec *)CMSG_DATA(c);
                    ns = (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec;
                } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
                    struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(c);
                    if (e->ee_origin == SO_EE_ORIGIN_TIMESTAMPING) { type = (int)e->ee_info; key = e->ee_data; }
                }
            }
            if (ns == 0 || type < 0) continue;
            if (type == SCM_TSTAMP_SCHED) ts_sched[key % TS_KEYS] = ns;
            else if (type == SCM_TSTAMP_SND) { ts_snd[key % TS_KEYS] = ns; if (ts_sched[key % TS_KEYS]) ts_pairs++; }
        }
        if (n < 64) return;
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "hold") == 0) return hold(atoi(argv[2]), atoi(argv[3]));
    if (argc == 7 && strcmp(argv[1], "forward") == 0) return forward(atoi(argv[2]), argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]), 0);
    if (argc == 7 && strcmp(argv[1], "forward-gso") == 0) return forward(atoi(argv[2]), argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]), 1);
    int segs = 1, scatter = 0, stamps = 0;
    if (argc > 1 && strcmp(argv[1], "ts") == 0) { stamps = 1; argv++; argc--; }
    if (argc > 1 && strncmp(argv[1], "gso:", 4) == 0) { segs = atoi(argv[1] + 4); argv++; argc--; }
    else if (argc > 1 && strncmp(argv[1], "gso-scatter:", 12) == 0) { segs = atoi(argv[1] + 12); scatter = 1; argv++; argc--; }
    if (argc < 8) {
        fprintf(stderr, "usage: sender [gso:N|gso-scatter:N] sendmmsg|sendmsg|uring[-linked|-regring|-defer|-nofile] DEST_IP PORT BATCH SIZE SECONDS WARMUP [PRIOS]\n"
                        "       sender hold PORT SECONDS\n");
        return 2;
    }
    const char *mode = argv[1];
    int use_mmsg = strcmp(mode, "sendmmsg") == 0, use_uring = strncmp(mode, "uring", 5) == 0;
    int linked = strcmp(mode, "uring-linked") == 0, regring = strcmp(mode, "uring-regring") == 0;
    int defer = strcmp(mode, "uring-defer") == 0, regfile = strcmp(mode, "uring-nofile") != 0;
    int batch = atoi(argv[4]), size = atoi(argv[5]);
    double seconds = atof(argv[6]), warmup = atof(argv[7]);
    uint32_t prios[64]; int nprio = 0;
    const char *list = argc > 8 ? argv[8] : "0,1,2,3,4,5,6";
    for (const char *p = list; *p && nprio < 64; ) { prios[nprio++] = (uint32_t)strtoul(p, (char **)&p, 0); if (*p == ',') p++; }
    if (batch < 1 || batch > MAX_BATCH || size < 32 || size > 65507 || nprio == 0 || segs < 1 || segs > 128 || (long)segs * size > 65507) {
        fprintf(stderr, "bad arguments\n"); return 2;
    }

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        perror("socket/connect"); return 1;
    }
    if (stamps && ts_enable(fd) != 0) { perror("SO_TIMESTAMPING"); return 1; }

    struct ring ring = {0};
    if (use_uring && ring_init(&ring, batch < 8 ? 8 : batch, fd, defer, regring, regfile) != 0) return 1;

    // One message per batch entry: a run of `segs` datagrams of `size` bytes, contiguous (one iovec), with a priority
    // cmsg and, for runs, a UDP_SEGMENT cmsg.
    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iovs[MAX_BATCH];
    static struct iovec siov[MAX_BATCH][128]; // gso-scatter: one iovec per datagram
    static char cmsgbuf[MAX_BATCH][CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(uint16_t))];
    // gso-scatter: each datagram in its own 2 KB (or larger) cell, one iovec each, as runs of scattered slots reach the kernel.
    size_t cell = scatter ? (((size_t)size + 2047) & ~(size_t)2047) : (size_t)size;
    size_t stride = (cell * segs + 63) & ~(size_t)63;
    char *payload = aligned_alloc(64, (size_t)MAX_BATCH * stride);
    memset(payload, 0, (size_t)MAX_BATCH * stride);
    for (int i = 0; i < batch; i++) {
        iovs[i].iov_base = payload + (size_t)i * stride;
        iovs[i].iov_len = (size_t)size * segs;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        if (scatter) {
            for (int k = 0; k < segs; k++) siov[i][k] = (struct iovec){(char *)iovs[i].iov_base + (size_t)k * cell, (size_t)size};
            msgs[i].msg_hdr.msg_iov = siov[i];
            msgs[i].msg_hdr.msg_iovlen = (size_t)segs;
        }
        msgs[i].msg_hdr.msg_control = cmsgbuf[i];
        msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint32_t)) + (segs > 1 ? CMSG_SPACE(sizeof(uint16_t)) : 0);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SO_PRIORITY;
        c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
        if (segs > 1) {
            struct cmsghdr *g = CMSG_NXTHDR(&msgs[i].msg_hdr, c);
            g->cmsg_level = SOL_UDP;
            g->cmsg_type = UDP_SEGMENT;
            g->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t gso = (uint16_t)size;
            memcpy(CMSG_DATA(g), &gso, sizeof gso);
        }
    }

    uint64_t seq = 0, start = now_ns(), measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(seconds * 1e9), counted_from_seq = 0;
    int measuring = warmup <= 0;
    uint64_t t;
    while ((t = now_ns()) < end) {
        if (!measuring && t >= measure_from) { measuring = 1; counted_from_seq = seq; }
        for (int i = 0; i < batch; i++) {
            uint32_t prio = prios[(seq / segs + i) % nprio];
            for (int k = 0; k < segs; k++) {
                char *h = (char *)iovs[i].iov_base + (size_t)k * cell;
                uint32_t magic = 0x31465250u, flow = 0, reserved = 0;
                uint64_t ts = now_ns(), sq = seq + (uint64_t)i * segs + k;
                memcpy(h, &magic, 4); memcpy(h + 4, &flow, 4); memcpy(h + 8, &sq, 8);
                memcpy(h + 16, &prio, 4); memcpy(h + 20, &reserved, 4); memcpy(h + 24, &ts, 8);
            }
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msgs[i].msg_hdr)), &prio, 4);
        }
        int sent = 0;
        while (sent < batch) {
            int n;
            if (use_uring) {
                n = ring_send(&ring, msgs + sent, batch - sent, linked, regfile, fd);
                if (n < 0) { errno = -n; n = -1; }
            } else if (use_mmsg) {
                n = sendmmsg(fd, msgs + sent, batch - sent, MSG_DONTWAIT);
            } else {
                n = sendmsg(fd, &msgs[sent].msg_hdr, MSG_DONTWAIT) >= 0 ? 1 : -1;
            }
            if (stamps) ts_drain(fd);
            if (n > 0) { sent += n; continue; }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == ENOBUFS) { struct pollfd p = {fd, POLLOUT, 0}; poll(&p, 1, 100); continue; }
            sent++; // a per-packet error: skip it, as the C# sender does
        }
        seq += (uint64_t)batch * segs;
    }
    double secs = (double)(t - (measuring ? measure_from : start)) / 1e9;
    uint64_t packets = seq - counted_from_seq;
    if (stamps) ts_drain(fd);
    printf("pps=%.0f packets=%llu", packets / secs, (unsigned long long)packets);
    if (stamps) printf(" stamped_messages=%llu", (unsigned long long)ts_pairs);
    printf("\n");
    return 0;
}
