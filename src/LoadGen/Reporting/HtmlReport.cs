using System.Globalization;
using System.Net;
using System.Text;

namespace Perf.LoadGen.Reporting;

/// <summary>
/// One self-contained HTML file (--html) that works offline: charts are plain SVG drawn here, the one script is inline
/// and only lets a reader hide a series, so there is no CDN, no library and nothing for NativeAOT to trim away. It
/// shows the rate per priority (class) over time, latency percentiles per priority over time, the latency distribution
/// (CDF) per priority, and the verdict table where there is one. Every chart carries data-points, the number of points
/// it plots, so a test can tell an empty chart from a drawn one.
/// </summary>
internal static partial class HtmlReport
{
    /// <summary>One row of the verdict table.</summary>
    internal sealed record Verdict(string Class, string Rate, string Offered, long Sent, long QdiscPackets, long Dropped, long Enobufs, double AchievedBps, long P99Us, bool Pass, string Why,
        long? QdiscP50Us = null, long? QdiscP99Us = null);

    private static readonly string[] s_colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

    private const int Width = 1000;
    private const int Height = 300;
    private const int Left = 70;
    private const int Right = 20;
    private const int Top = 20;
    private const int Bottom = 40;

    /// <summary>Writes the page for <paramref name="report"/>, a JSON report (a run's own, <see cref="Report.ToJson"/>, or a merge) to <paramref name="path"/>.</summary>
    internal static void Write(string path, string title, System.Text.Json.Nodes.JsonObject report)
    {
        ReportView view = ReportView.From(report);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}")
            .Append("table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}")
            .Append("td:first-child,th:first-child{text-align:left}.pass{color:#2ca02c;font-weight:bold}.fail{color:#d62728;font-weight:bold}")
            .Append("svg.chart{border:1px solid #ddd;background:#fff;width:100%;height:auto}.legend span{cursor:pointer;margin-right:14px;font-size:13px}.legend span.off{opacity:.35}")
            .Append("</style></head>\n<body>\n<h1>").Append(E(title)).Append("</h1>\n<p>").Append(E(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)))
            .Append(", ").Append(E(Environment.MachineName)).Append("</p>\n");
        AppendWhatRan(html, view.WhatRan);

        if (view.Pass is { } p)
        {
            html.Append("<p class=\"").Append(p ? "pass\">PASS" : "fail\">FAIL").Append("</p>\n");
        }

        if (view.Verdicts.Count > 0)
        {
            AppendVerdicts(html, view.Verdicts);
        }

        AppendSummary(html, view);

        // Rate over time: what the sink received where there is one, else what was sent.
        IReadOnlyList<IntervalSample> intervals = view.SinkIntervals.Count > 0 ? view.SinkIntervals : view.SendIntervals;
        string rateTitle = view.SinkIntervals.Count > 0 ? "Rate received per priority (Mbit/s of payload)" : "Rate sent per priority (Mbit/s of payload)";
        Chart(html, "rate", rateTitle, "time (s)", "Mbit/s", SeriesOverTime(intervals, s => s.Bytes * 8 / 1e6), logX: false);

        if (view.Received is not null)
        {
            AppendLatency(html, view);
        }

        if (view.QdiscDelay is { } delays)
        {
            AppendQdiscDelay(html, view, delays);
        }

        if (report["watch"] is System.Text.Json.Nodes.JsonObject watch)
        {
            AppendWatch(html, watch, report);
        }

        html.Append("<script>\n")
            .Append("document.querySelectorAll('.legend span').forEach(function(s){s.addEventListener('click',function(){")
            .Append("var g=document.getElementById(s.dataset.series);var off=g.style.display==='none';g.style.display=off?'':'none';s.classList.toggle('off',!off);});});\n")
            .Append("document.body.dataset.ready='1';\n</script>\n</body></html>\n");
        File.WriteAllText(path, html.ToString());
    }

    // A sink's one-way latency: p99 and p50 per interval, and the distribution.
    private static void AppendLatency(StringBuilder html, ReportView view)
    {
        Chart(html, "latency", "One-way latency per priority over time (ms; p99 and p50 of each interval)", "time (s)", "ms",
            PercentilesOverTime(view.SinkIntervals, s => s.Latency), logX: false, logYWhenSpread: true);
        Chart(html, "cdf", "Latency distribution per priority (CDF)", "latency (µs, log scale)", "fraction ≤", Cdfs(view.Latency), logX: true);
    }

    // --tx-timestamps: each datagram's SND - SCHED from the kernel, over time and as a distribution.
    private static void AppendQdiscDelay(StringBuilder html, ReportView view, Dictionary<uint, LatencyHistogram> delays)
    {
        Chart(html, "qdisc-delay", "Time in the qdisc per priority over time (ms; p99 and p50 of each interval, kernel SND − SCHED timestamps)", "time (s)", "ms",
            PercentilesOverTime(view.SendIntervals, s => s.QdiscDelay), logX: false, logYWhenSpread: true);
        Chart(html, "qdisc-cdf", "Time in the qdisc per priority (CDF)", "qdisc delay (µs, log scale)", "fraction ≤", Cdfs(delays), logX: true);
        html.Append("<p>Qdisc delay is SND − SCHED of each datagram, from SO_TIMESTAMPING: when its skb entered the device queue and when the driver took it. ")
            .Append(N(view.QdiscIncomplete)).Append(" datagrams had no SND report (dropped unreported, or a report lost).</p>\n");
    }

    // Per priority, the p99 and the p50 of each interval's histogram, in ms; an interval without one has no point.
    private static List<(string Name, List<(double X, double Y)> Points)> PercentilesOverTime(IReadOnlyList<IntervalSample> intervals, Func<PrioritySample, LatencySummary?> pick)
    {
        var series = new List<(string Name, List<(double X, double Y)> Points)>();
        foreach ((string suffix, Func<LatencySummary, long> value) in ((string, Func<LatencySummary, long>)[])[(" p99", d => d.P99), (" p50", d => d.P50)])
        {
            foreach ((string name, List<(double X, double Y)> points) in SeriesOverTime(intervals, s => pick(s) is { } d ? value(d) / 1000.0 : double.NaN, perSecond: false, skipEmpty: true))
            {
                series.Add((name + suffix, points));
            }
        }

        return series;
    }

    // One CDF per priority, on a log axis (so 0 µs is drawn at 1).
    private static List<(string Name, List<(double X, double Y)> Points)> Cdfs(Dictionary<uint, LatencyHistogram> histograms) =>
        [.. histograms.Keys.Order().Select(p => (Report.FormatPriority(p), histograms[p].Cdf().Select(c => ((double)Math.Max(c.Value, 1), c.Fraction)).ToList()))];

    private static void AppendVerdicts(StringBuilder html, List<Verdict> verdicts)
    {
        bool delays = verdicts.Any(v => v.QdiscP99Us is not null);
        html.Append("<h2>Verdicts</h2>\n<table id=\"verdicts\"><tr><th>class</th><th>rate</th><th>offered</th><th>sent</th><th>qdisc pkts</th><th>dropped</th><th>ENOBUFS</th><th>achieved</th><th>p99</th>")
            .Append(delays ? "<th>qdisc p50</th><th>qdisc p99</th>" : string.Empty).Append("<th>result</th></tr>\n");
        foreach (Verdict v in verdicts)
        {
            html.Append("<tr><td>").Append(E(v.Class)).Append("</td><td>").Append(E(v.Rate)).Append("</td><td>").Append(E(v.Offered)).Append("</td><td>")
                .Append(N(v.Sent)).Append("</td><td>").Append(N(v.QdiscPackets)).Append("</td><td>").Append(N(v.Dropped)).Append("</td><td>").Append(N(v.Enobufs))
                .Append("</td><td>").Append(v.AchievedBps > 0 ? E(Parsers.FormatSi(v.AchievedBps) + "bit/s") : "–").Append("</td><td>").Append(E(QdiscTestRun.Micros(v.P99Us)));
            if (delays)
            {
                html.Append("</td><td>").Append(v.QdiscP50Us is { } q50 ? E(QdiscTestRun.Micros(q50)) : "–").Append("</td><td>").Append(v.QdiscP99Us is { } q99 ? E(QdiscTestRun.Micros(q99)) : "–");
            }

            html.Append("</td><td class=\"").Append(v.Pass ? "pass\">PASS" : "fail\">FAIL: " + E(v.Why)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendSummary(StringBuilder html, ReportView view)
    {
        html.Append("<h2>Totals</h2>\n<table id=\"totals\"><tr><th>priority</th><th>sent</th><th>received</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
        var priorities = new SortedSet<uint>(view.Sent.Select(x => x.Priority));
        priorities.UnionWith(view.Received?.Keys ?? (IEnumerable<uint>)[]);
        foreach (uint p in priorities)
        {
            long sent = view.Sent.FirstOrDefault(x => x.Priority == p).Packets;
            html.Append("<tr><td>").Append(E(Report.FormatPriority(p))).Append("</td><td>").Append(view.SendLine is null ? "–" : N(sent)).Append("</td><td>")
                .Append(view.Received is null ? "–" : N(view.Received.GetValueOrDefault(p))).Append("</td>");
            LatencyHistogram? h = view.Latency.GetValueOrDefault(p);
            foreach (double pc in (double[])[50, 90, 99, 99.9])
            {
                html.Append("<td>").Append(h is null || h.Count == 0 ? "–" : E(QdiscTestRun.Micros(h.Percentile(pc)))).Append("</td>");
            }

            html.Append("<td>").Append(h is null || h.Count == 0 ? "–" : E(QdiscTestRun.Micros(h.Max))).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
        foreach (string? line in (string?[])[view.SendLine, view.SinkLine])
        {
            if (line is not null)
            {
                html.Append("<p>").Append(E(line)).Append("</p>\n");
            }
        }
    }

    // One series per priority: value(sample) per interval, at the interval's end.
    private static List<(string Name, List<(double X, double Y)> Points)> SeriesOverTime(IReadOnlyList<IntervalSample> intervals, Func<PrioritySample, double> value, bool perSecond = true, bool skipEmpty = false)
    {
        var series = new SortedDictionary<uint, List<(double, double)>>();
        foreach (IntervalSample i in intervals)
        {
            double seconds = Math.Max(i.EndS - i.StartS, 1e-9);
            foreach (PrioritySample s in i.PerPriority)
            {
                double v = value(s);
                if (skipEmpty && (s.Packets == 0 || double.IsNaN(v)))
                {
                    continue; // no datagram (or none measured), no latency: not a latency of 0
                }

                if (!series.TryGetValue(s.Priority, out List<(double, double)>? points))
                {
                    points = [];
                    series[s.Priority] = points;
                }

                points.Add((i.EndS, perSecond ? v / seconds : v));
            }
        }

        return [.. series.Select(kv => (Report.FormatPriority(kv.Key), kv.Value))];
    }

    private static void Chart(StringBuilder html, string id, string title, string xLabel, string yLabel, List<(string Name, List<(double X, double Y)> Points)> series, bool logX, bool logYWhenSpread = false)
    {
        int points = series.Sum(s => s.Points.Count);
        html.Append("<h2>").Append(E(title)).Append("</h2>\n<div class=\"legend\">");
        for (int k = 0; k < series.Count; k++)
        {
            html.Append("<span data-series=\"").Append(id).Append('-').Append(k).Append("\" style=\"color:").Append(s_colors[k % s_colors.Length]).Append("\">&#9632; ")
                .Append(E(series[k].Name)).Append("</span>");
        }

        html.Append("</div>\n<svg class=\"chart\" id=\"").Append(id).Append("\" data-points=\"").Append(points).Append("\" width=\"").Append(Width).Append("\" height=\"").Append(Height)
            .Append("\" viewBox=\"0 0 ").Append(Width).Append(' ').Append(Height).Append("\" xmlns=\"http://www.w3.org/2000/svg\">\n");
        if (points == 0)
        {
            html.Append("<text x=\"").Append(Width / 2).Append("\" y=\"").Append(Height / 2).Append("\" text-anchor=\"middle\" fill=\"#888\">no data</text></svg>\n");
            return;
        }

        IEnumerable<(double X, double Y)> all = series.SelectMany(s => s.Points);
        ChartAxis ax = logX ? ChartAxis.Logarithmic(Math.Max(all.Min(p => p.X), 1), all.Max(p => p.X)) : ChartAxis.Linear(all.Min(p => p.X), all.Max(p => p.X), fromZero: false);
        bool logY = logYWhenSpread && ChartAxis.SpreadOver10x(series.Where(s => s.Points.Count > 0).Select(s => s.Points.Max(p => p.Y)));
        ChartAxis ay = logY ? ChartAxis.Logarithmic(all.Where(p => p.Y > 0).Select(p => p.Y).DefaultIfEmpty(1).Min(), all.Max(p => p.Y)) : ChartAxis.Linear(0, all.Max(p => p.Y), fromZero: true);
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(double x) => Left + (ax.Fraction(x) * plotW);
        double Y(double y) => Top + plotH - (ay.Fraction(y) * plotH);

        // Axes, ticks on round values, gridlines and labels.
        html.Append("<g stroke=\"#999\" fill=\"none\"><line x1=\"").Append(Left).Append("\" y1=\"").Append(Top).Append("\" x2=\"").Append(Left).Append("\" y2=\"").Append(Top + plotH)
            .Append("\"/><line x1=\"").Append(Left).Append("\" y1=\"").Append(F(Top + plotH)).Append("\" x2=\"").Append(Left + plotW).Append("\" y2=\"").Append(F(Top + plotH)).Append("\"/></g>\n");
        html.Append("<g font-size=\"11\" fill=\"#555\">");
        foreach (double yv in ay.Ticks)
        {
            html.Append("<line stroke=\"#eee\" x1=\"").Append(Left + 1).Append("\" x2=\"").Append(F(Left + plotW)).Append("\" y1=\"").Append(F(Y(yv))).Append("\" y2=\"").Append(F(Y(yv))).Append("\"/>")
                .Append("<text x=\"").Append(Left - 6).Append("\" y=\"").Append(F(Y(yv) + 4)).Append("\" text-anchor=\"end\">").Append(E(Tick(yv))).Append("</text>");
        }

        foreach (double xv in ax.Ticks)
        {
            html.Append("<text x=\"").Append(F(X(xv))).Append("\" y=\"").Append(F(Top + plotH + 16)).Append("\" text-anchor=\"middle\">").Append(E(Tick(xv))).Append("</text>");
        }

        html.Append("<text x=\"").Append(F(Left + (plotW / 2))).Append("\" y=\"").Append(Height - 6).Append("\" text-anchor=\"middle\">").Append(E(xLabel)).Append("</text>")
            .Append("<text x=\"14\" y=\"").Append(F(Top + (plotH / 2))).Append("\" text-anchor=\"middle\" transform=\"rotate(-90 14 ").Append(F(Top + (plotH / 2))).Append(")\">")
            .Append(E(logY ? yLabel + ", log scale" : yLabel)).Append("</text></g>\n");

        DrawSeries(html, id, series, X, Y);
        html.Append("</svg>\n");
    }

    // The command line, the kernel, and what was configured (or merged): enough to run it again.
    private static void AppendWhatRan(StringBuilder html, List<string> whatRan)
    {
        html.Append("<ul id=\"ran\">");
        foreach (string line in whatRan)
        {
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            bool command = line.StartsWith("command: ", StringComparison.Ordinal);
            html.Append("<li>").Append(command ? "command: <code>" + E(line[(colon + 2)..]) + "</code>" : E(line)).Append("</li>");
        }

        html.Append("</ul>\n");
    }

    // One path per series (a dot where it has a single point), in the legend's colours.
    private static void DrawSeries(StringBuilder html, string id, List<(string Name, List<(double X, double Y)> Points)> series, Func<double, double> x, Func<double, double> y)
    {
        for (int k = 0; k < series.Count; k++)
        {
            List<(double X, double Y)> pts = series[k].Points;
            html.Append("<g id=\"").Append(id).Append('-').Append(k).Append("\"><path fill=\"none\" stroke-width=\"1.8\" stroke=\"").Append(s_colors[k % s_colors.Length]).Append("\" d=\"");
            for (int i = 0; i < pts.Count; i++)
            {
                html.Append(i == 0 ? 'M' : 'L').Append(F(x(pts[i].X))).Append(',').Append(F(y(pts[i].Y))).Append(' ');
            }

            html.Append("\"/>");
            if (pts.Count == 1)
            {
                html.Append("<circle r=\"3\" fill=\"").Append(s_colors[k % s_colors.Length]).Append("\" cx=\"").Append(F(x(pts[0].X))).Append("\" cy=\"").Append(F(y(pts[0].Y))).Append("\"/>");
            }

            html.Append("</g>\n");
        }
    }

    private static string Tick(double v) => v >= 1000 ? Parsers.FormatSi(v) : v.ToString(v >= 10 ? "0" : "0.##", CultureInfo.InvariantCulture);

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
