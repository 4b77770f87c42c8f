using System.Globalization;
using Perf.Batch;
using Spectre.Console;

namespace Perf.LoadGen.Reporting;

/// <summary>Human output (live rows and summary tables) and the JSON report.</summary>
internal sealed partial class Report
{
    private readonly IAnsiConsole _console;
    private readonly bool _quiet;
    private readonly TextWriter _errors;
    private long _lastPackets;
    private long _lastBytes;
    private TimeSpan _lastTime;
    private readonly Dictionary<uint, (long Packets, long Bytes)> _lastPerPriority = [];

    /// <summary>The send side's samples, one per live row: per priority, the packets and bytes sent in that interval.</summary>
    internal List<IntervalSample> SendIntervals { get; } = [];

    internal Report(Invocation run, bool quiet, bool humanToStderr)
    {
        Run = run;
        _quiet = quiet;
        _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(humanToStderr ? System.Console.Error : System.Console.Out) });
        _errors = System.Console.Error;
        if (System.Console.IsOutputRedirected || humanToStderr)
        {
            _console.Profile.Width = 160; // logs and pipes: no wrapping at 80 columns
        }
    }

    /// <summary>The run reported on: its command line goes into the JSON, and a send marks it as sending.</summary>
    internal Invocation Run { get; }

    internal IAnsiConsole Console => _console;

    internal void Line(string markup)
    {
        if (!_quiet)
        {
            _console.MarkupLine(markup);
        }
    }

    internal void Error(string message) => _errors.WriteLine("perfgen: " + message);

    internal void LiveHeader()
    {
        Line("[bold]    time        pps       Mbit/s          sent   failed  would-block[/]");
    }

    /// <summary>One live row. Counters are read racily from the sender threads; they only grow.</summary>
    internal void LiveRow(TimeSpan now, SendJob job)
    {
        long packets = 0, bytes = 0, failed = 0, wouldBlock = 0;
        foreach (FlowState f in job.Flows)
        {
            SenderStats s = f.Sender.Stats;
            packets += s.Sent;
            bytes += s.SentBytes;
            failed += s.Failed;
            wouldBlock += s.WouldBlock;
        }

        double dt = (now - _lastTime).TotalSeconds;
        double pps = (packets - _lastPackets) / dt;
        double mbps = (bytes - _lastBytes) * 8 / dt / 1e6;
        var perPriority = new List<PrioritySample>();
        foreach (uint p in job.DistinctPriorities)
        {
            (long pk, long by) = job.SentOf(p);

            (long lastPk, long lastBy) = _lastPerPriority.GetValueOrDefault(p);
            perPriority.Add(new PrioritySample(p, pk - lastPk, by - lastBy, QdiscDelay: job.Delays?.TakeInterval(p)));
            _lastPerPriority[p] = (pk, by);
        }

        SendIntervals.Add(new IntervalSample(_lastTime.TotalSeconds, now.TotalSeconds, perPriority, 0));
        _lastPackets = packets;
        _lastBytes = bytes;
        _lastTime = now;
        Line(string.Format(CultureInfo.InvariantCulture, "{0,7:0.0}s {1,10:N0} {2,12:0.00} {3,13:N0} {4,8:N0} {5,12:N0}", now.TotalSeconds, pps, mbps, packets, failed, wouldBlock));
    }

    internal void SendSummary(SendTotals t)
    {
        if (_quiet)
        {
            return;
        }

        var table = new Table().Title("sent by priority").AddColumn("priority").AddColumn(new TableColumn("packets").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        if (t.Delays is not null)
        {
            foreach (string c in (string[])["qdisc p50", "qdisc p99", "qdisc max", "no SND"])
            {
                table.AddColumn(new TableColumn(c).RightAligned());
            }
        }

        foreach ((uint p, long pk, long by) in t.PerPriority)
        {
            var cells = new List<string> { FormatPriority(p), N(pk), N(by), (t.Packets == 0 ? 0 : 100.0 * pk / t.Packets).ToString("0.0", CultureInfo.InvariantCulture) + "%" };
            if (t.Delays is { } d)
            {
                LatencyHistogram h = d.Total(p);
                cells.AddRange([QdiscTestRun.Micros(h.Percentile(50)), QdiscTestRun.Micros(h.Percentile(99)), QdiscTestRun.Micros(h.Max), N(d.IncompleteOf(p))]);
            }

            table.AddRow(cells.ToArray());
        }

        _console.Write(table);
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "backend [bold]{0}[/], priority strategy {7}, {1} thread(s), {2:0.00}s: [bold]{3:N0}[/] pps, {4:0.00} Mbit/s (IP), {5:N0} sent, {6:N0} failed",
            t.Backend, t.Threads, t.Elapsed.TotalSeconds, t.Pps, t.Bps / 1e6, t.Packets, t.Failed, t.Strategy));
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "batches {0:N0} (partial {1:N0}), would-block waits {2:N0}, GC collections {3}/{4}/{5}, steady-state allocated {6:N0} B",
            t.SendCalls, t.PartialSends, t.WouldBlock, t.Gen0, t.Gen1, t.Gen2, t.AllocatedBytes));
        _console.MarkupLine("priority strategy " + t.Strategy + ": " + Markup.Escape(t.StrategyReason));
        _console.MarkupLine(SegmentationLine(t));
        foreach ((int errno, long n) in t.Failures)
        {
            _console.MarkupLine(string.Format(CultureInfo.InvariantCulture, "[red]failed {0}: {1:N0}[/]", Errno.Name(errno), n));
        }
    }

    internal static string SegmentationLine(SendTotals t) =>
        t.SegmentationStoppedBy != 0
            ? string.Format(CultureInfo.InvariantCulture, "UDP GSO turned off: the route refused a segmented message ({0}); {1:N0} messages went out segmented before", Errno.Name(t.SegmentationStoppedBy), t.SegmentedMessages)
            : t.Segmenting
                ? string.Format(CultureInfo.InvariantCulture, "UDP GSO: {0:N0} segmented messages carried {1:N0} datagrams ({2:0.0} per message)", t.SegmentedMessages, t.SegmentedDatagrams, t.AverageSegments)
                : "UDP GSO: off";

    internal void SinkSummary(SinkJob sink)
    {
        if (_quiet)
        {
            return;
        }

        string title = sink.VerifiedBy == SinkVerify.None
            ? "received by the priority in each header (priorities not verified on this kernel)"
            : "received by priority (verified by " + sink.VerifiedByText + ")";
        var table = new Table().Title(Markup.Escape(title)).AddColumn("priority").AddColumn(new TableColumn("packets").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (string c in (string[])["p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"])
        {
            table.AddColumn(new TableColumn(c).RightAligned());
        }

        IReadOnlyDictionary<uint, long> bytes = sink.PerPriorityBytes;
        foreach (KeyValuePair<uint, long> kv in sink.PerPriority.OrderBy(kv => kv.Key))
        {
            LatencyHistogram h = sink.Latency(kv.Key);
            table.AddRow(FormatPriority(kv.Key), N(kv.Value), N(bytes[kv.Key]), N(h.Percentile(50)), N(h.Percentile(90)), N(h.Percentile(99)), N(h.Percentile(99.9)), N(h.Max));
        }

        _console.Write(table);
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "received {0:N0}: priority mismatches {1:N0}, lost {2:N0}, reordered {3:N0} ({7:N0} within a priority), duplicates {4:N0}, malformed {5:N0}, no priority {6:N0}",
            sink.Received, sink.Mismatched, sink.Lost, sink.Reordered, sink.Duplicates, sink.Malformed, sink.MissingPriority, sink.ReorderedWithinPriority));
        if (sink.Gro)
        {
            _console.MarkupLine(string.Format(CultureInfo.InvariantCulture, "UDP GRO: {0:N0} coalesced buffers, split here", sink.CoalescedBuffers));
        }
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    internal static string FormatPriority(uint p) =>
        p <= 0xFFFF ? p.ToString(CultureInfo.InvariantCulture) : "0x" + p.ToString("x", CultureInfo.InvariantCulture) + " (" + (p >> 16).ToString("x", CultureInfo.InvariantCulture) + ":" + (p & 0xFFFF).ToString("x", CultureInfo.InvariantCulture) + ")";
}
