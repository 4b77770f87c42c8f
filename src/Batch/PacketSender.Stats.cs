namespace Perf.Batch;

public sealed partial class PacketSender
{
    private readonly long[] _failedByErrno = new long[Errno.CountedRange];
    private readonly FailedPacket[] _failureLog;
    private int _failureLogStart;
    private int _failureLogCount;

    private long _sent;
    private long _sentBytes;
    private long _failed;
    private long _sendCalls;
    private long _partialSends;
    private long _wouldBlock;
    private long _failureRecordsDropped;
    private long _segmentedMessages;
    private long _segmentedDatagrams;
    private int _segmentationStoppedBy;

    /// <summary>A snapshot of the counters. Readable after <see cref="Dispose"/>.</summary>
    public SenderStats Stats => new(_queue.Tail, _sent, _sentBytes, _failed, _sendCalls, _partialSends, _wouldBlock, _failureRecordsDropped)
    {
        Strategy = Capabilities.Strategy,
        PrioritySockets = _path.Sockets,
        SetsockoptCalls = _path.SetsockoptCalls,
        Segmenting = _planner.Segmenting,
        SegmentedMessages = _segmentedMessages,
        SegmentedDatagrams = _segmentedDatagrams,
        SegmentationStoppedBy = _segmentationStoppedBy,
        TxTimestampsDropped = _timestamps?.Dropped ?? 0,
        TxTimestampsMissing = _timestamps?.Missing ?? 0,
    };

    /// <summary>Whether runs of equal datagrams go out as UDP GSO messages now (asked for, taken by the kernel, not stopped by an EIO or EINVAL).</summary>
    public bool Segmenting => _planner.Segmenting;

    /// <summary>Most datagrams one GSO message carries here: <see cref="PacketSenderOptions.MaxSegments"/> within the kernel's limit; 0 when not segmenting.</summary>
    public int MaxSegments => _planner.Segmenting ? _planner.MaxSegments : 0;

    /// <summary>The errno (EIO or EINVAL) with which the kernel refused a segmented message, turning segmentation off for good; 0 if it never did.</summary>
    public int SegmentationStoppedBy => _segmentationStoppedBy;

    /// <summary>How many datagrams failed with <paramref name="errno"/> (errno values of 255 and above share one count).</summary>
    public long GetFailureCount(int errno) => errno < 0 ? 0 : _failedByErrno[Math.Min(errno, Errno.CountedRange - 1)];

    /// <summary>Copies out and forgets the oldest failure records, up to <paramref name="destination"/>'s length.</summary>
    /// <returns>How many records were written.</returns>
    public int DrainFailures(Span<FailedPacket> destination)
    {
        int n = Math.Min(destination.Length, _failureLogCount);
        int cap = _failureLog.Length;
        for (int i = 0; i < n; i++)
        {
            destination[i] = _failureLog[(_failureLogStart + i) % cap];
        }

        _failureLogStart = cap == 0 ? 0 : (_failureLogStart + n) % cap;
        _failureLogCount -= n;
        return n;
    }

    /// <summary>Failure records waiting in the log.</summary>
    public int FailureRecordCount => _failureLogCount;

    private void RecordFailure(long sequence, int index, int errno)
    {
        _failed++;
        _failedByErrno[Math.Min(errno, Errno.CountedRange - 1)]++;
        int cap = _failureLog.Length;
        if (cap == 0)
        {
            _failureRecordsDropped++;
            return;
        }

        if (_failureLogCount == cap)
        {
            // Full: the oldest record gives way; its count stays in the counters above.
            _failureLogStart = (_failureLogStart + 1) % cap;
            _failureLogCount--;
            _failureRecordsDropped++;
        }

        _failureLog[(_failureLogStart + _failureLogCount) % cap] = new FailedPacket(
            sequence, index, errno, _ring.GetPriority(index), _ring.GetLength(index), _ring.GetDestination(index));
        _failureLogCount++;
    }
}
