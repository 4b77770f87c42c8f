namespace Perf.Batch;

// Numeric values from the Linux UAPI headers (asm-generic; x86-64 and arm64 agree).
internal static partial class Interop
{
    internal const int AF_INET = 2;
    internal const int AF_INET6 = 10;
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_NONBLOCK = 0x800;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int IPPROTO_UDP = 17;

    internal const int SOL_SOCKET = 1;
    internal const int SOL_IP = 0;
    internal const int SOL_IPV6 = 41;
    internal const int SOL_UDP = 17;

    internal const int SO_SNDBUF = 7;
    internal const int SO_RCVBUF = 8;
    internal const int SO_PRIORITY = 12;
    internal const int SO_REUSEPORT = 15;
    internal const int SO_SNDBUFFORCE = 32;
    internal const int SO_RCVBUFFORCE = 33;
    internal const int SO_MARK = 36;
    internal const int SO_RCVMARK = 75;     // Linux 5.19+
    internal const int SO_RCVPRIORITY = 82; // Linux 6.14+
    internal const int SO_TIMESTAMPING = 37;     // SO_TIMESTAMPING_OLD: the cmsg carries struct scm_timestamping (3 timespecs)
    internal const int SO_TIMESTAMPING_NEW = 65; // the same three stamps as __kernel_timespec; identical on LP64

    // SOF_TIMESTAMPING_* (linux/net_tstamp.h).
    internal const int SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1; // SND: when the driver takes the skb (skb_tx_timestamp)
    internal const int SOF_TIMESTAMPING_SOFTWARE = 1 << 4;    // report software stamps (ts[0])
    internal const int SOF_TIMESTAMPING_OPT_ID = 1 << 7;      // ee_data: a per-socket counter, one per sendmsg (UDP)
    internal const int SOF_TIMESTAMPING_TX_SCHED = 1 << 8;    // SCHED: when __dev_queue_xmit takes it, before the qdisc
    internal const int SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11; // the error-queue skb carries no copy of the payload

    internal const int SO_EE_ORIGIN_TIMESTAMPING = 4;
    internal const int SO_EE_ORIGIN_TXTIME = 6; // etf's drops (SOF_TXTIME_REPORT_ERRORS): ee_data:ee_info is the txtime
    internal const int SO_EE_CODE_TXTIME_INVALID_PARAM = 1;
    internal const int SO_EE_CODE_TXTIME_MISSED = 2;

    // SO_TXTIME (linux/net_tstamp.h, Linux 4.19+): the socket option takes struct sock_txtime, the SCM_TXTIME cmsg (the
    // same number) a u64 of the socket's clock in ns.
    internal const int SO_TXTIME = 61;
    internal const int SOF_TXTIME_REPORT_ERRORS = 1 << 1;
    internal const int CLOCK_MONOTONIC = 1;
    internal const int CLOCK_TAI = 11;
    internal const int SCM_TSTAMP_SND = 0;
    internal const int SCM_TSTAMP_SCHED = 1;

    internal const int IP_TOS = 1;
    internal const int IP_RECVERR = 11;
    internal const int IPV6_RECVERR = 25;
    internal const int IP_RECVTOS = 13;
    internal const int IPV6_RECVTCLASS = 66;
    internal const int IPV6_TCLASS = 67;
    internal const int UDP_SEGMENT = 103; // Linux 4.18+: u16 gso_size, per socket or per message
    internal const int UDP_GRO = 104;     // Linux 5.0+: int; a received cmsg carries the coalesced gso_size
    internal const int IP_MTU = 14;       // getsockopt on a connected socket: the path MTU
    internal const int IPV6_MTU = 24;

    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_ERRQUEUE = 0x2000;

    internal const short POLLIN = 0x1;
    internal const short POLLOUT = 0x4;

    /// <summary>sendmmsg/recvmmsg clamp vlen to UIO_MAXIOV.</summary>
    internal const int UIO_MAXIOV = 1024;

    /// <summary>sizeof(struct cmsghdr) and CMSG_ALIGN unit on LP64.</summary>
    internal const int CMsgHdrSize = 16;

    internal static int CMsgAlign(int len) => (len + 7) & ~7;

    /// <summary>CMSG_LEN(n): header plus payload, unpadded. SO_PRIORITY needs exactly CMSG_LEN(4) = 20.</summary>
    internal static int CMsgLen(int payload) => CMsgHdrSize + payload;

    /// <summary>CMSG_SPACE(n): header plus payload, padded to 8.</summary>
    internal static int CMsgSpace(int payload) => CMsgHdrSize + CMsgAlign(payload);
}
