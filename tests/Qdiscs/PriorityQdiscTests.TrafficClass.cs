using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Qdiscs;

// DSCP and ECN per datagram (PerPacketTrafficClass): an IP_TOS cmsg also sets the datagram's priority to
// rt_tos2priority(tos), so every TOS here maps to a priority (6, 4, 2, 0) that names none of the HTB classes: a datagram
// whose TOS won over its priority would miss its class.
public sealed partial class PriorityQdiscTests
{
    private static readonly byte[] s_trafficClasses = [0x10, 0xb8, 0x29, 0x02]; // low delay, EF, AF11 + ECT(1), ECT(0)

    public static TheoryData<PriorityStrategy> PriorityCmsgStrategies => new() { PriorityStrategy.Cmsg, PriorityStrategy.MarkAndBpf };

    [Theory]
    [MemberData(nameof(PriorityCmsgStrategies))]
    public void EachDatagramLandsInItsPrioritysClassAndCarriesItsOwnTrafficClass(PriorityStrategy strategy)
    {
        uint[] priorities = [0x10010, 0x10020, 0x10030];
        using QdiscLab lab = QdiscLab.Create("tos", strategy, "htb", setup: net =>
        {
            foreach (uint p in priorities)
            {
                net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid " + ClassOf(p) + " htb rate 1gbit");
            }
        });
        using PacketReceiver rx = lab.Net.B.Run(() => PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(VethPair.AddressB, 0),
            ReceiveTrafficClass = true,
            BatchSize = 256,
            ReceiveBufferSize = 16 << 20,
        }));
        using PacketSender tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = strategy,
            ClassifierAttached = strategy == PriorityStrategy.MarkAndBpf,
            ConnectTo = rx.LocalAddress,
            PerPacketTrafficClass = true,
        }));
        Assert.True(tx.PerPacketTrafficClass);
        Dictionary<string, (long Packets, long Bytes)> before = lab.Net.ClassCounters();
        int count = Lab.Scaled(1200);
        byte[] payload = new byte[100];
        for (int i = 0; i < count; i++)
        {
            BitConverter.TryWriteBytes(payload, i);
            while (!tx.TryEnqueue(payload, new DatagramInfo(priorities[i % 3], TrafficClassOf(i))))
            {
                tx.Flush();
            }
        }

        Assert.Equal(0, tx.Flush().Pending);
        Assert.Equal(count, tx.Stats.Sent);

        // What arrived: every datagram, each with the DSCP and ECN it was given.
        var seen = new bool[count];
        int got = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (got < count && Environment.TickCount64 < deadline)
        {
            int n = rx.Receive(200);
            for (int k = 0; k < n; k++)
            {
                ReceivedDatagram d = rx[k];
                int i = BitConverter.ToInt32(d.Payload);
                Assert.True(d.HasTrafficClass);
                Assert.Equal(TrafficClassOf(i), d.TrafficClass);
                Assert.False(seen[i], "datagram " + i + " arrived twice");
                seen[i] = true;
                got++;
            }
        }

        Assert.Equal(count, got);
        Dictionary<string, (long Packets, long Bytes)> after = lab.Net.ClassCounters();
        foreach (uint p in priorities)
        {
            long delta = after.GetValueOrDefault(ClassOf(p)).Packets - before.GetValueOrDefault(ClassOf(p)).Packets;
            Assert.True(delta == count / 3, "class " + ClassOf(p) + " counted " + delta + " of " + (count / 3) + " (" + string.Join(", ", after) + ")");
        }

        // Runs of one priority break where the traffic class changes, and each class still left in GSO runs.
        Assert.True(!tx.Segmenting || tx.Stats.AverageSegments > 1.5, "average run " + tx.Stats.AverageSegments);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public void OverLoopbackTheReceiverSeesThePriorityAsSentBesideTheTrafficClass(AddressFamily family)
    {
        using var probe = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), BatchSize = 1 });
        Assert.SkipUnless(probe.ReportsPriority, "SO_RCVPRIORITY needs Linux 6.14+; the HTB test checks the same through class counters on every kernel");
        using PacketReceiver rx = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(Loopback.Address(family), 0),
            ReceiveTrafficClass = true,
            BatchSize = 64,
        });
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { AddressFamily = family, ConnectTo = rx.LocalAddress, PerPacketTrafficClass = true });
        uint[] priorities = [5, 1, 3, 0];
        for (int i = 0; i < 40; i++)
        {
            Assert.True(tx.TryEnqueue(new byte[] { (byte)i }, new DatagramInfo(priorities[i % 4], TrafficClassOf(i))));
        }

        tx.Flush();
        int got = 0;
        while (got < 40 && rx.Receive(2000) is var n and > 0)
        {
            for (int k = 0; k < n; k++, got++)
            {
                ReceivedDatagram d = rx[k];
                int i = d.Payload[0];
                Assert.Equal(priorities[i % 4], d.Priority);
                Assert.Equal(TrafficClassOf(i), d.TrafficClass);
            }
        }

        Assert.Equal(40, got);
    }

    [Theory]
    [InlineData(PriorityStrategy.SocketPerPriority)]
    [InlineData(PriorityStrategy.SetsockoptPerRun)]
    public void TrafficClassWithASocketStrategyIsAClearError(PriorityStrategy strategy)
    {
        var e = Assert.Throws<ArgumentException>(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = strategy,
            PerPacketTrafficClass = true,
            ConnectTo = new DatagramAddress(IPAddress.Loopback, 9),
        }));
        Assert.Contains("rt_tos2priority", e.Message, StringComparison.Ordinal);
        using PacketSender plain = PacketSender.Create(new PacketSenderOptions { ConnectTo = new DatagramAddress(IPAddress.Loopback, 9) });
        Assert.Throws<ArgumentException>(() => plain.TryEnqueue(new byte[8], new DatagramInfo(0, 0x10)));
    }

    // Blocks of three change the traffic class within each priority's run.
    private static byte TrafficClassOf(int i) => s_trafficClasses[i / 3 % s_trafficClasses.Length];
}
