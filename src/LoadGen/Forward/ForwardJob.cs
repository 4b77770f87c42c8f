using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Perf.Batch;

namespace Perf.LoadGen.Forward;

/// <summary>perfgen forward: receive on one address, optionally encapsulate and remap priorities, send to another.</summary>
internal static class ForwardJob
{
    internal static int Run(Invocation run, DatagramAddress listen, DatagramAddress to, PriorityMap map, ForwardPriorityKey key, byte[] encap, int maxSize, SegmentationMode gso, int threads, TimeSpan? duration, TimeSpan warmup, TimeSpan interval, string? json, bool quiet, bool txTimestamps = false)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        var inputs = new List<PacketReceiver>();
        var outputs = new List<PacketSender>();
        try
        {
            var forwarders = new PacketForwarder[threads];
            for (int t = 0; t < threads; t++)
            {
                // Before 6.14 no priority arrives: the map is keyed by mark or DSCP, as gateways do (--key). With several
                // threads each has its own input socket on the same port (SO_REUSEPORT): the kernel spreads the flows.
                // GRO in, GSO out: a run received together leaves together.
                PacketReceiver input = Receivers.Open(new PacketReceiverOptions
                {
                    LocalAddress = t == 0 ? listen : inputs[0].LocalAddress,
                    BatchSize = 64,
                    ReceiveBufferSize = 16 << 20,
                    MaxDatagramSize = maxSize,
                    ReceivePriority = key is ForwardPriorityKey.Auto or ForwardPriorityKey.Priority,
                    ReceiveMark = key is ForwardPriorityKey.Mark,
                    ReceiveTrafficClass = key is ForwardPriorityKey.Dscp,
                    Gro = gso != SegmentationMode.Off,
                    ReusePort = threads > 1,
                }, markIfNoPriority: key == ForwardPriorityKey.Auto);
                inputs.Add(input);
                if (key == ForwardPriorityKey.Priority && !input.ReportsPriority)
                {
                    throw new FormatException("--key priority: this kernel has no SO_RCVPRIORITY (it came with Linux 6.14); use --key mark or --key dscp");
                }

                PacketSender output = Output(to, maxSize + encap.Length, gso, txTimestamps);
                outputs.Add(output);
                forwarders[t] = encap.Length == 0
                    ? new PacketForwarder(input, output, map, transform: null, key)
                    : PacketForwarder.Encapsulating(input, output, encap, map, key);
            }

            var forwarding = new ForwardRun(forwarders, inputs, outputs, [.. outputs], txTimestamps ? new TxDelayCollector() : null);
            return Forward(forwarding, to, encap, duration, warmup, interval, json, report);
        }
        finally
        {
            foreach (PacketSender o in outputs)
            {
                o.Dispose();
            }

            foreach (PacketReceiver i in inputs)
            {
                i.Dispose();
            }
        }
    }

    // Each received batch is sent whole before the next receive (the output points at the receive buffers), so the
    // output flushes once per batch rather than every 64 datagrams, which would cut GSO runs; the flush groups the batch
    // by priority, so interleaved priorities still leave as runs.
    private static PacketSender Output(DatagramAddress to, int maxDatagram, SegmentationMode gso, bool txTimestamps) => PacketSender.Create(new PacketSenderOptions
    {
        TxTimestamps = txTimestamps,
        TxTimestampCapacity = TxDelayCollector.Capacity,
        AddressFamily = to.AddressFamily,
        ConnectTo = to,
        RingSize = 1024,
        BatchSize = 64,
        AutoFlush = false,
        MaxDatagramSize = Math.Min(maxDatagram, SlotLayout.MaxUdpPayload),
        Segmentation = gso,
    });

    /// <summary>What one forward run holds: the forwarders, their sockets, and the qdisc delays (--tx-timestamps).</summary>
    private sealed record ForwardRun(PacketForwarder[] Forwarders, List<PacketReceiver> Inputs, List<PacketSender> Outputs, PacketSender[] Senders, TxDelayCollector? Delays);

    private static int Forward(ForwardRun run, DatagramAddress to, byte[] encap, TimeSpan? duration, TimeSpan warmup, TimeSpan interval, string? json, Report report)
    {
        (PacketForwarder[] forwarders, List<PacketReceiver> inputs, List<PacketSender> outputs, _, TxDelayCollector? delays) = run;
        using var cts = new CancellationTokenSource();
        if (duration is { } d)
        {
            cts.CancelAfter(d + warmup);
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
        Announce(forwarders, inputs, outputs, to, encap, report);
        var running = new Thread[forwarders.Length];
        var clock = Stopwatch.StartNew();
        for (int t = 0; t < running.Length; t++)
        {
            PacketForwarder f = forwarders[t];
            running[t] = new Thread(() => f.Run(cts.Token, pollMs: 50)) { Name = "perfgen forward " + t, IsBackground = true };
            running[t].Start();
        }

        (ForwarderStats Stats, TimeSpan At) mark = Watch(run, running, clock, warmup, interval, report);
        delays?.Finish(run.Senders, TimeSpan.FromSeconds(6)); // before the sockets close: what the qdisc holds still reports
        foreach (PacketSender o in outputs)
        {
            o.Dispose(); // anything still queued ends as sent or ECANCELED, so the counts close
        }

        ForwarderStats end = Total(forwarders);
        double measured = (clock.Elapsed - mark.At).TotalSeconds; // rates leave the warm-up out
        var result = new ForwardResult(end, clock.Elapsed.TotalSeconds, mark.At.TotalSeconds,
            (end.Received - mark.Stats.Received) / measured, (end.Forwarded - mark.Stats.Forwarded) / measured,
            outputs.Sum(o => o.Stats.SegmentedMessages), outputs.Sum(o => o.Stats.SegmentedDatagrams), inputs.Sum(i => i.CoalescedBuffers));
        Summarize(forwarders, result, report);
        if (delays is not null)
        {
            foreach (uint p in delays.Priorities)
            {
                LatencyHistogram h = delays.Total(p);
                report.Line("  qdisc delay, priority " + Report.FormatPriority(p) + ": p50 " + QdiscTestRun.Micros(h.Percentile(50)) + ", p99 " + QdiscTestRun.Micros(h.Percentile(99)) +
                    ", max " + QdiscTestRun.Micros(h.Max) + ", " + delays.IncompleteOf(p).ToString("N0", CultureInfo.InvariantCulture) + " without SND");
            }
        }

        if (json is not null)
        {
            report.WriteJson(json, "forward", send: null, sink: null, w => WriteJson(w, forwarders, result, delays));
        }

        return ExitCodes.Ok;
    }

    private sealed record ForwardResult(ForwarderStats End, double Seconds, double WarmupSeconds, double InPps, double OutPps, long Segmented, long SegmentedDatagrams, long Coalesced);

    private static void Announce(PacketForwarder[] forwarders, List<PacketReceiver> inputs, List<PacketSender> outputs, DatagramAddress to, byte[] encap, Report report)
    {
        string keyedBy = forwarders[0].PriorityKey switch
        {
            ForwardPriorityKey.Priority => "priority (SO_RCVPRIORITY)",
            ForwardPriorityKey.Mark => "mark (SO_RCVMARK; this kernel reports no priority)",
            _ => "DSCP",
        };
        report.Line("perfgen forward: " + inputs[0].LocalAddress + " -> " + to + " (" + outputs[0].Backend + ", " + forwarders.Length + " thread(s), GSO " +
            (outputs[0].Segmenting ? "on" : "off") + ", GRO " + (inputs[0].Gro ? "on" : "off") + ")" +
            (encap.Length > 0 ? ", encapsulating with " + encap.Length + " bytes" : string.Empty) + ", priorities by the received " + keyedBy);
        report.Line("[bold]    time    in pkt/s   out pkt/s      received     forwarded   dropped[/]");
    }

    // A line per interval until every forwarding thread has ended; returns the counts and time at the end of the warm-up.
    // With --tx-timestamps it wakes every 20 ms to drain the timestamps, so no sender's record ring fills.
    private static (ForwarderStats Stats, TimeSpan At) Watch(ForwardRun run, Thread[] running, Stopwatch clock, TimeSpan warmup, TimeSpan interval, Report report)
    {
        PacketForwarder[] forwarders = run.Forwarders;
        TimeSpan slice = run.Delays is null ? interval : TimeSpan.FromMilliseconds(20);
        ForwarderStats last = default;
        TimeSpan lastTime = TimeSpan.Zero;
        (ForwarderStats Stats, TimeSpan At) mark = (default, TimeSpan.Zero);
        bool marked = warmup <= TimeSpan.Zero;
        while (true)
        {
            // A thread can end between the check and the join; the loop then looks again.
            Thread? alive = running.FirstOrDefault(th => th.IsAlive);
            if (alive is null || (alive.Join(marked ? slice : TimeSpan.FromMilliseconds(10)) && !running.Any(th => th.IsAlive)))
            {
                return mark;
            }

            run.Delays?.Drain(run.Senders);
            if (!marked && clock.Elapsed >= warmup)
            {
                marked = true;
                mark = (Total(forwarders), clock.Elapsed);
            }

            if (clock.Elapsed - lastTime < interval)
            {
                continue;
            }

            ForwarderStats s = Total(forwarders);
            double dt = (clock.Elapsed - lastTime).TotalSeconds;
            report.Line(string.Format(CultureInfo.InvariantCulture, "{0,7:0.0}s {1,11:N0} {2,11:N0} {3,13:N0} {4,13:N0} {5,9:N0}",
                clock.Elapsed.TotalSeconds, (s.Received - last.Received) / dt, (s.Forwarded - last.Forwarded) / dt, s.Received, s.Forwarded, s.Dropped));
            last = s;
            lastTime = clock.Elapsed;
        }
    }

    private static void Summarize(PacketForwarder[] forwarders, ForwardResult r, Report report)
    {
        report.Line(string.Format(CultureInfo.InvariantCulture, "received {0:N0} ({1:N0}/s), forwarded {2:N0} ({3:N0}/s, {4:N0}/s per thread), dropped {5:N0}",
            r.End.Received, r.InPps, r.End.Forwarded, r.OutPps, r.OutPps / forwarders.Length, r.End.Dropped));
        report.Line(string.Format(CultureInfo.InvariantCulture, "GRO: {0:N0} coalesced buffers in; GSO: {1:N0} segmented messages out ({2:0.0} datagrams each)",
            r.Coalesced, r.Segmented, r.Segmented == 0 ? 0 : r.SegmentedDatagrams / (double)r.Segmented));
        foreach (ForwardDropReason reason in Enum.GetValues<ForwardDropReason>())
        {
            long n = forwarders.Sum(f => f.GetDropped(reason));
            if (n > 0)
            {
                report.Line("  dropped (" + reason + "): " + n.ToString("N0", CultureInfo.InvariantCulture));
            }
        }
    }

    private static void WriteJson(System.Text.Json.Utf8JsonWriter w, PacketForwarder[] forwarders, ForwardResult r, TxDelayCollector? delays)
    {
        w.WriteStartObject("forward");
        w.WriteNumber("threads", forwarders.Length);
        w.WriteNumber("elapsed_s", r.Seconds);
        w.WriteNumber("received", r.End.Received);
        w.WriteNumber("forwarded", r.End.Forwarded);
        w.WriteNumber("dropped", r.End.Dropped);
        w.WriteNumber("warmup_s", r.WarmupSeconds);
        w.WriteNumber("in_pps", r.InPps);
        w.WriteNumber("out_pps", r.OutPps);
        w.WriteNumber("out_pps_per_thread", r.OutPps / forwarders.Length);
        w.WriteNumber("gro_coalesced_buffers", r.Coalesced);
        w.WriteNumber("gso_segmented_messages", r.Segmented);
        w.WriteNumber("gso_segmented_datagrams", r.SegmentedDatagrams);
        w.WriteStartObject("dropped_by_reason");
        foreach (ForwardDropReason reason in Enum.GetValues<ForwardDropReason>())
        {
            w.WriteNumber(reason.ToString(), forwarders.Sum(f => f.GetDropped(reason)));
        }

        w.WriteEndObject();
        w.WriteStartArray("received_per_priority");
        for (uint p = 0; p < PacketForwarder.PriorityBuckets; p++)
        {
            long n = forwarders.Sum(f => f.GetReceived(p));
            if (n > 0)
            {
                w.WriteStartObject();
                w.WriteNumber("priority", p);
                w.WriteNumber("packets", n);
                w.WriteEndObject();
            }
        }

        w.WriteEndArray();
        if (delays is not null)
        {
            // By the priority each datagram was sent with (after --map).
            w.WriteStartArray("sent_per_priority");
            foreach (uint p in delays.Priorities)
            {
                w.WriteStartObject();
                w.WriteNumber("priority", p);
                Report.WriteLatency(w, delays.Total(p), "qdisc_delay_us");
                w.WriteNumber("qdisc_delay_incomplete", delays.IncompleteOf(p));
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static ForwarderStats Total(PacketForwarder[] forwarders)
    {
        long received = 0, forwarded = 0, dropped = 0, inFlight = 0;
        foreach (PacketForwarder f in forwarders)
        {
            ForwarderStats s = f.Stats;
            received += s.Received;
            forwarded += s.Forwarded;
            dropped += s.Dropped;
            inFlight += s.InFlight;
        }

        return new ForwarderStats(received, forwarded, dropped, inFlight);
    }

    /// <summary>"454e4331", "0x454e4331" or "45:4e:43:31".</summary>
    internal static byte[] ParseHex(string text)
    {
        string t = text.Replace(":", string.Empty, StringComparison.Ordinal);
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            t = t[2..];
        }

        try
        {
            byte[] b = Convert.FromHexString(t);
            return b.Length is > 0 and <= 1024 ? b : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new FormatException("bad --encap-header '" + text + "': 1 to 1024 bytes in hex, e.g. 454e4331");
        }
    }
}
