using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>
/// The workarounds for kernels without the per-packet SO_PRIORITY cmsg. This kernel has it, so each strategy is forced,
/// and the probe's answer is faked through its seam where the test is about choosing.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class PriorityStrategyTests
{
    public static TheoryData<PriorityStrategy, SendBackendKind, bool> Forced => new()
    {
        { PriorityStrategy.SocketPerPriority, SendBackendKind.Sendmmsg, false },
        { PriorityStrategy.SocketPerPriority, SendBackendKind.IoUring, false },
        { PriorityStrategy.SetsockoptPerRun, SendBackendKind.Sendmmsg, false },
        { PriorityStrategy.SetsockoptPerRun, SendBackendKind.IoUring, false },
        { PriorityStrategy.SocketPerPriority, SendBackendKind.Sendmmsg, true },
        { PriorityStrategy.SetsockoptPerRun, SendBackendKind.IoUring, true },
    };

    [Theory]
    [MemberData(nameof(Forced))]
    public void FiftyThousandDatagramsKeepTheirPrioritiesWithoutLoss(PriorityStrategy strategy, SendBackendKind backend, bool strictOrder)
    {
        Assert.SkipWhen(backend == SendBackendKind.IoUring && UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        PriorityView.Require();
        const int Count = 50_000;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, Count, SenderContractTests.Length);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = strategy,
            Backend = backend,
            ConnectTo = rx.LocalAddress,
            MaxDatagramSize = 1472,
            StrictPriorityOrder = strictOrder,
        });
        Assert.Equal(strategy, tx.PriorityStrategy);
        static uint Priority(long seq) => (uint)(seq / 5 % 7); // runs of 5, priorities 0-6

        SenderContractTests.SendAll(tx, collector, Count, Priority, SenderContractTests.Length, dest: null);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(30)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal(Priority(seq), collector.Priority(seq));
        }

        // One 4-tuple (SO_REUSEPORT, same port). Strict order: runs leave in ring order. Grouped (the default): a flush
        // sends one group per priority, so order holds within each priority.
        Assert.Equal(0, collector.OutOfOrderWithin(Count, Priority));
        SenderStats s = tx.Stats;
        Assert.Equal(Count, s.Sent);
        Assert.Equal(strategy, s.Strategy);
        if (strictOrder)
        {
            Assert.Equal(0, collector.OutOfOrder);
        }
        else
        {
            Assert.True(collector.OutOfOrder > 0, "a grouping flush reorders across priorities");
        }

        if (strategy == PriorityStrategy.SocketPerPriority)
        {
            Assert.Equal(7, s.PrioritySockets);
        }
        else if (strictOrder)
        {
            Assert.Equal(Count / 5, s.SetsockoptCalls); // one per change of priority
        }
        else
        {
            Assert.True(s.SetsockoptCalls < Count / 5, "grouping by priority needs fewer setsockopt calls than runs: " + s.SetsockoptCalls);
        }
    }

    [Fact]
    public void GroupingByPrioritySendsOneCallPerPriorityInOrderWithinEach()
    {
        // 7 priorities interleaved one by one, one manual flush: one setsockopt and one sendmmsg per priority.
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = PriorityStrategy.SetsockoptPerRun,
            ConnectTo = rx.LocalAddress,
            AutoFlush = false,
            RingSize = 256,
            BatchSize = 64,
            Segmentation = SegmentationMode.Off,
        });
        byte[] buf = new byte[40];
        for (int i = 0; i < 140; i++)
        {
            TestPayload.Write(buf, i, (uint)(i % 7), buf.Length);
            Assert.True(tx.TryEnqueue(buf, (uint)(i % 7)));
        }

        Assert.Equal(new FlushOutcome(140, 0, 0), tx.Flush());
        Assert.Equal(7, tx.Stats.SendCalls);       // one per priority, 20 datagrams each
        Assert.Equal(7, tx.Stats.SetsockoptCalls); // one per group
        var got = new List<(long Seq, uint Priority)>();
        while (got.Count < 140 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                Assert.Null(TestPayload.Check(rx[i].Payload, 40, out long seq, out uint p));
                got.Add((seq, p));
            }
        }

        Assert.Equal(140, got.Count);
        for (int p = 0; p < 7; p++)
        {
            long[] seqs = [.. got.Where(g => g.Priority == p).Select(g => g.Seq)];
            Assert.Equal(Enumerable.Range(0, 20).Select(k => (long)(p + (7 * k))), seqs); // in order within the priority
        }

        Assert.Equal((uint)0, got[0].Priority); // the group of the oldest datagram leaves first
    }

    [Fact]
    public void UnconnectedSocketPerPrioritySharesOneSourcePort()
    {
        PriorityView.Require();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { PriorityStrategy = PriorityStrategy.SocketPerPriority, AutoFlush = false });
        for (uint p = 0; p < 7; p++)
        {
            Assert.True(tx.TryEnqueue(new byte[] { (byte)p }, p, rx.LocalAddress));
        }

        tx.Flush();
        int got = 0;
        while (got < 7 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++, got++)
            {
                Assert.Equal(rx[i].Payload[0], (byte)PriorityView.Of(rx[i]));
                Assert.Equal(tx.LocalAddress.Port, rx[i].Source.Port);
            }
        }

        Assert.Equal(7, got);
    }

    [Fact]
    public void AutoPicksAFallbackWhenTheKernelRefusesTheCmsg()
    {
        CapabilityProbe.TestOverride = _ => Errno.EINVAL; // what a pre-6.14 kernel answers
        try
        {
            using (PacketSender auto = PacketSender.Create(new PacketSenderOptions()))
            {
                Assert.False(auto.Capabilities.PerPacketPriority);
                Assert.Equal(PriorityStrategy.SocketPerPriority, auto.PriorityStrategy);
                Assert.Equal(PriorityStrategy.SocketPerPriority, auto.Stats.Strategy);
                Assert.Contains("SocketPerPriority", auto.Capabilities.ToString());
            }

            using (PacketSender marked = PacketSender.Create(new PacketSenderOptions { ClassifierAttached = true }))
            {
                Assert.Equal(PriorityStrategy.MarkAndBpf, marked.PriorityStrategy);
            }

            PerfSocketException e = Assert.Throws<PerfSocketException>(() => PacketSender.Create(new PacketSenderOptions { PriorityStrategy = PriorityStrategy.Cmsg }));
            Assert.Equal(Errno.EINVAL, e.Errno);
            Assert.Contains("6.14", e.Message);

            using PacketSender plain = PacketSender.Create(new PacketSenderOptions { PerPacketPriority = false });
            Assert.False(plain.PerPacketPriority);
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }
    }

    [Fact]
    public void APriorityBeyondThePoolCapFailsWithEmfileAndTheRestArrive()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = PriorityStrategy.SocketPerPriority,
            MaxPrioritySockets = 3,
            ConnectTo = rx.LocalAddress,
            AutoFlush = false,
        });

        // Four priorities, one datagram each and then a fourth-priority one in the middle: the pool holds three.
        uint[] priorities = [0, 1, 2, 3, 1];
        foreach (uint p in priorities)
        {
            Assert.True(tx.TryEnqueue(new byte[] { (byte)p }, p)); // never an exception: nothing is refused at enqueue
        }

        Assert.Equal(new FlushOutcome(4, 1, 0), tx.Flush());
        var failures = new FailedPacket[4];
        Assert.Equal(1, tx.DrainFailures(failures));
        Assert.Equal(Errno.EMFILE, failures[0].Errno);
        Assert.Equal(3, failures[0].Sequence); // the datagram of priority 3, by its enqueue ordinal
        var got = new List<byte>();
        while (got.Count < 4 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                got.Add(rx[i].Payload[0]);
            }
        }

        got.Sort();
        Assert.Equal([0, 1, 1, 2], got);
    }

    [Fact]
    public void IdlePrioritySocketsCloseWhenTheRingIsEmpty()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = PriorityStrategy.SocketPerPriority,
            PrioritySocketIdleTimeout = TimeSpan.FromMilliseconds(50),
            ConnectTo = rx.LocalAddress,
        });
        Assert.True(tx.TryEnqueue(new byte[1], 1));
        Assert.True(tx.TryEnqueue(new byte[1], 2));
        tx.Flush();
        Thread.Sleep(100);
        tx.Flush();
        Assert.Equal(0, tx.Stats.PrioritySockets);
        Assert.True(tx.TryEnqueue(new byte[1], 2));
        Assert.Equal(0, tx.Stats.PrioritySockets); // a priority's socket opens when its group is sent
        Assert.Equal(1, tx.Flush().Sent);
        Assert.Equal(1, tx.Stats.PrioritySockets); // reopened on demand
    }

    [Fact]
    public void MarkWithoutPrivilegeIsAClearError()
    {
        CapabilityProbe.TestOverride = p => p > 6 ? Errno.EPERM : 0; // a process without CAP_NET_ADMIN/CAP_NET_RAW
        try
        {
            PerfSocketException e = Assert.Throws<PerfSocketException>(() => PacketSender.Create(new PacketSenderOptions { PriorityStrategy = PriorityStrategy.MarkAndBpf }));
            Assert.Equal(Errno.EPERM, e.Errno);
            Assert.Contains("CAP_NET_RAW", e.Message);
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }
    }

    [Fact]
    public void MarkAndBpfClassifiesIntoHtbClassesOnlyWithTheClassifierAttached()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        using VethPair net = VethPair.Create("mark");
        net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: htb");
        foreach (string c in (string[])["1:10", "1:20", "1:30"])
        {
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid " + c + " htb rate 1gbit");
        }

        var dest = new DatagramAddress(VethPair.AddressB, 9);
        Assert.False(MarkClassifier.Check(dest, out string missing, net.A.Name));
        Assert.Contains("NOT attached to " + VethPair.DeviceA, missing);

        MarkClassifier.Attach(VethPair.DeviceA, net.A.Name);
        Assert.True(MarkClassifier.Check(dest, out string present, net.A.Name), present);

        using PacketReceiver rx = net.ReceiverInB();
        using PacketSender tx = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = PriorityStrategy.MarkAndBpf,
            ConnectTo = rx.LocalAddress,
        }));
        Assert.Equal(PriorityStrategy.MarkAndBpf, tx.PriorityStrategy);
        uint[] classes = [0x10010, 0x10020, 0x10030];
        for (int i = 0; i < 900; i++)
        {
            while (!tx.TryEnqueue(new byte[100], classes[i % 3]))
            {
                tx.Flush();
            }
        }

        Assert.True(tx.Flush().Completed);
        Dictionary<string, (long Packets, long Bytes)> counters = net.ClassCounters();
        Assert.Equal(300, counters["1:10"].Packets);
        Assert.Equal(300, counters["1:20"].Packets);
        Assert.Equal(300, counters["1:30"].Packets);

        MarkClassifier.Detach(VethPair.DeviceA, net.A.Name);
        Assert.False(MarkClassifier.IsAttached(VethPair.DeviceA, net.A.Name));
    }
}
