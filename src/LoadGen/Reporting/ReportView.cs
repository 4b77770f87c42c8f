using System.Globalization;
using System.Text.Json.Nodes;

namespace Perf.LoadGen.Reporting;

/// <summary>
/// What the HTML report draws, read from a JSON report: a run's own (<see cref="Report.ToJson"/>) or a merge of several
/// (<see cref="ReportMerge"/>), so both draw the same way and the page never shows what the JSON does not hold.
/// </summary>
internal sealed class ReportView
{
    internal List<(uint Priority, long Packets)> Sent { get; } = [];

    /// <summary>Per priority, what the sink received; null without a sink.</summary>
    internal Dictionary<uint, long>? Received { get; private set; }

    internal Dictionary<uint, LatencyHistogram> Latency { get; } = [];

    /// <summary>Per priority, the time in the qdisc (--tx-timestamps); null without.</summary>
    internal Dictionary<uint, LatencyHistogram>? QdiscDelay { get; private set; }

    internal long QdiscIncomplete { get; private set; }

    internal List<IntervalSample> SendIntervals { get; } = [];

    internal List<IntervalSample> SinkIntervals { get; } = [];

    /// <summary>One line on what was sent, and one on what arrived; null where there was no sender or sink.</summary>
    internal string? SendLine { get; private set; }

    internal string? SinkLine { get; private set; }

    internal List<HtmlReport.Verdict> Verdicts { get; } = [];

    internal bool? Pass { get; private set; }

    /// <summary>The command line(s), kernel(s) and what was configured.</summary>
    internal List<string> WhatRan { get; } = [];

    internal static ReportView From(JsonObject report)
    {
        var view = new ReportView { Pass = report["pass"]?.GetValue<bool>() };
        if (report["command_line"] is { } commandLine)
        {
            view.WhatRan.Add("command: " + commandLine);
        }

        if (report["kernel"] is { } kernel)
        {
            view.WhatRan.Add("kernel: Linux " + kernel);
        }

        if (report["configured"] is { } configured)
        {
            view.WhatRan.Add(configured.ToString());
        }

        if (report["merged_reports"] is { } merged && L(merged) > 1)
        {
            view.WhatRan.Add("merged from " + merged + " reports" + (report["host"] is { } host ? ": " + host : string.Empty));
        }

        if (report["send"] is JsonObject send)
        {
            view.ReadSend(send);
        }

        if (report["sink"] is JsonObject sink)
        {
            view.ReadSink(sink);
        }

        foreach (JsonObject c in (report["classes"] as JsonArray)?.OfType<JsonObject>() ?? [])
        {
            view.Verdicts.Add(VerdictOf(c));
        }

        return view;
    }

    private void ReadSend(JsonObject send)
    {
        foreach (JsonObject p in PerPriority(send))
        {
            uint priority = (uint)ReportMerge.Num(p["priority"]);
            Sent.Add((priority, L(p["packets"])));
            if (p["qdisc_delay_us"] is JsonObject delay)
            {
                QdiscDelay ??= [];
                QdiscDelay[priority] = ReportMerge.HistogramOf(delay);
                QdiscIncomplete += L(p["qdisc_delay_incomplete"]);
            }
        }

        SendIntervals.AddRange(Intervals(send));
        SendLine = string.Format(CultureInfo.InvariantCulture, "Sent {0:N0} datagrams in {1:0.00} s ({2:N0} pps), {3:N0} failed; backend {4}, priority strategy {5}.",
            L(send["packets"]), D(send["elapsed_s"]), D(send["pps"]), L(send["failed"]), send["backend"], send["priority_strategy"]);
    }

    private void ReadSink(JsonObject sink)
    {
        Received = [];
        foreach (JsonObject p in PerPriority(sink))
        {
            uint priority = (uint)ReportMerge.Num(p["priority"]);
            Received[priority] = L(p["packets"]);
            if (p["latency_us"] is JsonObject latency)
            {
                Latency[priority] = ReportMerge.HistogramOf(latency);
            }
        }

        SinkIntervals.AddRange(Intervals(sink));
        SinkLine = string.Format(CultureInfo.InvariantCulture,
            "Received {0:N0}: lost {1:N0}, reordered {2:N0} ({3:N0} within a priority), duplicates {4:N0}. Latency is one-way, from each datagram's send time (CLOCK_MONOTONIC, one host) to its arrival.",
            L(sink["received"]), L(sink["lost"]), L(sink["reordered"]), L(sink["reordered_within_priority"]), L(sink["duplicates"]));
    }

    private static IEnumerable<JsonObject> PerPriority(JsonObject side) => (side["per_priority"] as JsonArray)?.OfType<JsonObject>() ?? [];

    private static IEnumerable<IntervalSample> Intervals(JsonObject side)
    {
        foreach (JsonObject i in (side["intervals"] as JsonArray)?.OfType<JsonObject>() ?? [])
        {
            var perPriority = new List<PrioritySample>();
            foreach (JsonObject p in PerPriority(i))
            {
                perPriority.Add(new PrioritySample((uint)ReportMerge.Num(p["priority"]), L(p["packets"]), L(p["bytes"]), Summary(p["latency_us"]), Summary(p["qdisc_delay_us"])));
            }

            yield return new IntervalSample(D(i["start_s"]), D(i["end_s"]), perPriority, L(i["lost"]));
        }
    }

    private static LatencySummary? Summary(JsonNode? latency) => latency is JsonObject o ? LatencySummary.Of(ReportMerge.HistogramOf(o)) : null;

    private static HtmlReport.Verdict VerdictOf(JsonObject c) => new(
        c["class"]!.ToString(),
        c["rate"] + (c["ceil"] is { } ceil ? "/" + ceil : string.Empty),
        c["offered"]?.ToString() ?? "max",
        L(c["sent_packets"]), L(c["htb_packets"]), L(c["qdisc_dropped"]), L(c["enobufs"]), D(c["achieved_bps_qdisc"]), L(c["latency_us"]?["p99"]),
        c["pass"]?.GetValue<bool>() ?? false,
        c["failure"]?.ToString() ?? "pass",
        c["qdisc_delay_us"]?["p50"] is { } p50 ? L(p50) : null,
        c["qdisc_delay_us"]?["p99"] is { } p99 ? L(p99) : null);

    private static long L(JsonNode? n) => (long)ReportMerge.Num(n);

    private static double D(JsonNode? n) => ReportMerge.Num(n);
}
