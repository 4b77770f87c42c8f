using System.Buffers.Binary;
using Perf.Tunnel.Offload;

namespace Perf.Tunnel;

/// <summary>
/// A frame read from a device with <see cref="TapOptions.VirtioNetHeader"/>, cut into the packets a wire carries: a
/// TCP or UDP super-packet (TSO, USO) into segments of its <see cref="VirtioNetHeader.GsoSize"/>, each with its own
/// lengths, IPv4 ID, TCP sequence number and flags and a full checksum, as the kernel's own segmentation makes them;
/// a single packet whose checksum the kernel left unfinished, finished. A segment is written straight where it goes
/// (a sender's slot), so nothing is copied twice.
/// </summary>
/// <remarks>
/// The frame is Ethernet with at most one 802.1Q tag (TAP) or a bare IP packet (TUN); IPv4 or IPv6. Segments of one
/// super-packet are equal in size but the last, so consecutive ones leave as one UDP GSO message of a sender.
/// </remarks>
public readonly ref struct SuperFrame
{
    private const int TcpFlagsOffset = 13;
    private const byte TcpFin = 0x01;
    private const byte TcpPsh = 0x08;
    private const byte TcpCwr = 0x80;

    private readonly ReadOnlySpan<byte> _frame;
    private readonly PacketLayout _layout;
    private readonly VirtioNetHeader _header;
    private readonly int _segmentSize; // payload bytes per segment; 0 for a frame that is not cut

    private SuperFrame(ReadOnlySpan<byte> frame, VirtioNetHeader header, PacketLayout layout, int segmentSize, int count)
    {
        _frame = frame;
        _header = header;
        _layout = layout;
        _segmentSize = segmentSize;
        SegmentCount = count;
    }

    /// <summary>The frame as read, after its virtio-net header.</summary>
    public ReadOnlySpan<byte> Frame => _frame;

    /// <summary>How many packets the frame is: 1 for a frame that is not a super-packet.</summary>
    public int SegmentCount { get; }

    /// <summary>Whether the frame is a super-packet that is cut (<see cref="SegmentCount"/> may still be 1).</summary>
    public bool IsSegmented => _segmentSize > 0;

    /// <summary>The length of every segment but the last: the length of the first.</summary>
    public int SegmentLength => SegmentCount == 1 ? LengthOf(0) : _layout.Payload + _segmentSize;

    /// <summary>
    /// Reads a frame as read from the device: its <see cref="VirtioNetHeader"/>, then the frame.
    /// </summary>
    /// <param name="read">What one read returned: the header and the frame.</param>
    /// <param name="ethernet">True for a TAP (Ethernet frames), false for a TUN (IP packets).</param>
    /// <param name="frame">The frame, ready to be cut.</param>
    /// <returns>False when the header asks for what the frame cannot be: no TCP or UDP packet where it says, offsets outside it, an unknown GSO type.</returns>
    public static bool TryRead(ReadOnlySpan<byte> read, bool ethernet, out SuperFrame frame)
    {
        frame = default;
        if (read.Length < VirtioNetHeader.Size)
        {
            return false;
        }

        VirtioNetHeader h = VirtioNetHeader.Read(read);
        ReadOnlySpan<byte> body = read[VirtioNetHeader.Size..];
        bool needsChecksum = (h.Flags & VirtioNetHeader.NeedsChecksum) != 0;
        if (needsChecksum && h.ChecksumStart + h.ChecksumOffset + 2 > body.Length)
        {
            return false;
        }

        int gso = h.GsoType & ~VirtioNetHeader.GsoEcn;
        if (gso == VirtioNetHeader.GsoNone)
        {
            frame = new SuperFrame(body, h, default, 0, 1);
            return true;
        }

        byte protocol = gso == VirtioNetHeader.GsoUdpL4 ? PacketLayout.Udp : PacketLayout.Tcp;
        if (gso is not (VirtioNetHeader.GsoTcpV4 or VirtioNetHeader.GsoTcpV6 or VirtioNetHeader.GsoUdpL4) || h.GsoSize == 0 ||
            !PacketLayout.TryRead(body, ethernet, protocol, needsChecksum ? h.ChecksumStart : 0, out PacketLayout layout) ||
            (gso == VirtioNetHeader.GsoTcpV4 && layout.IsIPv6) || (gso == VirtioNetHeader.GsoTcpV6 && !layout.IsIPv6))
        {
            return false;
        }

        int payload = body.Length - layout.Payload;
        int count = payload == 0 ? 1 : (payload + h.GsoSize - 1) / h.GsoSize;
        frame = new SuperFrame(body, h, layout, h.GsoSize, count);
        return true;
    }

    /// <summary>The length of segment <paramref name="index"/>.</summary>
    public int LengthOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, SegmentCount);
        return _segmentSize == 0 ? _frame.Length : _layout.Payload + Math.Min(_segmentSize, _frame.Length - _layout.Payload - (index * _segmentSize));
    }

    /// <summary>Writes segment <paramref name="index"/> as a finished packet: headers, its payload, its checksums.</summary>
    /// <returns>Its length, <see cref="LengthOf"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the segment.</exception>
    public int WriteSegment(int index, Span<byte> destination)
    {
        int length = LengthOf(index);
        if (destination.Length < length)
        {
            throw new ArgumentException("The segment is " + length + " bytes; the destination has " + destination.Length + ".", nameof(destination));
        }

        Span<byte> packet = destination[..length];
        if (_segmentSize == 0)
        {
            _frame.CopyTo(packet);
            if ((_header.Flags & VirtioNetHeader.NeedsChecksum) != 0)
            {
                FinishChecksum(packet, _header.ChecksumStart, _header.ChecksumOffset);
            }

            return length;
        }

        int headers = _layout.Payload;
        _frame[..headers].CopyTo(packet);
        _frame.Slice(headers + (index * _segmentSize), length - headers).CopyTo(packet[headers..]);
        WriteNetworkHeader(packet, index);
        WriteTransportHeader(packet, index);
        return length;
    }

    /// <summary>
    /// Finishes a checksum the kernel left to the device (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field holds the pseudo-header's
    /// sum, so the sum from <paramref name="start"/> to the end, complemented, is the checksum.
    /// </summary>
    internal static void FinishChecksum(Span<byte> packet, int start, int offset)
    {
        ulong sum = InternetChecksum.Add(0, packet[start..]);
        InternetChecksum.Store(packet.Slice(start + offset, 2), sum, udp: offset == 6);
    }

    private void WriteNetworkHeader(Span<byte> packet, int index)
    {
        int ip = _layout.Network;
        if (_layout.IsIPv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[(ip + 4)..], (ushort)(packet.Length - ip - 40));
            return;
        }

        // inet_gso_segment: each segment's ID is the super-packet's plus its index; the header checksum is recomputed.
        BinaryPrimitives.WriteUInt16BigEndian(packet[(ip + 2)..], (ushort)(packet.Length - ip));
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(_frame[(ip + 4)..]);
        BinaryPrimitives.WriteUInt16BigEndian(packet[(ip + 4)..], (ushort)(id + index));
        packet.Slice(ip + 10, 2).Clear();
        InternetChecksum.Store(packet.Slice(ip + 10, 2), InternetChecksum.Add(0, packet.Slice(ip, _layout.Transport - ip)));
    }

    private void WriteTransportHeader(Span<byte> packet, int index)
    {
        int l4 = _layout.Transport;
        int l4Length = packet.Length - l4;
        int field;
        if (_layout.Protocol == PacketLayout.Tcp)
        {
            // tcp_gso_segment: sequence numbers advance by the segment size; FIN and PSH stay on the last segment only,
            // CWR on the first only.
            uint seq = BinaryPrimitives.ReadUInt32BigEndian(_frame[(l4 + 4)..]);
            BinaryPrimitives.WriteUInt32BigEndian(packet[(l4 + 4)..], seq + (uint)(index * _segmentSize));
            byte flags = packet[l4 + TcpFlagsOffset];
            flags &= index == SegmentCount - 1 ? (byte)0xFF : unchecked((byte)~(TcpFin | TcpPsh));
            flags &= index == 0 ? (byte)0xFF : unchecked((byte)~TcpCwr);
            packet[l4 + TcpFlagsOffset] = flags;
            field = l4 + 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[(l4 + 4)..], (ushort)l4Length);
            field = l4 + 6;
        }

        packet.Slice(field, 2).Clear();
        ulong sum = InternetChecksum.Add(_layout.PseudoHeader(packet, l4Length), packet[l4..]);
        InternetChecksum.Store(packet.Slice(field, 2), sum, udp: _layout.Protocol == PacketLayout.Udp);
    }
}
