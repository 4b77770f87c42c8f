using System.Diagnostics.Metrics;
using Perf.Batch;

namespace Perf.LoadGen.Measurement;

/// <summary>The "Perf" meter over one send job, so dotnet-counters and OpenTelemetry can watch a long run.</summary>
internal sealed class PerfMetrics : IDisposable
{
    private readonly Meter _meter = new("Perf");
    private readonly SendJob _job;

    internal PerfMetrics(SendJob job)
    {
        _job = job;
        _meter.CreateObservableCounter("perf.packets.sent", () => Sum(static s => s.Sent), "{packet}", "Datagrams the kernel accepted");
        _meter.CreateObservableCounter("perf.bytes.sent", () => Sum(static s => s.SentBytes), "By", "Payload bytes the kernel accepted");
        _meter.CreateObservableCounter("perf.packets.failed", () => Sum(static s => s.Failed), "{packet}", "Datagrams that failed with an errno");
    }

    public void Dispose() => _meter.Dispose();

    private long Sum(Func<SenderStats, long> pick)
    {
        long total = 0;
        foreach (FlowState f in _job.Flows)
        {
            if (f is not null)
            {
                total += pick(f.Sender.Stats);
            }
        }

        return total;
    }
}
