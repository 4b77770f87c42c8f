using System.Buffers.Binary;

namespace Perf.Gateway;

/// <summary>The VXLAN header (RFC 7348) and what the gateway reads of the inner frame.</summary>
internal static class Vxlan
{
    /// <summary>flags (8: I, the VNI is valid), 24 reserved bits, the 24-bit VNI, 8 reserved bits.</summary>
    internal const int HeaderSize = 8;

    /// <summary>The IANA port, and what the kernel's <c>dstport 4789</c> means.</summary>
    internal const int Port = 4789;

    internal const uint MaxVni = (1 << 24) - 1;

    private const byte FlagI = 0x08;
    private const int EthernetHeader = 14;

    internal static void WriteHeader(Span<byte> destination, uint vni)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)FlagI << 24);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], vni << 8);
    }

    /// <summary>Why a datagram from the peer is not a frame for this tunnel, or <see cref="InboundDrop.None"/>.</summary>
    internal static InboundDrop Check(ReadOnlySpan<byte> datagram, uint vni)
    {
        if (datagram.Length < HeaderSize + EthernetHeader)
        {
            return InboundDrop.Short;
        }

        if ((datagram[0] & FlagI) == 0)
        {
            return InboundDrop.Malformed;
        }

        return BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) >> 8 == vni ? InboundDrop.None : InboundDrop.WrongVni;
    }

    /// <summary>
    /// The inner frame's IP traffic class (DSCP and ECN): the IPv4 TOS byte or the IPv6 traffic class, after at most one
    /// 802.1Q tag. False for a frame that carries no IP (ARP, for one).
    /// </summary>
    internal static bool TryTrafficClass(ReadOnlySpan<byte> frame, out byte trafficClass)
    {
        trafficClass = 0;
        int offset = 12;
        if (frame.Length < offset + 2)
        {
            return false;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        if (type == 0x8100 && frame.Length >= offset + 6)
        {
            offset += 4;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }

        int ip = offset + 2;
        if (type == 0x0800 && frame.Length > ip + 1 && frame[ip] >> 4 == 4)
        {
            trafficClass = frame[ip + 1];
            return true;
        }

        if (type == 0x86DD && frame.Length > ip + 1 && frame[ip] >> 4 == 6)
        {
            trafficClass = (byte)(((frame[ip] & 0x0F) << 4) | (frame[ip + 1] >> 4));
            return true;
        }

        return false;
    }
}

/// <summary>Why a datagram from the peer was not written to the TAP.</summary>
internal enum InboundDrop
{
    None,
    Short,
    Malformed,
    WrongVni,
    ForeignSource,
    EcnNotEct,
    TapDown,
    TapError,
}
