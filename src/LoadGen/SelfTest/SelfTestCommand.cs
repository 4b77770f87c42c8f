using Perf.Batch;

namespace Perf.LoadGen.SelfTest;

/// <summary>perfgen with no command: send to an embedded loopback sink, then verify every datagram.</summary>
internal static class SelfTestCommand
{
    /// <summary>perfgen with no command: send to an embedded loopback sink, then verify every packet.</summary>
    internal static int Run(Invocation run, TimeSpan duration, string? json, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
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
            totals = SendCommand.SendCore(settings, TimeSpan.FromSeconds(1), report, out code);
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
        List<string> problems = Problems(totals, sink);
        if (json is not null)
        {
            report.WriteJson(json, "selftest", totals, sink, w => w.WriteBoolean("pass", problems.Count == 0));
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
        return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    // Every datagram sent arrived, per priority, and nothing the sink checks went wrong.
    private static List<string> Problems(SendTotals totals, SinkJob sink)
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

        SinkCommand.AddProblems(sink, problems);
        if (totals.Failed > 0)
        {
            problems.Add(totals.Failed + " datagrams failed to send");
        }

        return problems;
    }
}
