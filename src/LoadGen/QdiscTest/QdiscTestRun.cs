using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.QdiscTest;

/// <summary>
/// perfgen's qdisc lab. Builds a namespace pair joined by a veth, installs the qdisc on the sending side (HTB with one
/// class per requested id under a parent that can lend, or prio/ets bands), and runs one sender per class, each with its
/// own socket and thread, so classes compete only in the qdisc. The priority of every datagram is its class id, so the
/// qdisc classifies without filters. Verdicts: classification (the qdisc's counters against what was sent, exactly),
/// rate (a saturated HTB class reaches its rate, or up to its ceil when it borrows, within 5%), latency (each class's
/// p99 at the sink against a bound, where one is given). Everything it creates is removed on the way out, Ctrl-C
/// included.
/// </summary>
internal static partial class QdiscTestRun
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

    internal static int Run(Invocation run, QdiscTestSettings s)
    {
        var report = new Report(run, s.Quiet, humanToStderr: s.Json == "-");
        if (Refused(s, report) is int refused)
        {
            return refused;
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
            MakeLab(nsA, nsB, s, report);
            sink = StartSink(nsB, s, out sinkThread);
            SendSettings settings = Senders(s, sink, nsA);
            job = NewJob(s, settings);
            if (Volatile.Read(ref stopped))
            {
                report.Error("stopped by a signal during setup; nothing was sent");
                return ExitCodes.CheckFailed;
            }

            return Measure(s, job, settings, sink, sinkThread, nsA, report);
        }
        catch (Exception e) when (e is InvalidOperationException or PerfSocketException)
        {
            report.Error(PerfgenCli.OneLine(e));
            return ExitCodes.BadInput;
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

    // The senders, and with --qdisc taprio or etf the window their timestamps are judged against.
    private static SendJob NewJob(QdiscTestSettings s, SendSettings settings)
    {
        var job = new SendJob(settings);
        if (s.Gates is { } gates)
        {
            job.Delays!.Window = new GateSchedule([.. s.Classes.Select(c => c.Id)], gates, s.GateToleranceNs);
        }
        else if (s.EtfDeltaNs is { } delta)
        {
            job.Delays!.Window = new LaunchWindow(delta, s.GateToleranceNs);
        }

        return job;
    }

    // What is checked before anything is set up: exit 2 and one line.
    private static int? Refused(QdiscTestSettings s, Report report)
    {
        if (geteuid() != 0)
        {
            report.Error("qdisc-test needs root: it creates network namespaces, a veth pair and a qdisc");
            return ExitCodes.BadInput;
        }

        if (s.Strategy == PriorityStrategy.Cmsg && !CapabilityProbe.Probe().PerPacketPriority)
        {
            report.Error(SendCommand.CmsgRefused + " and nothing was set up");
            return ExitCodes.BadInput;
        }

        return null;
    }

    // Two namespaces joined by a veth, the qdisc under test on the sending end (and the classifier for mark-bpf).
    private static void MakeLab(string nsA, string nsB, QdiscTestSettings s, Report report)
    {
        Sh("ip netns add " + nsA);
        Sh("ip netns add " + nsB);
        Sh("ip -n " + nsA + " link set lo up");
        Sh("ip -n " + nsB + " link set lo up");
        // taprio gives each traffic class a queue of its own: one tx queue per class.
        string queues = s.Gates is { Length: var n } ? "numtxqueues " + (n + 1) + " numrxqueues " + (n + 1) : string.Empty;
        JoinWithVeth(nsA, Dev, nsB, "pg1", queues);
        InstallQdisc(nsA, s);
        if (s.Strategy == PriorityStrategy.MarkAndBpf)
        {
            MarkClassifier.Attach(Dev, nsA); // the marks become priorities before the qdisc classifies
        }

        report.Line("qdisc-test" + (s.Scenario is { } sc ? " (" + sc + ")" : string.Empty) + ": " + nsA + " --veth--> " + nsB + ", " + ConfiguredQdisc(s));
    }

    // The veth crossing resets skb->priority: the qdisc's counters on the sending side are the verdict; the sink counts
    // each class (its own flow), its loss and its latency.
    private static SinkJob StartSink(string nsB, QdiscTestSettings s, out Thread thread)
    {
        var sink = new SinkJob(new SinkSettings
        {
            Listen = new DatagramAddress(IPAddress.Parse("198.18.0.2"), 0),
            Namespace = nsB,
            Idle = TimeSpan.FromSeconds(3),
            Verify = SinkVerify.None,
            Interval = s.Interval,
        });
        thread = new Thread(sink.Run) { IsBackground = true, Name = "perfgen sink" };
        thread.Start();
        return sink;
    }

    // One sender (thread, socket) per class, with that class's load.
    private static SendSettings Senders(QdiscTestSettings s, SinkJob sink, string nsA) => new()
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
        TxTimestamps = s.TxTimestamps,
        TxTimeLeadNs = s.TxTimeLeadNs,
        SendBufferSize = s.TxTimestamps ? 4 << 20 : 0,
    };

    // Sends, takes the qdisc's counters when the warm-up ends and when the senders stop (before what they still hold
    // drains: the window the rates are measured over), waits for the qdisc to drain, and judges.
    private static int Measure(QdiscTestSettings s, SendJob job, SendSettings settings, SinkJob sink, Thread sinkThread, string nsA, Report report)
    {
        Snapshot? start = null, end = null;
        using var first = new Timer(_ => start ??= Snapshot.Take(nsA, sink), null, s.LabMode ? s_warmup : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        using var last = new Timer(_ => end ??= Snapshot.Take(nsA, sink), null, s.LabMode ? s_warmup + settings.Duration!.Value : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        SendTotals? totals = SendCommand.SendCoreWith(job, settings, s.Interval, report, out int code);
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

    private static void InstallQdisc(string ns, QdiscTestSettings s)
    {
        string major = s.Classes[0].Major.ToString("x", CultureInfo.InvariantCulture);
        if (s.Gates is { } gates)
        {
            // Its queues' classes are major:1 to major:N, so the class ids name them as for prio.
            var schedule = new GateSchedule([.. s.Classes.Select(c => c.Id)], gates);
            InstallModuleQdisc(ns, "parent root handle " + major + ": taprio " + schedule.TcArguments(), "taprio", "sch_taprio");
            return;
        }

        if (s.EtfDeltaNs is { } delta)
        {
            // etf has no classes: every class's datagrams carry their own launch time into the one queue. It drops
            // what carries no time (ARP): the lab's neighbour entry is permanent.
            InstallModuleQdisc(ns, "root handle " + major + ": etf clockid CLOCK_TAI delta " + delta.ToString(CultureInfo.InvariantCulture), "etf", "sch_etf");
            return;
        }

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

    // A qdisc that is a module: where the kernel has none, say so in one line.
    private static void InstallModuleQdisc(string ns, string arguments, string kind, string module)
    {
        try
        {
            Sh("tc -n " + ns + " qdisc replace dev " + Dev + " " + arguments);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("kind is unknown", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("--qdisc " + kind + ": this kernel (" + Environment.OSVersion.Version + ") has no " + kind + " qdisc (" + module + " is a module: modprobe " + module + "); nothing was sent", e);
        }
    }

    private static string Bits(double bits) => Math.Ceiling(bits).ToString("0", CultureInfo.InvariantCulture) + "bit";

    /// <summary>The qdisc and its classes as configured, as the console and the HTML report show them.</summary>
    internal static string ConfiguredQdisc(QdiscTestSettings s) =>
        s.Qdisc + " on " + Dev + ": " + string.Join(", ", s.Classes.Select((c, i) => c + (s.Qdisc == "htb" ? "=" + c.Rate + (c.Ceil is null ? string.Empty : " ceil " + c.Ceil)
            : s.Gates is { } g ? " gate " + (g.Take(i).Sum() / 1000) + "-" + (g.Take(i + 1).Sum() / 1000) + "us" : string.Empty)))
        + (s.Gates is { } gates ? " of a " + (gates.Sum() / 1000) + "us cycle (CLOCK_TAI, base-time 0), " + (s.GateToleranceNs / 1000) + "us tolerance" : string.Empty)
        + (s.EtfDeltaNs is { } delta ? " (priorities; etf has no classes), clockid CLOCK_TAI delta " + (delta / 1000) + "us, launch times " + (s.TxTimeLeadNs / 1000) + "us after enqueue, " + (s.GateToleranceNs / 1000) + "us tolerance" : string.Empty);
}
