using System.Globalization;
using Spectre.Console;

namespace Perf.LoadGen.QdiscTest;

// The per-class table and the JSON classes.
internal static partial class QdiscTestRun
{
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

        table.AddColumn(new TableColumn("p50").RightAligned()).AddColumn(new TableColumn("p99").RightAligned()).AddColumn(new TableColumn("max").RightAligned());
        if (s.TxTimestamps)
        {
            table.AddColumn(new TableColumn("qdisc p50").RightAligned()).AddColumn(new TableColumn("qdisc p99").RightAligned());
        }

        if (s.Gates is not null)
        {
            table.AddColumn(new TableColumn("outside gate").RightAligned());
        }
        else if (s.EtfDeltaNs is not null)
        {
            table.AddColumn(new TableColumn("outside window").RightAligned()).AddColumn(new TableColumn("etf drops").RightAligned());
        }

        table.AddColumn("result");
        foreach (ClassResult r in rows)
        {
            table.AddRow(Cells(s, r, htb, rates));
        }

        return table;
    }

    // One class's row, in the columns Table chose.
    private static string[] Cells(QdiscTestSettings s, ClassResult r, bool htb, bool rates)
    {
        var cells = new List<string> { r.Class.ToString() };
        if (htb)
        {
            cells.Add(r.Class.Rate + (r.Class.Ceil is null ? string.Empty : "/" + r.Class.Ceil));
        }

        cells.Add(r.Load is { } l ? l.ToString() : s.LabMode ? "max" : "count");
        bool classes = s.EtfDeltaNs is null; // etf has none: its own counters are in the JSON (etf_counters)
        cells.AddRange([N(r.Sent), classes ? N(r.Qdisc.Packets) : "–", classes ? N(r.Qdisc.Dropped) : "–", N(r.Enobufs), N(r.Lost)]);
        if (rates)
        {
            cells.Add((r.Achieved / 1e6).ToString("0.00", CultureInfo.InvariantCulture));
            cells.Add((r.SinkRate / 1e6).ToString("0.00", CultureInfo.InvariantCulture));
        }

        cells.AddRange([Micros(r.Latency.Percentile(50)), Micros(r.Latency.Percentile(99)), Micros(r.Latency.Max)]);
        if (s.TxTimestamps)
        {
            cells.AddRange(r.QdiscDelay is { Count: > 0 } d ? [Micros(d.Percentile(50)), Micros(d.Percentile(99))] : ["–", "–"]);
        }

        if (s.Gates is not null)
        {
            cells.Add(N(r.OutsideWindow));
        }
        else if (s.EtfDeltaNs is not null)
        {
            cells.AddRange([N(r.OutsideWindow), N(r.TxTimeDropped)]);
        }

        cells.Add(r.Passed ? "[green]PASS[/]" : "[red]FAIL[/]");
        return [.. cells];
    }

    private static void WriteClasses(System.Text.Json.Utf8JsonWriter w, QdiscTestSettings s, List<ClassResult> rows, double window, bool pass, Dictionary<string, ClassStats> counters)
    {
        w.WriteString("qdisc", s.Qdisc);
        w.WriteString("configured", ConfiguredQdisc(s));
        if (s.EtfDeltaNs is not null && counters.TryGetValue(RootCounters, out ClassStats root))
        {
            // etf has no classes: its own counters, all classes together (the classes' htb_* stay 0).
            w.WriteStartObject("etf_counters");
            w.WriteNumber("packets", root.Packets);
            w.WriteNumber("bytes", root.Bytes);
            w.WriteNumber("dropped", root.Dropped);
            w.WriteEndObject();
        }

        if (s.Scenario is not null)
        {
            w.WriteString("scenario", s.Scenario);
        }

        w.WriteNumber("rate_window_s", Math.Round(window, 3));
        w.WriteStartArray("classes");
        foreach (ClassResult r in rows)
        {
            WriteClass(w, s, r);
        }

        w.WriteEndArray();
        w.WriteBoolean("pass", pass);
    }

    // One class: what was sent and counted, its latency and time in the qdisc, then its verdicts.
    private static void WriteClass(System.Text.Json.Utf8JsonWriter w, QdiscTestSettings s, ClassResult r)
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
        if (r.QdiscDelay is { } delay)
        {
            Report.WriteLatency(w, delay, "qdisc_delay_us");
            w.WriteNumber("qdisc_delay_incomplete", r.QdiscDelayIncomplete);
        }

        WriteVerdicts(w, s, r);
        w.WriteEndObject();
    }

    private static void WriteVerdicts(System.Text.Json.Utf8JsonWriter w, QdiscTestSettings s, ClassResult r)
    {
        if (r.WindowOk is { } etfOk && s.EtfDeltaNs is { } delta)
        {
            w.WriteNumber("etf_delta_us", delta / 1000);
            w.WriteNumber("txtime_lead_us", s.TxTimeLeadNs / 1000);
            w.WriteNumber("outside_txtime_window", r.OutsideWindow);
            w.WriteNumber("farthest_outside_us", r.FarthestOutsideUs);
            w.WriteNumber("txtime_dropped", r.TxTimeDropped);
            w.WriteBoolean("txtime_ok", etfOk);
        }
        else if (r.WindowOk is { } gateOk)
        {
            (long start, long end) = new GateSchedule([], s.Gates!).WindowUs(Array.IndexOf(s.Classes, r.Class));
            w.WriteStartArray("gate_window_us");
            w.WriteNumberValue(start);
            w.WriteNumberValue(end);
            w.WriteEndArray();
            w.WriteNumber("outside_gate", r.OutsideWindow);
            w.WriteNumber("latest_past_gate_us", r.FarthestOutsideUs);
            w.WriteBoolean("gate_ok", gateOk);
        }

        w.WriteBoolean("classified", r.Classified);
        w.WriteString("classified_by", r.ClassifiedBy);
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
        if (!r.Passed)
        {
            w.WriteString("failure", r.Failure());
        }
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Micros(long us) => us >= 10_000_000 ? (us / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "s"
        : us >= 10_000 ? (us / 1000.0).ToString("0", CultureInfo.InvariantCulture) + "ms"
        : us.ToString("N0", CultureInfo.InvariantCulture) + "µs";
}
