using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Measurement;

/// <summary>One interval of a sink: per priority, and the loss (sequence gaps) that appeared in it.</summary>
internal sealed record IntervalSample(double StartS, double EndS, List<PrioritySample> PerPriority, long Lost);
