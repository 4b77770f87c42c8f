using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

// UDP GSO, part of every backend's contract: runs of equal datagrams leave as one UDP_SEGMENT message and every datagram
// still arrives once, in order, with its bytes and its priority (the receiver has GRO off, so segments arrive one by one).
public abstract partial class SenderContractTests
{
    private static void SkipUnlessSegmentation()
    {
        using PacketSender probe = PacketSender.Create(new PacketSenderOptions());
        Assert.SkipUnless(probe.Capabilities.Segmentation, "this kernel takes no UDP_SEGMENT cmsg (UDP GSO needs Linux 4.18+)");
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(17, false)]
    [InlineData(1, true)]
    [InlineData(3, true)]
    [InlineData(17, true)]
    public void RunsBrokenByPriorityChangesArriveIntactInOrderWithTheirPriorities(int every, bool gro)
    {
        SkipUnlessSegmentation();
        PriorityView.Require();
        const int Count = 20_000;
        // GRO on: a segmented message arrives over loopback as one buffer, which the receiver splits again.
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork, gro: gro);
        Assert.Equal(gro, rx.Gro);
        uint Priority(long seq) => (uint)(seq / every % 7);
        int Size(long seq) => every > 1 && seq % every == every - 1 ? 250 : 600; // each run's last datagram is shorter
        using var collector = new Collector(rx, Count, Size);
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, RingSize = 1024, BatchSize = 64 });
        Assert.True(tx.Segmenting);

        SendAll(tx, collector, Count, Priority, Size, dest: null);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(30)), "received " + collector.Received + " of " + Count);
        Assert.Empty(collector.Errors);
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal(Priority(seq), collector.Priority(seq));
        }

        collector.AssertOrder(tx, Count, Priority);
        SenderStats s = tx.Stats;
        Assert.Equal(Count, s.Sent);
        Assert.Equal(0, s.Failed);
        if (every == 1 && tx.PreservesOrder)
        {
            Assert.Equal(0, s.SegmentedMessages); // no run forms: one plain message per datagram
        }
        else if (tx.PreservesOrder)
        {
            // A flush window can cut a run, so runs are at most `every` long; most datagrams travel segmented.
            Assert.InRange(s.AverageSegments, 2, every);
            Assert.True(s.SegmentedDatagrams > Count / 2, "segmented " + s.SegmentedDatagrams);
        }
        else
        {
            // Grouping a flush by priority joins every run of one priority in the flush, whatever `every` is.
            Assert.True(s.SegmentedDatagrams > Count / 2, "segmented " + s.SegmentedDatagrams);
        }

        Assert.Equal(gro && (every > 1 || !tx.PreservesOrder), rx.CoalescedBuffers > 0);
        Assert.Equal(Count, rx.Received);
    }

    [Fact]
    public void RunsStopAtTheSegmentLimitAndAt65507Bytes()
    {
        SkipUnlessSegmentation();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork, maxDatagram: 8192);
        using var collector = new Collector(rx, 1080, seq => seq < 1000 ? 100 : 8000);
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, RingSize = 2048, BatchSize = 64, AutoFlush = false, MaxDatagramSize = 8000 });
        int max = tx.MaxSegments;
        byte[] buf = new byte[8000];
        for (long seq = 0; seq < 1080; seq++)
        {
            int size = seq < 1000 ? 100 : 8000;
            TestPayload.Write(buf, seq, 2, size);
            Assert.True(tx.TryEnqueue(buf.AsSpan(0, size), 2));
        }

        Assert.Equal(new FlushOutcome(1080, 0, 0), tx.Flush());
        Assert.True(collector.WaitFor(1080, TimeSpan.FromSeconds(10)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        Assert.Equal(0, collector.OutOfOrder);

        // 1000 datagrams of 100 B: runs of the kernel's limit, then the rest (all the same size). The 100 B run ends where
        // the size grows. 80 of 8000 B: 8 fit 65507 bytes (9 would be 72000), so 10 runs of 8.
        int small = (1000 + max - 1) / max;
        SenderStats s = tx.Stats;
        Assert.Equal(small + 10, s.SegmentedMessages);
        Assert.Equal(1080, s.SegmentedDatagrams);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ADestinationChangeEndsARunOnlyUnderStrictOrder(bool strict)
    {
        SkipUnlessSegmentation();
        using PacketReceiver a = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketReceiver b = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = CreateSender(new PacketSenderOptions { RingSize = 1024, BatchSize = 64, AutoFlush = false, StrictPriorityOrder = strict });
        byte[] buf = new byte[300];
        for (long seq = 0; seq < 1000; seq++)
        {
            DatagramAddress dest = seq / 10 % 2 == 0 ? a.LocalAddress : b.LocalAddress; // runs of 10 per destination
            TestPayload.Write(buf, seq, 4, buf.Length);
            Assert.True(tx.TryEnqueue(buf, 4, dest));
        }

        Assert.Equal(new FlushOutcome(1000, 0, 0), tx.Flush());
        // Strict: every destination change ends a run. Grouped: each destination's 500 gathered, in runs of the limit.
        int perRun = Math.Min(tx.MaxSegments, SendPlanner.MaxRunBytes / buf.Length);
        long messages = strict ? 100 : 2 * ((500 + perRun - 1) / perRun);
        Assert.Equal(messages, tx.Stats.SegmentedMessages);
        Assert.Equal(1000.0 / messages, tx.Stats.AverageSegments, 3);
        foreach ((PacketReceiver rx, long parity) in (ReadOnlySpan<(PacketReceiver, long)>)[(a, 0), (b, 1)])
        {
            var seqs = new List<long>();
            while (seqs.Count < 500 && rx.Receive(2000) > 0)
            {
                for (int i = 0; i < rx.Count; i++)
                {
                    Assert.Null(TestPayload.Check(rx[i].Payload, 300, out long seq, out _));
                    seqs.Add(seq);
                }
            }

            Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i).Where(i => i / 10 % 2 == parity), seqs);
        }
    }

    [Fact]
    public void WithRunsAnAutoFlushBatchIsBatchSizeMessages()
    {
        SkipUnlessSegmentation();
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = sink.LocalAddress, RingSize = 1024, BatchSize = 8 });
        byte[] buf = new byte[100];
        for (int i = 0; i < 4096; i++)
        {
            Assert.True(tx.TryEnqueue(buf, (uint)(i / 16 % 7))); // runs of 16
        }

        Assert.True(tx.Flush().Completed);
        SenderStats s = tx.Stats;
        Assert.Equal(4096, s.Sent);
        Assert.Equal(4096, s.SegmentedDatagrams);
        if (tx.PreservesOrder)
        {
            Assert.InRange(s.SegmentedMessages, 256, 320); // runs of 16, a few cut where a flush window ends
        }
        else
        {
            // Grouped: runs of 16 of one priority join into longer runs, up to the segment limit.
            Assert.InRange(s.SegmentedMessages, 4096 / tx.MaxSegments, 255);
        }

        // After the first flush showed runs, auto-flush waits for about 8 messages' worth a call (a full run per
        // priority where a flush is grouped), not 8 datagrams: far fewer calls than the 512 that flushing every 8
        // datagrams would take.
        Assert.InRange(s.SendCalls, 1, 64);
    }

    [Fact]
    public void SegmentationOffSendsOneMessagePerDatagram()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, 640, _ => 64);
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false, RingSize = 1024, Segmentation = SegmentationMode.Off });
        Assert.False(tx.Segmenting);
        byte[] buf = new byte[64];
        for (long seq = 0; seq < 640; seq++)
        {
            TestPayload.Write(buf, seq, 1, 64);
            Assert.True(tx.TryEnqueue(buf, 1));
        }

        Assert.Equal(new FlushOutcome(640, 0, 0), tx.Flush());
        Assert.Equal(10, tx.Stats.SendCalls);
        Assert.Equal(0, tx.Stats.SegmentedMessages);
        Assert.True(collector.WaitFor(640, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void SegmentationOnWhereTheKernelLacksItIsAClearErrorAndAutoTurnsItOff()
    {
        CapabilityProbe.SegmentOverride = _ => Errno.EINVAL; // what a kernel without UDP GSO answers
        try
        {
            PerfSocketException e = Assert.Throws<PerfSocketException>(() => CreateSender(new PacketSenderOptions { Segmentation = SegmentationMode.On }));
            Assert.Equal(Errno.EINVAL, e.Errno);
            Assert.Contains("UDP GSO", e.Message);
            using PacketSender auto = CreateSender(new PacketSenderOptions());
            Assert.False(auto.Capabilities.Segmentation);
            Assert.False(auto.Segmenting);
            Assert.Contains("UDP GSO: no", auto.Capabilities.ToString());
        }
        finally
        {
            CapabilityProbe.SegmentOverride = null;
        }

        CapabilityProbe.SegmentOverride = n => n > 64 ? Errno.EINVAL : 0; // an older kernel: UDP_MAX_SEGMENTS 64
        try
        {
            using PacketSender old = CreateSender(new PacketSenderOptions());
            Assert.Equal(64, old.Capabilities.MaxSegments);
        }
        finally
        {
            CapabilityProbe.SegmentOverride = null;
        }
    }

    [Fact]
    public void EioFromADeviceWithoutChecksumOffloadTurnsSegmentationOffAndLosesNothing()
    {
        SkipUnlessSegmentation();
        SkipUnlessNamespaces();
        HostTools.EnsureTunOrSkip();
        using NetNs ns = NetNs.Create("tun");
        using TunDevice tun = TunDevice.Create(ns, "perftun0");
        ns.Exec("ip addr add 198.18.3.1/24 dev perftun0");
        ns.Exec("ip link set perftun0 up");
        const int Count = 200;
        using PacketSender tx = ns.Run(() => CreateSender(new PacketSenderOptions
        {
            ConnectTo = new DatagramAddress(IPAddress.Parse("198.18.3.2"), 9),
            AutoFlush = false,
            RingSize = 256,
        }));
        Assert.True(tx.Segmenting);
        byte[] buf = new byte[300];
        for (long seq = 0; seq < Count; seq++)
        {
            TestPayload.Write(buf, seq, 3, buf.Length);
            Assert.True(tx.TryEnqueue(buf, 3));
        }

        Assert.Equal(new FlushOutcome(Count, 0, 0), tx.Flush());
        SenderStats s = tx.Stats;
        Assert.Equal(Count, s.Sent);
        if (tx.SegmentationStoppedBy == Errno.EIO)
        {
            // A TUN device without offloads cannot checksum a segmented message: the kernel answers EIO (before 6.11).
            Assert.False(tx.Segmenting);
            Assert.False(s.Segmenting);
            Assert.Equal(Errno.EIO, s.SegmentationStoppedBy);
            Assert.Equal(0, s.SegmentedMessages);
        }
        else
        {
            // Linux 6.11+ checksums a segmented message in software where the device cannot ("udp: Allow GSO transmit
            // from devices with no checksum offload"): it goes out segmented. The lab's 6.1 kernel takes the EIO path.
            Assert.Equal(0, tx.SegmentationStoppedBy);
            Assert.True(s.SegmentedMessages > 0);
        }

        byte[] packet = new byte[2048];
        for (long expected = 0; expected < Count; expected++)
        {
            int n = tun.ReadUdp(packet, 9, 5000);
            Assert.True(n > 0, "datagram " + expected + " did not reach the TUN device");
            Assert.Null(TestPayload.Check(packet.AsSpan(0, n), 300, out long seq, out _));
            Assert.Equal(expected, seq); // once each, in order: nothing lost, nothing sent twice
        }

        Assert.Equal(0, tun.ReadUdp(packet, 9, 200));
    }

    [Fact]
    public void ASegmentLargerThanThePathMtuIsSentAgainUnsegmentedAndLosesNothing()
    {
        SkipUnlessSegmentation();
        SkipUnlessNamespaces();
        // lo at MTU 1300 in a namespace: 1400-byte datagrams need fragments, which a GSO segment may not be (EMSGSIZE).
        // An unconnected sender cannot know the path MTU in advance: the kernel's refusal stops runs of that size, and
        // runs of smaller datagrams still form.
        using NetNs ns = NetNs.Create("mtu");
        ns.Exec("ip link set lo mtu 1300");
        const int Count = 300;
        using PacketReceiver rx = ns.Run(() => Loopback.Receiver(AddressFamily.InterNetwork));
        using var collector = new Collector(rx, Count + 100, seq => seq < Count ? 1400 : 500, checkPriority: false);
        using PacketSender tx = ns.Run(() => CreateSender(new PacketSenderOptions { AutoFlush = false, RingSize = 512 }));
        using PacketSender connected = ns.Run(() => CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false, RingSize = 512 }));
        byte[] buf = new byte[1400];
        DatagramAddress dest = rx.LocalAddress;
        for (long seq = 0; seq < Count; seq++)
        {
            TestPayload.Write(buf, seq, 5, buf.Length);
            Assert.True(tx.TryEnqueue(buf, 5, dest));
        }

        Assert.Equal(new FlushOutcome(Count, 0, 0), tx.Flush());
        Assert.Equal(0, tx.Stats.SegmentedMessages);
        for (long seq = Count; seq < Count + 100; seq++)
        {
            TestPayload.Write(buf, seq, 5, 500);
            Assert.True(tx.TryEnqueue(buf.AsSpan(0, 500), 5, dest));
        }

        Assert.Equal(new FlushOutcome(100, 0, 0), tx.Flush());
        Assert.True(collector.WaitFor(Count + 100, TimeSpan.FromSeconds(10)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        Assert.Equal(0, collector.OutOfOrder);
        for (long seq = 0; seq < Count + 100; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
        }

        Assert.True(tx.Segmenting);
        Assert.Equal(0, tx.SegmentationStoppedBy);
        Assert.Equal(100, tx.Stats.SegmentedDatagrams); // the 500-byte datagrams still went out segmented

        // A connected sender knows its path MTU (IP_MTU) and forms no run of segments that would not fit it.
        Assert.True(connected.TryEnqueue(buf, 5));
        Assert.True(connected.TryEnqueue(buf, 5));
        Assert.Equal(new FlushOutcome(2, 0, 0), connected.Flush());
        Assert.True(connected.Segmenting);
        Assert.Equal(0, connected.SegmentationStoppedBy);
        Assert.Equal(0, connected.Stats.SegmentedMessages);
    }

    // Managed code only, like ZeroAllocationInSteadyState: the host runs it for every backend and strategy.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void ZeroAllocationWithSegmentedRuns()
    {
        SkipUnlessSegmentation();
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = sink.LocalAddress, RingSize = 1024, BatchSize = 64 });
        byte[] buf = new byte[200];

        Assert.Equal(0, SteadyState.AllocatedBytes(n =>
        {
            for (int i = 0; i < n; i++)
            {
                uint p = (uint)(i % 7); // interleaved: the flush groups them into runs of one priority
                if (!tx.TryEnqueue(buf, p))
                {
                    tx.Flush();
                    tx.TryEnqueue(buf, p);
                }
            }

            tx.Flush();
        }));
        Assert.True(tx.Stats.SegmentedMessages > 0);
    }
}
