namespace Perf.Batch;

/// <summary>What one flush did.</summary>
/// <param name="Sent">Datagrams the kernel accepted.</param>
/// <param name="Failed">Datagrams that ended with their own errno (see <see cref="PacketSender.DrainFailures"/>).</param>
/// <param name="Pending">Datagrams still queued: non-zero only when the kernel kept pushing back past the wait bound.</param>
public readonly record struct FlushOutcome(int Sent, int Failed, int Pending)
{
    /// <summary>True when nothing is left queued.</summary>
    public bool Completed => Pending == 0;
}

/// <summary>A datagram that ended as failed, with the errno the kernel gave it.</summary>
/// <param name="Sequence">The datagram's enqueue ordinal on its sender, from 0.</param>
/// <param name="SlotIndex">The ring slot it occupied.</param>
/// <param name="Errno">The kernel's errno, e.g. <see cref="Batch.Errno.EPERM"/>.</param>
/// <param name="Priority">The priority it asked for.</param>
/// <param name="Length">Its payload length.</param>
/// <param name="Destination">Its destination; empty on a connected sender.</param>
public readonly record struct FailedPacket(long Sequence, int SlotIndex, int Errno, uint Priority, int Length, DatagramAddress Destination);

/// <summary>A snapshot of a sender's counters.</summary>
/// <param name="Enqueued">Datagrams accepted by enqueue.</param>
/// <param name="Sent">Datagrams the kernel accepted.</param>
/// <param name="SentBytes">Payload bytes the kernel accepted.</param>
/// <param name="Failed">Datagrams that ended with an errno.</param>
/// <param name="SendCalls">sendmmsg calls made (or io_uring submissions).</param>
/// <param name="PartialSends">Calls that sent fewer than asked and were resumed at the first unsent slot.</param>
/// <param name="WouldBlock">Times the kernel answered EAGAIN or ENOBUFS and the sender waited or stopped.</param>
/// <param name="FailureRecordsDropped">Failure records that fell out of the bounded log (their counts are kept).</param>
public readonly record struct SenderStats(
    long Enqueued, long Sent, long SentBytes, long Failed, long SendCalls, long PartialSends, long WouldBlock, long FailureRecordsDropped)
{
    /// <summary>Queued and not yet ended.</summary>
    public long Pending => Enqueued - Sent - Failed;

    /// <summary>How datagrams get their priority on this sender.</summary>
    public PriorityStrategy Strategy { get; init; }

    /// <summary>SocketPerPriority: sockets open now, one per priority in use.</summary>
    public int PrioritySockets { get; init; }

    /// <summary>SetsockoptPerRun: setsockopt(SO_PRIORITY) calls made, one per change of priority between groups.</summary>
    public long SetsockoptCalls { get; init; }

    /// <summary>Whether the sender segments runs of equal datagrams (UDP GSO) now.</summary>
    public bool Segmenting { get; init; }

    /// <summary>UDP GSO messages the kernel accepted, each carrying two or more datagrams.</summary>
    public long SegmentedMessages { get; init; }

    /// <summary>Datagrams that left inside those messages (counted in <see cref="Sent"/> too).</summary>
    public long SegmentedDatagrams { get; init; }

    /// <summary>Average datagrams per segmented message; 0 when none went out.</summary>
    public double AverageSegments => SegmentedMessages == 0 ? 0 : SegmentedDatagrams / (double)SegmentedMessages;

    /// <summary>The errno (EIO or EINVAL) that turned segmentation off for good; 0 if none did.</summary>
    public int SegmentationStoppedBy { get; init; }

    /// <summary>TxTimestamps: records that fell out of the full record ring before they were drained.</summary>
    public long TxTimestampsDropped { get; init; }

    /// <summary>TxTimestamps: records drained incomplete (a report never came within the timeout: a qdisc drop, or a report lost).</summary>
    public long TxTimestampsMissing { get; init; }
}
