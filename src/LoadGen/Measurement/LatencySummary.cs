namespace Perf.LoadGen.Measurement;

/// <summary>
/// One histogram as a report keeps it: the count, percentiles in µs, and the non-empty buckets themselves, so that
/// reports from several hosts (and their intervals) merge exactly (<see cref="ReportMerge"/>).
/// </summary>
internal sealed record LatencySummary(long Count, long P50, long P90, long P99, long P999, long Max, (int Index, long Count)[] Buckets)
{
    internal static LatencySummary Of(LatencyHistogram h) =>
        new(h.Count, h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Percentile(99.9), h.Max, [.. h.Buckets()]);
}
