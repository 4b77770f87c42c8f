using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

[Collection("Network")]
public sealed class ReceiverTests
{
    [Fact]
    public void ReportsSourcePriorityAndTruncation()
    {
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
                Assert.True(d.HasPriority);
                got.Add((d.Payload.Length, d.Priority, d.Truncated, d.Source));
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
