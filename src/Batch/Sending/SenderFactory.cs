using System.Net.Sockets;

namespace Perf.Batch;

/// <summary>The pieces <see cref="PacketSender.Create"/> joins: the socket, the segmentation limits and the backend.</summary>
internal static class SenderFactory
{
    // A non-blocking UDP socket, bound (the wildcard address and an ephemeral port unless told) and maybe connected.
    internal static SafeFdHandle OpenSocket(PacketSenderOptions options, PriorityPath path)
    {
        SafeFdHandle socket = UdpSocket.Create(options.AddressFamily);
        try
        {
            UdpSocket.SetBufferSize(socket, send: true, options.SendBufferSize);
            UdpSocket.ReportDrops(socket, options);
            if (options.TxTimestamps)
            {
                UdpSocket.EnableTxTimestamps(socket);
            }

            if (options.TxTime)
            {
                // etf's drop reports go to the error queue, which only a timestamping sender reads.
                UdpSocket.EnableTxTime(socket, options.TxTimeClock, reportErrors: options.TxTimestamps);
            }

            path.BeforeBind(socket);

            DatagramAddress bindTo = options.LocalAddress.IsEmpty
                ? new DatagramAddress(options.AddressFamily == AddressFamily.InterNetworkV6 ? System.Net.IPAddress.IPv6Any : System.Net.IPAddress.Any, 0)
                : options.LocalAddress;
            UdpSocket.Bind(socket, bindTo);
            if (!options.ConnectTo.IsEmpty)
            {
                UdpSocket.Connect(socket, options.ConnectTo);
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static int ResolveSegmentation(PacketSenderOptions options, PriorityCapabilities caps)
    {
        switch (options.Segmentation)
        {
            case SegmentationMode.Off:
                return 0;
            case SegmentationMode.On when !caps.Segmentation:
                ThrowHelper.ThrowSocket("sendmsg with a SOL_UDP/UDP_SEGMENT cmsg", Errno.EINVAL,
                    "This kernel does not take UDP GSO (it needs Linux 4.18 or later); use Segmentation Auto or Off.");
                return 0;
            default:
                return Math.Min(caps.MaxSegments, options.MaxSegments);
        }
    }

    // GSO cuts segments at the path MTU and refuses (EINVAL) a segment that does not fit it. A connected socket knows
    // its path MTU, so runs of larger datagrams are not formed there; elsewhere a refusal turns segmentation off.
    internal static int MaxSegmentSize(SafeFdHandle socket, PacketSenderOptions options)
    {
        if (options.ConnectTo.IsEmpty || options.Segmentation == SegmentationMode.Off)
        {
            return int.MaxValue;
        }

        bool v6 = options.AddressFamily == AddressFamily.InterNetworkV6;
        int mtu = 0;
        uint len = sizeof(int);
        unsafe
        {
            if (Interop.Sys.GetSockOpt(socket, v6 ? Interop.SOL_IPV6 : Interop.SOL_IP, v6 ? Interop.IPV6_MTU : Interop.IP_MTU, &mtu, &len) != 0)
            {
                return int.MaxValue;
            }
        }

        return mtu - (v6 ? 48 : 28);
    }

    internal static SendBackend CreateBackend(SafeFdHandle socket, PacketSenderOptions options)
    {
        // Auto takes io_uring only for what only it has: plain sends are faster through sendmmsg on every sink measured
        // (bench/results/sidebyside-2026-11-30.md, in C and C# alike).
        bool wantsUring = options.Backend == SendBackendKind.IoUring || options.IoUring.SqPoll || options.IoUring.ZeroCopy;
        if (options.Backend == SendBackendKind.Sendmmsg || !wantsUring)
        {
            return new SendmmsgBackend(options.ReportQdiscDrops, options.TxTimestamps);
        }

        ISendBackendProvider? uring = BackendRegistry.IoUring;
        int errno = Errno.ENOSYS;
        string? detail = "the Perf.Uring assembly is not part of this application";
        SendBackend? backend = uring?.TryCreate(socket, UdpSocket.GetInt(socket, Interop.SOL_SOCKET, Interop.SO_SNDBUF, "SO_SNDBUF"), options, out errno, out detail);
        if (backend is not null)
        {
            return backend;
        }

        if (options.Backend == SendBackendKind.IoUring)
        {
            ThrowHelper.ThrowSocket("io_uring backend", errno, detail);
        }

        return new SendmmsgBackend(options.ReportQdiscDrops, options.TxTimestamps); // Auto: io_uring unavailable here, fall back silently
    }
}
