using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using Perf.Batch;
using Spectre.Console;

namespace Perf.LoadGen;

/// <summary>Totals of a send run, gathered from every sender thread once it has finished.</summary>
internal sealed class SendTotals
{
    internal required string Backend { get; init; }
    internal required PriorityStrategy Strategy { get; init; }
    internal string StrategyReason { get; init; } = string.Empty;
    internal required int Threads { get; init; }
    internal required TimeSpan Elapsed { get; init; }
    internal required int IpOverhead { get; init; }
    internal required List<(uint Priority, long Packets, long Bytes)> PerPriority { get; init; }
    internal required List<(int Errno, long Count)> Failures { get; init; }

    /// <summary>Datagrams that failed, per priority (with --recverr, the qdisc's drops: ENOBUFS).</summary>
    internal Dictionary<uint, long> FailedByPriority { get; init; } = [];
    internal long Packets { get; init; }
    internal long Bytes { get; init; }

    /// <summary>One sample per --interval: per priority, what was sent in it.</summary>
    internal IReadOnlyList<IntervalSample> Intervals { get; set; } = [];
    internal long Failed { get; init; }
    internal long SendCalls { get; init; }
    internal long PartialSends { get; init; }
    internal long WouldBlock { get; init; }
    internal bool Segmenting { get; init; }
    internal int SegmentationStoppedBy { get; init; }
    internal long SegmentedMessages { get; init; }
    internal long SegmentedDatagrams { get; init; }

    /// <summary>Average datagrams per segmented (UDP GSO) message; 0 when none went out.</summary>
    internal double AverageSegments => SegmentedMessages == 0 ? 0 : SegmentedDatagrams / (double)SegmentedMessages;
    internal long AllocatedBytes { get; init; }
    internal int Gen0 { get; init; }
    internal int Gen1 { get; init; }
    internal int Gen2 { get; init; }

    /// <summary>Packets sent during the warm-up and how long it lasted; left out of the rates.</summary>
    internal (long Packets, TimeSpan Elapsed) Warmup { get; init; }

    /// <summary>Achieved packets/s after the warm-up.</summary>
    internal double Pps => (Packets - Warmup.Packets) / (Elapsed - Warmup.Elapsed).TotalSeconds;

    /// <summary>Bits per second over whole IP packets (payload + UDP + IP headers), the unit of --rate …bps.</summary>
    internal double Bps => Packets == 0 ? 0 : Pps * ((Bytes / (double)Packets) + IpOverhead) * 8;

    internal static SendTotals From(SendJob job, TimeSpan elapsed, int ipOverhead, (int G0, int G1, int G2) gcBefore)
    {
        var perPriority = new List<(uint, long, long)>();
        long packets = 0, bytes = 0;
        foreach (uint p in job.DistinctPriorities)
        {
            long pk = 0, by = 0;
            foreach (FlowState f in job.Flows)
            {
                (long a, long b) = f.Sent(p);
                pk += a;
                by += b;
            }

            perPriority.Add((p, pk, by));
            packets += pk;
            bytes += by;
        }

        var failures = new List<(int, long)>();
        for (int errno = 1; errno < 256; errno++)
        {
            long n = job.Flows.Sum(f => f.Sender.GetFailureCount(errno));
            if (n > 0)
            {
                failures.Add((errno, n));
            }
        }

        var failedByPriority = new Dictionary<uint, long>();
        foreach (uint p in job.DistinctPriorities)
        {
            failedByPriority[p] = job.Flows.Sum(f => f.Failed(p));
        }

        return new SendTotals
        {
            FailedByPriority = failedByPriority,
            Backend = job.BackendName,
            Strategy = job.Capabilities?.Strategy ?? PriorityStrategy.Cmsg,
            StrategyReason = job.Capabilities?.StrategyReason ?? string.Empty,
            Threads = job.Flows.Length,
            Elapsed = elapsed,
            Warmup = job.WarmupMark,
            IpOverhead = ipOverhead,
            PerPriority = perPriority,
            Failures = failures,
            Packets = packets,
            Bytes = bytes,
            Failed = job.Flows.Sum(f => f.Sender.Stats.Failed),
            SendCalls = job.Flows.Sum(f => f.Sender.Stats.SendCalls),
            PartialSends = job.Flows.Sum(f => f.Sender.Stats.PartialSends),
            WouldBlock = job.Flows.Sum(f => f.Sender.Stats.WouldBlock),
            Segmenting = job.Flows.Length > 0 && job.Flows.All(f => f.Sender.Segmenting),
            SegmentationStoppedBy = job.Flows.Select(f => f.Sender.SegmentationStoppedBy).FirstOrDefault(e => e != 0),
            SegmentedMessages = job.Flows.Sum(f => f.Sender.Stats.SegmentedMessages),
            SegmentedDatagrams = job.Flows.Sum(f => f.Sender.Stats.SegmentedDatagrams),
            AllocatedBytes = job.Flows.Sum(f => f.AllocatedBytes),
            Gen0 = GC.CollectionCount(0) - gcBefore.G0,
            Gen1 = GC.CollectionCount(1) - gcBefore.G1,
            Gen2 = GC.CollectionCount(2) - gcBefore.G2,
        };
    }
}

/// <summary>Human output (live rows and summary tables) and the JSON report.</summary>
internal sealed class Report
{
    private readonly IAnsiConsole _console;
    private readonly bool _quiet;
    private readonly TextWriter _errors;
    private long _lastPackets;
    private long _lastBytes;
    private TimeSpan _lastTime;
    private readonly Dictionary<uint, (long Packets, long Bytes)> _lastPerPriority = [];

    /// <summary>The send side's samples, one per live row: per priority, the packets and bytes sent in that interval.</summary>
    internal List<IntervalSample> SendIntervals { get; } = [];

    internal Report(bool quiet, bool humanToStderr)
    {
        _quiet = quiet;
        _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(humanToStderr ? System.Console.Error : System.Console.Out) });
        _errors = System.Console.Error;
        if (System.Console.IsOutputRedirected || humanToStderr)
        {
            _console.Profile.Width = 160; // logs and pipes: no wrapping at 80 columns
        }
    }

    internal IAnsiConsole Console => _console;

    internal void Line(string markup)
    {
        if (!_quiet)
        {
            _console.MarkupLine(markup);
        }
    }

    internal void Error(string message) => _errors.WriteLine("perfgen: " + message);

    internal void LiveHeader()
    {
        Line("[bold]    time        pps       Mbit/s          sent   failed  would-block[/]");
    }

    /// <summary>One live row. Counters are read racily from the sender threads; they only grow.</summary>
    internal void LiveRow(TimeSpan now, SendJob job)
    {
        long packets = 0, bytes = 0, failed = 0, wouldBlock = 0;
        foreach (FlowState f in job.Flows)
        {
            SenderStats s = f.Sender.Stats;
            packets += s.Sent;
            bytes += s.SentBytes;
            failed += s.Failed;
            wouldBlock += s.WouldBlock;
        }

        double dt = (now - _lastTime).TotalSeconds;
        double pps = (packets - _lastPackets) / dt;
        double mbps = (bytes - _lastBytes) * 8 / dt / 1e6;
        var perPriority = new List<PrioritySample>();
        foreach (uint p in job.DistinctPriorities)
        {
            long pk = 0, by = 0;
            foreach (FlowState f in job.Flows)
            {
                (long a, long b) = f.Sent(p);
                pk += a;
                by += b;
            }

            (long lastPk, long lastBy) = _lastPerPriority.GetValueOrDefault(p);
            perPriority.Add(new PrioritySample(p, pk - lastPk, by - lastBy, 0, 0, 0, 0, 0));
            _lastPerPriority[p] = (pk, by);
        }

        SendIntervals.Add(new IntervalSample(_lastTime.TotalSeconds, now.TotalSeconds, perPriority, 0));
        _lastPackets = packets;
        _lastBytes = bytes;
        _lastTime = now;
        Line(string.Format(CultureInfo.InvariantCulture, "{0,7:0.0}s {1,10:N0} {2,12:0.00} {3,13:N0} {4,8:N0} {5,12:N0}", now.TotalSeconds, pps, mbps, packets, failed, wouldBlock));
    }

    internal void SendSummary(SendTotals t)
    {
        if (_quiet)
        {
            return;
        }

        var table = new Table().Title("sent by priority").AddColumn("priority").AddColumn(new TableColumn("packets").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        foreach ((uint p, long pk, long by) in t.PerPriority)
        {
            table.AddRow(FormatPriority(p), pk.ToString("N0", CultureInfo.InvariantCulture), by.ToString("N0", CultureInfo.InvariantCulture),
                (t.Packets == 0 ? 0 : 100.0 * pk / t.Packets).ToString("0.0", CultureInfo.InvariantCulture) + "%");
        }

        _console.Write(table);
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "backend [bold]{0}[/], priority strategy {7}, {1} thread(s), {2:0.00}s: [bold]{3:N0}[/] pps, {4:0.00} Mbit/s (IP), {5:N0} sent, {6:N0} failed",
            t.Backend, t.Threads, t.Elapsed.TotalSeconds, t.Pps, t.Bps / 1e6, t.Packets, t.Failed, t.Strategy));
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "batches {0:N0} (partial {1:N0}), would-block waits {2:N0}, GC collections {3}/{4}/{5}, steady-state allocated {6:N0} B",
            t.SendCalls, t.PartialSends, t.WouldBlock, t.Gen0, t.Gen1, t.Gen2, t.AllocatedBytes));
        _console.MarkupLine("priority strategy " + t.Strategy + ": " + Markup.Escape(t.StrategyReason));
        _console.MarkupLine(SegmentationLine(t));
        foreach ((int errno, long n) in t.Failures)
        {
            _console.MarkupLine(string.Format(CultureInfo.InvariantCulture, "[red]failed {0}: {1:N0}[/]", Errno.Name(errno), n));
        }
    }

    internal static string SegmentationLine(SendTotals t) =>
        t.SegmentationStoppedBy != 0
            ? string.Format(CultureInfo.InvariantCulture, "UDP GSO turned off: the route refused a segmented message ({0}); {1:N0} messages went out segmented before", Errno.Name(t.SegmentationStoppedBy), t.SegmentedMessages)
            : t.Segmenting
                ? string.Format(CultureInfo.InvariantCulture, "UDP GSO: {0:N0} segmented messages carried {1:N0} datagrams ({2:0.0} per message)", t.SegmentedMessages, t.SegmentedDatagrams, t.AverageSegments)
                : "UDP GSO: off";

    internal void SinkSummary(SinkJob sink)
    {
        if (_quiet)
        {
            return;
        }

        string title = sink.VerifiedBy == SinkVerify.None
            ? "received by the priority in each header (priorities not verified on this kernel)"
            : "received by priority (verified by " + sink.VerifiedByText + ")";
        var table = new Table().Title(Markup.Escape(title)).AddColumn("priority").AddColumn(new TableColumn("packets").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (string c in (string[])["p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"])
        {
            table.AddColumn(new TableColumn(c).RightAligned());
        }

        IReadOnlyDictionary<uint, long> bytes = sink.PerPriorityBytes;
        foreach (KeyValuePair<uint, long> kv in sink.PerPriority.OrderBy(kv => kv.Key))
        {
            LatencyHistogram h = sink.Latency(kv.Key);
            table.AddRow(FormatPriority(kv.Key), N(kv.Value), N(bytes[kv.Key]), N(h.Percentile(50)), N(h.Percentile(90)), N(h.Percentile(99)), N(h.Percentile(99.9)), N(h.Max));
        }

        _console.Write(table);
        _console.MarkupLine(string.Format(CultureInfo.InvariantCulture,
            "received {0:N0}: priority mismatches {1:N0}, lost {2:N0}, reordered {3:N0} ({7:N0} within a priority), duplicates {4:N0}, malformed {5:N0}, no priority {6:N0}",
            sink.Received, sink.Mismatched, sink.Lost, sink.Reordered, sink.Duplicates, sink.Malformed, sink.MissingPriority, sink.ReorderedWithinPriority));
        if (sink.Gro)
        {
            _console.MarkupLine(string.Format(CultureInfo.InvariantCulture, "UDP GRO: {0:N0} coalesced buffers, split here", sink.CoalescedBuffers));
        }
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    internal static string FormatPriority(uint p) =>
        p <= 0xFFFF ? p.ToString(CultureInfo.InvariantCulture) : "0x" + p.ToString("x", CultureInfo.InvariantCulture) + " (" + (p >> 16).ToString("x", CultureInfo.InvariantCulture) + ":" + (p & 0xFFFF).ToString("x", CultureInfo.InvariantCulture) + ")";

    /// <summary>Writes the JSON report to a file, or stdout for "-".</summary>
    /// <summary>
    /// Makes sure <paramref name="path"/> can be written before anything runs (a report lost after the run is worse
    /// than a refusal before it). Null and "-" (stdout) pass. Leaves no file behind that was not there.
    /// </summary>
    /// <exception cref="FormatException">The folder is missing or the file cannot be written; says which.</exception>
    internal static void CheckWritable(string? path, string option)
    {
        if (path is null || path == "-")
        {
            return;
        }

        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
        {
            throw new FormatException(option + " " + path + ": the folder " + dir + " does not exist; nothing was sent");
        }

        if (Directory.Exists(full))
        {
            throw new FormatException(option + " " + path + ": is a folder; give a file name; nothing was sent");
        }

        bool existed = File.Exists(full);
        try
        {
            using (var fs = new FileStream(full, FileMode.OpenOrCreate, FileAccess.Write))
            {
                ProbeWrite(fs);
            }

            if (!existed)
            {
                File.Delete(full);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FormatException(option + " " + path + ": cannot be written (" + e.Message + "); nothing was sent");
        }
    }

    // Opening is not enough: /proc/version opens for writing as root and fails only at the write (EIO). One byte is
    // written at the end and taken back, so a file that exists keeps its contents until the report replaces them.
    private static void ProbeWrite(FileStream fs)
    {
        if (!fs.CanSeek)
        {
            return; // a pipe or terminal: writing now would be output
        }

        long length = fs.Length;
        fs.Seek(length, SeekOrigin.Begin);
        fs.WriteByte((byte)'\n');
        fs.Flush(flushToDisk: false);
        try
        {
            fs.SetLength(length);
        }
        catch (IOException)
        {
            // A device such as /dev/null takes the byte and cannot be truncated: nothing to take back.
        }
    }

    /// <summary>Latency percentiles in µs, as "latency_us": {"p50", "p90", "p99", "p99_9", "max"}.</summary>
    internal static void WriteLatency(Utf8JsonWriter w, LatencyHistogram h)
    {
        w.WriteStartObject("latency_us");
        w.WriteNumber("p50", h.Percentile(50));
        w.WriteNumber("p90", h.Percentile(90));
        w.WriteNumber("p99", h.Percentile(99));
        w.WriteNumber("p99_9", h.Percentile(99.9));
        w.WriteNumber("max", h.Max);
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
                if (p.Max > 0)
                {
                    w.WriteStartObject("latency_us");
                    w.WriteNumber("p50", p.P50);
                    w.WriteNumber("p90", p.P90);
                    w.WriteNumber("p99", p.P99);
                    w.WriteNumber("p99_9", p.P999);
                    w.WriteNumber("max", p.Max);
                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    internal static void WriteJson(string path, string command, SendTotals? send, SinkJob? sink, Action<Utf8JsonWriter>? extra = null)
    {
        using Stream stream = path == "-" ? System.Console.OpenStandardOutput() : File.Create(path);
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("command", command);
            if (send is not null)
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
                w.WriteStartArray("per_priority");
                foreach ((uint p, long pk, long by) in send.PerPriority)
                {
                    w.WriteStartObject();
                    w.WriteNumber("priority", p);
                    w.WriteNumber("packets", pk);
                    w.WriteNumber("bytes", by);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                WriteIntervals(w, send.Intervals);
                w.WriteStartObject("gc");
                w.WriteNumber("gen0", send.Gen0);
                w.WriteNumber("gen1", send.Gen1);
                w.WriteNumber("gen2", send.Gen2);
                w.WriteNumber("allocated_bytes", send.AllocatedBytes);
                w.WriteEndObject();
                w.WriteEndObject();
            }

            if (sink is not null)
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

            extra?.Invoke(w);
            w.WriteEndObject();
        }

        if (path == "-")
        {
            stream.WriteByte((byte)'\n');
        }
    }
}

/// <summary>The "Perf" meter, so dotnet-counters and OpenTelemetry can watch a long run.</summary>
internal static class PerfMetrics
{
    private static readonly Meter s_meter = new("Perf");
    private static SendJob? s_job;

    static PerfMetrics()
    {
        s_meter.CreateObservableCounter("perf.packets.sent", () => Sum(s => s.Sent), "{packet}", "Datagrams the kernel accepted");
        s_meter.CreateObservableCounter("perf.bytes.sent", () => Sum(s => s.SentBytes), "By", "Payload bytes the kernel accepted");
        s_meter.CreateObservableCounter("perf.packets.failed", () => Sum(s => s.Failed), "{packet}", "Datagrams that failed with an errno");
    }

    internal static void Watch(SendJob job) => s_job = job;

    private static long Sum(Func<SenderStats, long> pick)
    {
        SendJob? job = s_job;
        if (job is null)
        {
            return 0;
        }

        long total = 0;
        foreach (FlowState f in job.Flows)
        {
            if (f is not null)
            {
                total += pick(f.Sender.Stats);
            }
        }

        return total;
    }
}
