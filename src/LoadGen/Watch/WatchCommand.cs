using System.Runtime.InteropServices;
using Perf.LoadGen.Send;

namespace Perf.LoadGen.Watch;

/// <summary>
/// perfgen watch DEV…: reads a device's qdisc classes every interval, where the qdisc is (a router between a sender
/// and its sink) and nothing is sent: each class's rates, drops, overlimits and backlog over time, and its totals.
/// <c>perfgen merge send.json watch.json [sink.json]</c> lines it up with the sender's report: perfgen's share of each
/// class by <c>--expect</c>, and the verdict. Only reads: nothing on the device changes.
/// </summary>
internal static class WatchCommand
{
    internal static int Run(Invocation run, WatchSettings watching, TimeSpan? duration, TimeSpan interval, string? json, string? html, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        DeviceWatch watch = DeviceWatch.Begin(watching, netns: null, "watch"); // a missing device or class: exit 2 before the first reading
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        if (duration is { } d)
        {
            stop.CancelAfter(d);
        }

        report.Line("watching " + string.Join(", ", watching.Devices) + (duration is { } t ? " for " + t.TotalSeconds + " s" : " until Ctrl+C") + ", every " + interval.TotalSeconds + " s");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!stop.Token.WaitHandle.WaitOne(interval))
        {
            watch.Sample();
        }

        watch.Sample();
        watch.Finish();
        List<ClassDelta> rows = WatchVerdict.Deltas(watch, new Dictionary<uint, long>());
        report.WatchSummary(rows, clock.Elapsed.TotalSeconds);
        Action<System.Text.Json.Utf8JsonWriter> extra = w => Report.WriteWatch(w, watch, rows, expectPassed: null, alone: true);
        if (json is not null)
        {
            report.WriteJson(json, "watch", send: null, sink: null, extra);
        }

        if (html is not null)
        {
            HtmlReport.Write(html, "perfgen watch " + string.Join(" ", watching.Devices), report.ToJson("watch", send: null, sink: null, extra));
        }

        return ExitCodes.Ok;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // the last reading and the report, then exit 0
            stop.Cancel();
        }
    }
}
