namespace Perf.Batch;

/// <summary>One received datagram, borrowed from its receiver's buffers until the next receive.</summary>
public readonly unsafe ref struct ReceivedDatagram
{
    // Safety: points into the receiver's slab, valid until its next Receive, like Payload. Source is built only when
    // asked for: a forwarder never needs it.
    private readonly byte* _name;
    private readonly int _nameLength;

    private readonly ReceivedFields _found;

    internal ReceivedDatagram(ReadOnlySpan<byte> payload, uint priority, uint mark, byte trafficClass, ReceivedFields found, byte* name, int nameLength, bool truncated)
    {
        Payload = payload;
        Priority = priority;
        Mark = mark;
        TrafficClass = trafficClass;
        _found = found;
        _name = name;
        _nameLength = nameLength;
        Truncated = truncated;
    }

    /// <summary>The payload (cut at MaxDatagramSize when <see cref="Truncated"/>).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The datagram's <c>skb-&gt;priority</c>, when <see cref="HasPriority"/>; otherwise unknown (0 here means nothing).</summary>
    public uint Priority { get; }

    /// <summary>Whether the kernel reported the priority (SO_RCVPRIORITY asked for, and a 6.14+ kernel).</summary>
    public bool HasPriority => (_found & ReceivedFields.Priority) != 0;

    /// <summary>The datagram's <c>skb-&gt;mark</c>, when <see cref="HasMark"/>.</summary>
    public uint Mark { get; }

    /// <summary>Whether the kernel reported the mark (SO_RCVMARK asked for, and a 5.19+ kernel).</summary>
    public bool HasMark => (_found & ReceivedFields.Mark) != 0;

    /// <summary>The IPv4 TOS or IPv6 traffic class byte, when <see cref="HasTrafficClass"/>.</summary>
    public byte TrafficClass { get; }

    /// <summary>The DSCP: the upper six bits of <see cref="TrafficClass"/>, when <see cref="HasTrafficClass"/>.</summary>
    public byte Dscp => (byte)(TrafficClass >> 2);

    /// <summary>Whether the kernel reported the TOS or traffic class (ReceiveTrafficClass asked for).</summary>
    public bool HasTrafficClass => (_found & ReceivedFields.TrafficClass) != 0;

    /// <summary>The sender's address.</summary>
    public DatagramAddress Source => new(_name, _nameLength);

    /// <summary>The datagram was longer than the receiver's MaxDatagramSize.</summary>
    public bool Truncated { get; }
}
