using System.Net.Sockets;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen;

/// <summary>The runs behind perfgen's commands.</summary>
internal static class Jobs
{
    /// <summary>perfgen with no command: send to an embedded loopback sink, then verify every packet.</summary>
    internal static int Selftest(TimeSpan duration, string? json, bool quiet)
    {
        var report = new Report(quiet, humanToStderr: json == "-");
        using var sink = new SinkJob(new SinkSettings { Listen = new DatagramAddress(System.Net.IPAddress.Loopback, 0), Idle = TimeSpan.FromSeconds(1) });
        var sinkThread = new Thread(sink.Run) { Name = "perfgen sink", IsBackground = true };
        sinkThread.Start();
        // One sender, held to 8192 datagrams ahead of the sink: GSO runs send several times faster than a receiver that
        // takes datagrams one by one, and under the kernel lab's emulated CPU an unbounded sender overran the sink's
        // 64 MiB buffer (25,390 of 216,000 lost on 6.12). 8192 small datagrams fit that buffer many times over.
        var settings = new SendSettings { Destination = sink.LocalAddress, Duration = duration, Connect = true, Delivered = () => sink.Received, MaxInFlight = 8192 };
        report.Line("perfgen: " + duration.TotalSeconds + " s to the embedded sink at " + sink.LocalAddress + ", priorities 0-6, 64-byte datagrams");
        SendTotals? totals = null;
        int code;
        try
        {
            totals = SendCore(settings, TimeSpan.FromSeconds(1), report, out code);
        }
        finally
        {
            if (totals is null)
            {
                sink.Stop(); // never dispose a sink whose thread still receives
            }

            // Otherwise the sink stops once nothing has arrived for a second.
            sinkThread.Join();
        }

        if (totals is null)
        {
            return code;
        }

        report.SinkSummary(sink);
        List<string> problems = SelftestProblems(totals, sink);
        if (json is not null)
        {
            Report.WriteJson(json, "selftest", totals, sink, w => w.WriteBoolean("pass", problems.Count == 0));
        }

        foreach (string problem in problems)
        {
            report.Error("FAIL: " + problem);
        }

        string all = totals.Packets.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
        report.Line(problems.Count > 0 ? "[red]FAIL[/]"
            : sink.VerifiedBy == SinkVerify.None
                ? "[green]PASS[/]: every one of " + all + " datagrams arrived once, in order within its priority; [yellow]priorities not verified on this kernel[/] (no SO_RCVPRIORITY before 6.14; as root the sink verifies them through the priority_to_mark echo)"
                : "[green]PASS[/]: every one of " + all + " datagrams arrived once, with the priority it was sent with (verified by " + Spectre.Console.Markup.Escape(sink.VerifiedByText) + ")");
        return problems.Count == 0 ? Cli.Ok : Cli.CheckFailed;
    }

    // Every datagram sent arrived, per priority, and nothing the sink checks went wrong.
    private static List<string> SelftestProblems(SendTotals totals, SinkJob sink)
    {
        var problems = new List<string>();
        if (sink.Received != totals.Packets)
        {
            problems.Add("received " + sink.Received + " of " + totals.Packets + " sent");
        }

        foreach ((uint p, long packets, _) in totals.PerPriority)
        {
            long got = sink.PerPriority.GetValueOrDefault(p);
            if (got != packets)
            {
                problems.Add("priority " + Report.FormatPriority(p) + ": received " + got + " of " + packets);
            }
        }

        AddSinkProblems(sink, problems);
        if (totals.Failed > 0)
        {
            problems.Add(totals.Failed + " datagrams failed to send");
        }

        return problems;
    }

    internal static int Send(SendSettings settings, TimeSpan interval, string? json, string? html, bool quiet)
    {
        var report = new Report(quiet, humanToStderr: json == "-");
        SendTotals? totals = SendCore(settings, interval, report, out int code);
        if (totals is not null && json is not null)
        {
            Report.WriteJson(json, "send", totals, sink: null);
        }

        if (totals is not null && html is not null)
        {
            HtmlReport.Write(html, "perfgen send to " + settings.Destination, Report.ToJson("send", totals, sink: null));
        }

        return code;
    }

    internal static int Sink(SinkSettings settings, string? json, string? html, bool quiet)
    {
        var report = new Report(quiet, humanToStderr: json == "-");
        using var sink = new SinkJob(settings);
        report.Line("perfgen sink: listening on " + sink.LocalAddress + ", " + (sink.VerifiedBy == SinkVerify.None ? sink.VerifiedByText : "priorities verified by " + sink.VerifiedByText));
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; sink.Stop(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; sink.Stop(); });
        sink.Run();
        report.SinkSummary(sink);
        if (json is not null)
        {
            Report.WriteJson(json, "sink", send: null, sink);
        }

        if (html is not null)
        {
            HtmlReport.Write(html, "perfgen sink on " + sink.LocalAddress, Report.ToJson("sink", send: null, sink));
        }

        var problems = new List<string>();
        AddSinkProblems(sink, problems);
        return problems.Count == 0 ? Cli.Ok : Cli.CheckFailed;
    }

    /// <param name="sink">The sink that counted.</param>
    /// <param name="problems">Where each problem goes, one line each.</param>
    /// <param name="checkPriority">Whether the sink could see priorities (not across a veth, which resets them).</param>
    /// <param name="checkOrder">
    /// Whether order within a priority is the sender's to keep. Over lo a datagram is delivered inside the send call, so
    /// the order it arrives in is the order it left in. Behind a shaping qdisc on a veth it is not: the qdisc is run from
    /// whichever CPU's timer or softirq comes next, and each hands its packets to that CPU's backlog, so the kernel
    /// itself can reorder one flow (seen in the kernel lab: two 64-datagram runs swapped behind HTB).
    /// </param>
    internal static void AddSinkProblems(SinkJob sink, List<string> problems, bool checkPriority = true, bool checkOrder = true)
    {
        if (checkPriority && sink.Mismatched > 0)
        {
            problems.Add(sink.Mismatched + " datagrams arrived with another priority than they were sent with");
        }

        if (checkPriority && sink.MissingPriority > 0)
        {
            problems.Add(sink.MissingPriority + " datagrams arrived without a priority cmsg");
        }

        if (sink.Lost > 0)
        {
            problems.Add(sink.Lost + " datagrams lost (sequence gaps)");
        }

        if (checkOrder && sink.ReorderedWithinPriority > 0)
        {
            problems.Add(sink.ReorderedWithinPriority + " datagrams arrived out of order within their priority");
        }

        if (sink.Duplicates > 0)
        {
            problems.Add(sink.Duplicates + " duplicates");
        }

        if (sink.Malformed > 0)
        {
            problems.Add(sink.Malformed + " datagrams without a perfgen header");
        }
    }

    /// <summary>What perfgen says when --priority-strategy cmsg meets a kernel before 6.14.</summary>
    internal static string CmsgRefused =>
        "--priority-strategy cmsg: this kernel (" + Environment.OSVersion.Version + ") rejects the per-packet SO_PRIORITY cmsg (EINVAL; it came with Linux 6.14); " +
        "use --priority-strategy auto, socket-per-priority, setsockopt or mark-bpf. Nothing was sent";

    /// <summary>Prepares, checks privileges, runs with a live table, and totals a send. Null (with an exit code) when it could not start.</summary>
    internal static SendTotals? SendCore(SendSettings settings, TimeSpan interval, Report report, out int code) =>
        SendCoreWith(new SendJob(settings), settings, interval, report, out code);

    /// <summary>Set once datagrams may have left, so a last-resort error exits 1 (the run failed) rather than 2.</summary>
    internal static bool Sending { get; private set; }

    internal static SendTotals? SendCoreWith(SendJob job, SendSettings settings, TimeSpan interval, Report report, out int code)
    {
        // mark-bpf without the classifier on the route's egress device sends marks that never become priorities.
        if (settings.Strategy == PriorityStrategy.MarkAndBpf && !MarkClassifier.Check(settings.Destination, out string classifier, settings.Namespace))
        {
            report.Error("--priority-strategy mark-bpf: " + classifier + "; nothing was sent");
            code = Cli.BadInput;
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
                    code = Cli.BadInput;
                    return null;
                }
            }
        }
        catch (PerfSocketException e)
        {
            job.DisposeSenders();
            report.Error(settings.Strategy == PriorityStrategy.Cmsg && e.Errno == Errno.EINVAL ? CmsgRefused : e.Message);
            code = Cli.BadInput;
            return null;
        }

        Sending = true;
        PerfMetrics.Watch(job);
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
        code = Cli.Ok;
        return totals;
    }
}
