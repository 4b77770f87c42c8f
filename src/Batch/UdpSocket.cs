using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>Setup calls on a raw UDP socket; each failure throws <see cref="PerfSocketException"/> with errno and context.</summary>
internal static unsafe class UdpSocket
{
    internal static SafeFdHandle Create(AddressFamily family)
    {
        int domain = family == AddressFamily.InterNetworkV6 ? Interop.AF_INET6 : Interop.AF_INET;
        int fd = Interop.Sys.Socket(domain, Interop.SOCK_DGRAM | Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC, Interop.IPPROTO_UDP);
        if (fd < 0)
        {
            ThrowHelper.ThrowSocket(family == AddressFamily.InterNetworkV6 ? "socket(AF_INET6, SOCK_DGRAM)" : "socket(AF_INET, SOCK_DGRAM)", Marshal.GetLastPInvokeError());
        }

        return new SafeFdHandle(fd);
    }

    internal static void Bind(SafeFdHandle fd, in DatagramAddress address)
    {
        int rc;
        fixed (byte* sa = DatagramAddress.SockAddrOf(in address))
        {
            rc = Interop.Sys.Bind(fd, sa, (uint)address.Length);
        }

        if (rc != 0)
        {
            ThrowHelper.ThrowSocket("bind", Marshal.GetLastPInvokeError(), "Local address " + address.ToString() + ".");
        }
    }

    internal static void Connect(SafeFdHandle fd, in DatagramAddress address)
    {
        int rc;
        fixed (byte* sa = DatagramAddress.SockAddrOf(in address))
        {
            rc = Interop.Sys.Connect(fd, sa, (uint)address.Length);
        }

        if (rc != 0)
        {
            ThrowHelper.ThrowSocket("connect", Marshal.GetLastPInvokeError(), "Destination " + address.ToString() + ".");
        }
    }

    internal static DatagramAddress GetLocalAddress(SafeFdHandle fd)
    {
        byte* buf = stackalloc byte[SlotLayout.SockAddrStorageSize];
        uint len = SlotLayout.SockAddrStorageSize;
        if (Interop.Sys.GetSockName(fd, buf, &len) != 0)
        {
            ThrowHelper.ThrowSocket("getsockname", Marshal.GetLastPInvokeError());
        }

        return new DatagramAddress(buf, (int)len);
    }

    internal static int TrySetInt(SafeFdHandle fd, int level, int name, int value)
    {
        int rc = Interop.Sys.SetSockOpt(fd, level, name, &value, sizeof(int));
        return rc == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    internal static void SetInt(SafeFdHandle fd, int level, int name, int value, string what)
    {
        int errno = TrySetInt(fd, level, name, value);
        if (errno != 0)
        {
            ThrowHelper.ThrowSocket("setsockopt(" + what + ")", errno);
        }
    }

    internal static int GetInt(SafeFdHandle fd, int level, int name, string what)
    {
        int value = 0;
        uint len = sizeof(int);
        if (Interop.Sys.GetSockOpt(fd, level, name, &value, &len) != 0)
        {
            ThrowHelper.ThrowSocket("getsockopt(" + what + ")", Marshal.GetLastPInvokeError());
        }

        return value;
    }

    /// <summary>IP_RECVERR / IPV6_RECVERR when <see cref="PacketSenderOptions.ReportQdiscDrops"/> asks for it.</summary>
    internal static void ReportDrops(SafeFdHandle fd, PacketSenderOptions options)
    {
        if (!options.ReportQdiscDrops)
        {
            return;
        }

        bool v6 = options.AddressFamily == AddressFamily.InterNetworkV6;
        SetInt(fd, v6 ? Interop.SOL_IPV6 : Interop.SOL_IP, v6 ? Interop.IPV6_RECVERR : Interop.IP_RECVERR, 1, v6 ? "IPV6_RECVERR" : "IP_RECVERR");
    }

    /// <summary>
    /// SO_TIMESTAMPING for <see cref="PacketSenderOptions.TxTimestamps"/>: software SCHED and SND stamps with OPT_ID keys
    /// and no payload copies, and a receive buffer for the error queue that holds them (each report's skb is charged
    /// about 900 B there; at the default 208 KiB only 255 of 400 pending reports were kept).
    /// </summary>
    internal static void EnableTxTimestamps(SafeFdHandle fd)
    {
        const int flags = Interop.SOF_TIMESTAMPING_TX_SCHED | Interop.SOF_TIMESTAMPING_TX_SOFTWARE | Interop.SOF_TIMESTAMPING_SOFTWARE
            | Interop.SOF_TIMESTAMPING_OPT_ID | Interop.SOF_TIMESTAMPING_OPT_TSONLY;
        SetInt(fd, Interop.SOL_SOCKET, Interop.SO_TIMESTAMPING, flags, "SO_TIMESTAMPING");
        if (TrySetInt(fd, Interop.SOL_SOCKET, Interop.SO_RCVBUFFORCE, ErrorQueueBytes) != 0)
        {
            TrySetInt(fd, Interop.SOL_SOCKET, Interop.SO_RCVBUF, ErrorQueueBytes); // unprivileged: up to net.core.rmem_max
        }
    }

    private const int ErrorQueueBytes = 16 << 20;

    /// <summary>
    /// SO_TXTIME for <see cref="PacketSenderOptions.TxTime"/>: datagrams may carry an SCM_TXTIME cmsg on
    /// <paramref name="clock"/>; with <paramref name="reportErrors"/> a qdisc that drops one for its time (etf) says so on
    /// the error queue. Any clock but CLOCK_MONOTONIC needs CAP_NET_ADMIN (EPERM).
    /// </summary>
    internal static unsafe void EnableTxTime(SafeFdHandle fd, TxTimeClock clock, bool reportErrors)
    {
        var value = new Interop.SockTxTime { ClockId = (int)clock, Flags = reportErrors ? (uint)Interop.SOF_TXTIME_REPORT_ERRORS : 0 };
        if (Interop.Sys.SetSockOpt(fd, Interop.SOL_SOCKET, Interop.SO_TXTIME, &value, (uint)sizeof(Interop.SockTxTime)) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            ThrowHelper.ThrowSocket("setsockopt(SO_TXTIME, " + (clock == TxTimeClock.Tai ? "CLOCK_TAI" : "CLOCK_MONOTONIC") + ")", errno,
                errno == Errno.EPERM ? "CLOCK_TAI launch times need CAP_NET_ADMIN; TxTimeClock.Monotonic (what fq paces on) does not."
                : errno == Errno.ENOPROTOOPT ? "This kernel has no SO_TXTIME (it came with Linux 4.19)."
                : "The kernel refused SO_TXTIME.");
        }
    }

    /// <summary>Sets a buffer size, past net.core.[rw]mem_max with the *FORCE variant when privileged.</summary>
    internal static void SetBufferSize(SafeFdHandle fd, bool send, int bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        int force = send ? Interop.SO_SNDBUFFORCE : Interop.SO_RCVBUFFORCE;
        if (TrySetInt(fd, Interop.SOL_SOCKET, force, bytes) == 0)
        {
            return;
        }

        SetInt(fd, Interop.SOL_SOCKET, send ? Interop.SO_SNDBUF : Interop.SO_RCVBUF, bytes, send ? "SO_SNDBUF" : "SO_RCVBUF");
    }

    /// <summary>Waits until <paramref name="fd"/> reports <paramref name="events"/> or the timeout passes; EINTR retries.</summary>
    internal static bool Poll(SafeFdHandle fd, short events, int timeoutMs)
    {
        bool added = false;
        try
        {
            // Safety: poll takes a raw fd; the ref keeps it from being closed and reused meanwhile.
            fd.DangerousAddRef(ref added);
            Interop.PollFd p;
            p.Fd = fd.Fd;
            p.Events = events;
            p.REvents = 0;
            while (true)
            {
                int rc = Interop.Sys.Poll(&p, 1, timeoutMs);
                if (rc >= 0)
                {
                    return rc > 0;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    ThrowHelper.ThrowSocket("poll", errno);
                }
            }
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }
}
