using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Pipes;

// What the forwarder keys its map by, and the DSCP and ECN it carries through: the async loop, the DSCP key before
// 6.14, and a key the input cannot report.
public sealed partial class ForwarderTests
{
    [Fact]
    public void MapParsing()
    {
        PriorityMap m = PriorityMap.Parse("0=3, 5=0x10010, default=1");
        Assert.Equal(3u, m.Map(0));
        Assert.Equal(0x10010u, m.Map(5));
        Assert.Equal(1u, m.Map(2));
        Assert.Equal(4u, PriorityMap.Parse("0=3").Map(4));
        Assert.Throws<FormatException>(() => PriorityMap.Parse("0=3,0=4"));
        Assert.Throws<FormatException>(() => PriorityMap.Parse("x=1"));
        Assert.Throws<FormatException>(() => PriorityMap.Parse("1"));
    }

    [Fact]
    public async Task RunAsyncKeepsEachDatagramsDscpAndEcnAndMapsItsPriority()
    {
        using (PacketSender probe = PacketSender.Create(new PacketSenderOptions()))
        {
            Assert.SkipUnless(probe.Capabilities.PerPacketPriority,
                "a traffic class per datagram needs the priority cmsg after it (Linux 6.14+) or MarkAndBpf with the classifier on the route; PriorityQdiscTests checks that on every kernel");
        }

        using PacketReceiver final = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceiveTrafficClass = true });
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceiveTrafficClass = true });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress, PerPacketTrafficClass = true });
        var forwarder = new PacketForwarder(input, output, PriorityMap.Parse("46=5,10=2,default=0"), transform: null, ForwardPriorityKey.Dscp);
        using var stop = new CancellationTokenSource();
        Task running = forwarder.RunAsync(stop.Token).AsTask();

        (int Tos, uint Expected)[] kinds = [(0xb8, 5), (0x2a, 2), (0x01, 0)]; // EF, AF11 + ECT(0), best effort + ECT(1)
        foreach ((int tos, uint _) in kinds)
        {
            using var tx = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            tx.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, tos);
            for (int i = 0; i < 5; i++)
            {
                tx.SendTo([(byte)tos, (byte)i], input.LocalAddress.ToEndPoint());
            }
        }

        int got = 0;
        while (got < 15 && await final.ReceiveAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken) is var n and > 0)
        {
            for (int i = 0; i < n; i++, got++)
            {
                byte tos = final[i].Payload[0];
                Assert.Equal(tos, final[i].TrafficClass);
                Assert.Equal(kinds.First(k => k.Tos == tos).Expected, final[i].Priority);
            }
        }

        stop.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(15, got);
        Assert.Equal(15, forwarder.Stats.Forwarded);
    }

    [Fact]
    public void KeysTheMapByDscpWhereTheKernelReportsNoPriority()
    {
        PriorityView.Require();
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceivePriority = false, // what a gateway on a kernel before 6.14 has
            ReceiveTrafficClass = true,
        });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress });
        var forwarder = new PacketForwarder(input, output, PriorityMap.Parse("46=5,10=2,default=0"), transform: null, ForwardPriorityKey.Dscp);
        Assert.Equal(ForwardPriorityKey.Dscp, forwarder.PriorityKey);

        (int Tos, uint Expected)[] kinds = [(0xb8, 5), (0x28, 2), (0, 0)]; // EF, AF11, best effort
        foreach ((int tos, uint _) in kinds)
        {
            using var tx = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            tx.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, tos);
            for (int i = 0; i < 5; i++)
            {
                tx.SendTo([(byte)tos, (byte)i], input.LocalAddress.ToEndPoint());
            }
        }

        long deadline = Environment.TickCount64 + 10_000;
        while (forwarder.Stats.Forwarded < 15 && Environment.TickCount64 < deadline)
        {
            forwarder.RunOnce(100, TestContext.Current.CancellationToken);
        }

        var got = new List<(byte Tos, uint Priority)>();
        while (got.Count < 15 && final.Receive(2000) > 0)
        {
            for (int i = 0; i < final.Count; i++)
            {
                got.Add((final[i].Payload[0], PriorityView.Of(final[i])));
            }
        }

        Assert.Equal(15, got.Count);
        foreach ((byte tos, uint priority) in got)
        {
            Assert.Equal(kinds.First(k => k.Tos == tos).Expected, priority);
        }

        Assert.Equal(5, forwarder.GetReceived(46));
    }

    [Fact]
    public void RefusesAKeyTheInputCannotReport()
    {
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceivePriority = false });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress });
        Assert.Contains("ReceiveMark", Assert.Throws<ArgumentException>(() => new PacketForwarder(input, output)).Message);
        Assert.Contains("ReceiveMark", Assert.Throws<ArgumentException>(() => new PacketForwarder(input, output, null, null, ForwardPriorityKey.Mark)).Message);
        Assert.Contains("6.14", Assert.Throws<ArgumentException>(() => new PacketForwarder(input, output, null, null, ForwardPriorityKey.Priority)).Message);
        Assert.Contains("ReceiveTrafficClass", Assert.Throws<ArgumentException>(() => new PacketForwarder(input, output, null, null, ForwardPriorityKey.Dscp)).Message);
    }
}
