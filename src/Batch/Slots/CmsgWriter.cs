using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>Which per-datagram facts a received control buffer carried.</summary>
[Flags]
internal enum ReceivedFields : byte
{
    None = 0,
    Priority = 1,
    Mark = 2,
    TrafficClass = 4,
    Coalesced = 8,
}

/// <summary>Encodes control messages into a slot's cmsg area (LP64: 16-byte header, 8-byte alignment).</summary>
internal static unsafe class CmsgWriter
{
    /// <summary>Writes a SOL_SOCKET/SO_PRIORITY cmsg at <paramref name="dst"/>; returns the bytes used, CMSG_SPACE(4) = 24.</summary>
    /// <remarks>Safety: <paramref name="dst"/> is 8-aligned with at least 24 writable bytes.</remarks>
    internal static int WriteU32(byte* dst, int level, int type, uint value)
    {
        var h = (Interop.CMsgHdr*)dst;
        h->Len = (nuint)Interop.CMsgLen(sizeof(uint)); // exactly CMSG_LEN(4) = 20, or the kernel answers EINVAL
        h->Level = level;
        h->Type = type;
        *(uint*)(dst + Interop.CMsgHdrSize) = value;
        *(uint*)(dst + Interop.CMsgHdrSize + sizeof(uint)) = 0; // CMSG_SPACE padding, kept deterministic
        return Interop.CMsgSpace(sizeof(uint));
    }

    /// <summary>Writes a cmsg carrying a u64 (SCM_TXTIME) at <paramref name="dst"/>; returns CMSG_SPACE(8) = 24, all of it CMSG_LEN(8).</summary>
    /// <remarks>Safety: <paramref name="dst"/> is 8-aligned with at least 24 writable bytes.</remarks>
    internal static int WriteU64(byte* dst, int level, int type, ulong value)
    {
        var h = (Interop.CMsgHdr*)dst;
        h->Len = (nuint)Interop.CMsgLen(sizeof(ulong)); // the kernel takes SCM_TXTIME only with cmsg_len == CMSG_LEN(8)
        h->Level = level;
        h->Type = type;
        *(ulong*)(dst + Interop.CMsgHdrSize) = value;
        return Interop.CMsgSpace(sizeof(ulong));
    }

    /// <summary>
    /// Writes a SOL_UDP/UDP_SEGMENT cmsg carrying the run's segment size; returns CMSG_SPACE(2) = 24. The kernel takes
    /// only cmsg_len == CMSG_LEN(2) = 18 (udp_cmsg_send), else the message fails with EINVAL.
    /// </summary>
    /// <remarks>Safety: <paramref name="dst"/> is 8-aligned with at least 24 writable bytes.</remarks>
    internal static int WriteSegment(byte* dst, ushort segmentSize)
    {
        var h = (Interop.CMsgHdr*)dst;
        h->Len = (nuint)Interop.CMsgLen(sizeof(ushort));
        h->Level = Interop.SOL_UDP;
        h->Type = Interop.UDP_SEGMENT;
        *(ulong*)(dst + Interop.CMsgHdrSize) = segmentSize; // the u16, then zero padding
        return Interop.CMsgSpace(sizeof(ushort));
    }

    internal static int WritePriority(byte* dst, uint priority) =>
        WriteU32(dst, Interop.SOL_SOCKET, Interop.SO_PRIORITY, priority);

    /// <summary>Where the u32 payload of a cmsg written at <paramref name="cmsg"/> lives (CMSG_DATA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint* DataU32(byte* cmsg) => (uint*)(cmsg + Interop.CMsgHdrSize);

    /// <summary>
    /// Reads what a receiver asked the kernel to report, in one CMSG_FIRSTHDR/CMSG_NXTHDR walk: SO_PRIORITY (u32),
    /// SO_MARK (u32), IP_TOS (one byte) or IPV6_TCLASS (int). Returns the <see cref="ReceivedFields"/> found.
    /// </summary>
    internal static ReceivedFields ReadReceived(byte* control, nuint controlLen, out uint priority, out uint mark, out byte trafficClass) =>
        ReadReceived(control, controlLen, out priority, out mark, out trafficClass, out _);

    /// <summary>As above, and the SOL_UDP/UDP_GRO cmsg (int gso_size) of a coalesced buffer: <see cref="ReceivedFields.Coalesced"/>.</summary>
    internal static ReceivedFields ReadReceived(byte* control, nuint controlLen, out uint priority, out uint mark, out byte trafficClass, out int segmentSize)
    {
        ReceivedFields found = ReceivedFields.None;
        priority = 0;
        mark = 0;
        trafficClass = 0;
        segmentSize = 0;
        nuint offset = 0;
        while (offset + Interop.CMsgHdrSize <= controlLen)
        {
            var h = (Interop.CMsgHdr*)(control + offset);
            if (h->Len < Interop.CMsgHdrSize || offset + h->Len > controlLen)
            {
                break;
            }

            nuint data = h->Len - Interop.CMsgHdrSize;
            byte* p = (byte*)h + Interop.CMsgHdrSize;
            if (h->Level == Interop.SOL_SOCKET && data >= sizeof(uint))
            {
                if (h->Type == Interop.SO_PRIORITY)
                {
                    priority = *(uint*)p;
                    found |= ReceivedFields.Priority;
                }
                else if (h->Type == Interop.SO_MARK)
                {
                    mark = *(uint*)p;
                    found |= ReceivedFields.Mark;
                }
            }
            else if (h->Level == Interop.SOL_UDP && h->Type == Interop.UDP_GRO && data >= sizeof(int))
            {
                segmentSize = *(int*)p;
                found |= ReceivedFields.Coalesced;
            }
            else if (data >= 1 && ((h->Level == Interop.SOL_IP && h->Type == Interop.IP_TOS) || (h->Level == Interop.SOL_IPV6 && h->Type == Interop.IPV6_TCLASS)))
            {
                // IP_TOS carries one byte; IPV6_TCLASS an int whose low byte is the class (little-endian hosts only).
                trafficClass = *p;
                found |= ReceivedFields.TrafficClass;
            }

            offset += (nuint)Interop.CMsgAlign((int)h->Len);
        }

        return found;
    }
}
