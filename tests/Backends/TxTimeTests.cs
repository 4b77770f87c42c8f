using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

// Launch times (TxTime): SO_TXTIME on the socket and an SCM_TXTIME cmsg on every datagram, next to the priority's. Over
// loopback no qdisc reads the time, so these check that the kernel takes every combination and that each datagram
// arrives whole with its priority; PriorityQdiscTests.Etf checks the times themselves behind etf.
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class TxTimeTests
{
    [Theory]
    [InlineData(SegmentationMode.Off, SendBackendKind.Sendmmsg)]
    [InlineData(SegmentationMode.Auto, SendBackendKind.Sendmmsg)]
    [InlineData(SegmentationMode.Auto, SendBackendKind.IoUring)]
    public void EveryDatagramArrivesWithItsLaunchTimeTaken(SegmentationMode gso, SendBackendKind backend)
    {
        Assert.SkipWhen(backend == SendBackendKind.IoUring && UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);

        const int count = 512;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, count, _ => 200);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress, TxTime = true, Segmentation = gso, Backend = backend, AutoFlush = false,
        });
        Assert.True(tx.PerPacketTxTime);
        Assert.NotEqual(PriorityStrategy.SocketPerPriority, tx.PriorityStrategy);
        long now = PacketSender.TxTimeNow();
        for (int i = 0; i < count; i++)
        {
            Assert.True(tx.TryReserve(out Span<byte> slot));
            TestPayload.Write(slot, i, (uint)(i % 4), 200);
            // Pairs share a time: those may leave as one GSO skb, which carries one launch time.
            tx.Commit(200, new DatagramInfo((uint)(i % 4), TxTimeNs: now + (i / 8 * 1000)));
            if (tx.PendingCount == 256)
            {
                AssertAllSent(tx, 256);
            }
        }

        Assert.True(collector.WaitFor(count, TimeSpan.FromSeconds(10)), "received " + collector.Received + " of " + count);
        Assert.Empty(collector.Errors);
        SenderStats stats = tx.Stats;
        Assert.Equal(count, stats.Sent);
        if (tx.Segmenting)
        {
            // Each priority's datagrams pair up by time: runs of two, never longer, though length and priority allow 64.
            Assert.Equal(count, stats.SegmentedDatagrams);
            Assert.Equal(count / 2, stats.SegmentedMessages);
        }
    }

    private static void AssertAllSent(PacketSender tx, int count)
    {
        FlushOutcome r = tx.Flush();
        var failures = new FailedPacket[4];
        int n = tx.DrainFailures(failures);
        Assert.True(r.Sent == count, r + " of " + count + "; failures: " + string.Join(", ", failures.Take(n)));
    }

    [Fact]
    public void DatagramsWithoutALaunchTimeAreRefusedAndNothingIsQueued()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender timed = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress, TxTime = true, AutoFlush = false });
        byte[] payload = new byte[64];
        var e = Assert.Throws<ArgumentException>(() => timed.TryEnqueue(payload, 1));
        Assert.Contains("DatagramInfo.TxTimeNs", e.Message);
        Assert.Throws<ArgumentException>(() => timed.TryEnqueue(payload, new DatagramInfo(1, TxTimeNs: -5)));
        Assert.Equal(0, timed.PendingCount);

        using PacketSender plain = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false });
        Assert.False(plain.PerPacketTxTime);
        e = Assert.Throws<ArgumentException>(() => plain.TryEnqueue(payload, new DatagramInfo(1, TxTimeNs: PacketSender.TxTimeNow())));
        Assert.Contains("without TxTime", e.Message);
        Assert.Equal(0, plain.PendingCount);
    }

    [Fact]
    public void ASocketPerPriorityIsRefusedForLaunchTimes()
    {
        var e = Assert.Throws<ArgumentException>(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = new DatagramAddress(System.Net.IPAddress.Loopback, 9), TxTime = true, PriorityStrategy = PriorityStrategy.SocketPerPriority,
        }));
        Assert.Contains("SO_TXTIME", e.Message);
    }

    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void LaunchTimesAndTheirTimestampsAllocateNothing()
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = sink.LocalAddress, TxTime = true, TxTimestamps = true });
        byte[] payload = new byte[64];
        var records = new TxTimestamp[256];
        long drained = 0;
        Assert.Equal(0, SteadyState.AllocatedBytes(n =>
        {
            for (int i = 0; i < n; i++)
            {
                if (!tx.TryEnqueue(payload, new DatagramInfo((uint)(i % 7), TxTimeNs: PacketSender.TxTimeNow())))
                {
                    tx.Flush();
                    drained += tx.DrainTxTimestamps(records);
                }
            }

            tx.Flush();
            drained += tx.DrainTxTimestamps(records);
        }, warmup: 10_000, measured: 30_000)); // a clock read and a timestamp pair per datagram: shorter rounds suffice
        Assert.True(drained > 0);
    }

    [Fact]
    public void TheClocksAreTheKernels()
    {
        long tai = PacketSender.TxTimeNow(TxTimeClock.Tai);
        long realtime = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
        // TAI is ahead of UTC by the kernel's offset: whole seconds, 0 unless NTP set it (37 s since 2017).
        Assert.InRange(tai / 100 - realtime, -1_000_000, 40 * 10_000_000L);
        long m1 = PacketSender.TxTimeNow(TxTimeClock.Monotonic), m2 = PacketSender.TxTimeNow(TxTimeClock.Monotonic);
        Assert.True(m2 >= m1);
    }
}
