using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Backends;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Pipes;

[Collection("Network")]
public sealed class PipeFeederTests
{
    [Fact]
    public async Task HundredThousandFramesGoThroughPipeSenderReceiverInOrder()
    {
        PriorityView.Require();
        int count = Lab.Scaled(100_000);
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using var collector = new Collector(rx, count, SenderContractTests.Length);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { MaxDatagramSize = 1472, RingSize = 1024, BatchSize = 64 });
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 256 * 1024, resumeWriterThreshold: 128 * 1024));
        var feeder = new PipeFeeder(pipe.Reader, tx);
        ValueTask feeding = feeder.RunAsync(TestContext.Current.CancellationToken);
        DatagramAddress dest = rx.LocalAddress;

        byte[] buf = new byte[1472];
        for (long seq = 0; seq < count; seq++)
        {
            uint p = (uint)(seq % 7);
            int len = TestPayload.Write(buf, seq, p, SenderContractTests.Length(seq));
            DatagramFrame.Write(pipe.Writer, buf.AsSpan(0, len), p, dest);
            if ((seq & 63) == 63)
            {
                await pipe.Writer.FlushAsync(TestContext.Current.CancellationToken);
            }

            // Keep the receiver's buffer from overflowing: loopback drops what it cannot queue.
            while (seq - collector.Received > 4096)
            {
                await Task.Delay(1, TestContext.Current.CancellationToken);
            }
        }

        await pipe.Writer.CompleteAsync();
        await feeding;

        Assert.True(collector.WaitFor(count, TimeSpan.FromSeconds(30)), "received " + collector.Received);
        Assert.Empty(collector.Errors);
        collector.AssertOrder(tx, count, seq => (uint)(seq % 7));
        for (long seq = 0; seq < count; seq++)
        {
            Assert.Equal(1, collector.Arrivals(seq));
            Assert.Equal((uint)(seq % 7), collector.Priority(seq));
        }

        Assert.Equal(count, feeder.Datagrams);
        Assert.Equal(count, tx.Stats.Sent);
    }

    public static TheoryData<string> MalformedCases => new() { "start", "middle", "truncated", "unknown-kind", "oversize" };

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public async Task MalformedFrameStopsWithItsOffsetAfterSendingEveryGoodFrame(string where)
    {
        PriorityView.Require();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress, MaxDatagramSize = 512 });
        var pipe = new Pipe();
        int good = where == "start" ? 0 : 10;
        for (int i = 0; i < good; i++)
        {
            DatagramFrame.Write(pipe.Writer, BitConverter.GetBytes((long)i), (uint)(i % 7));
        }

        long offset = good * (DatagramFrame.HeaderSize + 8);
        byte[] bad = new byte[DatagramFrame.HeaderSize + 8];
        BinaryPrimitives.WriteUInt32LittleEndian(bad, 8);
        switch (where)
        {
            case "start":
            case "middle":
                BinaryPrimitives.WriteUInt32LittleEndian(bad, 0); // length 0
                break;
            case "unknown-kind":
                bad[8] = 9;
                break;
            case "oversize":
                BinaryPrimitives.WriteUInt32LittleEndian(bad, 513);
                break;
            case "truncated":
                bad = bad[..(DatagramFrame.HeaderSize + 3)]; // the writer completes inside the payload
                break;
        }

        bad.CopyTo(pipe.Writer.GetSpan(bad.Length));
        pipe.Writer.Advance(bad.Length);
        if (where == "middle")
        {
            DatagramFrame.Write(pipe.Writer, new byte[8], 1); // after the bad one: never sent
        }

        await pipe.Writer.FlushAsync(TestContext.Current.CancellationToken);
        await pipe.Writer.CompleteAsync();

        var feeder = new PipeFeeder(pipe.Reader, tx);
        InvalidDataException e = await Assert.ThrowsAsync<InvalidDataException>(() => feeder.RunAsync(TestContext.Current.CancellationToken).AsTask());
        Assert.Contains("byte offset " + offset, e.Message);
        Assert.Equal(good, feeder.Datagrams);
        Assert.Equal(good, tx.Stats.Sent);

        var seqs = new List<long>();
        while (seqs.Count < good && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                long seq = BitConverter.ToInt64(rx[i].Payload);
                Assert.Equal((uint)(seq % 7), PriorityView.Of(rx[i]));
                seqs.Add(seq);
            }
        }

        // Every good frame, once; in order, or within each priority where the sender groups a flush by priority.
        Assert.Equal(Enumerable.Range(0, good).Select(i => (long)i), tx.PreservesOrder ? seqs : [.. seqs.Order()]);
        for (int p = 0; p < 7 && !tx.PreservesOrder; p++)
        {
            long[] ofPriority = [.. seqs.Where(s => s % 7 == p)];
            Assert.Equal([.. ofPriority.Order()], ofPriority);
        }
        Assert.Equal(0, rx.Receive(50)); // nothing after the bad frame
    }

    [Fact]
    public async Task AFrameTheStrategyCannotPlaceFailsWithItsErrnoAndTheFeedGoesOn()
    {
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = rx.LocalAddress,
            PriorityStrategy = PriorityStrategy.SocketPerPriority,
            MaxPrioritySockets = 2, // a third priority cannot get a socket
            AutoFlush = false,
        });
        var pipe = new Pipe();
        for (uint p = 0; p < 4; p++)
        {
            DatagramFrame.Write(pipe.Writer, new byte[8], p % 3);
        }

        await pipe.Writer.CompleteAsync();
        var feeder = new PipeFeeder(pipe.Reader, tx);
        await feeder.RunAsync(TestContext.Current.CancellationToken);
        Assert.Equal(4, feeder.Datagrams);
        Assert.Equal(3, tx.Stats.Sent);
        Assert.Equal(1, tx.Stats.Failed);
        var failures = new FailedPacket[2];
        Assert.Equal(1, tx.DrainFailures(failures));
        Assert.Equal(Errno.EMFILE, failures[0].Errno);
        Assert.Equal(2, failures[0].Sequence);
    }

    [Fact]
    public async Task FramesAcrossSegmentsAndIPv6DestinationsRoundTrip()
    {
        CheckIPv6();
        PriorityView.Require();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetworkV6);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { AddressFamily = AddressFamily.InterNetworkV6 });
        var pipe = new Pipe(new PipeOptions(minimumSegmentSize: 16)); // tiny segments: frames straddle them
        for (int i = 0; i < 100; i++)
        {
            DatagramFrame.Write(pipe.Writer, BitConverter.GetBytes((long)i), 5, rx.LocalAddress);
        }

        await pipe.Writer.CompleteAsync();
        await new PipeFeeder(pipe.Reader, tx).RunAsync(TestContext.Current.CancellationToken);
        int got = 0;
        while (got < 100 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++, got++)
            {
                Assert.Equal(got, BitConverter.ToInt64(rx[i].Payload));
                Assert.Equal(5u, PriorityView.Of(rx[i]));
            }
        }

        Assert.Equal(100, got);
    }

    // Managed code only, the same on every kernel: the host runs it for every backend and strategy, while under the
    // lab's emulated CPU the JIT takes tens of seconds to settle (35 s for the forwarder on 6.1).
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void FeedingAllocatesNothingInSteadyState()
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = sink.LocalAddress, RingSize = 1024 });
        // Inline schedulers: the feeder runs inside the writer's FlushAsync, on this thread, so one thread's counter sees it all.
        var pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var feeder = new PipeFeeder(pipe.Reader, tx);
        ValueTask feeding = feeder.RunAsync(TestContext.Current.CancellationToken);
        byte[] payload = new byte[64];

        long produced = 0;
        Assert.Equal(0, SteadyState.AllocatedBytes(Produce));
        Assert.Equal(produced, feeder.Datagrams);
        pipe.Writer.Complete();
        Assert.True(feeding.IsCompletedSuccessfully);

        void Produce(int n)
        {
            produced += n;
            for (int i = 0; i < n; i++)
            {
                DatagramFrame.Write(pipe.Writer, payload, (uint)(i % 7));
                if ((i & 63) == 63)
                {
                    Flush();
                }
            }

            Flush();
        }

        void Flush() => Assert.True(Completed(pipe.Writer.FlushAsync()), "the inline feeder consumed the flush synchronously");

        static bool Completed(ValueTask<System.IO.Pipelines.FlushResult> t) => t.IsCompletedSuccessfully && !t.Result.IsCanceled;
    }

    internal static void CheckIPv6()
    {
        try
        {
            using PacketReceiver r = Loopback.Receiver(AddressFamily.InterNetworkV6);
        }
        catch (PerfSocketException e) when (e.Errno is Errno.EAFNOSUPPORT or Errno.EADDRNOTAVAIL)
        {
            Assert.Skip("IPv6 loopback is not available here: " + e.Message);
        }
    }
}
