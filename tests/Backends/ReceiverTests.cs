using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class ReceiverTests
{
    [Fact]
    public void ReportsSourcePriorityAndTruncation()
    {
        PriorityView.Require();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork, maxDatagram: 100);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false });
        Assert.True(tx.TryEnqueue(new byte[50], 4));
        Assert.True(tx.TryEnqueue(new byte[150], 0));
        tx.Flush();

        var got = new List<(int Len, uint Prio, bool Trunc, DatagramAddress Src)>();
        while (got.Count < 2 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                ReceivedDatagram d = rx[i];
                got.Add((d.Payload.Length, PriorityView.Of(d), d.Truncated, d.Source));
            }
        }

        Assert.Equal(2, got.Count);
        Assert.Equal((50, 4u, false), (got[0].Len, got[0].Prio, got[0].Trunc));
        Assert.Equal((100, 0u, true), (got[1].Len, got[1].Prio, got[1].Trunc)); // priority 0 is reported too
        Assert.Equal(new DatagramAddress(IPAddress.Loopback, tx.LocalAddress.Port), got[0].Src);
        Assert.Equal(2, rx.Received);
        Assert.Equal(150, rx.ReceivedBytes); // what the kernel reported, before truncation to the buffer
    }

    [Fact]
    public void ReportsPriorityOnlyWhereTheKernelHasSoRcvPriorityNeverAMadeUpZero()
    {
        using PacketReceiver rx = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0) });
        bool kernelHasIt = Environment.OSVersion.Version >= new Version(6, 14);
        Assert.Equal(kernelHasIt, rx.ReportsPriority); // before 6.14: created all the same, and says so
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress });
        Assert.True(tx.TryEnqueue(new byte[8], 5));
        tx.Flush();
        Assert.Equal(1, rx.Receive(2000));
        Assert.Equal(kernelHasIt, rx[0].HasPriority);
        Assert.Equal(kernelHasIt ? 5u : 0u, rx[0].Priority);
        Assert.False(rx[0].HasMark);
        Assert.False(rx[0].HasTrafficClass);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public void ReportsTrafficClassAndDscp(AddressFamily family)
    {
        if (family == AddressFamily.InterNetworkV6)
        {
            Assert.SkipUnless(Socket.OSSupportsIPv6, "IPv6 is disabled on this host");
        }

        using PacketReceiver rx = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(Loopback.Address(family), 0),
            ReceiveTrafficClass = true,
        });
        Assert.True(rx.ReportsTrafficClass);
        using var tx = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        if (family == AddressFamily.InterNetwork)
        {
            tx.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, 0xb8); // DSCP 46 (EF)
        }
        else
        {
            tx.SetRawSocketOption(41, 67, BitConverter.GetBytes(0xb8)); // IPV6_TCLASS
        }

        tx.SendTo(new byte[4], rx.LocalAddress.ToEndPoint());
        Assert.Equal(1, rx.Receive(2000));
        Assert.True(rx[0].HasTrafficClass);
        Assert.Equal((byte)0xb8, rx[0].TrafficClass);
        Assert.Equal((byte)46, rx[0].Dscp);
    }

    [Fact]
    public void ReportsTheMarkAMarkBpfSenderPutOnEachDatagram()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        Assert.SkipWhen(Environment.OSVersion.Version < new Version(5, 19), "SO_RCVMARK came with Linux 5.19");
        using NetNs ns = NetNs.Create("mark"); // its own lo: no priority_to_mark echo there to overwrite the mark
        using PacketReceiver rx = ns.Run(() => PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceivePriority = false,
            ReceiveMark = true,
        }));
        Assert.True(rx.ReportsMark);
        Assert.False(rx.ReportsPriority); // not asked for
        using PacketSender tx = ns.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress,
            PriorityStrategy = PriorityStrategy.MarkAndBpf,
            AutoFlush = false,
        }));
        uint[] marks = [0x10010, 3, 0x10020];
        foreach (uint m in marks)
        {
            Assert.True(tx.TryEnqueue(new byte[4], m));
        }

        tx.Flush();
        var got = new List<uint>();
        while (got.Count < marks.Length && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                Assert.True(rx[i].HasMark);
                Assert.False(rx[i].HasPriority);
                got.Add(rx[i].Mark);
            }
        }

        Assert.Equal(marks, got);
    }

    [Fact]
    public void TimesOutWithZeroAndRejectsIndexOutsideTheBatch()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        Assert.Equal(0, rx.Receive(50));
        Assert.Equal(0, rx.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => rx[0].Payload.Length);
        rx.Dispose();
        Assert.Throws<ObjectDisposedException>(() => rx.Receive(0));
        Assert.Throws<ArgumentException>(() => PacketReceiver.Create(new PacketReceiverOptions()));
    }

    [Fact]
    public void AddressParsingAndFormatting()
    {
        Assert.Equal("127.0.0.1:9", DatagramAddress.Parse("127.0.0.1:9").ToString());
        Assert.Equal("[::1]:9", DatagramAddress.Parse("[::1]:9").ToString());
        Assert.Equal(AddressFamily.InterNetworkV6, DatagramAddress.Parse("[::1]:9").AddressFamily);
        Assert.Equal(DatagramAddress.Parse("127.0.0.1:77"), DatagramAddress.Parse("localhost:77"));
        Assert.False(DatagramAddress.TryParse("127.0.0.1", out _));
        Assert.False(DatagramAddress.TryParse("::1", out _));
        Assert.False(DatagramAddress.TryParse("1.2.3.4:70000", out _));
        Assert.True(default(DatagramAddress).IsEmpty);
    }
}
