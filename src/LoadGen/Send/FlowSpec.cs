using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>One sender thread's priority mix and rate.</summary>
internal sealed record FlowSpec(WeightedPriority[] Priorities, Rate Rate);
