using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Perf.Batch;
using Spectre.Console;

namespace Perf.LoadGen;

/// <summary>
/// Builds a namespace pair joined by a veth, installs HTB on the sending side with one class per requested id, sends
/// one priority per class (priority = class id, so HTB classifies without filters), and compares HTB's own counters
/// with what perfgen sent. Everything it creates is removed on the way out, Ctrl-C included.
/// </summary>
internal static partial class QdiscTest
{
    private const string Dev = "pg0";

    internal static int Run(HtbClass[] classes, PriorityStrategy strategy, SendBackendKind backend, long count, (int Min, int Max) size, int burst, SegmentationMode gso, string? json, bool quiet)
    {
        var report = new Report(quiet, humanToStderr: json == "-");
        if (geteuid() != 0)
        {
            report.Error("qdisc-test needs root: it creates network namespaces, a veth pair and an HTB qdisc");
            return Cli.BadInput;
        }

        if (strategy == PriorityStrategy.Cmsg && !CapabilityProbe.Probe().PerPacketPriority)
        {
            report.Error(Jobs.CmsgRefused + " and nothing was set up");
            return Cli.BadInput;
        }

        string tag = Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Random.Shared.Next(1 << 20).ToString("x", CultureInfo.InvariantCulture);
        string nsA = "perfgen-" + tag + "-a";
        string nsB = "perfgen-" + tag + "-b";
        SinkJob? sink = null;
        Thread? sinkThread = null;
        SendJob? job = null;
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; job?.Stop(); sink?.Stop(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; job?.Stop(); sink?.Stop(); });
        try
        {
            Sh("ip netns add " + nsA);
            Sh("ip netns add " + nsB);
            Sh("ip -n " + nsA + " link set lo up");
            Sh("ip -n " + nsB + " link set lo up");
            Sh("ip -n " + nsA + " link add " + Dev + " type veth peer name pg1 netns " + nsB);
            Sh("ip -n " + nsA + " addr add 198.18.0.1/30 dev " + Dev);
            Sh("ip -n " + nsB + " addr add 198.18.0.2/30 dev pg1");
            Sh("ip -n " + nsA + " link set " + Dev + " up");
            Sh("ip -n " + nsB + " link set pg1 up");
            string major = classes[0].Major.ToString("x", CultureInfo.InvariantCulture);
            // No default class: a packet whose priority names no class is sent directly and shows up in no class counter.
            Sh("tc -n " + nsA + " qdisc add dev " + Dev + " root handle " + major + ": htb");
            foreach (HtbClass c in classes)
            {
                Sh("tc -n " + nsA + " class add dev " + Dev + " parent " + major + ": classid " + c + " htb rate " + c.Rate);
            }

            if (strategy == PriorityStrategy.MarkAndBpf)
            {
                MarkClassifier.Attach(Dev, nsA); // the marks become priorities before HTB classifies
            }

            report.Line("qdisc-test: " + nsA + " --veth--> " + nsB + ", HTB on " + Dev + ": " + string.Join(", ", classes.Select(c => c + "=" + c.Rate)));
            // The veth crossing resets skb->priority: HTB's counters on the sending side are the verdict, the sink counts.
            sink = new SinkJob(new SinkSettings { Listen = new DatagramAddress(IPAddress.Parse("198.18.0.2"), 0), Namespace = nsB, Idle = TimeSpan.FromSeconds(3), Verify = SinkVerify.None });
            sinkThread = new Thread(sink.Run) { IsBackground = true, Name = "perfgen sink" };
            sinkThread.Start();
            var settings = new SendSettings
            {
                Destination = sink.LocalAddress,
                Count = count,
                MinSize = size.Min,
                MaxSize = size.Max,
                Priorities = [.. classes.Select(c => new WeightedPriority(c.Id, 1))],
                Connect = true,
                Namespace = nsA,
                Strategy = strategy,
                Backend = backend,
                Burst = burst,
                Segmentation = gso,
            };
            job = new SendJob(settings);
            SendTotals? totals = Jobs.SendCoreWith(job, settings, TimeSpan.FromSeconds(1), report, out int code);
            if (totals is null)
            {
                sink.Stop();
                sinkThread.Join();
                return code;
            }

            sinkThread.Join();
            Dictionary<string, (long Packets, long Bytes)> counters = WaitForCounters(nsA, totals.Packets);
            return Compare(classes, totals, sink, counters, report, json);
        }
        catch (Exception e) when (e is InvalidOperationException or PerfSocketException)
        {
            report.Error(Cli.OneLine(e));
            return Cli.BadInput;
        }
        finally
        {
            if (sinkThread is { IsAlive: true })
            {
                sink!.Stop(); // never dispose a sink whose thread still receives
                sinkThread.Join();
            }

            sink?.Dispose();
            HostCommand.Run(null, "ip", "netns del " + nsB);
            HostCommand.Run(null, "ip", "netns del " + nsA);
        }
    }

    private static int Compare(HtbClass[] classes, SendTotals totals, SinkJob sink, Dictionary<string, (long Packets, long Bytes)> counters, Report report, string? json)
    {
        // HTB counts whole frames on the veth: payload + UDP 8 + IPv4 20 + Ethernet 14.
        const int FrameOverhead = 42;
        var table = new Table().Title("sent by perfgen vs counted by HTB")
            .AddColumn("class").AddColumn("rate").AddColumn("priority")
            .AddColumn(new TableColumn("sent pkts").RightAligned()).AddColumn(new TableColumn("HTB pkts").RightAligned())
            .AddColumn(new TableColumn("sent bytes (L2)").RightAligned()).AddColumn(new TableColumn("HTB bytes").RightAligned()).AddColumn("result");
        bool allPass = true;
        var rows = new List<(HtbClass Class, long Sent, long SentBytes, long Htb, long HtbBytes, bool Pass)>();
        foreach (HtbClass c in classes)
        {
            (uint _, long packets, long bytes) = totals.PerPriority.First(p => p.Priority == c.Id);
            long l2Bytes = bytes + (packets * FrameOverhead);
            (long htbPackets, long htbBytes) = counters.GetValueOrDefault(c.ToString());
            bool pass = packets > 0 && packets == htbPackets && l2Bytes == htbBytes;
            allPass &= pass;
            rows.Add((c, packets, l2Bytes, htbPackets, htbBytes, pass));
            table.AddRow(c.ToString(), c.Rate, "0x" + c.Id.ToString("x", CultureInfo.InvariantCulture),
                packets.ToString("N0", CultureInfo.InvariantCulture), htbPackets.ToString("N0", CultureInfo.InvariantCulture),
                l2Bytes.ToString("N0", CultureInfo.InvariantCulture), htbBytes.ToString("N0", CultureInfo.InvariantCulture),
                pass ? "[green]PASS[/]" : "[red]FAIL[/]");
        }

        // Crossing the veth resets skb->priority, so the receiver checks only loss and duplicates.
        var problems = new List<string>();
        Jobs.AddSinkProblems(sink, problems, checkPriority: false);
        if (sink.Received != totals.Packets)
        {
            problems.Add("the receiver got " + sink.Received + " of " + totals.Packets);
        }

        allPass &= problems.Count == 0;
        report.Console.Write(table);
        foreach (string p in problems)
        {
            report.Error("FAIL: " + p);
        }

        report.Line(allPass ? "[green]PASS[/]: HTB put every datagram in the class its priority named" : "[red]FAIL[/]");
        if (json is not null)
        {
            Report.WriteJson(json, "qdisc-test", totals, sink, w =>
            {
                w.WriteStartArray("classes");
                foreach (var r in rows)
                {
                    w.WriteStartObject();
                    w.WriteString("class", r.Class.ToString());
                    w.WriteString("rate", r.Class.Rate);
                    w.WriteNumber("priority", r.Class.Id);
                    w.WriteNumber("sent_packets", r.Sent);
                    w.WriteNumber("sent_bytes_l2", r.SentBytes);
                    w.WriteNumber("htb_packets", r.Htb);
                    w.WriteNumber("htb_bytes", r.HtbBytes);
                    w.WriteBoolean("pass", r.Pass);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteBoolean("pass", allPass);
            });
        }

        return allPass ? Cli.Ok : Cli.CheckFailed;
    }

    /// <summary>Waits (at most 30 s) until the shaped classes have drained what was sent, then returns their counters.</summary>
    private static Dictionary<string, (long Packets, long Bytes)> WaitForCounters(string ns, long sent)
    {
        var deadline = Stopwatch.StartNew();
        Dictionary<string, (long Packets, long Bytes)> counters;
        while (true)
        {
            counters = ReadCounters(ns);
            if (counters.Values.Sum(c => c.Packets) >= sent || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                return counters;
            }

            Thread.Sleep(100);
        }
    }

    internal static Dictionary<string, (long Packets, long Bytes)> ReadCounters(string ns) => ParseClassCounters(Sh("tc -n " + ns + " -s class show dev " + Dev));

    /// <summary>
    /// Per-class (packets, bytes) from <c>tc -s class show</c>. iproute2 6.1 prints HTB class statistics only as text
    /// ("class htb 1:10 …", then " Sent B bytes P pkt …"), so -j is no use here.
    /// </summary>
    internal static Dictionary<string, (long Packets, long Bytes)> ParseClassCounters(string tcOutput)
    {
        var result = new Dictionary<string, (long, long)>();
        string? current = null;
        foreach (string line in tcOutput.Split('\n'))
        {
            Match c = ClassLine().Match(line);
            if (c.Success)
            {
                current = c.Groups[1].Value;
                continue;
            }

            Match s = SentLine().Match(line);
            if (s.Success && current is not null)
            {
                result[current] = (long.Parse(s.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture));
                current = null;
            }
        }

        return result;
    }

    private static string Sh(string command)
    {
        int space = command.IndexOf(' ', StringComparison.Ordinal);
        (int code, string output) = HostCommand.Run(null, command[..space], command[(space + 1)..]);
        return code == 0 ? output : throw new InvalidOperationException("'" + command + "' failed (" + code + "): " + output.Trim());
    }

    [GeneratedRegex(@"^class \S+ (\S+) ")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^\s*Sent (\d+) bytes (\d+) pkt")]
    private static partial Regex SentLine();

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
