using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Perf.Batch;
using Perf.Host;
using Spectre.Console;

namespace Perf.LoadGen;

/// <summary>What a qdisc-test run is asked to do. Built once from the command line.</summary>
internal sealed record QdiscTestSettings
{
    public required HtbClass[] Classes { get; init; }

    /// <summary>htb (default: shaping, rates), prio or ets (bands by priority, no rates).</summary>
    public string Qdisc { get; init; } = "htb";

    /// <summary>Offered load per class id; a missing class or null is max. Empty with no duration: count mode.</summary>
    public Dictionary<uint, Rate?> Loads { get; init; } = [];

    /// <summary>Lab mode: every class sends for this long (after a 1 s warm-up that rates leave out).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Count mode: this many datagrams in all, split evenly across the classes.</summary>
    public long Count { get; init; } = 3000;

    public (int Min, int Max) Size { get; init; } = (64, 64);
    public int Burst { get; init; } = 1;
    /// <summary>
    /// Off by default here: a shaper meters whole skbs, and one UDP GSO skb of 64 segments is 64 KB of tokens at once,
    /// which makes a class's rate lumpy over a short run. --gso auto (with --burst) tests GSO through the qdisc.
    /// </summary>
    public SegmentationMode Gso { get; init; } = SegmentationMode.Off;
    public PriorityStrategy Strategy { get; init; } = PriorityStrategy.Auto;
    public SendBackendKind Backend { get; init; } = SendBackendKind.Auto;

    /// <summary>p99 latency bound per class id: a class above it fails.</summary>
    public Dictionary<uint, TimeSpan> MaxP99 { get; init; } = [];

    /// <summary>IP_RECVERR on the senders: qdisc drops come back as ENOBUFS, counted per class.</summary>
    public bool RecvErr { get; init; }

    /// <summary>The named scenario that set the classes and loads up ("prio-hol"), for the report.</summary>
    public string? Scenario { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    public string? Json { get; init; }
    public string? Html { get; init; }
    public bool Quiet { get; init; }

    internal bool LabMode => Duration is not null || Loads.Count > 0;
}

/// <summary>
/// perfgen's qdisc lab. Builds a namespace pair joined by a veth, installs the qdisc on the sending side (HTB with one
/// class per requested id under a parent that can lend, or prio/ets bands), and runs one sender per class, each with its
/// own socket and thread, so classes compete only in the qdisc. The priority of every datagram is its class id, so the
/// qdisc classifies without filters. Verdicts: classification (the qdisc's counters against what was sent, exactly),
/// rate (a saturated HTB class reaches its rate, or up to its ceil when it borrows, within 5%), latency (each class's
/// p99 at the sink against a bound, where one is given). Everything it creates is removed on the way out, Ctrl-C
/// included.
/// </summary>
internal static partial class QdiscTest
{
    private const string Dev = "pg0";
    private const double RateTolerance = 0.05;
    private static readonly TimeSpan s_warmup = TimeSpan.FromSeconds(1);

    /// <summary>What prio-hol sets up: bulk traffic saturates one class while a small, low-rate probe of another measures latency.</summary>
    internal static QdiscTestSettings PrioHol(QdiscTestSettings given)
    {
        HtbClass[] classes = Parsers.ParseClasses("1:10=15mbit:ceil=20mbit:prio=1,1:20=5mbit:ceil=20mbit:prio=0");
        uint probe = classes[1].Id;
        return given with
        {
            Classes = classes,
            Qdisc = "htb",
            Loads = new Dictionary<uint, Rate?> { [classes[0].Id] = null, [probe] = new Rate(200, Bits: false) },
            Duration = given.Duration ?? TimeSpan.FromSeconds(5),
            Size = given.Size == (64, 64) ? (1000, 1000) : given.Size,
            MaxP99 = given.MaxP99.Count > 0 ? given.MaxP99 : new Dictionary<uint, TimeSpan> { [probe] = TimeSpan.FromMilliseconds(10) },
            Scenario = "prio-hol",
        };
    }

    internal static int Run(QdiscTestSettings s)
    {
        var report = new Report(s.Quiet, humanToStderr: s.Json == "-");
        if (geteuid() != 0)
        {
            report.Error("qdisc-test needs root: it creates network namespaces, a veth pair and a qdisc");
            return Cli.BadInput;
        }

        if (s.Strategy == PriorityStrategy.Cmsg && !CapabilityProbe.Probe().PerPacketPriority)
        {
            report.Error(Jobs.CmsgRefused + " and nothing was set up");
            return Cli.BadInput;
        }

        string tag = Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Random.Shared.Next(1 << 20).ToString("x", CultureInfo.InvariantCulture);
        string nsA = "perfgen-" + tag + "-a";
        string nsB = "perfgen-" + tag + "-b";
        SinkJob? sink = null;
        Thread? sinkThread = null;
        SendJob? job = null;
        bool stopped = false; // a signal while the namespaces are still being set up: remove them and send nothing
        void Stop(PosixSignalContext c)
        {
            c.Cancel = true;
            Volatile.Write(ref stopped, true);
            job?.Stop();
            sink?.Stop();
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            Sh("ip netns add " + nsA);
            Sh("ip netns add " + nsB);
            Sh("ip -n " + nsA + " link set lo up");
            Sh("ip -n " + nsB + " link set lo up");
            Sh("ip -n " + nsA + " link add " + Dev + " type veth peer name pg1 netns " + nsB);
            Sh("ip -n " + nsA + " addr add 198.18.0.1/30 dev " + Dev);
            Sh("ip -n " + nsB + " addr add 198.18.0.2/30 dev pg1");
            Sh("ip -n " + nsA + " link set " + Dev + " up");
            Sh("ip -n " + nsB + " link set pg1 up");
            InstallQdisc(nsA, s);
            if (s.Strategy == PriorityStrategy.MarkAndBpf)
            {
                MarkClassifier.Attach(Dev, nsA); // the marks become priorities before the qdisc classifies
            }

            report.Line("qdisc-test" + (s.Scenario is { } sc ? " (" + sc + ")" : string.Empty) + ": " + nsA + " --veth--> " + nsB + ", " + s.Qdisc + " on " + Dev + ": " +
                string.Join(", ", s.Classes.Select(c => c + (s.Qdisc == "htb" ? "=" + c.Rate + (c.Ceil is null ? string.Empty : " ceil " + c.Ceil) : string.Empty))));

            // The veth crossing resets skb->priority: the qdisc's counters on the sending side are the verdict; the sink
            // counts each class (its own flow), its loss and its latency.
            sink = new SinkJob(new SinkSettings
            {
                Listen = new DatagramAddress(IPAddress.Parse("198.18.0.2"), 0),
                Namespace = nsB,
                Idle = TimeSpan.FromSeconds(3),
                Verify = SinkVerify.None,
                Interval = s.Interval,
            });
            sinkThread = new Thread(sink.Run) { IsBackground = true, Name = "perfgen sink" };
            sinkThread.Start();
            var settings = new SendSettings
            {
                Destination = sink.LocalAddress,
                Duration = s.LabMode ? s.Duration ?? TimeSpan.FromSeconds(5) : null,
                Warmup = s.LabMode ? s_warmup : TimeSpan.Zero,
                CountPerFlow = s.LabMode ? null : Math.Max(1, s.Count / s.Classes.Length),
                Count = s.LabMode ? null : Math.Max(1, s.Count / s.Classes.Length) * s.Classes.Length,
                MinSize = s.Size.Min,
                MaxSize = s.Size.Max,
                PerFlow = [.. s.Classes.Select(c => new FlowSpec([new WeightedPriority(c.Id, 1)], s.Loads.GetValueOrDefault(c.Id) ?? Rate.Unlimited))],
                Connect = true,
                Namespace = nsA,
                Strategy = s.Strategy,
                Backend = s.Backend,
                Burst = s.Burst,
                Segmentation = s.Gso,
                ReportQdiscDrops = s.RecvErr,
            };
            job = new SendJob(settings);
            if (Volatile.Read(ref stopped))
            {
                report.Error("stopped by a signal during setup; nothing was sent");
                return Cli.CheckFailed;
            }

            // The qdisc's counters when the warm-up ends and when the senders stop (before what they still hold drains):
            // the window the rates are measured over.
            Snapshot? start = null, end = null;
            SinkJob counting = sink;
            using var first = new Timer(_ => start ??= Snapshot.Take(nsA, counting), null, s.LabMode ? s_warmup : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            using var last = new Timer(_ => end ??= Snapshot.Take(nsA, counting), null, s.LabMode ? s_warmup + settings.Duration!.Value : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            SendTotals? totals = Jobs.SendCoreWith(job, settings, s.Interval, report, out int code);
            if (totals is null)
            {
                sink.Stop();
                sinkThread.Join();
                return code;
            }

            end ??= Snapshot.Take(nsA, sink);
            sinkThread.Join();
            Dictionary<string, ClassStats> counters = WaitForCounters(nsA, totals.Packets);
            return Compare(s, totals, sink, counters, start, end, report);
        }
        catch (Exception e) when (e is InvalidOperationException or PerfSocketException)
        {
            report.Error(Cli.OneLine(e));
            return Cli.BadInput;
        }
        finally
        {
            if (sinkThread is { IsAlive: true })
            {
                sink!.Stop(); // never dispose a sink whose thread still receives
                sinkThread.Join();
            }

            sink?.Dispose();
            HostCommand.Run(null, "ip", "netns del " + nsB);
            HostCommand.Run(null, "ip", "netns del " + nsA);
        }
    }

    private static void InstallQdisc(string ns, QdiscTestSettings s)
    {
        string major = s.Classes[0].Major.ToString("x", CultureInfo.InvariantCulture);
        if (s.Qdisc is "prio" or "ets")
        {
            // A priority whose major is the qdisc's handle names its band directly: the classes are the bands 1..N.
            int bands = s.Classes.Max(c => c.Minor);
            Sh("tc -n " + ns + " qdisc add dev " + Dev + " root handle " + major + ": " + s.Qdisc + " bands " + bands.ToString(CultureInfo.InvariantCulture) +
                (s.Qdisc == "ets" ? " strict " + bands.ToString(CultureInfo.InvariantCulture) : string.Empty));
            return;
        }

        // No default class: a packet whose priority names no class is sent directly and shows up in no class counter.
        // The classes hang under one parent (major:ffff) as fast as all of them together, so a class with a ceil above
        // its rate can borrow what the others leave.
        double link = Math.Max(s.Classes.Sum(c => Parsers.TcRateBits(c.Rate)), s.Classes.Max(c => Parsers.TcRateBits(c.Top)));
        Sh("tc -n " + ns + " qdisc add dev " + Dev + " root handle " + major + ": htb");
        Sh("tc -n " + ns + " class add dev " + Dev + " parent " + major + ": classid " + major + ":ffff htb rate " + Bits(link));
        foreach (HtbClass c in s.Classes)
        {
            Sh("tc -n " + ns + " class add dev " + Dev + " parent " + major + ":ffff classid " + c + " htb rate " + c.Rate + (c.Ceil is null ? string.Empty : " ceil " + c.Ceil) +
                (c.Prio is { } p ? " prio " + p.ToString(CultureInfo.InvariantCulture) : string.Empty));
            if (c.Limit is { } limit)
            {
                Sh("tc -n " + ns + " qdisc add dev " + Dev + " parent " + c + " pfifo limit " + limit.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private static string Bits(double bits) => Math.Ceiling(bits).ToString("0", CultureInfo.InvariantCulture) + "bit";

    /// <summary>The qdisc's class counters and what the sink had received of each priority, at one moment.</summary>
    private sealed record Snapshot(long Ticks, Dictionary<string, ClassStats> Classes, IReadOnlyDictionary<uint, long> SinkPackets, IReadOnlyDictionary<uint, long> SinkBytes)
    {
        // The sink's counters are read from this timer thread while it receives: 64-bit reads, each a moment's value.
        internal static Snapshot Take(string ns, SinkJob sink) => new(Stopwatch.GetTimestamp(), ReadStats(ns), sink.PerPriority, sink.PerPriorityBytes);
    }

    private static int Compare(QdiscTestSettings s, SendTotals totals, SinkJob sink, Dictionary<string, ClassStats> counters, Snapshot? start, Snapshot end, Report report)

    {
        // The qdisc counts whole frames on the veth: payload + UDP 8 + IPv4 20 + Ethernet 14.
        const int FrameOverhead = 42;
        bool htb = s.Qdisc == "htb";
        double window = start is null ? 0 : (end.Ticks - start.Ticks) / (double)Stopwatch.Frequency;
        var rows = new List<ClassResult>();
        foreach (HtbClass c in s.Classes)
        {
            (uint _, long packets, long bytes) = totals.PerPriority.First(p => p.Priority == c.Id);
            long enobufs = totals.FailedByPriority.GetValueOrDefault(c.Id);
            ClassStats q = counters.GetValueOrDefault(c.ToString());
            long l2 = bytes + (packets * FrameOverhead);

            // Classification: every datagram the kernel took is in this class's counters, sent or dropped there. With
            // --recverr a dropped one comes back to its sender as ENOBUFS, except where sendmmsg loses that error (a
            // message after the first of a call): the sender then sends it again, so the qdisc counts a drop and then
            // the datagram. And on 7.3 (not 6.1 or 6.18) a few drops under concurrent senders came back as success.
            // So: the class passed no more than its sender sent, and saw at least every attempt the sender knows of.
            bool classified = packets > 0 && (s.RecvErr
                ? q.Packets <= packets && q.Packets + q.Dropped >= packets + enobufs
                : q.Packets + q.Dropped == packets && (q.Dropped > 0 || q.Bytes == l2));

            Rate? load = s.Loads.GetValueOrDefault(c.Id);
            double achieved = 0, sinkRate = 0;
            if (start is not null && window > 0)
            {
                ClassStats q0 = start.Classes.GetValueOrDefault(c.ToString());
                ClassStats q1 = end.Classes.GetValueOrDefault(c.ToString());
                achieved = (q1.Bytes - q0.Bytes) * 8 / window;
                long packets0 = start.SinkPackets.GetValueOrDefault(c.Id), packets1 = end.SinkPackets.GetValueOrDefault(c.Id);
                long bytes0 = start.SinkBytes.GetValueOrDefault(c.Id), bytes1 = end.SinkBytes.GetValueOrDefault(c.Id);
                sinkRate = ((bytes1 - bytes0) + ((packets1 - packets0) * FrameOverhead)) * 8 / window;
            }

            // Rate: a saturated HTB class (offered more than its ceil can carry) reaches its rate, or up to its ceil
            // where it borrows, within 5%.
            bool saturated = htb && s.LabMode && (load is null || OfferedBits(load.Value, s.Size) > Parsers.TcRateBits(c.Top));
            bool? rateOk = saturated
                ? achieved >= Parsers.TcRateBits(c.Rate) * (1 - RateTolerance) && achieved <= Parsers.TcRateBits(c.Top) * (1 + RateTolerance)
                : null;

            LatencyHistogram latency = sink.Latency(c.Id);
            bool? latencyOk = s.MaxP99.TryGetValue(c.Id, out TimeSpan bound) ? latency.Count > 0 && latency.Percentile(99) <= (long)bound.TotalMicroseconds : null;
            long lost = sink.Flows.TryGetValue((uint)Array.IndexOf(s.Classes, c), out SinkJob.Flow? flow) ? flow.Lost : 0;
            rows.Add(new ClassResult(c, load, packets, l2, enobufs, q, classified, achieved, sinkRate, rateOk, latency, s.MaxP99.TryGetValue(c.Id, out TimeSpan b) ? b : null, latencyOk, lost));
        }

        var problems = new List<string>();
        Jobs.AddSinkProblems(sink, problems, checkPriority: false, checkOrder: false);
        problems.RemoveAll(p => p.Contains("lost", StringComparison.Ordinal)); // loss is the qdisc's to cause here: reported per class
        long expected = totals.Packets - rows.Sum(r => r.Qdisc.Dropped);
        if (!s.LabMode && sink.Received != expected)
        {
            problems.Add("the receiver got " + sink.Received + " of " + expected);
        }

        bool pass = problems.Count == 0 && rows.All(r => r.Classified && r.RateOk != false && r.LatencyOk != false);
        report.Console.Write(Table(s, rows, window));
        foreach (string p in problems)
        {
            report.Error("FAIL: " + p);
        }

        foreach (ClassResult r in rows.Where(r => r.RateOk == false || r.LatencyOk == false || !r.Classified))
        {
            report.Line("[red]FAIL[/] " + Markup.Escape(r.Class.ToString() + ": " + r.Failure()));
        }

        report.Line(pass ? "[green]PASS[/]: " + Markup.Escape(Summary(s, rows)) : "[red]FAIL[/]");
        if (s.Json is not null)
        {
            Report.WriteJson(s.Json, "qdisc-test", totals, sink, w => WriteClasses(w, s, rows, window, pass));
        }

        if (s.Html is not null)
        {
            HtmlReport.Write(s.Html, "perfgen qdisc-test", totals, sink, rows.Select(r => r.Verdict()).ToList(), pass);
        }

        return pass ? Cli.Ok : Cli.CheckFailed;
    }

    private static string Summary(QdiscTestSettings s, List<ClassResult> rows)
    {
        string text = (s.Qdisc == "htb" ? "HTB" : s.Qdisc) + " put every datagram in the class its priority named";
        if (rows.Any(r => r.RateOk == true))
        {
            text += "; each saturated class ran at its rate";
        }

        if (s.Scenario == "prio-hol" && rows.FirstOrDefault(r => r.LatencyBound is not null) is { } probe)
        {
            text = "the probe " + probe.Class + "'s p99 stayed at " + Micros(probe.Latency.Percentile(99)) + ", under " + Micros((long)probe.LatencyBound!.Value.TotalMicroseconds) +
                ", while the bulk class ran at its rate; " + text;
        }
        else if (rows.Any(r => r.LatencyOk == true))
        {
            text += "; every p99 stayed under its bound";
        }

        return text;
    }

    // An offered load in bits/s on the wire (a packet rate at the average size).
    private static double OfferedBits(Rate load, (int Min, int Max) size) =>
        load.IsUnlimited ? double.MaxValue : load.Bits ? load.Value : load.Value * ((size.Min + size.Max) / 2.0 + 42) * 8;

    private static Table Table(QdiscTestSettings s, List<ClassResult> rows, double window)
    {
        bool htb = s.Qdisc == "htb";
        bool rates = htb && window > 0;
        var table = new Table().Title((htb ? "per class" : "per band") + ": sent by perfgen, counted by " + s.Qdisc + ", received by the sink (rates in Mbit/s of frames)");
        table.AddColumn("class");
        if (htb)
        {
            table.AddColumn("rate/ceil");
        }

        table.AddColumn("offered");
        foreach (string h in (string[])["sent", "qdisc", "drops", "ENOBUFS", "lost"])
        {
            table.AddColumn(new TableColumn(h).RightAligned());
        }

        if (rates)
        {
            table.AddColumn(new TableColumn("got (qdisc)").RightAligned()).AddColumn(new TableColumn("got (sink)").RightAligned());
        }

        table.AddColumn(new TableColumn("p50").RightAligned()).AddColumn(new TableColumn("p99").RightAligned()).AddColumn(new TableColumn("max").RightAligned()).AddColumn("result");
        foreach (ClassResult r in rows)
        {
            var cells = new List<string> { r.Class.ToString() };
            if (htb)
            {
                cells.Add(r.Class.Rate + (r.Class.Ceil is null ? string.Empty : "/" + r.Class.Ceil));
            }

            cells.Add(r.Load is { } l ? l.ToString() : s.LabMode ? "max" : "count");
            cells.AddRange([N(r.Sent), N(r.Qdisc.Packets), N(r.Qdisc.Dropped), N(r.Enobufs), N(r.Lost)]);
            if (rates)
            {
                cells.Add((r.Achieved / 1e6).ToString("0.00", CultureInfo.InvariantCulture));
                cells.Add((r.SinkRate / 1e6).ToString("0.00", CultureInfo.InvariantCulture));
            }

            cells.AddRange([Micros(r.Latency.Percentile(50)), Micros(r.Latency.Percentile(99)), Micros(r.Latency.Max), r.Passed ? "[green]PASS[/]" : "[red]FAIL[/]"]);
            table.AddRow(cells.ToArray());
        }

        return table;
    }

    private static void WriteClasses(System.Text.Json.Utf8JsonWriter w, QdiscTestSettings s, List<ClassResult> rows, double window, bool pass)
    {
        w.WriteString("qdisc", s.Qdisc);
        if (s.Scenario is not null)
        {
            w.WriteString("scenario", s.Scenario);
        }

        w.WriteNumber("rate_window_s", Math.Round(window, 3));
        w.WriteStartArray("classes");
        foreach (ClassResult r in rows)
        {
            w.WriteStartObject();
            w.WriteString("class", r.Class.ToString());
            w.WriteNumber("priority", r.Class.Id);
            w.WriteString("rate", r.Class.Rate);
            if (r.Class.Ceil is not null)
            {
                w.WriteString("ceil", r.Class.Ceil);
            }

            w.WriteString("offered", r.Load is { } l ? l.ToString() : s.LabMode ? "max" : "count");
            w.WriteNumber("sent_packets", r.Sent);
            w.WriteNumber("sent_bytes_l2", r.SentL2Bytes);
            w.WriteNumber("enobufs", r.Enobufs);
            w.WriteNumber("htb_packets", r.Qdisc.Packets);
            w.WriteNumber("htb_bytes", r.Qdisc.Bytes);
            w.WriteNumber("qdisc_dropped", r.Qdisc.Dropped);
            w.WriteNumber("qdisc_overlimits", r.Qdisc.Overlimits);
            w.WriteNumber("qdisc_backlog_packets", r.Qdisc.BacklogPackets);
            w.WriteNumber("sink_lost", r.Lost);
            w.WriteNumber("achieved_bps_qdisc", Math.Round(r.Achieved));
            w.WriteNumber("achieved_bps_sink", Math.Round(r.SinkRate));
            Report.WriteLatency(w, r.Latency);
            w.WriteBoolean("classified", r.Classified);
            if (r.RateOk is { } rateOk)
            {
                w.WriteBoolean("rate_ok", rateOk);
            }

            if (r.LatencyOk is { } latencyOk)
            {
                w.WriteNumber("max_p99_us", (long)r.LatencyBound!.Value.TotalMicroseconds);
                w.WriteBoolean("latency_ok", latencyOk);
            }

            w.WriteBoolean("pass", r.Passed);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBoolean("pass", pass);
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Micros(long us) => us >= 10_000_000 ? (us / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "s"
        : us >= 10_000 ? (us / 1000.0).ToString("0", CultureInfo.InvariantCulture) + "ms"
        : us.ToString("N0", CultureInfo.InvariantCulture) + "µs";

    /// <summary>One class's outcome.</summary>
    internal sealed record ClassResult(HtbClass Class, Rate? Load, long Sent, long SentL2Bytes, long Enobufs, ClassStats Qdisc, bool Classified,
        double Achieved, double SinkRate, bool? RateOk, LatencyHistogram Latency, TimeSpan? LatencyBound, bool? LatencyOk, long Lost)
    {
        internal bool Passed => Classified && RateOk != false && LatencyOk != false;

        internal string Failure() =>
            !Classified ? "the qdisc counted " + (Qdisc.Packets + Qdisc.Dropped) + " of the " + Sent + " datagrams sent with its priority"
            : RateOk == false ? "achieved " + Parsers.FormatSi(Achieved) + "bit/s, outside " + Class.Rate + (Class.Ceil is null ? string.Empty : ".." + Class.Ceil) + " ±5%"
            : "p99 " + Micros(Latency.Percentile(99)) + " above " + Micros((long)LatencyBound!.Value.TotalMicroseconds);

        internal HtmlReport.Verdict Verdict() => new(Class.ToString(), Class.Rate + (Class.Ceil is null ? string.Empty : "/" + Class.Ceil),
            Load?.ToString() ?? "max", Sent, Qdisc.Packets, Qdisc.Dropped, Enobufs, Achieved, Latency.Percentile(99), Passed, Passed ? "pass" : Failure());
    }

    /// <summary>Waits (at most 30 s) until the qdisc has sent or dropped what was sent, then returns its counters.</summary>
    private static Dictionary<string, ClassStats> WaitForCounters(string ns, long sent)
    {
        var deadline = Stopwatch.StartNew();
        Dictionary<string, ClassStats> counters;
        while (true)
        {
            // Drained: nothing queued in any class. The sum alone can reach `sent` early, as drops that sendmmsg did not
            // report (and the sender sent again) count on top of the datagrams.
            counters = ReadStats(ns);
            bool drained = counters.Values.All(c => c.BacklogPackets == 0) && counters.Values.Sum(c => c.Packets + c.Dropped) >= sent;
            if (drained || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                return counters;
            }

            Thread.Sleep(100);
        }
    }

    internal static Dictionary<string, ClassStats> ReadStats(string ns) => ParseClassStats(Sh("tc -n " + ns + " -s class show dev " + Dev));

    /// <summary>Per-class (packets, bytes) from <c>tc -s class show</c>.</summary>
    internal static Dictionary<string, (long Packets, long Bytes)> ParseClassCounters(string tcOutput) =>
        ParseClassStats(tcOutput).ToDictionary(kv => kv.Key, kv => (kv.Value.Packets, kv.Value.Bytes));

    /// <summary>
    /// Per-class counters from <c>tc -s class show</c>. iproute2 6.1 prints HTB class statistics only as text ("class htb
    /// 1:10 …", then " Sent B bytes P pkt (dropped D, overlimits O requeues R)" and " backlog Xb Np …"), so -j is no use.
    /// </summary>
    internal static Dictionary<string, ClassStats> ParseClassStats(string tcOutput)
    {
        var result = new Dictionary<string, ClassStats>();
        string? current = null;
        foreach (string line in tcOutput.Split('\n'))
        {
            Match c = ClassLine().Match(line);
            if (c.Success)
            {
                current = c.Groups[1].Value;
                continue;
            }

            if (current is null)
            {
                continue;
            }

            Match s = SentLine().Match(line);
            if (s.Success)
            {
                result[current] = new ClassStats(long.Parse(s.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture),
                    long.Parse(s.Groups[3].Value, CultureInfo.InvariantCulture), long.Parse(s.Groups[4].Value, CultureInfo.InvariantCulture), 0);
                continue;
            }

            Match b = BacklogLine().Match(line);
            if (b.Success && result.TryGetValue(current, out ClassStats stats))
            {
                result[current] = stats with { BacklogPackets = long.Parse(b.Groups[1].Value, CultureInfo.InvariantCulture) };
                current = null;
            }
        }

        return result;
    }

    private static string Sh(string command)
    {
        int space = command.IndexOf(' ', StringComparison.Ordinal);
        (int code, string output) = HostCommand.Run(null, command[..space], command[(space + 1)..]);
        return code == 0 ? output : throw new InvalidOperationException("'" + command + "' failed (" + code + "): " + output.Trim());
    }

    [GeneratedRegex(@"^class \S+ (\S+) ")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)")]
    private static partial Regex SentLine();

    [GeneratedRegex(@"^\s*backlog \S+ (\d+)p")]
    private static partial Regex BacklogLine();

    [LibraryImport("libc")]
    private static partial uint geteuid();
}

/// <summary>One qdisc class's counters: packets and bytes sent, dropped, overlimits, packets queued.</summary>
internal readonly record struct ClassStats(long Packets, long Bytes, long Dropped, long Overlimits, long BacklogPackets);
