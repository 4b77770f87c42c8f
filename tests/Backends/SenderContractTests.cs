using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

[CollectionDefinition("Network", DisableParallelization = true)]
public sealed class NetworkTestGroup
{
}

/// <summary>
/// The behaviour every send backend must show, against real loopback sockets. One sealed subclass per backend runs it.
/// </summary>
[Collection("Network")]
public abstract partial class SenderContractTests
{
    private const int MaxSize = 1472;

    /// <summary>The backend under test, as asked for in the options.</summary>
    protected abstract SendBackendKind Backend { get; }

    /// <summary>The backend that must actually run.</summary>
    protected abstract SendBackendKind ExpectedKind { get; }

    /// <summary>The priority strategy under test: Auto (the cmsg on 6.14+, SocketPerPriority before), or one forced.</summary>
    protected virtual PriorityStrategy Strategy => PriorityStrategy.Auto;

    /// <summary>Creates a sender on the backend under test; an io_uring test skips, saying why, where io_uring cannot be set up.</summary>
    protected PacketSender CreateSender(PacketSenderOptions options)
    {
        Assert.SkipWhen(Backend == SendBackendKind.IoUring && UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        return PacketSender.Create(options with { Backend = Backend, PriorityStrategy = options.PriorityStrategy == PriorityStrategy.Auto ? Strategy : options.PriorityStrategy });
    }

    [Fact]
    public void TheExpectedBackendRuns()
    {
        using PacketSender tx = CreateSender(new PacketSenderOptions());
        Assert.Equal(ExpectedKind, tx.BackendKind);
        Assert.Equal(ExpectedKind == SendBackendKind.IoUring ? "io_uring" : "sendmmsg", tx.Backend);
    }

    public static TheoryData<AddressFamily, bool> Variants => new()
    {
        { AddressFamily.InterNetwork, true },
        { AddressFamily.InterNetwork, false },
        { AddressFamily.InterNetworkV6, true },
        { AddressFamily.InterNetworkV6, false },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void HundredThousandMixedDatagramsArriveIntactWithTheirPriorities(AddressFamily family, bool connected)
    {
        SkipUnlessFamilyWorks(family);
        PriorityView.Require();
        int count = Lab.Scaled(100_000);
        using PacketReceiver rx = Loopback.Receiver(family);
        using var collector = new Collector(rx, count, Length);
        DatagramAddress dest = rx.LocalAddress;
        using PacketSender tx = CreateSender(new PacketSenderOptions
        {
            AddressFamily = family,
            ConnectTo = connected ? dest : default,
            MaxDatagramSize = MaxSize,
            RingSize = 1024,
            BatchSize = 64,
        });
        bool privileged = tx.Capabilities.PrivilegedPriorities;
        uint Priority(long seq) => privileged && seq % 97 == 0 ? 0x00010010u + (uint)(seq % 3) : (uint)(seq % 7);

        SendAll(tx, collector, count, Priority, Length, connected ? null : dest);

        Assert.True(collector.WaitFor(count, TimeSpan.FromSeconds(30)), "received " + collector.Received + " of " + count);
        Assert.Empty(collector.Errors);
        for (long seq = 0; seq < count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal(Priority(seq), collector.Priority(seq));
        }

        collector.AssertOrder(tx, count, Priority);
        SenderStats s = tx.Stats;
        Assert.Equal(count, s.Sent);
        Assert.Equal(0, s.Failed);
        Assert.Equal(0, s.Pending);
    }

    [Fact]
    public void ZeroCopyReserveAndCommitSendsWhatWasWritten()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, 1000, _ => 100);
        using PacketSender tx = CreateSender(new PacketSenderOptions { BatchSize = 32, RingSize = 64 });
        DatagramAddress dest = rx.LocalAddress;
        for (long seq = 0; seq < 1000; seq++)
        {
            Span<byte> slot;
            while (!tx.TryReserve(out slot))
            {
                tx.Flush();
            }

            Assert.Equal(tx.MaxDatagramSize, slot.Length);
            TestPayload.Write(slot, seq, (uint)(seq % 7), 100);
            tx.Commit(100, (uint)(seq % 7), dest);
        }

        Assert.True(tx.Flush().Completed);
        Assert.True(collector.WaitFor(1000, TimeSpan.FromSeconds(10)));
        Assert.Empty(collector.Errors);
        Assert.Equal(1000, tx.Stats.Sent);
    }

    [Fact]
    public async Task FlushAsyncSendsAndCompletesSynchronouslyWhenNothingPushesBack()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, 500, _ => 64);
        // Plain messages: this test counts sendmmsg calls (GSO would carry these 500 equal datagrams in 4 messages).
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false, RingSize = 512, BatchSize = 64, Segmentation = SegmentationMode.Off });
        byte[] buf = new byte[64];
        for (long seq = 0; seq < 500; seq++)
        {
            TestPayload.Write(buf, seq, 6, 64);
            Assert.True(tx.TryEnqueue(buf, 6));
        }

        ValueTask<FlushOutcome> pending = tx.FlushAsync(TestContext.Current.CancellationToken);
        Assert.True(pending.IsCompletedSuccessfully);
        FlushOutcome r = await pending;
        Assert.Equal(new FlushOutcome(500, 0, 0), r);
        Assert.True(collector.WaitFor(500, TimeSpan.FromSeconds(10)));
        Assert.Equal(8, tx.Stats.SendCalls); // 500 = 7 × 64 + 52
    }

    [Fact]
    public void AutoFlushSendsFullBatchesAndBackPressureIsAFalseReturn()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        // Plain messages: a batch is BatchSize datagrams (with GSO runs it is BatchSize messages: see the segmentation tests).
        using PacketSender manual = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false, RingSize = 64, BatchSize = 16, Segmentation = SegmentationMode.Off });
        byte[] buf = new byte[40];
        for (int i = 0; i < 64; i++)
        {
            Assert.True(manual.TryEnqueue(buf, 0));
        }

        Assert.False(manual.TryEnqueue(buf, 0)); // full ring: back-pressure, nothing dropped
        Assert.Equal(64, manual.PendingCount);
        Assert.Equal(64, manual.Stats.Enqueued);
        Assert.Equal(0, manual.Stats.SendCalls);
        Assert.Equal(64, manual.Flush().Sent);

        using PacketSender auto = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, RingSize = 64, BatchSize = 16, Segmentation = SegmentationMode.Off });
        for (int i = 0; i < 40; i++)
        {
            Assert.True(auto.TryEnqueue(buf, 0));
        }

        Assert.Equal(32, auto.Stats.Sent); // two full batches left on their own
        Assert.Equal(8, auto.PendingCount);
    }

    [Fact]
    public void BadInputThrowsAtTheCallAndLeavesTheRingUnchanged()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        DatagramAddress dest = rx.LocalAddress;
        using PacketSender tx = CreateSender(new PacketSenderOptions { MaxDatagramSize = 512, AutoFlush = false, RingSize = 64 });
        Assert.True(tx.TryEnqueue(new byte[10], 1, dest));

        ArgumentException big = Assert.Throws<ArgumentException>(() => tx.TryEnqueue(new byte[513], 1, dest));
        Assert.Contains("513", big.Message);
        Assert.Contains("512", big.Message);
        ArgumentException empty = Assert.Throws<ArgumentException>(() => tx.TryEnqueue(ReadOnlySpan<byte>.Empty, 1, dest));
        Assert.Contains("empty", empty.Message);
        var v6 = new DatagramAddress(IPAddress.IPv6Loopback, dest.Port);
        ArgumentException family = Assert.Throws<ArgumentException>(() => tx.TryEnqueue(new byte[10], 1, v6));
        Assert.Contains("InterNetwork", family.Message);
        Assert.Throws<InvalidOperationException>(() => tx.TryEnqueue(new byte[10], 1)); // unconnected needs a destination
        Assert.True(tx.TryReserve(out _));
        Assert.Throws<ArgumentException>(() => tx.Commit(0, 1, dest));
        Assert.Throws<ArgumentException>(() => tx.Commit(513, 1, dest));
        tx.Commit(20, 1, dest);
        Assert.Throws<InvalidOperationException>(() => tx.Commit(20, 1, dest));

        Assert.Equal(2, tx.PendingCount);
        Assert.Equal(2, tx.NextSequence);
        Assert.Equal(new FlushOutcome(2, 0, 0), tx.Flush());

        using PacketSender connected = CreateSender(new PacketSenderOptions { ConnectTo = dest });
        Assert.Throws<ArgumentException>(() => connected.TryEnqueue(new byte[10], 1, dest));
        Assert.Equal(0, connected.PendingCount);
    }

    [Fact]
    public void UseAfterDisposeThrowsAndCountersStayReadable()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, 10, _ => 50);
        PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = rx.LocalAddress, AutoFlush = false, RingSize = 64 });
        byte[] buf = new byte[50];
        for (long seq = 0; seq < 10; seq++)
        {
            TestPayload.Write(buf, seq, 2, 50);
            Assert.True(tx.TryEnqueue(buf, 2));
        }

        tx.Dispose(); // sends what was queued
        tx.Dispose();
        Assert.True(collector.WaitFor(10, TimeSpan.FromSeconds(10)));
        Assert.Equal(10, tx.Stats.Sent);
        Assert.Throws<ObjectDisposedException>(() => tx.TryEnqueue(buf, 2));
        Assert.Throws<ObjectDisposedException>(() => tx.Flush());
        Assert.Throws<ObjectDisposedException>(() => tx.TryReserve(out _));
        Assert.Throws<ObjectDisposedException>(() => Consume(tx.FlushAsync(TestContext.Current.CancellationToken)));
    }

    [Fact]
    public void ConnectionRefusedIsCountedPerPacketNotThrown()
    {
        // A bound port, then closed: the first datagram draws an ICMP port unreachable, and the next send on the
        // connected socket reports ECONNREFUSED for that one packet.
        DatagramAddress dead;
        using (PacketReceiver probe = Loopback.Receiver(AddressFamily.InterNetwork))
        {
            dead = probe.LocalAddress;
        }

        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = dead, AutoFlush = false, BatchSize = 1, RingSize = 64 });
        byte[] buf = new byte[20];
        for (int i = 0; i < 20; i++)
        {
            Assert.True(tx.TryEnqueue(buf, 0));
            tx.Flush();
        }

        SenderStats s = tx.Stats;
        Assert.Equal(20, s.Sent + s.Failed);
        Assert.True(tx.GetFailureCount(Errno.ECONNREFUSED) > 0, "expected ECONNREFUSED to be counted");
        Assert.Equal(s.Failed, tx.GetFailureCount(Errno.ECONNREFUSED));
    }

    // Managed code only, the same on every kernel: the host runs it for every backend and strategy, while under the
    // lab's emulated CPU the JIT takes tens of seconds to settle (35 s for the forwarder on 6.1).
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void ZeroAllocationInSteadyState()
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender connected = CreateSender(new PacketSenderOptions { ConnectTo = sink.LocalAddress, RingSize = 1024, BatchSize = 64 });
        using PacketSender unconnected = CreateSender(new PacketSenderOptions { RingSize = 1024, BatchSize = 64, AutoFlush = false });
        DatagramAddress dest = sink.LocalAddress;
        byte[] buf = new byte[64];

        Assert.Equal(0, SteadyState.AllocatedBytes(n => Run(n)));

        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                uint p = (uint)(i % 7);
                if (!connected.TryEnqueue(buf, p))
                {
                    connected.Flush();
                }

                unconnected.TryEnqueue(buf, p, in dest);
                if ((i & 63) == 63)
                {
                    connected.Flush();
                    ValueTask<FlushOutcome> t = unconnected.FlushAsync();
                    _ = t.Result;
                }

                if (unconnected.TryReserve(out Span<byte> slot))
                {
                    slot[0] = 1;
                    unconnected.Commit(1, p, in dest);
                }
            }

            connected.Flush();
            unconnected.Flush();
        }
    }

    [Fact]
    public void OptionsAreValidatedWithClearMessages()
    {
        Assert.Contains("power of two", Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { RingSize = 100 })).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { RingSize = 32 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { RingSize = 131072 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { MaxDatagramSize = 65508 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { MaxDatagramSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { BatchSize = 1025, RingSize = 2048 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => CreateSender(new PacketSenderOptions { BatchSize = 0 }));
        Assert.Throws<ArgumentException>(() => CreateSender(new PacketSenderOptions
        {
            AddressFamily = AddressFamily.InterNetworkV6,
            ConnectTo = new DatagramAddress(IPAddress.Loopback, 9),
        }));
        using PacketSender max = CreateSender(new PacketSenderOptions { RingSize = 65536, MaxDatagramSize = 1, BatchSize = 1024 });
        Assert.Equal(65536, max.Capacity);
    }

    [Fact]
    public void BindFailureThrowsWithErrnoAndContext()
    {
        using PacketReceiver taken = Loopback.Receiver(AddressFamily.InterNetwork);
        PerfSocketException e = Assert.Throws<PerfSocketException>(() => CreateSender(new PacketSenderOptions { LocalAddress = taken.LocalAddress }));
        Assert.Equal(Errno.EADDRINUSE, e.Errno);
        Assert.Equal("bind", e.Operation);
        Assert.Contains(taken.LocalAddress.ToString(), e.Message);
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
    }

    internal static void SendAll(PacketSender tx, Collector collector, int count, Func<long, uint> priority, Func<long, int> length, DatagramAddress? dest)
    {
        const int Window = 4096; // keeps the receiver's buffer from overflowing: loopback drops what it cannot queue
        byte[] buf = new byte[MaxSize];
        long deadline = Environment.TickCount64 + 60_000;
        for (long seq = 0; seq < count; seq++)
        {
            // Once ahead by a window, wait until the receiver is half a window behind: resuming at the first datagram
            // it takes would flush one datagram at a time (a slow receiver, as under the lab's emulated CPU, made runs
            // of 1 that way and the segmentation asserts failed).
            if (seq - collector.Received > Window)
            {
                while (seq - collector.Received > Window / 2)
                {
                    if (tx.PendingCount > 0)
                    {
                        tx.Flush();
                    }

                    Assert.True(Environment.TickCount64 < deadline, "receiver stalled at " + collector.Received);
                    Thread.Sleep(1); // the receiver's thread needs the core more than this loop does
                }
            }

            uint p = priority(seq);
            int len = TestPayload.Write(buf, seq, p, length(seq));
            bool queued = dest is { } d ? tx.TryEnqueue(buf.AsSpan(0, len), p, d) : tx.TryEnqueue(buf.AsSpan(0, len), p);
            if (!queued)
            {
                tx.Flush();
                seq--;
            }
        }

        Assert.True(tx.Flush().Completed);
    }

    private static bool Consume(ValueTask<FlushOutcome> task) => task.IsCompleted;

    internal static int Length(long seq) => 32 + (int)(seq * 37 % (MaxSize - 32 + 1));

    internal static void SkipUnlessFamilyWorks(AddressFamily family)
    {
        if (family != AddressFamily.InterNetworkV6)
        {
            return;
        }

        try
        {
            using PacketReceiver r = Loopback.Receiver(family);
        }
        catch (PerfSocketException e) when (e.Errno is Errno.EAFNOSUPPORT or Errno.EADDRNOTAVAIL)
        {
            Assert.Skip("IPv6 loopback is not available here: " + e.Message);
        }
    }
}
