using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>A priority and its weight in the mix.</summary>
internal readonly record struct WeightedPriority(uint Priority, int Weight);
