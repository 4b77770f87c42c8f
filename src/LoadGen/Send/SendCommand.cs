using System.Net.Sockets;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>perfgen send: prepare, check privileges, run with a live table, total and report.</summary>
internal static class SendCommand
{
    internal static int Run(Invocation run, SendSettings settings, WatchSettings watching, TimeSpan interval, string? json, string? html, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        CheckExpect(settings, watching);
        DeviceWatch? watch = watching.IsEmpty ? null : DeviceWatch.Begin(watching, settings.Namespace); // exit 2 before any datagram
        Action? classify = watch is null ? null : () => watch.Classify(settings, MixOf(settings));
        SendTotals? totals = SendCoreWith(new SendJob(settings), settings, interval, report, out int code, watch is null ? null : watch.Sample, classify);
        if (totals is null)
        {
            return code;
        }

        Action<System.Text.Json.Utf8JsonWriter>? extra = null;
        if (watch is not null)
        {
            watch.Finish();
            List<ClassDelta> rows = WatchVerdict.Deltas(watch, totals);
            report.WatchSummary(rows, totals.Elapsed.TotalSeconds);
            List<string> problems = WatchVerdict.Problems(watch, rows);
            report.ClassificationSummary(watch);
            bool? pass = watching.Expect.Count == 0 ? null : problems.Count == 0;
            foreach (string problem in problems)
            {
                report.Error((pass is null ? "note: " : "FAIL: ") + problem);
            }

            code = pass == false ? ExitCodes.CheckFailed : code;
            extra = w => Report.WriteWatch(w, watch, rows, pass);
        }

        if (json is not null)
        {
            report.WriteJson(json, "send", totals, sink: null, extra);
        }

        if (html is not null)
        {
            HtmlReport.Write(html, "perfgen send to " + settings.Destination, report.ToJson("send", totals, sink: null, extra));
        }

        return code;
    }

    // --expect names priorities this run sends, and needs a device to watch.
    private static void CheckExpect(SendSettings settings, WatchSettings watching)
    {
        if (watching.Expect.Count > 0 && watching.IsEmpty)
        {
            throw new FormatException("--expect judges the classes of a watched device: give --watch DEV");
        }

        HashSet<uint> mix = MixOf(settings);
        foreach (uint p in watching.Expect.Keys)
        {
            if (!mix.Contains(p))
            {
                throw new FormatException("--expect names priority " + Report.FormatPriority(p) + ", which --priorities does not send");
            }
        }
    }

    // Every priority the run sends, in the order given.
    private static HashSet<uint> MixOf(SendSettings settings) =>
        [.. settings.PerFlow is { } flows ? flows.SelectMany(f => f.Priorities).Select(w => w.Priority) : settings.Priorities.Select(w => w.Priority)];

    /// <summary>What perfgen says when --priority-strategy cmsg meets a kernel before 6.14.</summary>
    internal static string CmsgRefused =>
        "--priority-strategy cmsg: this kernel (" + Environment.OSVersion.Version + ") rejects the per-packet SO_PRIORITY cmsg (EINVAL; it came with Linux 6.14); " +
        "use --priority-strategy auto, socket-per-priority, setsockopt or mark-bpf. Nothing was sent";

    /// <summary>Prepares, checks privileges, runs with a live table, and totals a send. Null (with an exit code) when it could not start.</summary>
    internal static SendTotals? SendCore(SendSettings settings, TimeSpan interval, Report report, out int code, Action? onInterval = null) =>
        SendCoreWith(new SendJob(settings), settings, interval, report, out code, onInterval);

    // onInterval: called after each live row. beforeRun: called once every check has passed, before the run's first
    // datagram (the first that may leave).
    internal static SendTotals? SendCoreWith(SendJob job, SendSettings settings, TimeSpan interval, Report report, out int code, Action? onInterval = null, Action? beforeRun = null)
    {
        // mark-bpf without the classifier on the route's egress device sends marks that never become priorities.
        if (settings.Strategy == PriorityStrategy.MarkAndBpf && !MarkClassifier.Check(settings.Destination, out string classifier, settings.Namespace))
        {
            report.Error("--priority-strategy mark-bpf: " + classifier + "; nothing was sent");
            code = ExitCodes.BadInput;
            return null;
        }

        try
        {
            job.Prepare();
            PriorityCapabilities caps = job.Capabilities!;
            foreach (uint p in job.DistinctPriorities)
            {
                if (!caps.Allows(p))
                {
                    report.Error("priority " + Report.FormatPriority(p) + " needs CAP_NET_ADMIN or CAP_NET_RAW, which this process lacks (0-6 are open to anyone); nothing was sent");
                    job.DisposeSenders();
                    code = ExitCodes.BadInput;
                    return null;
                }
            }
        }
        catch (PerfSocketException e)
        {
            job.DisposeSenders();
            report.Error(settings.Strategy == PriorityStrategy.Cmsg && e.Errno == Errno.EINVAL ? CmsgRefused : e.Message);
            code = ExitCodes.BadInput;
            return null;
        }

        report.Run.MarkSending(); // from here a last-resort error means the run failed (1), not bad input (2)
        beforeRun?.Invoke();
        using var metrics = new PerfMetrics(job);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; job.Stop(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; job.Stop(); });
        var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        report.LiveHeader();
        TimeSpan elapsed;
        try
        {
            elapsed = job.Run(now =>
            {
                report.LiveRow(now, job);
                onInterval?.Invoke();
            }, interval);
        }
        finally
        {
            job.DisposeSenders();
        }

        int ipOverhead = settings.Destination.AddressFamily == AddressFamily.InterNetworkV6 ? 48 : 28;
        SendTotals totals = SendTotals.From(job, elapsed, ipOverhead, gcBefore);
        totals.Intervals = report.SendIntervals;
        report.SendSummary(totals);
        code = ExitCodes.Ok;
        return totals;
    }
}
