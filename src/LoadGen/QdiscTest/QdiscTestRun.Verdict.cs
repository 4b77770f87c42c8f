using System.Diagnostics;
using Spectre.Console;

namespace Perf.LoadGen.QdiscTest;

// The verdict: each class judged from the sender's totals, the qdisc's counters and the sink, then printed.
internal static partial class QdiscTestRun
{
    /// <summary>The qdisc's class counters and what the sink had received of each priority, at one moment.</summary>
    private sealed record Snapshot(long Ticks, Dictionary<string, ClassStats> Classes, IReadOnlyDictionary<uint, long> SinkPackets, IReadOnlyDictionary<uint, long> SinkBytes)
    {
        // The time is taken when tc has answered: it reads the counters at the end of its run, after a fork and exec
        // whose length (larger on a loaded machine) a time taken before it would count as sending time. The sink's
        // counters are read from this timer thread while it receives, then too: 64-bit reads, each a moment's value.
        internal static Snapshot Take(string ns, SinkJob sink)
        {
            Dictionary<string, ClassStats> classes = ReadStats(ns);
            return new(Stopwatch.GetTimestamp(), classes, sink.PerPriority, sink.PerPriorityBytes);
        }
    }

    // The qdisc counts whole frames on the veth: payload + UDP 8 + IPv4 20 + Ethernet 14.
    private const int FrameOverhead = 42;

    private static int Compare(QdiscTestSettings s, SendTotals totals, SinkJob sink, Dictionary<string, ClassStats> counters, Snapshot? start, Snapshot end, Report report)
    {
        double window = start is null ? 0 : (end.Ticks - start.Ticks) / (double)Stopwatch.Frequency;
        // taprio on 6.1 reports one set of counters, the root's, for every class: then the gate windows are the
        // evidence (a datagram in another class's queue leaves in that class's window).
        bool byGates = s.Gates is not null && s.Classes.Length > 1 && s.Classes.Select(c => counters.GetValueOrDefault(c.ToString())).Distinct().Count() == 1;
        (bool? shared, string classifiedBy) = s.EtfDeltaNs is not null ? (RootHoldsEveryClass(s, totals, counters), EtfClassifiedBy)
            : byGates ? (true, "gate windows (this kernel's taprio reports the root's counters for every class)")
            : ((bool?)null, "class counters");
        var rows = new List<ClassResult>();
        foreach (HtbClass c in s.Classes)
        {
            rows.Add(Judge(s, c, totals, sink, counters.GetValueOrDefault(c.ToString()), start, end, window, shared) with { ClassifiedBy = classifiedBy });
        }

        var problems = new List<string>();
        SinkCommand.AddProblems(sink, problems, checkPriority: false, checkOrder: false);
        problems.RemoveAll(p => p.Contains("lost", StringComparison.Ordinal)); // loss is the qdisc's to cause here: reported per class
        long expected = totals.Packets - rows.Sum(r => r.Qdisc.Dropped);
        if (!s.LabMode && sink.Received != expected)
        {
            problems.Add("the receiver got " + sink.Received + " of " + expected);
        }

        bool pass = problems.Count == 0 && rows.All(r => r.Passed);
        if (!s.Quiet)
        {
            report.Console.Write(Table(s, rows, window)); // --quiet: the exit code and the JSON say it
        }

        foreach (string p in problems)
        {
            report.Error("FAIL: " + p);
        }

        foreach (ClassResult r in rows.Where(r => !r.Passed))
        {
            report.Line("[red]FAIL[/] " + Markup.Escape(r.Class.ToString() + ": " + r.Failure()));
        }

        report.Line(pass ? "[green]PASS[/]: " + Markup.Escape(Summary(s, rows)) : "[red]FAIL[/]");
        if (s.Json is not null)
        {
            report.WriteJson(s.Json, "qdisc-test", totals, sink, w => WriteClasses(w, s, rows, window, pass, counters));
        }

        if (s.Html is not null)
        {
            HtmlReport.Write(s.Html, "perfgen qdisc-test", report.ToJson("qdisc-test", totals, sink, w => WriteClasses(w, s, rows, window, pass, counters)));
        }

        return pass ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    private const string EtfClassifiedBy = "etf's own counters (it has no classes): every class's datagrams, sent or dropped";

    // etf: its root counters hold every datagram the senders got into the kernel, as a class's would (see Judge).
    private static bool RootHoldsEveryClass(QdiscTestSettings s, SendTotals totals, Dictionary<string, ClassStats> counters)
    {
        ClassStats root = counters.GetValueOrDefault(RootCounters);
        long sent = 0, enobufs = 0;
        foreach (HtbClass c in s.Classes)
        {
            sent += totals.PerPriority.First(p => p.Priority == c.Id).Packets;
            enobufs += totals.FailedByPriority.GetValueOrDefault(c.Id);
        }

        return sent > 0 && root.Packets <= sent && root.Packets + root.Dropped >= sent + enobufs;
    }

    // One class: classified (its counters hold every datagram its sender got into the kernel, or the evidence all
    // classes share says so), its rate where it was saturated, its latency where bounded, its loss, and with taprio or
    // etf whether every datagram left inside its window.
    private static ClassResult Judge(QdiscTestSettings s, HtbClass c, SendTotals totals, SinkJob sink, ClassStats q, Snapshot? start, Snapshot end, double window, bool? shared)
    {
        (uint _, long packets, long bytes) = totals.PerPriority.First(p => p.Priority == c.Id);
        long enobufs = totals.FailedByPriority.GetValueOrDefault(c.Id);
        long l2 = bytes + (packets * FrameOverhead);

        // Classification: every datagram the kernel took is in this class's counters, sent or dropped there. With
        // --recverr a dropped one comes back to its sender as ENOBUFS, except where sendmmsg loses that error (a
        // message after the first of a call): the sender then sends it again, so the qdisc counts a drop and then
        // the datagram. And on 7.3 (not 6.1 or 6.18) a few drops under concurrent senders came back as success.
        // So: the class passed no more than its sender sent, and saw at least every attempt the sender knows of.
        bool classified = packets > 0 && (shared ?? (s.RecvErr
            ? q.Packets <= packets && q.Packets + q.Dropped >= packets + enobufs
            : q.Packets + q.Dropped == packets && (q.Dropped > 0 || q.Bytes == l2)));

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

        // Rate: a saturated HTB class (offered more than its ceil can carry) reaches its rate, or up to its ceil where
        // it borrows, within 5%.
        bool saturated = s.Qdisc == "htb" && s.LabMode && (load is null || OfferedBits(load.Value, s.Size) > Parsers.TcRateBits(c.Top));
        bool? rateOk = saturated
            ? achieved >= Parsers.TcRateBits(c.Rate) * (1 - RateTolerance) && achieved <= Parsers.TcRateBits(c.Top) * (1 + RateTolerance)
            : null;

        LatencyHistogram latency = sink.Latency(c.Id);
        TimeSpan? bound = s.MaxP99.TryGetValue(c.Id, out TimeSpan b) ? b : null;
        bool? latencyOk = bound is { } max ? latency.Count > 0 && latency.Percentile(99) <= (long)max.TotalMicroseconds : null;
        long lost = sink.LostInFlow((uint)Array.IndexOf(s.Classes, c));
        // taprio: every datagram left inside its class's gate window; etf: inside [launch time - delta, launch time],
        // and none was dropped for its time (refused at enqueue: ENOBUFS; its deadline passed in the queue: reported).
        (long outside, long latestUs) = totals.Delays?.OutsideWindow(c.Id) ?? (0, 0);
        long txTimeDropped = totals.Delays?.TxTimeDroppedOf(c.Id) ?? 0;
        bool windowed = s.Gates is not null || s.EtfDeltaNs is not null;
        return new ClassResult(c, load, packets, l2, enobufs, q, classified, achieved, sinkRate, rateOk, latency, bound, latencyOk, lost)
        {
            QdiscDelay = totals.Delays?.Total(c.Id),
            QdiscDelayIncomplete = totals.Delays?.IncompleteOf(c.Id) ?? 0,
            OutsideWindow = outside,
            FarthestOutsideUs = latestUs,
            TxTimeDropped = txTimeDropped,
            WindowOk = !windowed ? null
                : outside == 0 && totals.Delays!.Total(c.Id).Count > 0 && (s.EtfDeltaNs is null || (txTimeDropped == 0 && enobufs == 0)),
        };
    }

    private static string Summary(QdiscTestSettings s, List<ClassResult> rows)
    {
        string text = (s.Qdisc == "htb" ? "HTB" : s.Qdisc) + " put every datagram in the class its priority named";
        if (rows.Any(r => r.RateOk == true))
        {
            text += "; each saturated class ran at its rate";
        }

        if (rows.Any(r => r.WindowOk == true))
        {
            text = s.EtfDeltaNs is { } delta
                ? "etf sent every datagram within " + Micros(delta / 1000) + " before its launch time (SND timestamps; farthest outside " + Micros(rows.Max(r => r.FarthestOutsideUs)) + "), and dropped none"
                : text + "; every datagram left inside its class's gate window (SND timestamps; latest " + Micros(rows.Max(r => r.FarthestOutsideUs)) + " past its window end)";
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

    /// <summary>One class's outcome.</summary>
    internal sealed record ClassResult(HtbClass Class, Rate? Load, long Sent, long SentL2Bytes, long Enobufs, ClassStats Qdisc, bool Classified,
        double Achieved, double SinkRate, bool? RateOk, LatencyHistogram Latency, TimeSpan? LatencyBound, bool? LatencyOk, long Lost)
    {
        internal bool Passed => Classified && RateOk != false && LatencyOk != false && WindowOk != false;

        /// <summary>taprio, etf: datagrams that left outside their window by more than the tolerance, and the farthest, in µs outside it.</summary>
        internal long OutsideWindow { get; init; }

        internal long FarthestOutsideUs { get; init; }

        /// <summary>etf: datagrams it dropped once their launch time had passed (its reports).</summary>
        internal long TxTimeDropped { get; init; }

        internal bool? WindowOk { get; init; }

        /// <summary>What classification was judged from: the class counters, taprio's gate windows, or etf's own counters.</summary>
        internal string ClassifiedBy { get; init; } = "class counters";

        /// <summary>--tx-timestamps: SND - SCHED of this class's datagrams, µs; null without.</summary>
        internal LatencyHistogram? QdiscDelay { get; init; }

        /// <summary>--tx-timestamps: datagrams of this class whose SND report never came.</summary>
        internal long QdiscDelayIncomplete { get; init; }

        internal string Failure() =>
            !Classified ? "the qdisc counted " + (Qdisc.Packets + Qdisc.Dropped) + " of the " + Sent + " datagrams sent with its priority"
            : WindowOk == false ? WindowFailure()
            : RateOk == false ? "achieved " + Parsers.FormatSi(Achieved) + "bit/s, outside " + Class.Rate + (Class.Ceil is null ? string.Empty : ".." + Class.Ceil) + " ±5%"
            : "p99 " + Micros(Latency.Percentile(99)) + " above " + Micros((long)LatencyBound!.Value.TotalMicroseconds);

        private string WindowFailure() =>
            QdiscDelay is { Count: 0 } ? "no SND timestamp came back"
            : OutsideWindow > 0 ? OutsideWindow + " datagrams left outside their window, up to " + Micros(FarthestOutsideUs) + " outside it"
            : (Enobufs + TxTimeDropped) + " datagrams dropped for their launch time (" + Enobufs + " refused at enqueue: already past, or behind one etf had sent; " + TxTimeDropped + " past it in the queue)";
    }
}
