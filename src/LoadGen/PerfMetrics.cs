using System.Diagnostics.Metrics;
using Perf.Batch;

namespace Perf.LoadGen;

/// <summary>The "Perf" meter, so dotnet-counters and OpenTelemetry can watch a long run.</summary>
internal static class PerfMetrics
{
    private static readonly Meter s_meter = new("Perf");
    private static SendJob? s_job;

    static PerfMetrics()
    {
        s_meter.CreateObservableCounter("perf.packets.sent", () => Sum(s => s.Sent), "{packet}", "Datagrams the kernel accepted");
        s_meter.CreateObservableCounter("perf.bytes.sent", () => Sum(s => s.SentBytes), "By", "Payload bytes the kernel accepted");
        s_meter.CreateObservableCounter("perf.packets.failed", () => Sum(s => s.Failed), "{packet}", "Datagrams that failed with an errno");
    }

    internal static void Watch(SendJob job) => s_job = job;

    private static long Sum(Func<SenderStats, long> pick)
    {
        SendJob? job = s_job;
        if (job is null)
        {
            return 0;
        }

        long total = 0;
        foreach (FlowState f in job.Flows)
        {
            if (f is not null)
            {
                total += pick(f.Sender.Stats);
            }
        }

        return total;
    }
}
