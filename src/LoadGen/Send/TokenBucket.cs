using System.Diagnostics;
using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>
/// A send thread's token bucket. Tokens are packets, or bits on the wire for a bps rate. A batch at a time, as long as a
/// batch's tokens come within a millisecond; a slower flow (a low-rate probe) leaves datagram by datagram, so it goes out
/// evenly spaced rather than as batch-sized bursts.
/// </summary>
internal struct TokenBucket
{
    private readonly long _start;
    private readonly double _rate;
    private readonly bool _bits;
    private readonly double _ticksPerUnit;
    private readonly double _unit;       // tokens a datagram costs on average: 1, or its mean bits on the wire
    private readonly int _ipOverhead;
    private readonly int _batch;
    private double _spent;               // tokens consumed so far

    internal TokenBucket(Rate rate, long start, double meanWireBits, int ipOverhead, int batch)
    {
        _start = start;
        _rate = rate.IsUnlimited ? 0 : rate.Value;
        _bits = rate.Bits;
        _ticksPerUnit = _rate > 0 ? Stopwatch.Frequency / _rate : 0;
        _unit = _bits ? meanWireBits : 1;
        _ipOverhead = ipOverhead;
        _batch = batch;
        _spent = 0;
    }

    /// <summary>
    /// How many of <paramref name="wanted"/> datagrams may go now; 0 after a short wait when the bucket is short. Before
    /// a wait what is queued leaves, so no datagram waits for a grouping window to fill (a gateway flushes when its input
    /// runs dry, the same way).
    /// </summary>
    internal int Grant(long now, int wanted, PacketSender tx)
    {
        if (_rate <= 0)
        {
            return wanted;
        }

        double available = ((now - _start) / _ticksPerUnit) - _spent;
        int n = wanted;
        bool trickle = n * _unit * _ticksPerUnit > Stopwatch.Frequency / 1000;
        if (trickle)
        {
            n = (int)Math.Min(n, Math.Floor(available / _unit));
        }

        if (n < 1 || available < n * _unit)
        {
            if (tx.PendingCount > 0)
            {
                tx.Flush();
            }

            double waitTicks = ((Math.Max(n, 1) * _unit) - available) * _ticksPerUnit;
            if (waitTicks > Stopwatch.Frequency / 500)
            {
                Thread.Sleep(1);
            }
            else
            {
                Thread.SpinWait(20);
            }

            return 0;
        }

        // Bucket depth: a descheduled thread may catch up by at most 50 ms of traffic, not burst without bound.
        double depth = Math.Max(2 * _batch * _unit, _rate * 0.05);
        if (available > depth)
        {
            _spent += available - depth;
        }

        return n;
    }

    /// <summary>Takes one datagram of <paramref name="size"/> payload bytes out of the bucket.</summary>
    internal void Spend(int size) => _spent += _bits ? (size + _ipOverhead) * 8.0 : 1;
}
