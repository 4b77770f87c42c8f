using System.Net.Sockets;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>perfgen send: prepare, check privileges, run with a live table, total and report.</summary>
internal static class SendCommand
{
    internal static int Run(Invocation run, SendSettings settings, TimeSpan interval, string? json, string? html, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        SendTotals? totals = SendCore(settings, interval, report, out int code);
        if (totals is not null && json is not null)
        {
            report.WriteJson(json, "send", totals, sink: null);
        }

        if (totals is not null && html is not null)
        {
            HtmlReport.Write(html, "perfgen send to " + settings.Destination, report.ToJson("send", totals, sink: null));
        }

        return code;
    }

    /// <summary>What perfgen says when --priority-strategy cmsg meets a kernel before 6.14.</summary>
    internal static string CmsgRefused =>
        "--priority-strategy cmsg: this kernel (" + Environment.OSVersion.Version + ") rejects the per-packet SO_PRIORITY cmsg (EINVAL; it came with Linux 6.14); " +
        "use --priority-strategy auto, socket-per-priority, setsockopt or mark-bpf. Nothing was sent";

    /// <summary>Prepares, checks privileges, runs with a live table, and totals a send. Null (with an exit code) when it could not start.</summary>
    internal static SendTotals? SendCore(SendSettings settings, TimeSpan interval, Report report, out int code) =>
        SendCoreWith(new SendJob(settings), settings, interval, report, out code);

    internal static SendTotals? SendCoreWith(SendJob job, SendSettings settings, TimeSpan interval, Report report, out int code)
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
        using var metrics = new PerfMetrics(job);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; job.Stop(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; job.Stop(); });
        var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        report.LiveHeader();
        TimeSpan elapsed;
        try
        {
            elapsed = job.Run(now => report.LiveRow(now, job), interval);
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
