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
    /// most that long. Allocates nothing. Records left at <see cref="Dispose"/> stay drainable.
    /// </summary>
    /// <returns>How many records were written; 0 when timestamps are off.</returns>
    public int DrainTxTimestamps(Span<TxTimestamp> destination)
    {
        if (_timestamps is null)
        {
            return 0;
        }

        if (Interlocked.CompareExchange(ref _state, Busy, Idle) == Idle)
        {
            try
            {
                _timestamps.Poll(_socket);
            }
            finally
            {
                ExitBusy();
            }
        }
        else if (Volatile.Read(ref _state) != Disposed)
        {
            ThrowNotIdle(_state);
        }

        return _timestamps.Drain(destination, Environment.TickCount64);
    }

    /// <summary>Timestamp records not yet drained: datagrams sent whose reports may still be on their way.</summary>
    public int TxTimestampsPending => _timestamps?.Pending ?? 0;

    // A message the kernel accepted took the next OPT_ID key; its datagrams are recorded under it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TrackSent(int message, int segments)
    {
        TxTimestampTracker t = _timestamps!;
        uint key = t.BeginMessage(segments);
        for (int s = 0; s < segments; s++)
        {
            int index = _planner.Slot(message, s);
            t.Add(key, _head + ((index - _head) & _mask), _ring.GetPriority(index), _ring.GetLength(index));
        }
    }

    // A datagram the qdisc dropped, reported as ENOBUFS by IP_RECVERR, was built first and took a key.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TrackFailed(int errno)
    {
        if (_timestamps is not null && _reportsDrops && errno == Errno.ENOBUFS)
        {
            _timestamps.SkipKey();
        }
    }
}
