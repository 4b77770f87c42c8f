using System.Buffers.Binary;
using Perf.Batch;
using Perf.Tunnel.Offload;

namespace Perf.Tunnel;

/// <summary>
/// Merges consecutive packets of one flow into one super-packet to write to a TAP or TUN device, as the kernel's GRO
/// would: one write, and one packet through the stack, where there were dozens. TCP segments merge where the device has
/// TSO (<see cref="TunnelOffloads.Tso4"/>, <see cref="TunnelOffloads.Tso6"/>), UDP datagrams where it has USO
/// (<see cref="TunnelOffloads.Uso4"/>, <see cref="TunnelOffloads.Uso6"/>, Linux 6.2+). A packet joins when its checksums
/// are valid, its headers equal the first's but for the lengths, the IPv4 ID and the checksums, it is not longer than
/// the first, and no shorter one came before it; a TCP segment also when its sequence number follows on and its flags
/// are ACK (and ECE as the first's) with PSH only on the last. Anything else is written alone.
/// </summary>
/// <remarks>
/// Owns one 64 KB buffer; allocates nothing per frame. Not thread-safe: one writer.
/// </remarks>
public sealed class FrameCoalescer
{
    /// <summary>Segments one super-packet holds at most: what the kernel's GRO merges (MAX_GRO_SKBS-sized runs of 64).</summary>
    public const int MaxSegments = 64;

    private const int MaxIpLength = 65535;
    private const byte Ack = 0x10;
    private const byte Psh = 0x08;
    private const byte Ece = 0x40;

    private readonly byte[] _buffer = new byte[VirtioNetHeader.Size + MaxIpLength + 18]; // the header, then what is held
    private readonly bool _ethernet;
    private readonly TunnelOffloads _offloads;
    private byte[]? _segment; // the fallback's: one segment at a time
    private PacketLayout _layout;
    private int _length;
    private int _segments;
    private int _segmentSize;
    private uint _nextSeq;

    /// <summary>Creates a coalescer for a TAP (<paramref name="ethernet"/>: Ethernet frames) or a TUN (IP packets).</summary>
    /// <param name="ethernet">True for a TAP's Ethernet frames.</param>
    /// <param name="offloads">What the device granted (<see cref="TapDevice.Offloads"/>): which packets may merge.</param>
    public FrameCoalescer(bool ethernet, TunnelOffloads offloads)
    {
        _ethernet = ethernet;
        _offloads = offloads;
    }

    /// <summary>How many segments are held.</summary>
    public int Count => _segments;

    /// <summary>
    /// The device refused a GSO write (EINVAL: some 6.6 LTS kernels do): that super-packet was written a segment at a time,
    /// and from then on nothing is merged.
    /// </summary>
    public bool GsoWritesRefused { get; private set; }

    private Span<byte> HeldSpan => _buffer.AsSpan(VirtioNetHeader.Size);

    /// <summary>
    /// Adds <paramref name="frame"/> (a finished packet): it starts what is held when nothing is, or joins it.
    /// </summary>
    /// <returns>
    /// False when it cannot join what is held (write that with <see cref="WriteHeld"/>, then add the frame again) or cannot
    /// be merged at all (not TCP or UDP the device takes super-packets of, a bad or absent checksum, SYN or FIN): such a
    /// frame is written alone, after what is held.
    /// </returns>
    public bool TryAdd(ReadOnlySpan<byte> frame)
    {
        if (GsoWritesRefused || !TryMergeable(frame, out PacketLayout layout))
        {
            return false;
        }

        int payload = frame.Length - layout.Payload;
        uint seq = layout.Protocol == PacketLayout.Tcp ? BinaryPrimitives.ReadUInt32BigEndian(frame[(layout.Transport + 4)..]) : 0;
        if (_segments == 0)
        {
            frame.CopyTo(HeldSpan);
            _layout = layout;
            _length = frame.Length;
            _segmentSize = payload;
            _nextSeq = seq + (uint)payload;
            _segments = 1;
            return true;
        }

        if (!Continues(frame, layout, seq, payload))
        {
            return false;
        }

        frame[layout.Payload..].CopyTo(HeldSpan[_length..]);
        _length += payload;
        _nextSeq += (uint)payload;
        _segments++;
        if (layout.Protocol == PacketLayout.Tcp)
        {
            HeldSpan[_layout.Transport + 13] |= (byte)(frame[layout.Transport + 13] & Psh);
        }

        return true;
    }

    /// <summary>
    /// Writes what is held to <paramref name="device"/> (opened with <see cref="TapOptions.VirtioNetHeader"/>) and empties
    /// it: one frame as it came, several as one super-packet behind a GSO header (its headers set for the whole, its
    /// checksum left to the kernel). Where the kernel refuses that write, the segments are written one by one
    /// (<see cref="GsoWritesRefused"/>).
    /// </summary>
    /// <returns>0, or the errno of the write.</returns>
    public int WriteHeld(TapDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (_segments == 0)
        {
            return 0;
        }

        VirtioNetHeader header = Held();
        header.Write(_buffer);
        int errno = device.Write(_buffer.AsSpan(0, VirtioNetHeader.Size + _length));
        if (errno == Errno.EINVAL && _segments > 1)
        {
            GsoWritesRefused = true;
            errno = WriteSegments(device);
        }

        _segments = 0;
        return errno;
    }

    /// <summary>What is held, as one frame; with more than one segment, after <see cref="Held"/> has set its headers.</summary>
    internal ReadOnlySpan<byte> HeldFrame => HeldSpan[.._length];

    /// <summary>Sets the held super-packet's headers and returns its virtio-net header, without writing it.</summary>
    internal VirtioNetHeader Held() => _segments <= 1 ? default : Finish();

    // The fallback: the super-packet cut as the kernel would have, a write per segment; the first failure is returned.
    private int WriteSegments(TapDevice device)
    {
        SuperFrame.TryRead(_buffer.AsSpan(0, VirtioNetHeader.Size + _length), _ethernet, out SuperFrame frame);
        _segment ??= new byte[_buffer.Length];
        int first = 0;
        for (int i = 0; i < frame.SegmentCount; i++)
        {
            int n = frame.WriteSegment(i, _segment.AsSpan(VirtioNetHeader.Size));
            _segment.AsSpan(0, VirtioNetHeader.Size).Clear();
            int errno = device.Write(_segment.AsSpan(0, VirtioNetHeader.Size + n));
            first = first == 0 ? errno : first;
        }

        return first;
    }

    /// <summary>Forgets what is held.</summary>
    public void Clear() => _segments = 0;

    // The super-packet's lengths, IPv4 header checksum and L4 pseudo-header sum (NEEDS_CSUM: the kernel finishes it).
    private VirtioNetHeader Finish()
    {
        Span<byte> p = HeldSpan[.._length];
        int ip = _layout.Network;
        int l4 = _layout.Transport;
        if (_layout.IsIPv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(p[(ip + 4)..], (ushort)(_length - ip - 40));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(p[(ip + 2)..], (ushort)(_length - ip));
            p.Slice(ip + 10, 2).Clear();
            InternetChecksum.Store(p.Slice(ip + 10, 2), InternetChecksum.Add(0, p.Slice(ip, l4 - ip)));
        }

        bool udp = _layout.Protocol == PacketLayout.Udp;
        if (udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(p[(l4 + 4)..], (ushort)(_length - l4)); // the kernel cuts it per segment
        }

        ushort pseudo = InternetChecksum.Fold(_layout.PseudoHeader(p, _length - l4));
        System.Runtime.InteropServices.MemoryMarshal.Write(p.Slice(l4 + (udp ? 6 : 16), 2), in pseudo);
        return new VirtioNetHeader
        {
            Flags = VirtioNetHeader.NeedsChecksum,
            GsoType = udp ? VirtioNetHeader.GsoUdpL4 : _layout.IsIPv6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4,
            HeaderLength = (ushort)_layout.Payload,
            GsoSize = (ushort)_segmentSize,
            ChecksumStart = (ushort)l4,
            ChecksumOffset = (ushort)(udp ? 6 : 16),
        };
    }

    // A TCP or UDP packet the device takes super-packets of, with valid checksums and a payload; TCP with no flag that
    // ends a merge (SYN, FIN, RST, URG, CWR); no IPv4 options or fragments.
    private bool TryMergeable(ReadOnlySpan<byte> frame, out PacketLayout layout)
    {
        layout = default;
        int ip = PacketLayout.NetworkOffset(frame, _ethernet, out bool v6);
        if (ip < 0 || frame.Length < ip + 20)
        {
            return false;
        }

        byte protocol = v6 ? frame[ip + 6] : frame[ip + 9];
        TunnelOffloads needed = protocol == PacketLayout.Tcp ? (v6 ? TunnelOffloads.Tso6 : TunnelOffloads.Tso4)
            : protocol == PacketLayout.Udp ? (v6 ? TunnelOffloads.Uso6 : TunnelOffloads.Uso4) : TunnelOffloads.None;
        if (needed == TunnelOffloads.None || (_offloads & needed) == 0 || !PacketLayout.TryRead(frame, _ethernet, protocol, 0, out layout) ||
            frame.Length == layout.Payload || !IpMergeable(frame, layout))
        {
            return false;
        }

        int l4 = layout.Transport;
        if (protocol == PacketLayout.Tcp ? (frame[l4 + 13] & ~(Psh | Ece)) != Ack
            : BinaryPrimitives.ReadUInt16BigEndian(frame[(l4 + 4)..]) != frame.Length - l4 || (frame[l4 + 6] | frame[l4 + 7]) == 0)
        {
            return false; // a UDP length that is not the packet's, or no checksum to check
        }

        return InternetChecksum.IsValid(InternetChecksum.Add(layout.PseudoHeader(frame, frame.Length - l4), frame[l4..]));
    }

    private static bool IpMergeable(ReadOnlySpan<byte> frame, PacketLayout layout)
    {
        int ip = layout.Network;
        if (layout.IsIPv6)
        {
            return BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 4)..]) == frame.Length - ip - 40; // no padding, no jumbogram
        }

        return layout.Transport - ip == 20 && (BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 6)..]) & 0x3FFF) == 0 &&
            BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 2)..]) == frame.Length - ip && InternetChecksum.IsValid(InternetChecksum.Add(0, frame.Slice(ip, 20)));
    }

    private bool Continues(ReadOnlySpan<byte> frame, PacketLayout layout, uint seq, int payload)
    {
        bool tcp = _layout.Protocol == PacketLayout.Tcp;
        if (_segments >= MaxSegments || layout.Payload != _layout.Payload || layout.Protocol != _layout.Protocol || payload > _segmentSize ||
            _length - _layout.Network + payload > MaxIpLength || _length - _layout.Payload != _segmentSize * _segments ||
            (tcp && (seq != _nextSeq || (HeldSpan[_layout.Transport + 13] & Psh) != 0)))
        {
            return false; // a shorter packet or PSH ends a super-packet: nothing may follow them
        }

        ReadOnlySpan<byte> held = HeldSpan;
        return SameExcept(held, frame, 0, layout.Transport + 4, layout.Network) && (!tcp || SameIgnoringPsh(held, frame, layout.Transport));
    }

    // Bytes [start, end) equal, but for the IP header's length, ID and checksum fields (IPv4) or payload length (IPv6).
    private bool SameExcept(ReadOnlySpan<byte> held, ReadOnlySpan<byte> frame, int start, int end, int ip)
    {
        if (_layout.IsIPv6)
        {
            return held[start..(ip + 4)].SequenceEqual(frame[start..(ip + 4)]) && held[(ip + 6)..end].SequenceEqual(frame[(ip + 6)..end]);
        }

        return held[start..(ip + 2)].SequenceEqual(frame[start..(ip + 2)]) &&
            held.Slice(ip + 6, 4).SequenceEqual(frame.Slice(ip + 6, 4)) && // flags, fragment offset, TTL, protocol
            held[(ip + 12)..end].SequenceEqual(frame[(ip + 12)..end]);
    }

    // The last segment may add PSH: the rest of the TCP header (ack, offset, window, urgent pointer, options) is equal.
    private bool SameIgnoringPsh(ReadOnlySpan<byte> held, ReadOnlySpan<byte> frame, int l4)
    {
        int end = _layout.Payload;
        return held.Slice(l4 + 8, 5).SequenceEqual(frame.Slice(l4 + 8, 5)) &&
            (held[l4 + 13] | Psh) == (frame[l4 + 13] | Psh) &&
            held.Slice(l4 + 14, 2).SequenceEqual(frame.Slice(l4 + 14, 2)) &&
            held[(l4 + 18)..end].SequenceEqual(frame[(l4 + 18)..end]);
    }
}
