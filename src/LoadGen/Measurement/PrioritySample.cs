using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Measurement;

/// <summary>One priority's counts and latency in one interval of a sink, or of a sender (with its qdisc delay under --tx-timestamps).</summary>
internal sealed record PrioritySample(uint Priority, long Packets, long Bytes, LatencySummary? Latency = null, LatencySummary? QdiscDelay = null);
