namespace Perf.Batch;

/// <summary>
/// When one sent datagram entered its device's queue (the qdisc) and when the driver took it, from the kernel's
/// SO_TIMESTAMPING reports (<see cref="PacketSenderOptions.TxTimestamps"/>). Times are CLOCK_REALTIME nanoseconds.
/// </summary>
/// <param name="Sequence">The datagram's enqueue ordinal on its sender, as in <see cref="FailedPacket.Sequence"/>.</param>
/// <param name="Priority">The priority it was enqueued with.</param>
/// <param name="Length">Its payload length.</param>
/// <param name="ScheduledNs">SCM_TSTAMP_SCHED: when <c>__dev_queue_xmit</c> took its skb, before the qdisc; 0 if the report never came.</param>
/// <param name="SentNs">SCM_TSTAMP_SND: when the driver took it, after the qdisc; 0 if the report never came (a qdisc drop, or a report lost).</param>
/// <param name="MessageDatagrams">How many datagrams shared its kernel message: a UDP GSO run is one skb with one pair of timestamps.</param>
public readonly record struct TxTimestamp(long Sequence, uint Priority, int Length, long ScheduledNs, long SentNs, int MessageDatagrams)
{
    /// <summary>Both timestamps came.</summary>
    public bool IsComplete => ScheduledNs != 0 && SentNs != 0;

    /// <summary>The time the datagram spent in the qdisc and device queue (SND - SCHED) in nanoseconds; -1 when incomplete.</summary>
    public long QdiscDelayNs => IsComplete ? SentNs - ScheduledNs : -1;

    /// <summary>The launch time it was enqueued with (<see cref="PacketSenderOptions.TxTime"/>), ns on the sender's TxTimeClock; 0 for none.</summary>
    public long TxTimeNs { get; init; }

    /// <summary>Whether a qdisc dropped it for its launch time (etf's report); its SND then never comes.</summary>
    public TxTimeDrop TxTimeDrop { get; init; }
}

/// <summary>Why a qdisc (etf) dropped a datagram for its launch time: the SO_EE_CODE_TXTIME_* of its report.</summary>
public enum TxTimeDrop
{
    /// <summary>Not dropped for its time (or no report came).</summary>
    None = 0,

    /// <summary>The time was already past when it was queued, before the last one sent, or on another clock than the qdisc's.</summary>
    InvalidParameter = 1,

    /// <summary>Its deadline passed before the qdisc could send it.</summary>
    Missed = 2,
}
