using System.Diagnostics;
using Perf.Batch;

namespace Perf.LoadGen.Measurement;

/// <summary>
/// --tx-timestamps: every sender's transmit timestamps, drained on the reporting thread while the senders send, into
/// one qdisc-delay histogram per priority for the run and one for the current interval. A datagram counts in the
/// interval its SND report was drained in (within one poll, 20 ms, of the driver taking it). Records that came out
/// without both reports (a drop the sender was not told of, or a report lost) are counted apart. One thread only.
/// </summary>
internal sealed class TxDelayCollector
{
    /// <summary>Records kept per sender between drains: 20 ms at 13M datagrams/s, or 5 s of a stalled class at 50k/s.</summary>
    internal const int Capacity = 1 << 18;

    private readonly TxTimestamp[] _buffer = new TxTimestamp[4096];
    private readonly Dictionary<uint, Entry> _perPriority = [];

    /// <summary>Known priorities up front (send); others are added as they come (forward).</summary>
    internal TxDelayCollector(IEnumerable<uint> priorities)
    {
        foreach (uint p in priorities)
        {
            _perPriority[p] = new Entry();
        }
    }

    internal TxDelayCollector()
    {
    }

    /// <summary>The window each record is judged against (qdisc-test: taprio's gates, etf's launch times); null for none.</summary>
    internal ISendWindow? Window { get; set; }

    /// <summary>Datagrams whose records came out incomplete, all priorities.</summary>
    internal long Incomplete { get; private set; }

    /// <summary>The priorities seen so far, in order.</summary>
    internal IEnumerable<uint> Priorities => _perPriority.Keys.Order();

    /// <summary>Takes every record the senders have ready.</summary>
    internal void Drain(PacketSender[] senders)
    {
        foreach (PacketSender? s in senders)
        {
            int n;
            while (s is not null && (n = s.DrainTxTimestamps(_buffer)) > 0)
            {
                Record(n);
            }
        }
    }

    /// <summary>
    /// After the senders stop: drains until no record is pending (what the qdisc still held has left) or
    /// <paramref name="limit"/> passed. A record waits for its SND at most the sender's TxTimestampTimeout (5 s).
    /// </summary>
    internal void Finish(PacketSender[] senders, TimeSpan limit)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            Drain(senders);
            int pending = 0;
            foreach (PacketSender? s in senders)
            {
                pending += s?.TxTimestampsPending ?? 0;
            }

            if (pending == 0 || Stopwatch.GetElapsedTime(start) > limit)
            {
                return;
            }

            Thread.Sleep(10);
        }
    }

    /// <summary>The run's qdisc delays of <paramref name="priority"/>, µs; empty for a priority not sent.</summary>
    internal LatencyHistogram Total(uint priority) => _perPriority.TryGetValue(priority, out Entry? e) ? e.Total : new LatencyHistogram();

    /// <summary>With <see cref="Window"/>: datagrams of <paramref name="priority"/> that left outside their window, and the farthest, in µs outside it.</summary>
    internal (long Outside, long LatestUs) OutsideWindow(uint priority) => _perPriority.TryGetValue(priority, out Entry? e) ? (e.Outside, e.MaxLateNs / 1000) : (0, 0);

    /// <summary>Datagrams of <paramref name="priority"/> a qdisc dropped for their launch time (etf's reports).</summary>
    internal long TxTimeDroppedOf(uint priority) => _perPriority.TryGetValue(priority, out Entry? e) ? e.TxTimeDropped : 0;

    /// <summary>Records of <paramref name="priority"/> that came out without both timestamps.</summary>
    internal long IncompleteOf(uint priority) => _perPriority.TryGetValue(priority, out Entry? e) ? e.Incomplete : 0;

    /// <summary>The current interval's qdisc delay of <paramref name="priority"/>, and a fresh interval; null when none was measured.</summary>
    internal LatencySummary? TakeInterval(uint priority)
    {
        if (!_perPriority.TryGetValue(priority, out Entry? e) || e.Interval.Count == 0)
        {
            return null;
        }

        LatencySummary sample = LatencySummary.Of(e.Interval);
        e.Interval.Clear();
        return sample;
    }

    private void Record(int n)
    {
        for (int i = 0; i < n; i++)
        {
            ref readonly TxTimestamp t = ref _buffer[i];
            if (!_perPriority.TryGetValue(t.Priority, out Entry? e))
            {
                e = new Entry(); // a priority not known up front (forward): once per priority
                _perPriority[t.Priority] = e;
            }

            if (t.TxTimeDrop != TxTimeDrop.None)
            {
                e.TxTimeDropped++; // etf said so: no SND will come, and none is missing
                continue;
            }

            if (!t.IsComplete)
            {
                e.Incomplete++;
                Incomplete++;
                continue;
            }

            long us = t.QdiscDelayNs / 1000;
            e.Total.Record(us);
            e.Interval.Record(us);
            if (Window is { } window && window.Outside(in t) is long late and > 0)
            {
                e.MaxLateNs = Math.Max(e.MaxLateNs, late);
                if (late > window.ToleranceNs)
                {
                    e.Outside++;
                }
            }
        }
    }

    private sealed class Entry
    {
        internal LatencyHistogram Total { get; } = new();

        internal LatencyHistogram Interval { get; } = new();

        internal long Incomplete { get; set; }

        internal long Outside { get; set; }

        internal long MaxLateNs { get; set; }

        internal long TxTimeDropped { get; set; }
    }
}
