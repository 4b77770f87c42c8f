using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Sink;

/// <summary>When a sink stops: after a duration, a count, or a quiet spell.</summary>
internal sealed record SinkSettings
{
    public required DatagramAddress Listen { get; init; }
    public TimeSpan? Duration { get; init; }
    public long? Count { get; init; }
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(2);
    public string? Namespace { get; init; }
    public SinkVerify Verify { get; init; } = SinkVerify.Auto;

    /// <summary>Receive with UDP GRO: coalesced buffers, split again before each datagram is checked.</summary>
    public bool Gro { get; init; }

    /// <summary>One sample per interval for the JSON and HTML reports; zero for none.</summary>
    public TimeSpan Interval { get; init; }
}
