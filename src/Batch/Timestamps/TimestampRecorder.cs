using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// A sender's transmit timestamps (<see cref="PacketSenderOptions.TxTimestamps"/>): which datagrams each accepted message
/// carried, recorded under the OPT_ID key the kernel gave it, and the reads of the error queue. The send loop records
/// and polls; any thread may drain (one drainer at a time), so every touch of the tracker takes its lock.
/// </summary>
internal sealed class TimestampRecorder : IDisposable
{
    private readonly TxTimestampTracker _tracker;
    private readonly bool _dropsTakeKeys;

    internal TimestampRecorder(int capacity, TimeSpan timeout, bool reportQdiscDrops)
    {
        _tracker = new TxTimestampTracker(capacity, timeout, reportQdiscDrops);
        _dropsTakeKeys = reportQdiscDrops;
    }

    internal long Dropped => _tracker.Dropped;

    internal long Missing => _tracker.Missing;

    internal int Pending
    {
        get
        {
            lock (_tracker.Gate)
            {
                return _tracker.Pending;
            }
        }
    }

    /// <summary>The start of a send pass: what a record's age is counted from.</summary>
    internal void BeginPass() => _tracker.Now = Environment.TickCount64;

    /// <summary>A message the kernel accepted took the next OPT_ID key; its datagrams are recorded under it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void RecordSent(SlotRing ring, SlotQueue queue, SendPlanner planner, int message, int segments)
    {
        lock (_tracker.Gate)
        {
            uint key = _tracker.BeginMessage(segments, ring.GetTxTime(planner.Slot(message, 0))); // a run shares one launch time
            for (int s = 0; s < segments; s++)
            {
                int index = planner.Slot(message, s);
                _tracker.Add(key, queue.SequenceOf(index), ring.GetPriority(index), ring.GetLength(index), ring.GetTxTime(index));
            }
        }
    }

    /// <summary>A datagram the qdisc dropped, reported as ENOBUFS by IP_RECVERR, was built first and took a key.</summary>
    internal void RecordFailed(int errno)
    {
        if (_dropsTakeKeys && errno == Errno.ENOBUFS)
        {
            lock (_tracker.Gate)
            {
                _tracker.SkipKey();
            }
        }
    }

    /// <summary>Reads the reports waiting on <paramref name="socket"/>'s error queue.</summary>
    internal void Poll(SafeFdHandle socket)
    {
        lock (_tracker.Gate)
        {
            _tracker.Poll(socket);
        }
    }

    /// <summary>Reads the error queue, then copies out the records whose reports are in, in send order.</summary>
    internal int Drain(SafeFdHandle socket, Span<TxTimestamp> destination)
    {
        lock (_tracker.Gate)
        {
            _tracker.Poll(socket);
            return _tracker.Drain(destination, Environment.TickCount64);
        }
    }

    /// <summary>Ends the error-queue reads; the records stay drainable.</summary>
    public void Dispose()
    {
        lock (_tracker.Gate)
        {
            _tracker.Dispose();
        }
    }
}
