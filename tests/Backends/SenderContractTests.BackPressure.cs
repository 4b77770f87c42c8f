using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

// Back-pressure, part of every backend's contract.
// Loopback never pushes back, so these send through a veth into another namespace with an HTB class shaped to a low
// rate and a small SO_SNDBUF on the sender: the kernel then answers EAGAIN, promptly.
public abstract partial class SenderContractTests
{
    private const int Size = 200;

    [Fact]
    public void EveryPacketArrivesExactlyOnceThroughAShapedQdisc()
    {
        SkipUnlessNamespaces();
        using VethPair net = VethPair.CreateShaped("bp", "2mbit");
        const int Count = 1500; // about 1.5 s at 2 Mbit/s
        using PacketReceiver rx = net.ReceiverInB();
        using var collector = new Collector(rx, Count, _ => Size, checkPriority: false);
        using PacketSender tx = net.A.Run(() => CreateSender(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress,
            SendBufferSize = 4096,
            RingSize = 256,
            BatchSize = 64,
            WouldBlockTimeout = TimeSpan.FromSeconds(10),
        }));

        SendAll(tx, collector, Count, seq => (uint)(seq % 7), _ => Size, dest: null);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(20)), "received " + collector.Received + " of " + Count);
        Assert.Empty(collector.Errors);
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
        }

        SenderStats s = tx.Stats;
        Assert.Equal(Count, s.Sent);
        Assert.Equal(0, s.Failed);
        Assert.True(s.WouldBlock > 0, "the shaped qdisc should have pushed back");
        Assert.True(net.ClassCounters()["1:10"].Packets >= Count);
    }

    [Fact]
    public async Task FlushAsyncWaitsOffThreadAndCompletesWhenTheKernelDrains()
    {
        SkipUnlessNamespaces();
        using VethPair net = VethPair.CreateShaped("bpa", "1mbit");
        const int Count = 256;
        using PacketReceiver rx = net.ReceiverInB();
        using var collector = new Collector(rx, Count, _ => Size, checkPriority: false);
        using PacketSender tx = net.A.Run(() => CreateSender(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress,
            SendBufferSize = 4096,
            RingSize = 256,
            BatchSize = 64,
            AutoFlush = false,
            Segmentation = SegmentationMode.Off, // one skb per datagram: a GSO skb takes a whole run past a small buffer
        }));
        byte[] buf = new byte[Size];
        for (long seq = 0; seq < Count; seq++)
        {
            uint priority = (uint)(seq % 7);
            TestPayload.Write(buf, seq, priority, Size);
            Assert.True(tx.TryEnqueue(buf, priority));
        }

        ValueTask<FlushOutcome> flush = tx.FlushAsync(TestContext.Current.CancellationToken);
        Assert.False(flush.IsCompleted, "a 4 KiB send buffer cannot take 256 datagrams at once");
        FlushOutcome r = await flush;
        Assert.True(r.Completed);
        Assert.Equal(Count, tx.Stats.Sent);
        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void DisposeWhileTheKernelPushesBackAccountsForEveryPacket()
    {
        SkipUnlessNamespaces();
        using VethPair net = VethPair.CreateShaped("bpd", "1kbit");
        using PacketReceiver rx = net.ReceiverInB();
        PacketSender tx = net.A.Run(() => CreateSender(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress,
            SendBufferSize = 4096,
            RingSize = 256,
            AutoFlush = false,
            WouldBlockTimeout = TimeSpan.FromMilliseconds(300),
            Segmentation = SegmentationMode.Off, // one skb per datagram: a GSO skb takes a whole run past a small buffer
        }));
        byte[] buf = new byte[Size];
        for (int i = 0; i < 256; i++)
        {
            Assert.True(tx.TryEnqueue(buf, (uint)(3 + (i % 2))));
        }

        // At 1 kbit/s a datagram leaves every ~2 s, so after the first few the bound (300 ms without progress) expires
        // with datagrams still queued; they stay queued.
        FlushOutcome partial = tx.Flush();
        Assert.False(partial.Completed);
        Assert.Equal(256, partial.Sent + partial.Pending);
        tx.Dispose();

        SenderStats s = tx.Stats;
        Assert.Equal(0, s.Pending);
        Assert.Equal(256, s.Sent + s.Failed);
        Assert.True(tx.GetFailureCount(Errno.ECANCELED) > 0);
        Assert.Equal(s.Failed, tx.GetFailureCount(Errno.ECANCELED));
        var records = new FailedPacket[300];
        int n = tx.DrainFailures(records);
        Assert.Equal(s.Failed, n);
        Assert.All(records[..n], f => Assert.Equal(3u + (uint)(f.Sequence % 2), f.Priority));
        Assert.All(records[..n], f => Assert.Equal(Size, f.Length));
    }

    internal static void SkipUnlessNamespaces()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
    }
}
