using Perf.Batch;

namespace Perf.LoadGen.Send;

internal static class Defaults
{
    internal static readonly WeightedPriority[] Priorities = [.. Enumerable.Range(0, 7).Select(p => new WeightedPriority((uint)p, 1))];
}
