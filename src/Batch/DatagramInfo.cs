namespace Perf.Batch;

/// <summary>
/// What a datagram carries besides its payload and destination: its <c>skb-&gt;priority</c>, its traffic class (DSCP
/// and ECN) and its launch time. Passed by <c>in</c> to <see cref="PacketSender.TryEnqueue(ReadOnlySpan{byte}, in DatagramInfo)"/>
/// and <see cref="PacketSender.Commit(int, in DatagramInfo)"/>; a bare priority converts to one, so
/// <c>sender.TryEnqueue(payload, 3)</c> reads as before.
/// </summary>
/// <remarks>
/// A field the sender was not created for must stay at its default: a traffic class other than 0 needs
/// <see cref="PacketSenderOptions.PerPacketTrafficClass"/>, a launch time needs <see cref="PacketSenderOptions.TxTime"/>
/// (and a TxTime sender needs one on every datagram). The sender checks this before it writes any slot.
/// </remarks>
/// <param name="Priority">The datagram's <c>skb-&gt;priority</c>: 0–6 for anyone, others (HTB class ids) with CAP_NET_ADMIN.</param>
/// <param name="TrafficClass">The IPv4 TOS byte or IPv6 traffic class: DSCP in the upper six bits, ECN in the lower two.</param>
/// <param name="TxTimeNs">When the datagram should leave, in ns on <see cref="PacketSenderOptions.TxTimeClock"/>; 0 for none.</param>
public readonly record struct DatagramInfo(uint Priority, byte TrafficClass = 0, long TxTimeNs = 0)
{
    /// <summary>A datagram described by its priority alone.</summary>
    public static implicit operator DatagramInfo(uint priority) => new(priority);

    /// <summary>A datagram described by its priority alone (the named form of the conversion).</summary>
    public static DatagramInfo FromPriority(uint priority) => new(priority);

    /// <summary>Whether the datagram carries a launch time.</summary>
    public bool HasTxTime => TxTimeNs != 0;
}
