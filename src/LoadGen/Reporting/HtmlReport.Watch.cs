using System.Text;
using System.Text.Json.Nodes;

namespace Perf.LoadGen.Reporting;

// send --watch: the watched classes' rates and drops over time, and their totals with perfgen's share.
internal static partial class HtmlReport
{
    private static void AppendWatch(StringBuilder html, JsonObject watch, JsonObject report)
    {
        var rate = new SortedDictionary<string, List<(double X, double Y)>>(StringComparer.Ordinal);
        var drops = new SortedDictionary<string, List<(double X, double Y)>>(StringComparer.Ordinal);
        foreach (JsonNode? interval in watch["intervals"]?.AsArray() ?? [])
        {
            double start = interval!["start_s"]!.GetValue<double>(), end = interval["end_s"]!.GetValue<double>();
            double seconds = Math.Max(end - start, 1e-9);
            foreach (JsonNode? c in interval["classes"]!.AsArray())
            {
                string name = c!["device"]!.GetValue<string>() + " " + c["class"]!.GetValue<string>();
                Add(rate, name, end, c["bytes"]!.GetValue<long>() * 8 / 1e6 / seconds);
                Add(drops, name, end, c["drops"]!.GetValue<long>() / seconds);
            }
        }

        Chart(html, "watch-rate", "Rate per watched class (Mbit/s, what the qdisc sent)", "time (s)", "Mbit/s", [.. rate.Select(kv => (kv.Key, kv.Value))], logX: false);
        Chart(html, "watch-drops", "Drops per watched class (per second)", "time (s)", "drops/s", [.. drops.Select(kv => (kv.Key, kv.Value))], logX: false);
        AppendWatchDelay(html, watch, report);
        AppendWatchTable(html, watch, Delivered(watch, report));
    }

    // With --tx-timestamps: each watched class's time in the qdisc over time, from the priorities that landed there (the
    // worst p99 and p50 among them in each interval). Nothing without timestamps.
    private static void AppendWatchDelay(StringBuilder html, JsonObject watch, JsonObject report)
    {
        var classOf = new Dictionary<long, string>();
        foreach (JsonNode? c in watch["classification"]?.AsArray() ?? [])
        {
            if (c!["class"]?.GetValue<string>() is { } cls)
            {
                classOf[c["priority"]!.GetValue<long>()] = c["device"]!.GetValue<string>() + " " + cls;
            }
        }

        var series = new SortedDictionary<string, List<(double X, double Y)>>(StringComparer.Ordinal);
        foreach (JsonNode? interval in report["send"]?["intervals"]?.AsArray() ?? [])
        {
            var worst = new SortedDictionary<string, (double P99, double P50)>(StringComparer.Ordinal);
            foreach (JsonNode? p in interval!["per_priority"]!.AsArray())
            {
                if (p!["qdisc_delay_us"] is JsonObject d && classOf.TryGetValue(p["priority"]!.GetValue<long>(), out string? cls))
                {
                    (double p99, double p50) = worst.GetValueOrDefault(cls);
                    worst[cls] = (Math.Max(p99, d["p99"]!.GetValue<double>() / 1000), Math.Max(p50, d["p50"]!.GetValue<double>() / 1000));
                }
            }

            double end = interval["end_s"]!.GetValue<double>();
            foreach ((string cls, (double p99, double p50)) in worst)
            {
                Add(series, cls + " p99", end, p99);
                Add(series, cls + " p50", end, p50);
            }
        }

        if (series.Count > 0)
        {
            Chart(html, "watch-delay", "Time in the qdisc per watched class (ms; the worst p99 and p50 of its priorities in each interval, SND − SCHED)", "time (s)", "ms",
                [.. series.Select(kv => (kv.Key, kv.Value))], logX: false, logYWhenSpread: true);
        }
    }

    // With a sink's report merged in (perfgen merge send.json sink.json): per watched class, what the sink received of
    // the priorities that landed there, the probe's datagrams included. Null without a sink.
    private static Dictionary<string, long>? Delivered(JsonObject watch, JsonObject report)
    {
        if (report["sink"]?["per_priority"] is not JsonArray received)
        {
            return null;
        }

        var byPriority = new Dictionary<long, long>();
        foreach (JsonNode? p in received)
        {
            byPriority[p!["priority"]!.GetValue<long>()] = p["packets"]!.GetValue<long>();
        }

        var delivered = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (JsonNode? c in watch["classification"]?.AsArray() ?? [])
        {
            if (c!["class"]?.GetValue<string>() is { } cls)
            {
                string key = c["device"]!.GetValue<string>() + " " + cls;
                delivered[key] = delivered.GetValueOrDefault(key) + byPriority.GetValueOrDefault(c["priority"]!.GetValue<long>());
            }
        }

        return delivered;
    }

    private static void Add(SortedDictionary<string, List<(double X, double Y)>> series, string name, double x, double y)
    {
        if (!series.TryGetValue(name, out List<(double X, double Y)>? points))
        {
            points = [];
            series[name] = points;
        }

        points.Add((x, y));
    }

    private static void AppendWatchTable(StringBuilder html, JsonObject watch, Dictionary<string, long>? delivered)
    {
        html.Append("<h2>Watched classes over the run</h2>\n<table id=\"watch\"><tr><th>class</th><th>kind</th><th>packets</th><th>drops</th><th>overlimits</th>")
            .Append("<th>max backlog</th><th>perfgen's</th><th>other</th>").Append(delivered is null ? string.Empty : "<th>delivered (sink, with the probe)</th>").Append("<th>result</th></tr>\n");
        foreach (JsonNode? c in watch["classes"]?.AsArray() ?? [])
        {
            bool shortOf = c!["short"]!.GetValue<bool>();
            string name = c["device"]!.GetValue<string>() + " " + c["class"]!.GetValue<string>();
            html.Append("<tr><td>").Append(E(name)).Append("</td><td>").Append(E(c["kind"]!.GetValue<string>()))
                .Append("</td><td>").Append(N(c["packets"]!.GetValue<long>())).Append("</td><td>").Append(N(c["drops"]!.GetValue<long>()))
                .Append("</td><td>").Append(N(c["overlimits"]!.GetValue<long>())).Append("</td><td>").Append(N(c["max_backlog_packets"]!.GetValue<long>()))
                .Append("</td><td>").Append(N(c["perfgen_packets"]!.GetValue<long>())).Append(c["perfgen_priorities"] is { } from ? " " + E(from.GetValue<string>()) : string.Empty)
                .Append("</td><td>").Append(N(c["other_packets"]!.GetValue<long>()))
                .Append(delivered is null ? string.Empty : "</td><td>" + (delivered.TryGetValue(name, out long d) ? N(d) : "–")).Append("</td><td class=\"").Append(shortOf ? "fail\">short" : "pass\">ok").Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }
}
