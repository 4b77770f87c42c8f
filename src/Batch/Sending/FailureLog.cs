namespace Perf.Batch;

/// <summary>
/// A sender's failed datagrams: a count per errno and the newest records, up to a capacity. The send loop writes it (a
/// failed message, the datagrams a teardown cancels); the sender's caller drains it.
/// </summary>
internal sealed class FailureLog
{
    private readonly long[] _byErrno = new long[Errno.CountedRange];
    private readonly FailedPacket[] _records;
    private int _start;
    private int _count;

    internal FailureLog(int capacity) => _records = new FailedPacket[capacity];

    /// <summary>Datagrams that failed, in all.</summary>
    internal long Failed { get; private set; }

    /// <summary>Records that gave way to newer ones (or found no room at all); their counts stay.</summary>
    internal long RecordsDropped { get; private set; }

    /// <summary>Records waiting to be drained.</summary>
    internal int Count => _count;

    internal long CountOf(int errno) => errno < 0 ? 0 : _byErrno[Math.Min(errno, Errno.CountedRange - 1)];

    /// <summary>Counts a failed datagram and records what its slot held (only where a record is kept: the count is enough otherwise).</summary>
    internal void Record(long sequence, int index, int errno, SlotRing ring)
    {
        Failed++;
        _byErrno[Math.Min(errno, Errno.CountedRange - 1)]++;
        int cap = _records.Length;
        if (cap == 0)
        {
            RecordsDropped++;
            return;
        }

        if (_count == cap)
        {
            // Full: the oldest record gives way; its count stays in the counters above.
            _start = (_start + 1) % cap;
            _count--;
            RecordsDropped++;
        }

        _records[(_start + _count) % cap] = new FailedPacket(sequence, index, errno, ring.GetPriority(index), ring.GetLength(index), ring.GetDestination(index));
        _count++;
    }

    internal int Drain(Span<FailedPacket> destination)
    {
        int n = Math.Min(destination.Length, _count);
        int cap = _records.Length;
        for (int i = 0; i < n; i++)
        {
            destination[i] = _records[(_start + i) % cap];
        }

        _start = cap == 0 ? 0 : (_start + n) % cap;
        _count -= n;
        return n;
    }
}
