namespace Perf.Batch;

// Counters and failures: read from the parts that own them (the send loop's counters, the failure log, the strategy's
// path, the planner, the timestamp recorder).
public sealed partial class PacketSender
{
    /// <summary>A snapshot of the counters. Readable after <see cref="Dispose"/>.</summary>
    public SenderStats Stats
    {
        get
        {
            SendCounters c = _loop.Counters;
            return new(_queue.Tail, c.Sent, c.SentBytes, _failures.Failed, c.SendCalls, c.PartialSends, c.WouldBlock, _failures.RecordsDropped)
            {
                Strategy = Capabilities.Strategy,
                PrioritySockets = _loop.Path.Sockets,
                SetsockoptCalls = _loop.Path.SetsockoptCalls,
                Segmenting = _loop.Planner.Segmenting,
                SegmentedMessages = c.SegmentedMessages,
                SegmentedDatagrams = c.SegmentedDatagrams,
                SegmentationStoppedBy = c.SegmentationStoppedBy,
                TxTimestampsDropped = _timestamps?.Dropped ?? 0,
                TxTimestampsMissing = _timestamps?.Missing ?? 0,
            };
        }
    }

    /// <summary>Whether runs of equal datagrams go out as UDP GSO messages now (asked for, taken by the kernel, not stopped by an EIO or EINVAL).</summary>
    public bool Segmenting => _loop.Planner.Segmenting;

    /// <summary>Most datagrams one GSO message carries here: <see cref="PacketSenderOptions.MaxSegments"/> within the kernel's limit; 0 when not segmenting.</summary>
    public int MaxSegments => _loop.Planner.Segmenting ? _loop.Planner.MaxSegments : 0;

    /// <summary>The errno (EIO or EINVAL) with which the kernel refused a segmented message, turning segmentation off for good; 0 if it never did.</summary>
    public int SegmentationStoppedBy => _loop.Counters.SegmentationStoppedBy;

    /// <summary>How many datagrams failed with <paramref name="errno"/> (errno values of 255 and above share one count).</summary>
    public long GetFailureCount(int errno) => _failures.CountOf(errno);

    /// <summary>Copies out and forgets the oldest failure records, up to <paramref name="destination"/>'s length.</summary>
    /// <returns>How many records were written.</returns>
    public int DrainFailures(Span<FailedPacket> destination) => _failures.Drain(destination);

    /// <summary>Failure records waiting in the log.</summary>
    public int FailureRecordCount => _failures.Count;
}
