using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>What a send run is asked to do. Built once from the command line.</summary>
internal sealed record SendSettings
{
    public required DatagramAddress Destination { get; init; }
    public Rate Rate { get; init; } = Rate.Unlimited;
    public TimeSpan? Duration { get; init; }
    public long? Count { get; init; }
    public int MinSize { get; init; } = 64;
    public int MaxSize { get; init; } = 64;
    public WeightedPriority[] Priorities { get; init; } = Defaults.Priorities;
    public SendBackendKind Backend { get; init; } = SendBackendKind.Auto;
    public PriorityStrategy Strategy { get; init; } = PriorityStrategy.Auto;
    public int Batch { get; init; } = 64;
    public int Threads { get; init; } = 1;

    /// <summary>UDP GSO: runs of equal datagrams as one message, where the kernel takes it (auto), always, or never.</summary>
    public SegmentationMode Segmentation { get; init; } = SegmentationMode.Auto;

    /// <summary>Datagrams per run: the weighted choice picks a priority (and a size) for each run of this many.</summary>
    public int Burst { get; init; } = 1;

    /// <summary>Exact enqueue order: the sender does not group a flush by priority (PacketSenderOptions.StrictPriorityOrder).</summary>
    public bool StrictOrder { get; init; }

    /// <summary>Slots per sender; 0 sizes the ring for full runs (<see cref="SendJob"/>).</summary>
    public int Ring { get; init; }
    public bool Connect { get; init; }
    public DatagramAddress Bind { get; init; }

    /// <summary>Traffic during this first span is sent but left out of the achieved rate (JIT tier-up, cache warm-up).</summary>
    public TimeSpan Warmup { get; init; }

    /// <summary>Network namespace to create the sockets in (qdisc-test); null for the current one.</summary>
    public string? Namespace { get; init; }

    /// <summary>
    /// One thread (sender, socket) per entry, each with its own priority mix and rate (qdisc-test: one per class, so
    /// classes compete only in the qdisc). Null: <see cref="Threads"/> threads share <see cref="Priorities"/> and
    /// <see cref="Rate"/>.
    /// </summary>
    public IReadOnlyList<FlowSpec>? PerFlow { get; init; }

    /// <summary>Per flow, at most this many datagrams (count mode with <see cref="PerFlow"/>); null: <see cref="Count"/> split evenly.</summary>
    public long? CountPerFlow { get; init; }

    /// <summary>IP_RECVERR on the senders: a qdisc drop comes back as ENOBUFS, counted per datagram.</summary>
    public bool ReportQdiscDrops { get; init; }

    /// <summary>Transmit timestamps on every sender: each datagram's qdisc delay, per priority (<see cref="TxDelayCollector"/>).</summary>
    public bool TxTimestamps { get; init; }

    /// <summary>
    /// Launch times (etf): each datagram leaves at its enqueue time on CLOCK_TAI plus this many ns (an SCM_TXTIME cmsg,
    /// PacketSenderOptions.TxTime); 0 for none.
    /// </summary>
    public long TxTimeLeadNs { get; init; }

    /// <summary>SO_SNDBUF for the senders; 0 keeps the kernel default.</summary>
    public int SendBufferSize { get; init; }

    /// <summary>
    /// How many datagrams the receiver has taken so far, where the sender may not outrun it (the embedded sink of the
    /// self-test: over lo a full receive buffer drops silently); null for none. With <see cref="MaxInFlight"/>.
    /// </summary>
    public Func<long>? Delivered { get; init; }

    /// <summary>With <see cref="Delivered"/>: at most this many datagrams sent and not yet taken by the receiver.</summary>
    public int MaxInFlight { get; init; }
}
