using System.Text.Json.Nodes;

namespace Perf.LoadGen.Merge;

/// <summary>
/// Merges perfgen JSON reports from several hosts into one of the same shape (so a merged report merges again):
/// counts and rates add up (the hosts ran at the same time), per priority and per class by key, intervals by position;
/// histograms add bucket by bucket and their percentiles are read again from the sum, which is exact; times take the
/// longest; settings that differ are listed. Verdicts are judged again over the whole (<see cref="Rejudge"/>).
/// </summary>
internal static class ReportMerge
{
    // Numbers that are not summed: the longest (or largest) of the inputs.
    private static readonly HashSet<string> s_largest = ["elapsed_s", "warmup_s", "end_s", "rate_window_s", "max", "max_p99_us", "latest_past_gate_us", "farthest_outside_us", "etf_delta_us", "txtime_lead_us"];

    // Booleans that hold for the whole only when they hold for every input; any other boolean holds when one does.
    private static readonly HashSet<string> s_all = ["pass", "classified", "rate_ok", "latency_ok", "gate_ok", "txtime_ok", "on"];

    // Arrays of objects matched by one of these keys rather than by position.
    private static readonly string[] s_keys = ["priority", "class"];

    /// <summary>The merge of <paramref name="reports"/> (at least one), judged again.</summary>
    internal static JsonObject Merge(IReadOnlyList<JsonObject> reports)
    {
        var merged = (JsonObject)reports[0].DeepClone();
        merged["merged_reports"] ??= 1;
        for (int i = 1; i < reports.Count; i++)
        {
            var next = (JsonObject)reports[i].DeepClone();
            next["merged_reports"] ??= 1; // a merged report counts the reports in it
            MergeObject(merged, next);
        }

        Rejudge(merged);

        // Read back, so every value is as a file holds it (the merge made numbers of its own types, which JsonValue
        // will not convert: a long is no int).
        return (JsonObject)JsonNode.Parse(merged.ToJsonString())!;
    }

    private static void MergeObject(JsonObject into, JsonObject from)
    {
        foreach ((string key, JsonNode? value) in from)
        {
            if (value is null)
            {
                continue;
            }

            JsonNode? mine = into[key];
            into[key] = mine is null ? value.DeepClone() : MergeValue(key, mine, value);
        }

        if (into["histogram"] is JsonArray)
        {
            Percentiles(into); // a latency object: its percentiles come from the summed buckets
        }

        // Ratios are taken again from their summed parts.
        if (into["average_segments"] is not null && into["segmented_messages"] is { } messages)
        {
            into["average_segments"] = Num(messages) == 0 ? 0 : Num(into["segmented_datagrams"]) / Num(messages);
        }

        if (into["out_pps_per_thread"] is not null && Num(into["threads"]) is double threads and > 0)
        {
            into["out_pps_per_thread"] = Num(into["out_pps"]) / threads;
        }
    }

    private static JsonNode MergeValue(string key, JsonNode mine, JsonNode theirs)
    {
        switch (mine, theirs)
        {
            case (JsonObject a, JsonObject b):
                MergeObject(a, b);
                return a;
            case (JsonArray a, JsonArray b) when key == "histogram":
                return Histogram(a, b);
            case (JsonArray a, JsonArray b):
                MergeArray(a, b);
                return a;
        }

        if (s_keys.Contains(key))
        {
            return mine; // the key the objects were matched by: equal
        }

        if (mine.GetValueKind() is System.Text.Json.JsonValueKind.Number && theirs.GetValueKind() is System.Text.Json.JsonValueKind.Number)
        {
            double x = Num(mine), y = Num(theirs);
            return key is "start_s" ? Number(Math.Min(x, y)) : s_largest.Contains(key) ? Number(Math.Max(x, y)) : Number(x + y);
        }

        if (mine.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False)
        {
            bool x = mine.GetValue<bool>(), y = theirs.GetValue<bool>();
            return JsonValue.Create(s_all.Contains(key) ? x && y : x || y);
        }

        // Strings (and anything else): kept where equal, else every distinct value, in order.
        string m = mine.ToString(), t = theirs.ToString();
        return JsonValue.Create(m == t || m.Split(", ").Contains(t) ? m : m + ", " + t);
    }

    // Per priority (or class) by key, intervals and anything else by position.
    private static void MergeArray(JsonArray into, JsonArray from)
    {
        for (int i = 0; i < from.Count; i++)
        {
            if (from[i] is not JsonObject item)
            {
                continue;
            }

            string? key = s_keys.FirstOrDefault(item.ContainsKey);
            JsonObject? match = key is null
                ? (i < into.Count ? into[i] as JsonObject : null)
                : into.OfType<JsonObject>().FirstOrDefault(o => JsonNode.DeepEquals(o[key], item[key]));
            if (match is null)
            {
                into.Add(item.DeepClone());
            }
            else
            {
                MergeObject(match, item);
            }
        }

        if (into.Count > 0 && into.All(n => n is JsonObject o && o.ContainsKey("priority")))
        {
            JsonNode[] sorted = [.. into.OrderBy(n => Num(n!["priority"]!)).Select(n => n!.DeepClone())];
            into.Clear();
            foreach (JsonNode n in sorted)
            {
                into.Add(n);
            }
        }
    }

    // [lowest, highest, count] buckets of two histograms, added by bucket.
    private static JsonArray Histogram(JsonArray a, JsonArray b)
    {
        var counts = new SortedDictionary<long, (long Highest, long Count)>();
        foreach (JsonNode? bucket in a.Concat(b))
        {
            long lowest = (long)Num(bucket![0]);
            (long _, long count) = counts.GetValueOrDefault(lowest);
            counts[lowest] = ((long)Num(bucket[1]), count + (long)Num(bucket[2]));
        }

        var merged = new JsonArray();
        foreach ((long lowest, (long highest, long count)) in counts)
        {
            merged.Add((JsonNode)new JsonArray(lowest, highest, count));
        }

        return merged;
    }

    /// <summary>p50 to p99.9 of a latency object, read again from its (summed) buckets as perfgen reads its own.</summary>
    internal static void Percentiles(JsonObject latency)
    {
        LatencyHistogram h = HistogramOf(latency);
        latency["p50"] = h.Percentile(50);
        latency["p90"] = h.Percentile(90);
        latency["p99"] = h.Percentile(99);
        latency["p99_9"] = h.Percentile(99.9);
    }

    /// <summary>A report's latency object as a histogram again.</summary>
    internal static LatencyHistogram HistogramOf(JsonObject latency)
    {
        var h = new LatencyHistogram();
        long max = latency["max"] is { } m ? (long)Num(m) : long.MaxValue;
        foreach (JsonNode? bucket in (JsonArray)latency["histogram"]!)
        {
            h.AddBucket(LatencyHistogram.IndexOf((long)Num(bucket![0])), (long)Num(bucket[2]), max);
        }

        return h;
    }

    /// <summary>A number, whether read from a file or made by the merge (JsonValue holds each as its own type).</summary>
    internal static double Num(JsonNode? n) => n is not JsonValue v ? 0
        : v.TryGetValue(out double d) ? d : v.TryGetValue(out long l) ? l : v.TryGetValue(out int i) ? i : v.TryGetValue(out uint u) ? u : 0;

    private static JsonValue Number(double v) => v == Math.Floor(v) && Math.Abs(v) < 9e15 ? JsonValue.Create((long)v) : JsonValue.Create(v);

    /// <summary>
    /// The verdicts, over the merged whole: a class's latency against its bound from the merged p99, and its pass; the
    /// report's pass from its classes, or, for senders and sinks, from what the sinks saw: no datagram lost,
    /// duplicated, malformed or with another priority, and every priority received as often as it was sent.
    /// </summary>
    internal static void Rejudge(JsonObject report)
    {
        var problems = new List<string>();
        if (report["classes"] is JsonArray classes)
        {
            foreach (JsonObject c in classes.OfType<JsonObject>())
            {
                if (c["max_p99_us"] is { } bound && c["latency_us"] is JsonObject latency)
                {
                    c["latency_ok"] = Num(latency["p99"]) <= Num(bound);
                }

                bool pass = ((string[])["classified", "rate_ok", "latency_ok", "gate_ok", "txtime_ok"]).All(k => c[k]?.GetValue<bool>() != false);
                c["pass"] = pass;
                if (!pass)
                {
                    problems.Add("class " + c["class"] + " failed");
                }
            }
        }
        else if (report["sink"] is JsonObject sink)
        {
            SinkProblems(sink, report["send"] as JsonObject, (long)Num(report["watch"]?["probe_packets_per_priority"]), problems);
        }

        bool watched = WatchShare(report, problems);
        report["problems"] = new JsonArray([.. problems.Select(p => (JsonNode)p)]);
        if (report.ContainsKey("pass") || report["sink"] is not null || watched)
        {
            report["pass"] = problems.Count == 0;
        }
    }

    // probe: datagrams per priority that --watch's probe sent before the run (the sink counts them; the run's totals do not).
    private static void SinkProblems(JsonObject sink, JsonObject? send, long probe, List<string> problems)
    {
        foreach (string counter in (string[])["priority_mismatches", "lost", "duplicates", "malformed"])
        {
            if ((long)Num(sink[counter]) is long n and > 0)
            {
                problems.Add(n + " " + counter.Replace('_', ' '));
            }
        }

        if (send?["per_priority"] is not JsonArray sent)
        {
            return;
        }

        foreach (JsonObject p in sent.OfType<JsonObject>())
        {
            long packets = (long)Num(p["packets"]) + probe;
            JsonObject? got = (sink["per_priority"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(r => JsonNode.DeepEquals(r["priority"], p["priority"]));
            long received = (long)Num(got?["packets"]);
            if (received != packets)
            {
                problems.Add("priority " + p["priority"] + ": received " + received + " of " + packets);
            }
        }
    }

    // perfgen watch on a router, merged with the sender's report: perfgen's share of each watched class, from what the
    // sender sent per priority and the watch's --expect; a class that counted fewer than was sent to it fails (a dropped
    // GSO packet counts once among the drops, as in send --watch). False where there is nothing to judge.
    private static bool WatchShare(JsonObject report, List<string> problems)
    {
        if (report["watch"] is not JsonObject watch || watch["watch_only"]?.GetValue<bool>() != true ||
            report["send"]?["per_priority"] is not JsonArray sent || watch["expect"] is not JsonArray { Count: > 0 } expect)
        {
            return false;
        }

        var sentBy = new Dictionary<long, long>();
        foreach (JsonObject p in sent.OfType<JsonObject>())
        {
            sentBy[(long)Num(p["priority"])] = (long)Num(p["packets"]);
        }

        bool pass = true;
        foreach (JsonObject c in (watch["classes"] as JsonArray)?.OfType<JsonObject>() ?? [])
        {
            string cls = c["class"]!.GetValue<string>();
            List<long> from = [.. expect.OfType<JsonObject>().Where(e => e["class"]?.GetValue<string>() == cls).Select(e => (long)Num(e["priority"]))];
            long expected = from.Sum(sentBy.GetValueOrDefault);
            long packets = (long)Num(c["packets"]), drops = (long)Num(c["drops"]);
            bool shortOf = expected > 0 && packets + (drops * WatchVerdict.MaxSegments) < expected;
            c["perfgen_packets"] = expected;
            c["other_packets"] = Math.Max(0, packets + drops - expected);
            c["short"] = shortOf;
            if (from.Count > 0)
            {
                c["perfgen_priorities"] = string.Join(",", from.Select(p => Report.FormatPriority((uint)p))) + " (--expect)";
            }

            if (shortOf)
            {
                pass = false;
                problems.Add(c["device"] + " class " + cls + " counted " + (packets + drops) + " packets and drops of the " + expected + " datagrams sent to it");
            }
        }

        watch["expect_pass"] = pass;
        return true;
    }
}
