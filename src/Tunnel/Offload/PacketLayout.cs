using System.Buffers.Binary;

namespace Perf.Tunnel.Offload;

/// <summary>
/// Where the headers of a TCP or UDP packet lie in a frame: the IP header after Ethernet and at most one 802.1Q tag (TAP)
/// or at the start (TUN), the L4 header, and the payload after it.
/// </summary>
internal readonly struct PacketLayout
{
    internal const byte Tcp = 6;
    internal const byte Udp = 17;
    private const int EthernetHeader = 14;

    private PacketLayout(int network, bool v6, int transport, int payload, byte protocol)
    {
        Network = network;
        IsIPv6 = v6;
        Transport = transport;
        Payload = payload;
        Protocol = protocol;
    }

    /// <summary>Offset of the IP header.</summary>
    internal int Network { get; }

    internal bool IsIPv6 { get; }

    /// <summary>Offset of the TCP or UDP header.</summary>
    internal int Transport { get; }

    /// <summary>Offset of the L4 payload: everything before it is copied in front of each segment.</summary>
    internal int Payload { get; }

    /// <summary><see cref="Tcp"/> or <see cref="Udp"/>.</summary>
    internal byte Protocol { get; }

    /// <summary>Where the IP header starts: after Ethernet and one optional 802.1Q tag, or at 0 without a link header; -1 for no IP.</summary>
    internal static int NetworkOffset(ReadOnlySpan<byte> frame, bool ethernet, out bool v6)
    {
        v6 = false;
        int offset = 0;
        if (ethernet)
        {
            if (frame.Length < EthernetHeader)
            {
                return -1;
            }

            ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
            offset = EthernetHeader;
            if (type == 0x8100 && frame.Length >= EthernetHeader + 4)
            {
                type = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
                offset += 4;
            }

            if (type != 0x0800 && type != 0x86DD)
            {
                return -1;
            }
        }

        if (frame.Length <= offset)
        {
            return -1;
        }

        int version = frame[offset] >> 4;
        v6 = version == 6;
        return version is 4 or 6 ? offset : -1;
    }

    /// <summary>
    /// Reads the layout of a TCP or UDP packet of <paramref name="protocol"/>. <paramref name="transportHint"/> is the
    /// virtio-net header's checksum start: an IPv4 header must end there; an IPv6 one may have extension headers up to it.
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> frame, bool ethernet, byte protocol, int transportHint, out PacketLayout layout)
    {
        layout = default;
        int network = NetworkOffset(frame, ethernet, out bool v6);
        if (network < 0)
        {
            return false;
        }

        int transport;
        if (v6)
        {
            transport = transportHint > 0 ? transportHint : network + 40;
            if (frame.Length < network + 40 || transport < network + 40 || (transport == network + 40 && frame[network + 6] != protocol))
            {
                return false;
            }
        }
        else
        {
            transport = network + ((frame[network] & 0x0F) * 4);
            if ((frame[network] & 0x0F) < 5 || frame.Length < transport || frame[network + 9] != protocol ||
                (transportHint > 0 && transportHint != transport))
            {
                return false;
            }
        }

        int payload = protocol == Tcp && frame.Length >= transport + 20 ? transport + ((frame[transport + 12] >> 4) * 4) : transport + 8;
        if (frame.Length < payload || (protocol == Tcp && payload < transport + 20))
        {
            return false;
        }

        layout = new PacketLayout(network, v6, transport, payload, protocol);
        return true;
    }

    /// <summary>The pseudo-header's sum (RFC 793, RFC 8200 8.1) for an L4 length, from the addresses in <paramref name="packet"/>.</summary>
    internal ulong PseudoHeader(ReadOnlySpan<byte> packet, int l4Length)
    {
        ReadOnlySpan<byte> addresses = IsIPv6 ? packet.Slice(Network + 8, 32) : packet.Slice(Network + 12, 8);
        ulong sum = InternetChecksum.Add(0, addresses);
        sum = InternetChecksum.AddWord(sum, Protocol);
        return InternetChecksum.AddWord(sum, (ushort)l4Length);
    }
}
