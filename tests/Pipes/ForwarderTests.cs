using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Pipes;

/// <summary>
/// sender → forwarder → receiver, all real sockets; priorities checked per packet through SO_RCVPRIORITY (before 6.14,
/// through the priority_to_mark echo: see PriorityView).
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed partial class ForwarderTests
{
    private static readonly byte[] s_encap = "ENC1"u8.ToArray();

    [Fact]
    public void PrioritiesArePreservedEndToEnd() => RoundTrip(PriorityMap.Identity, transform: null, p => p, n => n);

    [Fact]
    public void PrioritiesAreRemappedWithAMap()
    {
        bool privileged = HostTools.IsRoot;
        uint high = privileged ? 0x10010u : 6u;
        PriorityMap map = PriorityMap.Parse("0=3,5=" + (privileged ? "0x10010" : "6"));
        RoundTrip(map, transform: null, p => p switch { 0 => 3, 5 => high, _ => p }, n => n);
    }

    [Fact]
    public void EncapsulationIsByteForByte()
    {
        static int Encap(ReadOnlySpan<byte> input, Span<byte> output, ref uint priority)
        {
            s_encap.CopyTo(output);
            input.CopyTo(output[s_encap.Length..]);
            return s_encap.Length + input.Length;
        }

        RoundTrip(PriorityMap.Identity, Encap, p => p, n => n + s_encap.Length, checkEncap: true);
    }

    [Fact]
    public void EncapsulationHeaderIsSentFromItsOwnIovecByteForByte() =>
        RoundTrip(PriorityMap.Identity, transform: null, p => p, n => n + s_encap.Length, checkEncap: true, header: true);

    [Fact]
    public void ARunReceivedCoalescedLeavesAsOneSegmentedMessage()
    {
        PriorityView.Require();
        using PacketReceiver probe = Loopback.Receiver(AddressFamily.InterNetwork, gro: true);
        Assert.SkipUnless(probe.Gro, "this kernel has no UDP_GRO (Linux 5.0+)");
        const int Count = 8192;
        const int Size = 500;
        static uint Priority(long seq) => (uint)(seq / 16 % 7); // runs of 16
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork); // GRO off: every datagram on its own
        using var collector = new Collector(final, Count, _ => Size);
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceiveMark = PriorityView.ThroughMark,
            ReceiveBufferSize = 32 << 20,
            Gro = true,
        });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress, AutoFlush = false, RingSize = 4096 });
        using PacketSender source = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress, AutoFlush = false, RingSize = 1024 });
        Assert.SkipUnless(source.Segmenting, "this kernel takes no UDP_SEGMENT cmsg");
        var forwarder = new PacketForwarder(input, output);
        // 256 at a time, forwarded before the next: the source's GSO message arrives over loopback as one buffer.
        Pump(source, forwarder, Count, Size, Priority);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(10)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        collector.AssertOrder(output, Count, Priority);
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal(Priority(seq), collector.Priority(seq));
        }

        if (source.PreservesOrder)
        {
            Assert.Equal(Count / 16, input.CoalescedBuffers); // each run arrived as one buffer...
            Assert.Equal(Count / 16, output.Stats.SegmentedMessages); // ...and left as one message
            Assert.Equal(16.0, output.Stats.AverageSegments);
        }
        else
        {
            // A source that groups by priority (the default) joins runs of one priority: fewer, longer buffers.
            Assert.True(input.CoalescedBuffers > 0);
            Assert.Equal(Count, output.Stats.SegmentedDatagrams);
        }
        Assert.Equal(0, output.QueuedReferences);
    }

    [Fact]
    public void InterleavedPrioritiesLeaveTheForwarderGroupedAsGsoRuns()
    {
        PriorityView.Require();
        const int Count = 7168;
        const int Size = 200;
        static uint Priority(long seq) => (uint)(seq % 7); // a new priority on every datagram
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(final, Count, _ => Size);
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceiveMark = PriorityView.ThroughMark,
            ReceiveBufferSize = 32 << 20,
            BatchSize = 256,
        });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress, AutoFlush = false });
        Assert.SkipUnless(output.Segmenting, "this kernel takes no UDP_SEGMENT cmsg");
        // The source sends every datagram on its own, in order: the forwarder receives them interleaved.
        using PacketSender source = PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = input.LocalAddress,
            AutoFlush = false,
            StrictPriorityOrder = true,
            Segmentation = SegmentationMode.Off,
        });
        var forwarder = new PacketForwarder(input, output);
        Pump(source, forwarder, Count, Size, Priority);

        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(10)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        Assert.Equal(0, collector.OutOfOrderWithin(Count, Priority)); // grouped: order holds within each priority
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal(Priority(seq), collector.Priority(seq));
        }

        // Each received batch left grouped by priority: runs of one priority, not one message per datagram.
        Assert.False(output.PreservesOrder);
        Assert.True(output.Stats.AverageSegments >= 4, "average run " + output.Stats.AverageSegments);
        Assert.Equal(0, output.QueuedReferences);
    }

    // Sends count datagrams of size through source, 256 at a time, and runs the forwarder until it has received each
    // lot (bounded, 10 s a lot) before the next.
    private static void Pump(PacketSender source, PacketForwarder forwarder, int count, int size, Func<long, uint> priorityOf)
    {
        byte[] buf = new byte[size];
        for (long seq = 0; seq < count;)
        {
            for (int k = 0; k < 256; k++, seq++)
            {
                TestPayload.Write(buf, seq, priorityOf(seq), size);
                Assert.True(source.TryEnqueue(buf, priorityOf(seq)));
            }

            Assert.True(source.Flush().Completed);
            long deadline = Environment.TickCount64 + 10_000;
            while (forwarder.Stats.Received < seq && Environment.TickCount64 < deadline)
            {
                forwarder.RunOnce(100, TestContext.Current.CancellationToken);
            }
        }
    }

    [Fact]
    public void OutputBackPressureLosesNothingAlreadyRead()
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        using VethPair net = VethPair.CreateShaped("fwd", "2mbit");
        const int Count = 2000;
        const int Size = 200;
        using PacketReceiver final = net.ReceiverInB();
        using var collector = new Collector(final, Count, _ => Size, checkPriority: false);
        PriorityView.Ensure();
        using PacketReceiver input = net.A.Run(() => PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceiveBufferSize = 16 << 20,
            ReceiveMark = !PriorityView.KernelReportsPriority, // before 6.14 the forwarder keys by mark (0 here)
        }));
        using PacketSender output = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = final.LocalAddress,
            SendBufferSize = 4096,
            RingSize = 256,
            WouldBlockTimeout = TimeSpan.FromSeconds(10),
        }));
        using PacketSender source = net.A.Run(() => PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress }));
        var forwarder = new PacketForwarder(input, output);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        var thread = new Thread(() => forwarder.Run(cts.Token, pollMs: 20));
        thread.Start();

        byte[] buf = new byte[Size];
        for (long seq = 0; seq < Count; seq++)
        {
            TestPayload.Write(buf, seq, (uint)(seq % 7), Size);
            while (!source.TryEnqueue(buf, (uint)(seq % 7)))
            {
                source.Flush();
            }
        }

        source.Flush();
        Assert.True(collector.WaitFor(Count, TimeSpan.FromSeconds(20)), "received " + collector.Received);
        cts.Cancel();
        thread.Join();

        ForwarderStats s = forwarder.Stats;
        Assert.Equal(Count, s.Received);
        Assert.Equal(s.Received, s.Forwarded + s.Dropped + s.InFlight);
        Assert.Equal(Count, s.Forwarded);
        Assert.Equal(0, s.Dropped);
        Assert.True(output.Stats.WouldBlock > 0, "the shaped output should have pushed back");
        for (long seq = 0; seq < Count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
        }
    }

    [Fact]
    public void DropsAreCountedWithTheirReasons()
    {
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketReceiver input = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress, MaxDatagramSize = 100 });
        using PacketSender source = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress, AutoFlush = false });
        static int DropOdd(ReadOnlySpan<byte> input, Span<byte> output, ref uint priority)
        {
            if (input[0] % 2 == 1)
            {
                return 0;
            }

            if (input.Length > output.Length)
            {
                return -1; // does not fit: oversize
            }

            input.CopyTo(output);
            return input.Length;
        }

        var forwarder = new PacketForwarder(input, output, transform: DropOdd);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(source.TryEnqueue(new byte[] { (byte)i, 0, 0, 0 }, 1));
        }

        Assert.True(source.TryEnqueue(new byte[150], 1)); // larger than the output's MaxDatagramSize
        source.Flush();
        int got = 0;
        for (int i = 0; i < 50 && got < 11; i++)
        {
            got += forwarder.RunOnce(100, TestContext.Current.CancellationToken);
        }

        ForwarderStats s = forwarder.Stats;
        Assert.Equal(11, s.Received);
        Assert.Equal(5, forwarder.GetDropped(ForwardDropReason.Transform));
        Assert.Equal(1, forwarder.GetDropped(ForwardDropReason.Oversize));
        Assert.Equal(5, s.Forwarded);
        Assert.Equal(s.Received, s.Forwarded + s.Dropped + s.InFlight);
        Assert.Equal(11, forwarder.GetReceived(1));
    }

    // Managed code only, the same on every kernel: the host runs it for every backend and strategy, while under the
    // lab's emulated CPU the JIT takes tens of seconds to settle (35 s for the forwarder on 6.1).
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void ForwardingAllocatesNothingInSteadyState()
    {
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork); // never read
        using PacketReceiver input = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress });
        using PacketSender source = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress, AutoFlush = false });
        var forwarder = new PacketForwarder(input, output, PriorityMap.Parse("0=3"));
        byte[] payload = new byte[64];

        Assert.Equal(0, SteadyState.AllocatedBytes(Pump));

        // Source and forwarder on this one thread, a batch at a time, so the input socket never overflows.
        void Pump(int n)
        {
            for (int sent = 0; sent < n; sent += 64)
            {
                for (int i = 0; i < 64; i++)
                {
                    source.TryEnqueue(payload, (uint)(i % 7));
                }

                source.Flush();
                int got = 0;
                while (got < 64)
                {
                    int r = forwarder.RunOnce(1000, TestContext.Current.CancellationToken);
                    Assert.True(r > 0);
                    got += r;
                }
            }
        }
    }

    private static void RoundTrip(PriorityMap map, ForwardTransform? transform, Func<uint, uint> expectedPriority, Func<int, int> expectedLength, bool checkEncap = false, bool header = false)
    {
        const int Count = 20_000;
        PriorityView.Require();
        using PacketReceiver final = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketReceiver input = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            ReceiveMark = PriorityView.ThroughMark, // before 6.14 the forwarder keys its map by the echoed mark
            ReceiveBufferSize = 32 << 20,
            BatchSize = 64,
        });
        using PacketSender output = PacketSender.Create(new PacketSenderOptions { ConnectTo = final.LocalAddress, MaxDatagramSize = 2048 });
        using PacketSender source = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress, MaxDatagramSize = 1472 });
        PacketForwarder forwarder = header
            ? PacketForwarder.Encapsulating(input, output, s_encap, map)
            : new PacketForwarder(input, output, map, transform);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        var thread = new Thread(() => forwarder.Run(cts.Token, pollMs: 20));
        thread.Start();

        var seen = new int[Count];
        long received = 0;
        Exception? checkError = null;
        var check = new Thread(() =>
        {
            try
            {
                Check();
            }
            catch (Exception e)
            {
                checkError = e; // asserts off the test thread are reported on it
            }
        });
        check.Start();

        void Check()
        {
            while (received < Count && !cts.IsCancellationRequested)
            {
                int n = final.Receive(100);
                for (int i = 0; i < n; i++)
                {
                    ReceivedDatagram d = final[i];
                    ReadOnlySpan<byte> p = d.Payload;
                    if (checkEncap)
                    {
                        Assert.True(p.StartsWith(s_encap));
                        p = p[s_encap.Length..];
                    }

                    Assert.Null(TestPayload.Check(p, -1, out long seq, out uint sent));
                    Assert.Equal(expectedLength(Backends.SenderContractTests.Length(seq)), d.Payload.Length);
                    Assert.Equal(expectedPriority(sent), PriorityView.Of(d));
                    seen[seq]++;
                    Volatile.Write(ref received, received + 1);
                }
            }
        }

        byte[] buf = new byte[1472];
        long deadline = Environment.TickCount64 + 30_000;
        for (long seq = 0; seq < Count && checkError is null && Environment.TickCount64 < deadline; seq++)
        {
            while (seq - Volatile.Read(ref received) > 2048 && checkError is null && Environment.TickCount64 < deadline)
            {
                source.Flush();
                Thread.Yield();
            }

            uint p = (uint)(seq % 7);
            int len = TestPayload.Write(buf, seq, p, Backends.SenderContractTests.Length(seq));
            while (!source.TryEnqueue(buf.AsSpan(0, len), p))
            {
                source.Flush();
            }
        }

        source.Flush();
        bool done = check.Join(TimeSpan.FromSeconds(30));
        cts.Cancel();
        thread.Join();
        check.Join();
        Assert.Null(checkError);
        Assert.True(done, "final receiver got " + received + " of " + Count);
        Assert.All(seen, c => Assert.Equal(1, c));
        ForwarderStats s = forwarder.Stats;
        Assert.Equal(Count, s.Received);
        Assert.Equal(Count, s.Forwarded);
        Assert.Equal(0, s.Dropped);
    }
}
