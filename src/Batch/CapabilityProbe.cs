using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Asks the kernel itself: a one-byte datagram with an SO_PRIORITY cmsg of 0 to a throwaway loopback socket (pre-6.14
/// kernels answer EINVAL; the cmsg is parsed before routing, so the answer holds even where loopback is down), and
/// setsockopt(SO_PRIORITY, 7) on a throwaway socket (EPERM without CAP_NET_ADMIN/CAP_NET_RAW in this network
/// namespace; the same check the cmsg and SO_MARK take, on any kernel).
/// </summary>
internal static unsafe class CapabilityProbe
{
    [ThreadStatic]
    private static Func<uint, int>? t_testOverride;

    /// <summary>Test seam, per thread: when set, replaces the kernel's answer to the probe sendmsg (priority → errno).</summary>
    internal static Func<uint, int>? TestOverride { get => t_testOverride; set => t_testOverride = value; }

    internal static PriorityCapabilities Probe()
    {
        using SafeFdHandle rx = UdpSocket.Create(AddressFamily.InterNetwork);
        using SafeFdHandle tx = UdpSocket.Create(AddressFamily.InterNetwork);
        var target = new DatagramAddress(IPAddress.Loopback, 0);
        if (TryBind(rx, target))
        {
            target = UdpSocket.GetLocalAddress(rx);
        }
        else
        {
            target = target.WithPort(9); // discard port; an ICMP error is ignored by an unconnected socket
        }

        int basic = TrySend(tx, target, 0);
        bool perPacket = basic != Errno.EINVAL;
        bool privileged = TrySetPriority(tx, PriorityCapabilities.MaxUnprivilegedPriority + 1) != Errno.EPERM;
        return new PriorityCapabilities(perPacket, privileged, basic, perPacket ? PriorityStrategy.Cmsg : PriorityStrategy.SocketPerPriority, MaxSegments(tx, target));
    }

    [ThreadStatic]
    private static Func<int, int>? t_segmentOverride;

    /// <summary>Test seam, per thread: when set, replaces the kernel's answer to a GSO probe of N segments (N → errno).</summary>
    internal static Func<int, int>? SegmentOverride { get => t_segmentOverride; set => t_segmentOverride = value; }

    // UDP_MAX_SEGMENTS is 128 on newer kernels and 64 on older ones; a run of more gives EINVAL. A kernel without UDP GSO
    // (before 4.18) rejects the UDP_SEGMENT cmsg with EINVAL too. N one-byte segments to the throwaway loopback socket
    // tell them apart.
    private static int MaxSegments(SafeFdHandle fd, in DatagramAddress target)
    {
        foreach (int segments in (ReadOnlySpan<int>)[128, 64])
        {
            if (TrySendSegments(fd, target, segments) == 0)
            {
                return segments;
            }
        }

        return 0;
    }

    private static int TrySendSegments(SafeFdHandle fd, in DatagramAddress target, int segments)
    {
        Func<int, int>? hook = SegmentOverride;
        if (hook is not null)
        {
            return hook(segments);
        }

        byte* payload = stackalloc byte[128];
        new Span<byte>(payload, segments).Clear();
        byte* control = stackalloc byte[SlotLayout.SegmentCmsgSpace];
        CmsgWriter.WriteSegment(control, 1);
        Interop.IoVec iov;
        iov.Base = payload;
        iov.Length = (nuint)segments;
        fixed (byte* sa = DatagramAddress.SockAddrOf(in target))
        {
            Interop.MsgHdr msg = default;
            msg.Name = sa;
            msg.NameLen = (uint)target.Length;
            msg.Iov = &iov;
            msg.IovLen = 1;
            msg.Control = control;
            msg.ControlLen = SlotLayout.SegmentCmsgSpace;
            nint rc = Interop.Sys.SendMsg(fd, &msg, Interop.MSG_DONTWAIT);
            return rc >= 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    private static bool TryBind(SafeFdHandle fd, DatagramAddress address)
    {
        fixed (byte* sa = DatagramAddress.SockAddrOf(in address))
        {
            return Interop.Sys.Bind(fd, sa, (uint)address.Length) == 0;
        }
    }

    private static int TrySetPriority(SafeFdHandle fd, uint priority)
    {
        Func<uint, int>? hook = TestOverride;
        return hook is not null ? hook(priority) : UdpSocket.TrySetInt(fd, Interop.SOL_SOCKET, Interop.SO_PRIORITY, (int)priority);
    }

    private static int TrySend(SafeFdHandle fd, in DatagramAddress target, uint priority)
    {
        Func<uint, int>? hook = TestOverride;
        if (hook is not null)
        {
            return hook(priority);
        }

        byte payload = 0;
        byte* control = stackalloc byte[SlotLayout.PriorityCmsgSpace];
        CmsgWriter.WritePriority(control, priority);
        Interop.IoVec iov;
        iov.Base = &payload;
        iov.Length = 1;
        fixed (byte* sa = DatagramAddress.SockAddrOf(in target))
        {
            Interop.MsgHdr msg = default;
            msg.Name = sa;
            msg.NameLen = (uint)target.Length;
            msg.Iov = &iov;
            msg.IovLen = 1;
            msg.Control = control;
            msg.ControlLen = SlotLayout.PriorityCmsgSpace;
            nint rc = Interop.Sys.SendMsg(fd, &msg, Interop.MSG_DONTWAIT);
            return rc >= 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }
}
