using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>
/// The async APIs wait for readiness without holding a thread: many senders back-pressured by a shaped qdisc and many
/// receivers with nothing to read leave the thread pool at its size, and no thread sits in poll(2) for them.
/// </summary>
[Collection("Network")]
public sealed class AsyncWaitTests
{
    private const int Size = 1000;

    [Fact]
    public async Task ManyAwaitingSendersAndReceiversHoldNoThread()
    {
        string? noNamespaces = NetNs.Unavailable();
        Assert.SkipWhen(noNamespaces is not null, noNamespaces ?? string.Empty);
        Assert.SkipUnless(RuntimeInformation.ProcessArchitecture == Architecture.X64, "reads x86-64 syscall numbers from /proc");
        CancellationToken ct = TestContext.Current.CancellationToken;
        // Under the lab's emulated CPU starting 64 flushes takes long enough for 20 Mbit/s to drain them all first.
        using VethPair net = VethPair.CreateShaped("aw", Lab.InLab ? "4mbit" : "20mbit");
        using PacketReceiver sink = net.ReceiverInB();
        const int Senders = 64, PerSender = 48;
        var senders = new PacketSender[Senders];
        var receivers = new PacketReceiver[Senders];
        try
        {
            for (int s = 0; s < Senders; s++)
            {
                senders[s] = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
                {
                    ConnectTo = sink.LocalAddress,
                    SendBufferSize = 4096,
                    AutoFlush = false,
                    Segmentation = SegmentationMode.Off,
                    WouldBlockTimeout = TimeSpan.FromSeconds(30),
                }));
                receivers[s] = Loopback.Receiver(AddressFamily.InterNetwork);
            }

            int pollingBefore = ThreadsInPoll();
            int poolBefore = ThreadPool.ThreadCount;
            byte[] payload = new byte[Size];
            var flushes = new Task<FlushOutcome>[Senders];
            var receives = new Task<int>[Senders];
            for (int s = 0; s < Senders; s++)
            {
                for (int i = 0; i < PerSender; i++)
                {
                    Assert.True(senders[s].TryEnqueue(payload, (uint)(i % 7)));
                }
            }

            for (int s = 0; s < Senders; s++)
            {
                flushes[s] = senders[s].FlushAsync(ct).AsTask();
                receives[s] = receivers[s].ReceiveAsync(ct).AsTask();
            }

            Assert.Contains(flushes, f => !f.IsCompleted); // 64 x 48 KB through 20 Mbit/s takes over a second (4 Mbit/s: 6 s)
            TimeSpan lag = await HeartbeatLag(ct);
            int pollingDuring = ThreadsInPoll();
            int poolDuring = ThreadPool.ThreadCount;
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"heartbeat worst lag {lag.TotalMilliseconds:F1} ms; pool threads {poolBefore} -> {poolDuring}; threads in poll {pollingBefore} -> {pollingDuring}");
            Assert.True(pollingDuring <= pollingBefore, $"{pollingDuring - pollingBefore} more threads sit in poll(2) while the async waits last");
            Assert.True(poolDuring <= Math.Max(poolBefore, Environment.ProcessorCount) + 4, $"the pool grew from {poolBefore} to {poolDuring} threads");
            Assert.Contains(receives, r => !r.IsCompleted);

            FlushOutcome[] done = await Task.WhenAll(flushes).WaitAsync(TimeSpan.FromSeconds(30), ct);
            Assert.All(done, d => Assert.Equal(0, d.Pending));
            Assert.Equal(Senders * PerSender, senders.Sum(s => s.Stats.Sent));
            using PacketSender poke = PacketSender.Create(new PacketSenderOptions());
            foreach (PacketReceiver r in receivers)
            {
                poke.TryEnqueue(payload.AsSpan(0, 64), 0, r.LocalAddress);
            }

            poke.Flush();
            int[] got = await Task.WhenAll(receives).WaitAsync(TimeSpan.FromSeconds(10), ct);
            Assert.All(got, n => Assert.Equal(1, n));
        }
        finally
        {
            foreach (PacketSender? s in senders)
            {
                s?.Dispose();
            }

            foreach (PacketReceiver? r in receivers)
            {
                r?.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReceiveAsyncCompletesOnArrivalAndEndsOnCancellationOrDispose()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress });
        byte[] payload = [1, 2, 3, 4];

        // Queued already: completes synchronously.
        tx.TryEnqueue(payload, 3);
        tx.Flush();
        ValueTask<int> ready = WaitUntilQueued(rx, ct);
        Assert.Equal(1, await ready);
        Assert.Equal(payload, rx[0].Payload.ToArray());

        // Nothing queued: completes when a datagram arrives.
        ValueTask<int> pending = rx.ReceiveAsync(ct);
        Assert.False(pending.IsCompleted);
        tx.TryEnqueue(payload, 5);
        tx.Flush();
        Assert.Equal(1, await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct));

        // Cancelled while waiting: OperationCanceledException, and the receiver goes on working.
        using (var cts = new CancellationTokenSource())
        {
            ValueTask<int> cancelled = rx.ReceiveAsync(cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled);
        }

        tx.TryEnqueue(payload, 1);
        tx.Flush();
        Assert.Equal(1, await rx.ReceiveAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct));

        // Disposed while waiting: ObjectDisposedException, not a wait for ever.
        PacketReceiver other = Loopback.Receiver(AddressFamily.InterNetwork);
        ValueTask<int> orphan = other.ReceiveAsync(ct);
        other.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await orphan.AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct));
    }

    // Managed code, the same on every kernel; under the lab's emulated CPU the JIT may compile during every round.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public async Task AnAwaitedReceiveAllocatesNothingInSteadyState()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions { ConnectTo = rx.LocalAddress });
        byte[] payload = new byte[64];
        const int Awaits = 2000;
        long best = long.MaxValue;
        for (int round = 0; round < 8 && best > 0; round++)
        {
            long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            int waited = await PingPong(rx, tx, payload, Awaits, ct);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.True(waited > Awaits / 2, $"only {waited} of {Awaits} receives had to wait");
            if (System.Runtime.JitInfo.GetCompiledMethodCount() == compiled)
            {
                best = Math.Min(best, allocated);
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{best} B over {Awaits} awaited receives");
        // The whole process is counted (continuations run on pool threads): under a byte per await allows for the
        // test host's own stray allocations, where one allocation per await would be at least 24 B each.
        Assert.True(best < Awaits, $"{best} B allocated over {Awaits} awaited receives");
    }

    // Managed code, the same on every kernel; under the lab's emulated CPU the JIT may compile during every round.
    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public async Task AnAwaitedBackPressuredFlushAllocatesNothingInSteadyState()
    {
        string? noNamespaces = NetNs.Unavailable();
        Assert.SkipWhen(noNamespaces is not null, noNamespaces ?? string.Empty);
        CancellationToken ct = TestContext.Current.CancellationToken;
        using VethPair net = VethPair.CreateShaped("awf", "20mbit");
        using PacketReceiver sink = net.ReceiverInB();
        using PacketSender tx = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = sink.LocalAddress,
            SendBufferSize = 4096,
            AutoFlush = false,
            Segmentation = SegmentationMode.Off,
        }));
        byte[] payload = new byte[200];
        const int Flushes = 150;
        long best = long.MaxValue, waits = 0;
        for (int round = 0; round < 6 && best > 0; round++)
        {
            long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            long blockedBefore = tx.Stats.WouldBlock;
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await FlushInBursts(tx, payload, Flushes, ct);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            waits = tx.Stats.WouldBlock - blockedBefore;
            if (System.Runtime.JitInfo.GetCompiledMethodCount() == compiled)
            {
                best = Math.Min(best, allocated);
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{best} B over {Flushes} flushes that waited {waits} times");
        Assert.True(waits >= Flushes / 2, $"only {waits} waits in {Flushes} flushes: the shaped class should push back");
        Assert.True(best < Flushes, $"{best} B allocated over {Flushes} back-pressured flushes");
    }

    // Bursts of 16 datagrams of 200 B, each flushed and awaited: a 4 KiB send buffer takes a burst only in parts.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))] // the test's own state machine allocates nothing either
    private static async ValueTask FlushInBursts(PacketSender tx, byte[] payload, int flushes, CancellationToken ct)
    {
        for (int f = 0; f < flushes; f++)
        {
            for (int i = 0; i < 16; i++)
            {
                tx.TryEnqueue(payload, (uint)(i % 7));
            }

            await tx.FlushAsync(ct);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> PingPong(PacketReceiver rx, PacketSender tx, byte[] payload, int count, CancellationToken ct)
    {
        int waited = 0;
        for (int i = 0; i < count; i++)
        {
            ValueTask<int> receive = rx.ReceiveAsync(ct);
            if (!receive.IsCompleted)
            {
                waited++;
            }

            tx.TryEnqueue(payload, 0);
            tx.Flush();
            await receive;
        }

        return waited;
    }

    // The datagram was flushed to loopback, so it is queued by now; the receive should not have to wait.
    private static async ValueTask<int> WaitUntilQueued(PacketReceiver rx, CancellationToken ct)
    {
        ValueTask<int> r = rx.ReceiveAsync(ct);
        Assert.True(r.IsCompletedSuccessfully, "a queued datagram is taken without waiting");
        return await r;
    }

    /// <summary>The worst lateness of 20 consecutive 10 ms delays on the pool (the heartbeat).</summary>
    private static async Task<TimeSpan> HeartbeatLag(CancellationToken ct)
    {
        TimeSpan worst = TimeSpan.Zero;
        for (int i = 0; i < 20; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await Task.Delay(10, ct);
            TimeSpan lag = Stopwatch.GetElapsedTime(start) - TimeSpan.FromMilliseconds(10);
            worst = lag > worst ? lag : worst;
        }

        return worst;
    }

    /// <summary>Threads of this process inside poll(2) or ppoll(2) now (x86-64 numbers 7 and 271).</summary>
    private static int ThreadsInPoll()
    {
        int n = 0;
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                string call = File.ReadAllText(Path.Combine(task, "syscall")).Split(' ')[0];
                n += call is "7" or "271" ? 1 : 0;
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }

        return n;
    }
}
