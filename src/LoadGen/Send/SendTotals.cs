using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>Totals of a send run, gathered from every sender thread once it has finished.</summary>
internal sealed class SendTotals
{
    internal required string Backend { get; init; }
    internal required PriorityStrategy Strategy { get; init; }
    internal string StrategyReason { get; init; } = string.Empty;
    internal required int Threads { get; init; }
    internal required TimeSpan Elapsed { get; init; }
    internal required int IpOverhead { get; init; }
    internal required List<(uint Priority, long Packets, long Bytes)> PerPriority { get; init; }
    internal required List<(int Errno, long Count)> Failures { get; init; }

    /// <summary>Datagrams that failed, per priority (with --recverr, the qdisc's drops: ENOBUFS).</summary>
    internal Dictionary<uint, long> FailedByPriority { get; init; } = [];
    internal long Packets { get; init; }
    internal long Bytes { get; init; }

    /// <summary>One sample per --interval: per priority, what was sent in it.</summary>
    internal IReadOnlyList<IntervalSample> Intervals { get; set; } = [];
    internal long Failed { get; init; }
    internal long SendCalls { get; init; }
    internal long PartialSends { get; init; }
    internal long WouldBlock { get; init; }
    internal bool Segmenting { get; init; }
    internal int SegmentationStoppedBy { get; init; }
    internal long SegmentedMessages { get; init; }
    internal long SegmentedDatagrams { get; init; }

    /// <summary>Average datagrams per segmented (UDP GSO) message; 0 when none went out.</summary>
    internal double AverageSegments => SegmentedMessages == 0 ? 0 : SegmentedDatagrams / (double)SegmentedMessages;
    internal long AllocatedBytes { get; init; }

    /// <summary>--tx-timestamps: each priority's qdisc delay; null without.</summary>
    internal TxDelayCollector? Delays { get; init; }

    /// <summary>--tx-timestamps: records that fell out of a sender's full record ring (never seen with the drains every 20 ms).</summary>
    internal long TxTimestampsDropped { get; init; }
    internal int Gen0 { get; init; }
    internal int Gen1 { get; init; }
    internal int Gen2 { get; init; }

    /// <summary>Packets sent during the warm-up and how long it lasted; left out of the rates.</summary>
    internal (long Packets, TimeSpan Elapsed) Warmup { get; init; }

    /// <summary>Achieved packets/s after the warm-up.</summary>
    internal double Pps => (Packets - Warmup.Packets) / (Elapsed - Warmup.Elapsed).TotalSeconds;

    /// <summary>Bits per second over whole IP packets (payload + UDP + IP headers), the unit of --rate …bps.</summary>
    internal double Bps => Packets == 0 ? 0 : Pps * ((Bytes / (double)Packets) + IpOverhead) * 8;

    internal static SendTotals From(SendJob job, TimeSpan elapsed, int ipOverhead, (int G0, int G1, int G2) gcBefore)
    {
        var perPriority = new List<(uint, long, long)>();
        long packets = 0, bytes = 0;
        foreach (uint p in job.DistinctPriorities)
        {
            (long pk, long by) = job.SentOf(p);

            perPriority.Add((p, pk, by));
            packets += pk;
            bytes += by;
        }

        return new SendTotals
        {
            FailedByPriority = job.DistinctPriorities.ToDictionary(p => p, p => job.Flows.Sum(f => f.Failed(p))),
            Backend = job.BackendName,
            Strategy = job.Capabilities?.Strategy ?? PriorityStrategy.Cmsg,
            StrategyReason = job.Capabilities?.StrategyReason ?? string.Empty,
            Threads = job.Flows.Length,
            Elapsed = elapsed,
            Warmup = job.WarmupMark,
            IpOverhead = ipOverhead,
            PerPriority = perPriority,
            Failures = FailuresByErrno(job),
            Packets = packets,
            Bytes = bytes,
            Failed = job.Flows.Sum(f => f.Sender.Stats.Failed),
            SendCalls = job.Flows.Sum(f => f.Sender.Stats.SendCalls),
            PartialSends = job.Flows.Sum(f => f.Sender.Stats.PartialSends),
            WouldBlock = job.Flows.Sum(f => f.Sender.Stats.WouldBlock),
            Segmenting = job.Flows.Length > 0 && job.Flows.All(f => f.Sender.Segmenting),
            SegmentationStoppedBy = job.Flows.Select(f => f.Sender.SegmentationStoppedBy).FirstOrDefault(e => e != 0),
            SegmentedMessages = job.Flows.Sum(f => f.Sender.Stats.SegmentedMessages),
            SegmentedDatagrams = job.Flows.Sum(f => f.Sender.Stats.SegmentedDatagrams),
            AllocatedBytes = job.Flows.Sum(f => f.AllocatedBytes),
            Delays = job.Delays,
            TxTimestampsDropped = job.Flows.Sum(f => f.Sender.Stats.TxTimestampsDropped),
            Gen0 = GC.CollectionCount(0) - gcBefore.G0,
            Gen1 = GC.CollectionCount(1) - gcBefore.G1,
            Gen2 = GC.CollectionCount(2) - gcBefore.G2,
        };
    }

    // Counted per errno by every sender (the counters cover errno 1 to 255).
    private static List<(int Errno, long Count)> FailuresByErrno(SendJob job)
    {
        var failures = new List<(int, long)>();
        for (int errno = 1; errno < 256; errno++)
        {
            long n = job.Flows.Sum(f => f.Sender.GetFailureCount(errno));
            if (n > 0)
            {
                failures.Add((errno, n));
            }
        }

        return failures;
    }
}
