using System.Text.Json;
using System.Text.Json.Nodes;
using Perf.Batch;

namespace Perf.LoadGen.Reporting;

// The JSON report.
internal sealed partial class Report
{
    /// <summary>
    /// Latency percentiles in µs, as "latency_us" (or <paramref name="name"/>: "qdisc_delay_us"): {"p50", "p90", "p99",
    /// "p99_9", "max", "histogram"}. The histogram is the bucket counts themselves, sparse: [lowest µs, highest µs,
    /// count] per non-empty bucket, so reports from several hosts can be merged exactly.
    /// </summary>
    internal static void WriteLatency(Utf8JsonWriter w, LatencyHistogram h, string name = "latency_us") => WriteLatency(w, LatencySummary.Of(h), name);

    internal static void WriteLatency(Utf8JsonWriter w, LatencySummary s, string name)
    {
        w.WriteStartObject(name);
        w.WriteNumber("p50", s.P50);
        w.WriteNumber("p90", s.P90);
        w.WriteNumber("p99", s.P99);
        w.WriteNumber("p99_9", s.P999);
        w.WriteNumber("max", s.Max);
        w.WriteStartArray("histogram");
        foreach ((int index, long count) in s.Buckets)
        {
            w.WriteStartArray();
            w.WriteNumberValue(LatencyHistogram.LowestOf(index));
            w.WriteNumberValue(LatencyHistogram.HighestOf(index));
            w.WriteNumberValue(count);
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>One object per interval, as iperf3 -J does: start and end, per priority packets, bytes, rates (and latency where measured), loss.</summary>
    internal static void WriteIntervals(Utf8JsonWriter w, IReadOnlyList<IntervalSample> intervals)
    {
        w.WriteStartArray("intervals");
        foreach (IntervalSample i in intervals)
        {
            double seconds = Math.Max(i.EndS - i.StartS, 1e-9);
            w.WriteStartObject();
            w.WriteNumber("start_s", Math.Round(i.StartS, 6));
            w.WriteNumber("end_s", Math.Round(i.EndS, 6));
            w.WriteNumber("lost", i.Lost);
            w.WriteStartArray("per_priority");
            foreach (PrioritySample p in i.PerPriority)
            {
                w.WriteStartObject();
                w.WriteNumber("priority", p.Priority);
                w.WriteNumber("packets", p.Packets);
                w.WriteNumber("bytes", p.Bytes);
                w.WriteNumber("pps", Math.Round(p.Packets / seconds, 1));
                w.WriteNumber("bps", Math.Round(p.Bytes * 8 / seconds, 1));
                if (p.Latency is { } latency)
                {
                    WriteLatency(w, latency, "latency_us");
                }

                if (p.QdiscDelay is { } delay)
                {
                    WriteLatency(w, delay, "qdisc_delay_us");
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    internal void WriteJson(string path, string command, SendTotals? send, SinkJob? sink, Action<Utf8JsonWriter>? extra = null)
    {
        using Stream stream = path == "-" ? System.Console.OpenStandardOutput() : File.Create(path);
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteReport(w, command, send, sink, extra);
        }

        if (path == "-")
        {
            stream.WriteByte((byte)'\n');
        }
    }

    /// <summary>The report as the JSON file has it, for the HTML page to draw (<see cref="HtmlReport"/>).</summary>
    internal JsonObject ToJson(string command, SendTotals? send, SinkJob? sink, Action<Utf8JsonWriter>? extra = null)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            WriteReport(w, command, send, sink, extra);
        }

        return (JsonObject)JsonNode.Parse(buffer.ToArray())!;
    }

    // What ran (the command line, the kernel, the host), then each side's figures.
    private void WriteReport(Utf8JsonWriter w, string command, SendTotals? send, SinkJob? sink, Action<Utf8JsonWriter>? extra)
    {
        w.WriteStartObject();
        w.WriteString("command", command);
        w.WriteString("command_line", Run.CommandLine);
        w.WriteString("kernel", File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString);
        w.WriteString("host", Environment.MachineName);
        if (send is not null)
        {
            WriteSend(w, send);
        }

        if (sink is not null)
        {
            WriteSink(w, sink);
        }

        extra?.Invoke(w);
        w.WriteEndObject();
    }

    private static void WriteSend(Utf8JsonWriter w, SendTotals send)
    {
        w.WriteStartObject("send");
        w.WriteString("backend", send.Backend);
        w.WriteString("priority_strategy", send.Strategy.ToString());
        w.WriteString("priority_strategy_reason", send.StrategyReason);
        w.WriteNumber("threads", send.Threads);
        w.WriteNumber("elapsed_s", send.Elapsed.TotalSeconds);
        w.WriteNumber("warmup_s", send.Warmup.Elapsed.TotalSeconds);
        w.WriteNumber("packets", send.Packets);
        w.WriteNumber("bytes", send.Bytes);
        w.WriteNumber("failed", send.Failed);
        w.WriteNumber("pps", send.Pps);
        w.WriteNumber("bps", send.Bps);
        w.WriteNumber("batches", send.SendCalls);
        w.WriteNumber("partial_batches", send.PartialSends);
        w.WriteNumber("would_block", send.WouldBlock);
        w.WriteStartObject("gso");
        w.WriteBoolean("on", send.Segmenting);
        w.WriteNumber("segmented_messages", send.SegmentedMessages);
        w.WriteNumber("segmented_datagrams", send.SegmentedDatagrams);
        w.WriteNumber("average_segments", send.AverageSegments);
        if (send.SegmentationStoppedBy != 0)
        {
            w.WriteString("stopped_by", Errno.Name(send.SegmentationStoppedBy));
        }

        w.WriteEndObject();
        w.WriteStartObject("failures_by_errno");
        foreach ((int errno, long n) in send.Failures)
        {
            w.WriteNumber(Errno.Name(errno), n);
        }

        w.WriteEndObject();
        WriteSendPerPriority(w, send);
        WriteIntervals(w, send.Intervals);
        w.WriteStartObject("gc");
        w.WriteNumber("gen0", send.Gen0);
        w.WriteNumber("gen1", send.Gen1);
        w.WriteNumber("gen2", send.Gen2);
        w.WriteNumber("allocated_bytes", send.AllocatedBytes);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    // Per priority what was sent (and its time in the qdisc, with --tx-timestamps).
    private static void WriteSendPerPriority(Utf8JsonWriter w, SendTotals send)
    {
        w.WriteStartArray("per_priority");
        foreach ((uint p, long pk, long by) in send.PerPriority)
        {
            w.WriteStartObject();
            w.WriteNumber("priority", p);
            w.WriteNumber("packets", pk);
            w.WriteNumber("bytes", by);
            if (send.Delays is { } delays)
            {
                WriteLatency(w, delays.Total(p), "qdisc_delay_us");
                w.WriteNumber("qdisc_delay_incomplete", delays.IncompleteOf(p));
                w.WriteNumber("txtime_dropped", delays.TxTimeDroppedOf(p)); // a qdisc (etf) dropped it for its launch time
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (send.Delays is { } all)
        {
            // SND - SCHED of every datagram, matched by OPT_ID; incomplete: a report that never came (a drop unreported, or lost).
            w.WriteStartObject("tx_timestamps");
            w.WriteNumber("incomplete", all.Incomplete);
            w.WriteNumber("dropped_records", send.TxTimestampsDropped);
            w.WriteEndObject();
        }
    }

    private static void WriteSink(Utf8JsonWriter w, SinkJob sink)
    {
        w.WriteStartObject("sink");
        w.WriteNumber("received", sink.Received);
        w.WriteNumber("bytes", sink.Bytes);
        w.WriteNumber("priority_mismatches", sink.Mismatched);
        w.WriteNumber("lost", sink.Lost);
        w.WriteNumber("reordered", sink.Reordered);
        w.WriteNumber("reordered_within_priority", sink.ReorderedWithinPriority);
        w.WriteNumber("duplicates", sink.Duplicates);
        w.WriteNumber("malformed", sink.Malformed);
        w.WriteNumber("missing_priority", sink.MissingPriority);
        w.WriteBoolean("gro", sink.Gro);
        w.WriteNumber("coalesced_buffers", sink.CoalescedBuffers);
        w.WriteString("priority_verified_by", sink.VerifiedBy switch
        {
            SinkVerify.Priority => "so_rcvpriority",
            SinkVerify.Mark => "mark",
            SinkVerify.Echo => "echo",
            _ => "none",
        });
        w.WriteStartArray("per_priority");
        IReadOnlyDictionary<uint, long> bytes = sink.PerPriorityBytes;
        foreach (KeyValuePair<uint, long> kv in sink.PerPriority.OrderBy(kv => kv.Key))
        {
            w.WriteStartObject();
            w.WriteNumber("priority", kv.Key);
            w.WriteNumber("packets", kv.Value);
            w.WriteNumber("bytes", bytes[kv.Key]);
            WriteLatency(w, sink.Latency(kv.Key));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteIntervals(w, sink.Intervals);
        w.WriteEndObject();
    }
}
