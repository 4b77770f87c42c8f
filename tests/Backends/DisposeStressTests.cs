using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>
/// Dispose from another thread at a random moment against every operation, as a service's shutdown does it: one thread
/// drives the object in a loop, another disposes it after a short random delay. The driving call must end with its
/// result or ObjectDisposedException, never touch freed memory (the slabs are unmapped, so it would fault at once), and
/// every datagram a sender accepted must end as sent or failed.
/// </summary>
// Runs here and in the lab's 6.1 run (the whole suite), not on every lab kernel: no kernel feature decides it, and TCG is slow.
public sealed class DisposeStressTests
{
    // Per case: 8 sender cases, 2 receiver cases and 4 forwarder cases make 22,000 rounds here and 2,750 under the lab's
    // emulated CPU.
    private static int Rounds => Lab.InLab ? 250 : 2000;

    public enum Operation
    {
        Enqueue,
        ReserveCommit,
        Flush,
        FlushAsync,
    }

    public static TheoryData<SendBackendKind, Operation> SenderCases()
    {
        var data = new TheoryData<SendBackendKind, Operation>();
        foreach (SendBackendKind backend in new[] { SendBackendKind.Sendmmsg, SendBackendKind.IoUring })
        {
            foreach (Operation op in Enum.GetValues<Operation>())
            {
                data.Add(backend, op);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SenderCases))]
    public async Task ASenderDisposedFromAnotherThreadAtAnyMomentEndsCleanly(SendBackendKind backend, Operation op)
    {
        Assert.SkipWhen(backend == SendBackendKind.IoUring && UringAvailability.Reason is not null, UringAvailability.Reason ?? "");
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // never read: its buffer fills
        var random = new Random(17);
        for (int round = 0; round < Rounds; round++)
        {
            PacketSender tx = PacketSender.Create(new PacketSenderOptions
            {
                ConnectTo = sink.LocalAddress,
                Backend = backend,
                SendBufferSize = 4096,
                RingSize = 64,
                BatchSize = 16,
                WouldBlockTimeout = TimeSpan.FromMilliseconds(20),
            });
            int delay = random.Next(400);
            Task dispose = Task.Run(() =>
            {
                Thread.SpinWait(delay * 20);
                tx.Dispose();
            }, TestContext.Current.CancellationToken);
            long accepted = await Drive(tx, op, random.Next(8));
            await dispose;
            tx.Dispose(); // idempotent, and the sender is torn down by now whoever did it
            SenderStats stats = tx.Stats;
            Assert.True(stats.Sent + stats.Failed == accepted, "round " + round + ": " + accepted + " accepted, " + stats.Sent + " sent, " + stats.Failed + " failed");
            Assert.Throws<ObjectDisposedException>(() => tx.TryEnqueue(new byte[8], 1));
        }
    }

    // Drives the sender until a call throws ObjectDisposedException (or a bound of calls); returns the datagrams it took.
    private static async Task<long> Drive(PacketSender tx, Operation op, int priority)
    {
        byte[] payload = new byte[200];
        long accepted = 0;
        try
        {
            for (int i = 0; i < 5_000; i++)
            {
                switch (op)
                {
                    case Operation.Enqueue:
                        accepted += tx.TryEnqueue(payload, (uint)(i % 7)) ? 1 : 0;
                        break;
                    case Operation.ReserveCommit:
                        if (tx.TryReserve(out Span<byte> slot))
                        {
                            slot[0] = (byte)i;
                            tx.Commit(100, new DatagramInfo((uint)((i + priority) % 7)));
                            accepted++;
                        }

                        break;
                    case Operation.Flush:
                        accepted += tx.TryEnqueue(payload, (uint)priority) ? 1 : 0;
                        tx.Flush();
                        break;
                    default:
                        accepted += tx.TryEnqueue(payload, (uint)priority) ? 1 : 0;
                        await tx.FlushAsync(TestContext.Current.CancellationToken);
                        break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // the expected end: Dispose came first
        }

        return accepted;
    }

    [Fact]
    public void ARefusedReservationLeavesTheSenderFreeForTheNextCall()
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = sink.LocalAddress, RingSize = 64, AutoFlush = false });
        for (int i = 0; i < 64; i++)
        {
            Assert.True(tx.TryEnqueue(new byte[8], 1));
        }

        Assert.False(tx.TryReserve(out _)); // full: refused, and the call is over
        Assert.False(tx.TryEnqueue(new byte[8], 1));
        Assert.Equal(64, tx.Flush().Sent);
        Assert.True(tx.TryReserve(out Span<byte> slot));
        slot[0] = 1;
        tx.Commit(1, 2);
        Assert.Equal(1, tx.Flush().Sent);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AReceiverDisposedFromAnotherThreadAtAnyMomentEndsCleanly(bool async)
    {
        var random = new Random(23);
        byte[] payload = new byte[300];
        for (int round = 0; round < Rounds / 2; round++)
        {
            PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
            using PacketSender feed = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress });
            for (int i = 0; i < 32; i++)
            {
                feed.TryEnqueue(payload, 1);
            }

            feed.Flush();
            int delay = random.Next(400);
            Task dispose = Task.Run(() =>
            {
                Thread.SpinWait(delay * 20);
                rx.Dispose();
            }, TestContext.Current.CancellationToken);
            try
            {
                for (int i = 0; i < 1_000; i++)
                {
                    int n = async ? await rx.ReceiveAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken) : rx.Receive(5);
                    long sum = 0;
                    for (int k = 0; k < n; k++)
                    {
                        sum += rx[k].Payload[^1]; // reads the batch in the receiver's slab
                    }

                    Assert.Equal(0, sum);
                }
            }
            catch (ObjectDisposedException)
            {
                // the expected end
            }

            await dispose;
            rx.Dispose();
        }
    }

    public static TheoryData<bool, bool> ForwarderCases() => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    /// <summary>
    /// A forwarder running (Run, or RunAsync) while its input or its output is disposed from another thread. The output
    /// queues references into the input's receive buffers, so an input torn down under it would leave the kernel
    /// reading freed memory: the batch stays mapped until the forwarder's next receive, which throws.
    /// </summary>
    [Theory]
    [MemberData(nameof(ForwarderCases))]
    public async Task AForwarderWhoseInputOrOutputIsDisposedFromAnotherThreadEndsCleanly(bool async, bool disposeInput)
    {
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // never read: its buffer fills
        var random = new Random(disposeInput ? 31 : 37);
        byte[] payload = new byte[300];
        for (int round = 0; round < Rounds / 2; round++)
        {
            PacketReceiver input = Loopback.Receiver(AddressFamily.InterNetwork);
            PacketSender output = PacketSender.Create(new PacketSenderOptions
            {
                ConnectTo = sink.LocalAddress,
                SendBufferSize = 4096,
                RingSize = 64,
                BatchSize = 16,
                WouldBlockTimeout = TimeSpan.FromMilliseconds(20),
            });
            using (PacketSender feed = PacketSender.Create(new PacketSenderOptions { ConnectTo = input.LocalAddress }))
            {
                for (int i = 0; i < 256; i++)
                {
                    feed.TryEnqueue(payload, (uint)(i % 7));
                }

                feed.Flush();
            }

            var forwarder = new PacketForwarder(input, output);
            using var stop = new CancellationTokenSource();
            int delay = random.Next(400);
            Task dispose = Task.Run(() =>
            {
                Thread.SpinWait(delay * 20);
                if (disposeInput)
                {
                    input.Dispose(); // the wait for input ends at once
                }
                else
                {
                    output.Dispose(); // a forwarder waiting for input learns of it when input comes: the service stops it
                    stop.Cancel();
                }
            }, TestContext.Current.CancellationToken);
            Task run = async ? forwarder.RunAsync(stop.Token).AsTask() : Task.Run(() => forwarder.Run(stop.Token, pollMs: 5), TestContext.Current.CancellationToken);
            try
            {
                await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            }
            catch (ObjectDisposedException)
            {
                // the expected end: a call found its input or output disposed
            }

            await dispose;
            output.Dispose();
            input.Dispose();
            SenderStats stats = output.Stats;
            Assert.True(stats.Sent + stats.Failed == stats.Enqueued, "round " + round + ": " + stats.Enqueued + " forwarded, " + stats.Sent + " sent, " + stats.Failed + " failed");
        }
    }
}
