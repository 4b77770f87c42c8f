namespace Perf.Host;

/// <summary>
/// One qdisc's or class's statistics as the kernel reports them over rtnetlink (<c>TCA_STATS2</c>): the numbers
/// <c>tc -s qdisc show</c> and <c>tc -s class show</c> print. A snapshot: read two and subtract for a rate.
/// </summary>
public sealed record TcStatistics
{
    /// <summary>The qdisc kind ("htb", "cake", "fq_codel", …); for a class, its qdisc's kind.</summary>
    public required string Kind { get; init; }

    /// <summary>Whether this is a class (else a qdisc).</summary>
    public required bool IsClass { get; init; }

    /// <summary>The qdisc's handle (<c>1:</c>) or the class id (<c>1:10</c>).</summary>
    public required TcHandle Handle { get; init; }

    /// <summary>The parent: <see cref="TcHandle.Root"/>, a class, or a qdisc.</summary>
    public required TcHandle Parent { get; init; }

    /// <summary>Bytes sent (dequeued to the next stage).</summary>
    public long Bytes { get; init; }

    /// <summary>Packets sent (a GSO packet counts as its segments where the qdisc counts so, as HTB does).</summary>
    public long Packets { get; init; }

    /// <summary>Packets dropped.</summary>
    public long Drops { get; init; }

    /// <summary>Times the qdisc was over its limit (HTB: a class that had to wait or borrow).</summary>
    public long Overlimits { get; init; }

    /// <summary>Packets requeued.</summary>
    public long Requeues { get; init; }

    /// <summary>Packets queued now.</summary>
    public long QueueLength { get; init; }

    /// <summary>Bytes queued now.</summary>
    public long BacklogBytes { get; init; }

    /// <summary>The kernel's rate estimate in bytes per second (0 without an estimator: tc's <c>rate</c> line).</summary>
    public long RateBytesPerSecond { get; init; }

    /// <summary>The kernel's rate estimate in packets per second.</summary>
    public long RatePacketsPerSecond { get; init; }

    /// <summary>The qdisc's own statistics (<c>TCA_STATS_APP</c>), as the kernel lays them out for its kind.</summary>
    public ReadOnlyMemory<byte> ExtendedStatistics { get; init; }

    /// <summary>An HTB class's own statistics, read from <see cref="ExtendedStatistics"/>; null for anything else.</summary>
    public HtbClassStatistics? Htb => Kind == "htb" && IsClass ? HtbClassStatistics.From(ExtendedStatistics.Span) : null;

    /// <summary>An fq_codel qdisc's own statistics, read from <see cref="ExtendedStatistics"/>; null for anything else.</summary>
    public FqCodelStatistics? FqCodel => Kind == "fq_codel" && !IsClass ? FqCodelStatistics.From(ExtendedStatistics.Span) : null;

    /// <summary>An fq qdisc's own statistics, read from <see cref="ExtendedStatistics"/>; null for anything else.</summary>
    public FqStatistics? Fq => Kind == "fq" && !IsClass ? FqStatistics.From(ExtendedStatistics.Span) : null;

    /// <summary>A cake qdisc's tins, read from <see cref="ExtendedStatistics"/>, in tc's column order; empty for anything else.</summary>
    public IReadOnlyList<CakeTinStatistics> CakeTins => Kind == "cake" && !IsClass ? CakeTinStatistics.From(ExtendedStatistics.Span) : [];
}
