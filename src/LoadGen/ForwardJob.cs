using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Perf.Batch;

namespace Perf.LoadGen;

/// <summary>perfgen forward: receive on one address, optionally encapsulate and remap priorities, send to another.</summary>
internal static class ForwardJob
{
    internal static int Run(DatagramAddress listen, DatagramAddress to, PriorityMap map, ForwardPriorityKey key, byte[] encap, int maxSize, TimeSpan? duration, TimeSpan warmup, TimeSpan interval, string? json, bool quiet)
    {
        var report = new Report(quiet, humanToStderr: json == "-");
        // Before 6.14 no priority arrives: the map is keyed by mark or DSCP, as gateways do (--key).
        using PacketReceiver input = Receivers.Open(new PacketReceiverOptions
        {
            LocalAddress = listen,
            BatchSize = 64,
            ReceiveBufferSize = 16 << 20,
            MaxDatagramSize = maxSize,
            ReceivePriority = key is ForwardPriorityKey.Auto or ForwardPriorityKey.Priority,
            ReceiveMark = key is ForwardPriorityKey.Mark,
            ReceiveTrafficClass = key is ForwardPriorityKey.Dscp,
        }, markIfNoPriority: key == ForwardPriorityKey.Auto);
        using PacketSender output = PacketSender.Create(new PacketSenderOptions
        {
            AddressFamily = to.AddressFamily,
            ConnectTo = to,
            RingSize = 256,
            BatchSize = 64,
            MaxDatagramSize = Math.Min(maxSize + encap.Length, 65507),
        });
        ForwardTransform? transform = encap.Length == 0 ? null : (ReadOnlySpan<byte> inp, Span<byte> outp, ref uint _) =>
        {
            if (encap.Length + inp.Length > outp.Length)
            {
                return -1; // counted as oversize
            }

            encap.CopyTo(outp);
            inp.CopyTo(outp[encap.Length..]);
            return encap.Length + inp.Length;
        };
        if (key == ForwardPriorityKey.Priority && !input.ReportsPriority)
        {
            throw new FormatException("--key priority: this kernel has no SO_RCVPRIORITY (it came with Linux 6.14); use --key mark or --key dscp");
        }

        var forwarder = new PacketForwarder(input, output, map, transform, key);
        string keyedBy = forwarder.PriorityKey switch
        {
            ForwardPriorityKey.Priority => "priority (SO_RCVPRIORITY)",
            ForwardPriorityKey.Mark => "mark (SO_RCVMARK; this kernel reports no priority)",
            _ => "DSCP",
        };
        using var cts = new CancellationTokenSource();
        if (duration is { } d)
        {
            cts.CancelAfter(d + warmup);
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
        report.Line("perfgen forward: " + input.LocalAddress + " -> " + to + " (" + output.Backend + ")" + (encap.Length > 0 ? ", encapsulating with " + encap.Length + " bytes" : string.Empty) + ", priorities by the received " + keyedBy);
        report.Line("[bold]    time    in pkt/s   out pkt/s      received     forwarded   dropped[/]");
        var thread = new Thread(() => forwarder.Run(cts.Token, pollMs: 50)) { Name = "perfgen forward", IsBackground = true };
        var clock = Stopwatch.StartNew();
        thread.Start();
        ForwarderStats last = default;
        TimeSpan lastTime = TimeSpan.Zero;
        (ForwarderStats Stats, TimeSpan At) mark = (default, TimeSpan.Zero); // the end of the warm-up
        bool marked = warmup <= TimeSpan.Zero;
        while (!thread.Join(marked ? interval : TimeSpan.FromMilliseconds(10)))
        {
            if (!marked)
            {
                if (clock.Elapsed >= warmup)
                {
                    marked = true;
                    mark = (forwarder.Stats, clock.Elapsed);
                }

                if (clock.Elapsed - lastTime < interval)
                {
                    continue;
                }
            }

            ForwarderStats s = forwarder.Stats;
            double dt = (clock.Elapsed - lastTime).TotalSeconds;
            report.Line(string.Format(CultureInfo.InvariantCulture, "{0,7:0.0}s {1,11:N0} {2,11:N0} {3,13:N0} {4,13:N0} {5,9:N0}",
                clock.Elapsed.TotalSeconds, (s.Received - last.Received) / dt, (s.Forwarded - last.Forwarded) / dt, s.Received, s.Forwarded, s.Dropped));
            last = s;
            lastTime = clock.Elapsed;
        }

        output.Dispose(); // anything still queued ends as sent or ECANCELED, so the counts close
        ForwarderStats end = forwarder.Stats;
        double secs = clock.Elapsed.TotalSeconds;
        double measured = (clock.Elapsed - mark.At).TotalSeconds; // rates leave the warm-up out
        double inPps = (end.Received - mark.Stats.Received) / measured;
        double outPps = (end.Forwarded - mark.Stats.Forwarded) / measured;
        report.Line(string.Format(CultureInfo.InvariantCulture, "received {0:N0} ({1:N0}/s), forwarded {2:N0} ({3:N0}/s), dropped {4:N0}",
            end.Received, inPps, end.Forwarded, outPps, end.Dropped));
        foreach (ForwardDropReason r in Enum.GetValues<ForwardDropReason>())
        {
            if (forwarder.GetDropped(r) > 0)
            {
                report.Line("  dropped (" + r + "): " + forwarder.GetDropped(r).ToString("N0", CultureInfo.InvariantCulture));
            }
        }

        if (json is not null)
        {
            Report.WriteJson(json, "forward", send: null, sink: null, w =>
            {
                w.WriteStartObject("forward");
                w.WriteNumber("elapsed_s", secs);
                w.WriteNumber("received", end.Received);
                w.WriteNumber("forwarded", end.Forwarded);
                w.WriteNumber("dropped", end.Dropped);
                w.WriteNumber("warmup_s", mark.At.TotalSeconds);
                w.WriteNumber("in_pps", inPps);
                w.WriteNumber("out_pps", outPps);
                w.WriteStartObject("dropped_by_reason");
                foreach (ForwardDropReason r in Enum.GetValues<ForwardDropReason>())
                {
                    w.WriteNumber(r.ToString(), forwarder.GetDropped(r));
                }

                w.WriteEndObject();
                w.WriteStartArray("received_per_priority");
                for (uint p = 0; p < PacketForwarder.PriorityBuckets; p++)
                {
                    if (forwarder.GetReceived(p) > 0)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("priority", p);
                        w.WriteNumber("packets", forwarder.GetReceived(p));
                        w.WriteEndObject();
                    }
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        }

        return Cli.Ok;
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
