using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Transmit timestamps (PacketSenderOptions.TxTimestamps): which datagrams each accepted message carried, and the reads.
public sealed partial class PacketSender
{
    private readonly TxTimestampTracker? _timestamps;
    private readonly bool _reportsDrops;

    /// <summary>
    /// Reads the kernel's pending timestamp reports, then copies out, in send order, the records of datagrams whose
    /// reports are in, up to <paramref name="destination"/>'s length (<see cref="PacketSenderOptions.TxTimestamps"/>).
    /// A record waits for its SND report; one still without it after <see cref="PacketSenderOptions.TxTimestampTimeout"/>
    /// comes out incomplete (<see cref="TxTimestamp.IsComplete"/> false), so a slow class holds later records back at
    /// most that long. Allocates nothing. Unlike the rest of the sender, it may be called from another thread while one
    /// sends (one drainer at a time): a reporter can collect while the sending thread runs. Records left at
    /// <see cref="Dispose"/> stay drainable.
    /// </summary>
    /// <returns>How many records were written; 0 when timestamps are off.</returns>
    public int DrainTxTimestamps(Span<TxTimestamp> destination)
    {
        TxTimestampTracker? t = _timestamps;
        if (t is null)
        {
            return 0;
        }

        lock (t.Gate)
        {
            t.Poll(_socket);
            return t.Drain(destination, Environment.TickCount64);
        }
    }

    /// <summary>Timestamp records not yet drained: datagrams sent whose reports may still be on their way.</summary>
    public int TxTimestampsPending
    {
        get
        {
            if (_timestamps is not { } t)
            {
                return 0;
            }

            lock (t.Gate)
            {
                return t.Pending;
            }
        }
    }

    // A message the kernel accepted took the next OPT_ID key; its datagrams are recorded under it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TrackSent(int message, int segments)
    {
        TxTimestampTracker t = _timestamps!;
        lock (t.Gate)
        {
            uint key = t.BeginMessage(segments, _ring.GetTxTime(_planner.Slot(message, 0))); // a run shares one launch time
            for (int s = 0; s < segments; s++)
            {
                int index = _planner.Slot(message, s);
                t.Add(key, _queue.SequenceOf(index), _ring.GetPriority(index), _ring.GetLength(index), _ring.GetTxTime(index));
            }
        }
    }

    // A datagram the qdisc dropped, reported as ENOBUFS by IP_RECVERR, was built first and took a key.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TrackFailed(int errno)
    {
        if (_timestamps is not null && _reportsDrops && errno == Errno.ENOBUFS)
        {
            lock (_timestamps.Gate)
            {
                _timestamps.SkipKey();
            }
        }
    }

    // The flush's own reads of the error queue: after every send call, and before it waits.
    private void PollTimestamps(SafeFdHandle socket)
    {
        if (_timestamps is { } t)
        {
            lock (t.Gate)
            {
                t.Poll(socket);
            }
        }
    }

    // Its records stay drainable; only the error-queue reads end.
    private void DisposeTimestamps()
    {
        if (_timestamps is { } t)
        {
            lock (t.Gate)
            {
                t.Dispose();
            }
        }
    }
}
