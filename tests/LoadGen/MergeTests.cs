using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Perf.Batch;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>perfgen merge: reports of several hosts as one, exactly, and judged again.</summary>
[Collection("Network")]
public sealed class MergeTests
{
    // Two hosts each send to their own sink; the same two senders into one sink is the run of both. What the sinks
    // counted, merged, is what the one sink counted: per priority, datagrams, bytes and latency samples. Plain UDP
    // over lo, no kernel decides it: the host runs it.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void TheMergeOfTwoRunsEqualsTheRunOfBoth()
    {
        using var sendA = new TempFile(".json");
        using var sendB = new TempFile(".json");
        using var sinkA = new TempFile(".json");
        using var sinkB = new TempFile(".json");
        using var both = new TempFile(".json");
        using var merged = new TempFile(".json");
        using var html = new TempFile(".html");
        RunPair(sinkA.Path, [(sendA.Path, "0,1,2", 2000)]);
        RunPair(sinkB.Path, [(sendB.Path, "2,3", 3000)]);
        using (var sendA2 = new TempFile(".json"))
        using (var sendB2 = new TempFile(".json"))
        {
            RunPair(both.Path, [(sendA2.Path, "0,1,2", 2000), (sendB2.Path, "2,3", 3000)]);
        }

        Assert.Equal(0, PerfgenCli.Run(["merge", sendA.Path, sinkA.Path, sendB.Path, sinkB.Path, "--quiet", "--json", merged.Path, "--html", html.Path]));
        using JsonDocument m = JsonDocument.Parse(File.ReadAllText(merged.Path));
        using JsonDocument b = JsonDocument.Parse(File.ReadAllText(both.Path));
        JsonElement ms = m.RootElement.GetProperty("sink"), bs = b.RootElement.GetProperty("sink");
        foreach (string counter in (string[])["received", "bytes", "lost", "duplicates", "priority_mismatches", "malformed"])
        {
            Assert.Equal(bs.GetProperty(counter).GetInt64(), ms.GetProperty(counter).GetInt64());
        }

        Assert.Equal(PerPriority(bs), PerPriority(ms));
        Assert.True(m.RootElement.GetProperty("pass").GetBoolean(), m.RootElement.GetProperty("problems").ToString());
        Assert.Equal(4, m.RootElement.GetProperty("merged_reports").GetInt32());
        Assert.Equal(5000, m.RootElement.GetProperty("send").GetProperty("packets").GetInt64());

        // The page draws the merge as it draws a run: rates, latency over time and the distribution.
        string page = File.ReadAllText(html.Path);
        foreach (string chart in (string[])["rate", "latency", "cdf"])
        {
            Assert.Matches("<svg class=\"chart\" id=\"" + chart + "\" data-points=\"[1-9]", page);
        }

        Assert.Contains("merged from 4 reports", page);
    }

    // Percentiles read from the summed buckets are those of one histogram that saw every value.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void MergedHistogramsAreTheHistogramOfEveryValue()
    {
        var random = new Random(7);
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var all = new LatencyHistogram();
        for (int i = 0; i < 20_000; i++)
        {
            long v = (long)Math.Exp(random.NextDouble() * 14); // 1 µs to 1.2 s
            (i % 3 == 0 ? a : b).Record(v);
            all.Record(v);
        }

        JsonObject merged = ReportMerge.Merge([SinkReport(a), SinkReport(b)]);
        JsonNode expected = SinkReport(all)["sink"]!["per_priority"]![0]!["latency_us"]!;
        Assert.True(JsonNode.DeepEquals(Reparse(expected), Reparse(merged["sink"]!["per_priority"]![0]!["latency_us"]!)), merged.ToJsonString());
    }

    // A merge merges again: (A + B) + C is A + B + C.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void AMergedReportMergesAgain()
    {
        JsonObject[] reports = [.. Enumerable.Range(1, 3).Select(k => SinkReport(Histogram(k * 100, 1000 * k)))];
        JsonObject once = ReportMerge.Merge(reports);
        JsonObject twice = ReportMerge.Merge([Reparse(ReportMerge.Merge(reports[..2])).AsObject(), reports[2]]);
        Assert.Equal(Reparse(once).ToJsonString(), Reparse(twice).ToJsonString());
        Assert.Equal(3, once["merged_reports"]!.GetValue<int>());
    }

    // A class's latency verdict comes from the merged histogram, not from the inputs' verdicts: one host's few slow
    // datagrams fail it alone, and are under 1% of the whole.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void VerdictsAreJudgedAgainOverTheWhole()
    {
        JsonObject slow = ClassReport(Histogram(1, 9_000), latencyOk: false);
        JsonObject fast = ClassReport(Histogram(199, 100), latencyOk: true);
        JsonObject merged = ReportMerge.Merge([slow, fast]);
        JsonNode c = merged["classes"]![0]!;
        Assert.True(c["latency_ok"]!.GetValue<bool>());
        Assert.True(c["pass"]!.GetValue<bool>());
        Assert.True(merged["pass"]!.GetValue<bool>());
        Assert.Equal(200, ReportMerge.Num(c["sent_packets"]));

        JsonObject failed = ReportMerge.Merge([slow, ClassReport(Histogram(10, 100), latencyOk: true)]);
        Assert.False(failed["classes"]![0]!["pass"]!.GetValue<bool>());
        Assert.False(failed["pass"]!.GetValue<bool>());
    }

    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("/nonexistent/report.json")]
    [InlineData("NOTJSON")]
    [InlineData("NOCOMMAND")]
    public void BadReportsAreOneLineExit2(string which)
    {
        using var file = new TempFile(".json");
        File.WriteAllText(file.Path, which == "NOTJSON" ? "{ not json" : "{\"hello\": 1}");
        string path = which.StartsWith('/') ? which : file.Path;
        TextWriter stderr = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            Assert.Equal(2, PerfgenCli.Run(["merge", path, "--quiet"]));
        }
        finally
        {
            Console.SetError(stderr);
        }

        Assert.Single(captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    // One sink, and one sender per (report, priorities, count) into it at the same time; the sink stops at the total.
    private static void RunPair(string sinkJson, (string Json, string Priorities, int Count)[] senders)
    {
        int port;
        using (PacketReceiver probe = Loopback.Receiver(AddressFamily.InterNetwork))
        {
            port = probe.LocalAddress.Port;
        }

        int sinkCode = -1;
        var sink = new Thread(() => sinkCode = PerfgenCli.Run(["sink", "--listen", "127.0.0.1:" + port, "--count", senders.Sum(s => s.Count).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--idle", "5s", "--quiet", "--json", sinkJson]));
        sink.Start();
        Thread.Sleep(500); // the sink binds
        var threads = senders.Select(s => new Thread(() => PerfgenCli.Run(["send", "--dest", "127.0.0.1:" + port, "--count", s.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--priorities", s.Priorities, "--rate", "20k", "--quiet", "--json", s.Json]))).ToArray();
        foreach (Thread t in threads)
        {
            t.Start();
        }

        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.True(sink.Join(30_000), "the sink did not stop");
        Assert.Equal(0, sinkCode);
    }

    private static List<(long Priority, long Packets, long Bytes, long Samples)> PerPriority(JsonElement side) =>
        [.. side.GetProperty("per_priority").EnumerateArray().Select(p => (p.GetProperty("priority").GetInt64(), p.GetProperty("packets").GetInt64(), p.GetProperty("bytes").GetInt64(),
            p.GetProperty("latency_us").GetProperty("histogram").EnumerateArray().Sum(x => x[2].GetInt64())))];

    private static LatencyHistogram Histogram(int count, long micros)
    {
        var h = new LatencyHistogram();
        for (int i = 0; i < count; i++)
        {
            h.Record(micros);
        }

        return h;
    }

    private static JsonObject SinkReport(LatencyHistogram h) => Report(w =>
    {
        w.WriteString("command", "sink");
        w.WriteStartObject("sink");
        w.WriteNumber("received", h.Count);
        w.WriteStartArray("per_priority");
        w.WriteStartObject();
        w.WriteNumber("priority", 0);
        w.WriteNumber("packets", h.Count);
        Perf.LoadGen.Reporting.Report.WriteLatency(w, h);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static JsonObject ClassReport(LatencyHistogram h, bool latencyOk) => Report(w =>
    {
        w.WriteString("command", "qdisc-test");
        w.WriteStartArray("classes");
        w.WriteStartObject();
        w.WriteString("class", "1:10");
        w.WriteNumber("sent_packets", h.Count);
        Perf.LoadGen.Reporting.Report.WriteLatency(w, h);
        w.WriteBoolean("classified", true);
        w.WriteNumber("max_p99_us", 1000);
        w.WriteBoolean("latency_ok", latencyOk);
        w.WriteBoolean("pass", latencyOk);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteBoolean("pass", latencyOk);
    });

    private static JsonObject Report(Action<Utf8JsonWriter> body)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return JsonNode.Parse(buffer.ToArray())!.AsObject();
    }

    private static JsonNode Reparse(JsonNode n) => JsonNode.Parse(n.ToJsonString())!;
}
