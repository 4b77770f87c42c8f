using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Perf.Batch;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>perfgen driven through its real entry point, in process, against real sockets.</summary>
[Collection("Network")]
public sealed class CliTests
{
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Theory]
    [InlineData("send", "--dest", "127.0.0.1:9", "--bogus")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--rate", "fast")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--size", "31")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--size", "65508")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--priorities", "1:x")]
    [InlineData("send", "--dest", "nowhere")]
    [InlineData("send")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--backend", "dpdk")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--batch", "0")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--duration", "1s", "--count", "5")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--ipv6")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--priority-strategy", "magic")]
    [InlineData("send", "--dest", "127.0.0.1:9", "--priority-strategy", "socket-per-priority", "--tx-timestamps")]
    [InlineData("qdisc-test", "--priority-strategy", "socket-per-priority", "--tx-timestamps")]
    [InlineData("bpf-attach")]
    [InlineData("sink")]
    [InlineData("frobnicate")]
    [InlineData("qdisc-test", "--classes", "1:10,2:20")]
    [InlineData("forward", "--listen", "127.0.0.1:0")]
    [InlineData("forward", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--map", "0=x")]
    [InlineData("forward", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--encap-header", "zz")]
    [InlineData("forward", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--key", "tos")]
    [InlineData("sink", "--listen", "127.0.0.1:0", "--verify", "magic")]
    [InlineData("qdisc-test", "--priority-strategy", "magic")]
    [InlineData("qdisc-test", "--backend", "dpdk")]
    public void BadInputIsExitCode2BeforeAnythingIsSent(params string[] args)
    {
        using PacketReceiver watch = Loopback.Receiver(AddressFamily.InterNetwork);
        string[] patched = [.. args.Select(a => a == "127.0.0.1:9" ? watch.LocalAddress.ToString() : a)];
        Assert.Equal(2, PerfgenCli.Run(patched));
        Assert.Equal(0, watch.Receive(100)); // nothing was sent
    }

    [Fact]
    public void PrioritiesAbove6WithoutPrivilegeAreRefusedUpFront()
    {
        using PacketReceiver watch = Loopback.Receiver(AddressFamily.InterNetwork);
        CapabilityProbe.TestOverride = p => p > 6 ? Errno.EPERM : 0; // as for a process without CAP_NET_ADMIN/CAP_NET_RAW
        try
        {
            Assert.Equal(2, PerfgenCli.Run(["send", "--dest", watch.LocalAddress.ToString(), "--priorities", "0,7", "--count", "10", "--quiet"]));
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }

        Assert.Equal(0, watch.Receive(100));
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Theory]
    [InlineData("send")]
    [InlineData("qdisc-test")]
    public void CmsgStrategyOnAKernelWithoutTheCmsgIsOneLineAndExit2(string command)
    {
        using PacketReceiver watch = Loopback.Receiver(AddressFamily.InterNetwork);
        string[] args = command == "send"
            ? ["send", "--dest", watch.LocalAddress.ToString(), "--priority-strategy", "cmsg", "--count", "10", "--quiet"]
            : ["qdisc-test", "--priority-strategy", "cmsg", "--count", "10", "--quiet"];
        Assert.SkipWhen(command == "qdisc-test" && !HostTools.IsRoot, "qdisc-test asks for root first");
        TextWriter stderr = Console.Error;
        var captured = new StringWriter();
        CapabilityProbe.TestOverride = _ => Errno.EINVAL; // what a kernel before 6.14 answers to the probe's cmsg
        Console.SetError(captured);
        int code;
        try
        {
            code = PerfgenCli.Run(args);
        }
        finally
        {
            Console.SetError(stderr);
            CapabilityProbe.TestOverride = null;
        }

        Assert.Equal(2, code);
        string[] lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("perfgen: --priority-strategy cmsg:", lines[0]);
        Assert.Contains("socket-per-priority", lines[0]);
        Assert.Equal(0, watch.Receive(100));
    }

    [Fact]
    public void SendToSinkCountsAndPrioritiesMatchExactly()
    {
        using var sink = new SinkJob(new SinkSettings { Listen = new DatagramAddress(IPAddress.Loopback, 0), Count = 20_000, Idle = TimeSpan.FromSeconds(5) });
        var thread = new Thread(sink.Run);
        thread.Start();
        string json = Path.GetTempFileName();
        try
        {
            int code = PerfgenCli.Run(["send", "--dest", sink.LocalAddress.ToString(), "--count", "20000", "--rate", "40k", "--size", "64-1400",
                "--priorities", "0:50,3:30,6:20", "--quiet", "--json", json]);
            Assert.Equal(0, code);
            Assert.True(thread.Join(TimeSpan.FromSeconds(20)));
            Assert.Equal(20_000, sink.Received);
            Assert.Equal(0, sink.Mismatched);
            Assert.Equal(0, sink.Lost);
            Assert.Equal(0, sink.Duplicates);
            Assert.Equal(0, sink.Malformed);
            Assert.Equal(10_000, sink.PerPriority[0]);
            Assert.Equal(6_000, sink.PerPriority[3]);
            Assert.Equal(4_000, sink.PerPriority[6]);

            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            JsonElement send = doc.RootElement.GetProperty("send");
            Assert.Equal(20_000, send.GetProperty("packets").GetInt64());
            Assert.Equal(sink.Bytes, send.GetProperty("bytes").GetInt64());
            Assert.Equal(0, send.GetProperty("failed").GetInt64());
            Assert.Equal(10_000, send.GetProperty("per_priority")[0].GetProperty("packets").GetInt64());
            Assert.Equal(0, send.GetProperty("gc").GetProperty("allocated_bytes").GetInt64());
        }
        finally
        {
            sink.Stop();
            thread.Join();
            File.Delete(json);
        }
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Theory]
    [InlineData("socket-per-priority")]
    [InlineData("setsockopt")]
    public void SendToSinkWithAFallbackStrategyKeepsEveryPriority(string strategy)
    {
        using var sink = new SinkJob(new SinkSettings { Listen = new DatagramAddress(IPAddress.Loopback, 0), Count = 7_000, Idle = TimeSpan.FromSeconds(5) });
        var thread = new Thread(sink.Run);
        thread.Start();
        string json = Path.GetTempFileName();
        try
        {
            Assert.Equal(0, PerfgenCli.Run(["send", "--dest", sink.LocalAddress.ToString(), "--count", "7000", "--rate", "20k", "--priority-strategy", strategy, "--quiet", "--json", json]));
            Assert.True(thread.Join(TimeSpan.FromSeconds(20)));
            Assert.Equal(7_000, sink.Received);
            Assert.Equal(0, sink.Mismatched);
            Assert.All(Enumerable.Range(0, 7), p => Assert.Equal(1000, sink.PerPriority[(uint)p]));
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            string expected = strategy == "setsockopt" ? "SetsockoptPerRun" : "SocketPerPriority";
            Assert.Equal(expected, doc.RootElement.GetProperty("send").GetProperty("priority_strategy").GetString());
        }
        finally
        {
            sink.Stop();
            thread.Join();
            File.Delete(json);
        }
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BurstsGoOutSegmentedAndAGroSinkChecksEveryDatagram(bool strictOrder)
    {
        using var sink = new SinkJob(new SinkSettings { Listen = new DatagramAddress(IPAddress.Loopback, 0), Count = 32_000, Idle = TimeSpan.FromSeconds(5), Gro = true });
        var thread = new Thread(sink.Run);
        thread.Start();
        string json = Path.GetTempFileName();
        try
        {
            string[] args = ["send", "--dest", sink.LocalAddress.ToString(), "--connect", "--count", "32000", "--rate", "100k", "--size", "1200",
                "--burst", "16", "--quiet", "--json", json];
            Assert.Equal(0, PerfgenCli.Run(strictOrder ? [.. args, "--strict-order"] : args));
            Assert.True(thread.Join(TimeSpan.FromSeconds(20)));
            Assert.Equal(32_000, sink.Received);
            Assert.Equal(0, sink.Mismatched);
            Assert.Equal(0, sink.Lost);
            Assert.Equal(0, sink.ReorderedWithinPriority); // grouping reorders across priorities only
            Assert.All(Enumerable.Range(0, 7), p => Assert.InRange(sink.PerPriority[(uint)p], 4560, 4576)); // runs of 16 cycle 0-6
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            bool oneSocket = doc.RootElement.GetProperty("send").GetProperty("priority_strategy").GetString() is "Cmsg" or "MarkAndBpf";
            if (strictOrder && oneSocket)
            {
                Assert.Equal(0, sink.Reordered); // one socket, enqueue order (SocketPerPriority reorders across priorities)
            }

            JsonElement gso = doc.RootElement.GetProperty("send").GetProperty("gso");
            if (gso.GetProperty("on").GetBoolean())
            {
                Assert.Equal(32_000, gso.GetProperty("segmented_datagrams").GetInt64());
                Assert.True(sink.Gro);
                Assert.True(sink.CoalescedBuffers > 0); // runs arrived over loopback as one buffer each, split by the sink
                // Grouping joins bursts of one priority queued together into longer runs (up to 54 of 1200 B).
                Assert.True(gso.GetProperty("average_segments").GetDouble() >= 16.0);
                if (strictOrder && doc.RootElement.GetProperty("send").GetProperty("priority_strategy").GetString() == "Cmsg")
                {
                    Assert.Equal(16.0, gso.GetProperty("average_segments").GetDouble());
                    Assert.Equal(2_000, sink.CoalescedBuffers);
                }
            }
        }
        finally
        {
            sink.Stop();
            thread.Join();
            File.Delete(json);
        }
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Fact]
    public void GsoOnWhereTheKernelRefusesItIsOneLineAndExit2()
    {
        using PacketReceiver watch = Loopback.Receiver(AddressFamily.InterNetwork);
        TextWriter stderr = Console.Error;
        var captured = new StringWriter();
        CapabilityProbe.SegmentOverride = _ => Errno.EINVAL; // a kernel without UDP GSO
        Console.SetError(captured);
        int code;
        try
        {
            code = PerfgenCli.Run(["send", "--dest", watch.LocalAddress.ToString(), "--gso", "on", "--count", "10", "--quiet"]);
        }
        finally
        {
            Console.SetError(stderr);
            CapabilityProbe.SegmentOverride = null;
        }

        Assert.Equal(2, code);
        string[] lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("UDP GSO", lines[0]);
        Assert.Equal(0, watch.Receive(100));
    }

    [Fact]
    public void RateIsAccurateAt50kppsOver5s()
    {
        Assert.SkipWhen(Lab.InLab, "timing-bound: an emulated CPU in the kernel lab (QEMU TCG) cannot hold 50k pps; this runs on the host");
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        string json = Path.GetTempFileName();
        try
        {
            Assert.Equal(0, PerfgenCli.Run(["send", "--dest", sink.LocalAddress.ToString(), "--rate", "50k", "--duration", "5s", "--quiet", "--json", json]));
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            double pps = doc.RootElement.GetProperty("send").GetProperty("pps").GetDouble();
            long packets = doc.RootElement.GetProperty("send").GetProperty("packets").GetInt64();
            Assert.InRange(pps, 49_500, 50_500);
            Assert.InRange(packets, 247_500, 252_500);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData("1", false)]
    [InlineData("2", false)]
    [InlineData("2", true)]
    public void ForwardKeepsOrRemapsPrioritiesAndEncapsulates(string threads, bool txTimestamps)
    {
        PriorityView.Require();
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork);
        int port;
        using (PacketReceiver probe = Loopback.Receiver(AddressFamily.InterNetwork))
        {
            port = probe.LocalAddress.Port; // a free port for the forwarder to listen on
        }

        string json = Path.GetTempFileName();
        int code = -1;
        var run = new Thread(() => code = PerfgenCli.Run(["forward", "--listen", "127.0.0.1:" + port, "--to", final.LocalAddress.ToString(),
            "--map", "0=3", "--encap-header", "454e4331", "--threads", threads, "--duration", "3s", "--quiet", "--json", json, .. (string[])(txTimestamps ? ["--tx-timestamps"] : [])]));
        run.Start();
        Thread.Sleep(1000); // the forwarder binds
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = new DatagramAddress(IPAddress.Loopback, port) });
        for (int i = 0; i < 700; i++)
        {
            Assert.True(tx.TryEnqueue(BitConverter.GetBytes(i), (uint)(i % 7)));
            if (i % 64 == 63)
            {
                tx.Flush();
            }
        }

        tx.Flush();
        int got = 0;
        while (got < 700 && final.Receive(2000) > 0)
        {
            for (int k = 0; k < final.Count; k++, got++)
            {
                ReceivedDatagram d = final[k];
                Assert.Equal("ENC1"u8.ToArray(), d.Payload[..4].ToArray());
                int i = BitConverter.ToInt32(d.Payload[4..]);
                Assert.Equal(i % 7 == 0 ? 3u : (uint)(i % 7), PriorityView.Of(d));
            }
        }

        run.Join();
        Assert.Equal(0, code);
        Assert.Equal(700, got);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement f = doc.RootElement.GetProperty("forward");
        Assert.Equal(700, f.GetProperty("received").GetInt64());
        Assert.Equal(700, f.GetProperty("forwarded").GetInt64());
        Assert.Equal(0, f.GetProperty("dropped").GetInt64());
        Assert.Equal(int.Parse(threads, System.Globalization.CultureInfo.InvariantCulture), f.GetProperty("threads").GetInt32());
        if (txTimestamps)
        {
            // A qdisc delay for every datagram forwarded, under the priority it left with (0 became 3).
            JsonElement[] sent = [.. f.GetProperty("sent_per_priority").EnumerateArray()];
            Assert.Equal([1u, 2u, 3u, 4u, 5u, 6u], sent.Select(p => p.GetProperty("priority").GetUInt32()));
            Assert.Equal(700, sent.Sum(p => p.GetProperty("qdisc_delay_us").GetProperty("histogram").EnumerateArray().Sum(b => b[2].GetInt64())));
            Assert.All(sent, p => Assert.Equal(0, p.GetProperty("qdisc_delay_incomplete").GetInt64()));
        }

        File.Delete(json);
    }

    // The lab runs this very command on every kernel (tests/lab/guest-checks), so here it is the host's.
    [Trait(Lab.Trait, Lab.HostOnly)]
    [Fact]
    public void NoArgumentRunExits0()
    {
        Assert.Equal(0, PerfgenCli.Run([]));
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Theory]
    [InlineData("1")]
    [InlineData("16")]
    public void QdiscTestPassesWithThreeClasses(string burst)
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        string json = Path.GetTempFileName();
        try
        {
            // --burst 16: runs of one class go out as GSO messages, and HTB counts each as its number of datagrams.
            string count = burst == "1" ? "3000" : "3072"; // whole cycles of three runs of 16
            long each = long.Parse(count, System.Globalization.CultureInfo.InvariantCulture) / 3;
            Assert.Equal(0, PerfgenCli.Run(["qdisc-test", "--classes", "1:10=10mbit,1:20=50mbit,1:30", "--count", count, "--size", "200", "--burst", burst, "--gso", "auto", "--json", json]));
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.True(doc.RootElement.GetProperty("pass").GetBoolean());
            JsonElement[] classes = [.. doc.RootElement.GetProperty("classes").EnumerateArray()];
            Assert.Equal(3, classes.Length);
            Assert.All(classes, c => Assert.Equal(each, c.GetProperty("htb_packets").GetInt64()));
            Assert.All(classes, c => Assert.Equal(each * (200 + 42), c.GetProperty("htb_bytes").GetInt64()));
            if (burst != "1" && doc.RootElement.GetProperty("send").GetProperty("gso").GetProperty("on").GetBoolean())
            {
                Assert.True(doc.RootElement.GetProperty("send").GetProperty("gso").GetProperty("segmented_messages").GetInt64() > 0);
            }
        }
        finally
        {
            File.Delete(json);
        }

        Assert.DoesNotContain("perfgen-" + Environment.ProcessId + "-", HostTools.Sh("ip netns list")); // cleaned up
    }
}
