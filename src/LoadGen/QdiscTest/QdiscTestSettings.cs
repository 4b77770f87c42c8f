using Perf.Batch;

namespace Perf.LoadGen.QdiscTest;

/// <summary>What a qdisc-test run is asked to do. Built once from the command line.</summary>
internal sealed record QdiscTestSettings
{
    public required HtbClass[] Classes { get; init; }

    /// <summary>
    /// htb (default: shaping, rates), prio or ets (bands by priority, no rates), taprio (gates in time, judged by SND
    /// timestamps), etf (launch times, judged by SND timestamps).
    /// </summary>
    public string Qdisc { get; init; } = "htb";

    /// <summary>Offered load per class id; a missing class or null is max. Empty with no duration: count mode.</summary>
    public Dictionary<uint, Rate?> Loads { get; init; } = [];

    /// <summary>Lab mode: every class sends for this long (after a 1 s warm-up that rates leave out).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Count mode: this many datagrams in all, split evenly across the classes.</summary>
    public long Count { get; init; } = 3000;

    public (int Min, int Max) Size { get; init; } = (64, 64);
    public int Burst { get; init; } = 1;
    /// <summary>
    /// Off by default here: a shaper meters whole skbs, and one UDP GSO skb of 64 segments is 64 KB of tokens at once,
    /// which makes a class's rate lumpy over a short run. --gso auto (with --burst) tests GSO through the qdisc.
    /// </summary>
    public SegmentationMode Gso { get; init; } = SegmentationMode.Off;
    public PriorityStrategy Strategy { get; init; } = PriorityStrategy.Auto;
    public SendBackendKind Backend { get; init; } = SendBackendKind.Auto;

    /// <summary>p99 latency bound per class id: a class above it fails.</summary>
    public Dictionary<uint, TimeSpan> MaxP99 { get; init; } = [];

    /// <summary>IP_RECVERR on the senders: qdisc drops come back as ENOBUFS, counted per class.</summary>
    public bool RecvErr { get; init; }

    /// <summary>taprio: each class's gate window in ns, in class order (the cycle is their sum); null for other qdiscs.</summary>
    public long[]? Gates { get; init; }

    /// <summary>taprio: how far past its window (ns) a datagram's SND stamp may fall and count as inside.</summary>
    public long GateToleranceNs { get; init; } = 20_000;

    /// <summary>etf: how long before its launch time (ns) etf hands a datagram to the device; null for other qdiscs.</summary>
    public long? EtfDeltaNs { get; init; }

    /// <summary>etf: each datagram's launch time is its enqueue time on CLOCK_TAI plus this (ns); 0 for other qdiscs.</summary>
    public long TxTimeLeadNs { get; init; }

    /// <summary>
    /// Transmit timestamps on every sender: each class's qdisc delay. Turns <see cref="RecvErr"/> on (a drop is its
    /// datagram's ENOBUFS, so no record waits for an SND that never comes) and gives each sender a 4 MiB SO_SNDBUF, so
    /// a saturated class's backlog builds in the qdisc, where the timestamps see it, not in perfgen's ring.
    /// </summary>
    public bool TxTimestamps { get; init; }

    /// <summary>The named scenario that set the classes and loads up ("prio-hol"), for the report.</summary>
    public string? Scenario { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    public string? Json { get; init; }
    public string? Html { get; init; }
    public bool Quiet { get; init; }

    internal bool LabMode => Duration is not null || Loads.Count > 0;
}
