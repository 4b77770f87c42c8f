using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

// Transmit timestamps (TxTimestamps): every datagram handed to the kernel comes back as a record with its SCHED and SND
// times, matched by the kernel's OPT_ID key, on every backend and over loopback (noqueue: both stamps come in the call).
public abstract partial class SenderContractTests
{
    [Fact]
    public void EveryDatagramGetsItsTransmitTimestampsInSendOrder()
    {
        if (Strategy == PriorityStrategy.SocketPerPriority)
        {
            var e = Assert.Throws<ArgumentException>(() => CreateSender(new PacketSenderOptions { TxTimestamps = true }));
            Assert.Contains("SocketPerPriority", e.Message);
            return;
        }

        int count = Lab.Scaled(20_000);
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = sink.LocalAddress, TxTimestamps = true });
        Assert.NotEqual(PriorityStrategy.SocketPerPriority, tx.PriorityStrategy);
        byte[] payload = new byte[64];

        // Another thread drains while this one sends, as a reporter does; the sender reads its error queue itself.
        TxTimestamp[] records = [];
        var drainer = new Thread(() => records = DrainAll(tx, count)) { IsBackground = true };
        drainer.Start();
        for (int i = 0; i < count; i++)
        {
            while (!tx.TryEnqueue(payload, (uint)(i % 7)))
            {
                tx.Flush();
            }
        }

        Assert.Equal(0, tx.Flush().Pending);
        drainer.Join();
        Assert.Equal(count, records.Length);
        var seen = new bool[count];
        var lastOfPriority = new long[7];
        Array.Fill(lastOfPriority, -1);
        int segmented = 0;
        foreach (TxTimestamp t in records)
        {
            Assert.False(seen[t.Sequence], "datagram " + t.Sequence + " has two records");
            seen[t.Sequence] = true;
            Assert.Equal((uint)(t.Sequence % 7), t.Priority);
            Assert.Equal(64, t.Length);
            Assert.True(t.IsComplete, "datagram " + t.Sequence + " lacks a timestamp: " + t);
            Assert.InRange(t.QdiscDelayNs, 0, 1_000_000_000L);
            Assert.True(t.Sequence > lastOfPriority[t.Priority], "records of priority " + t.Priority + " out of send order");
            lastOfPriority[t.Priority] = t.Sequence;
            segmented += t.MessageDatagrams > 1 ? 1 : 0;
        }

        Assert.Equal(tx.Segmenting, segmented > 0); // a GSO run's datagrams share their message's pair of stamps
        Assert.Equal(0, tx.Stats.TxTimestampsMissing);
        Assert.Equal(0, tx.Stats.TxTimestampsDropped);
        Assert.Equal(0, tx.TxTimestampsPending);
    }

    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)]
    public void TransmitTimestampsAllocateNothing()
    {
        Assert.SkipWhen(Strategy == PriorityStrategy.SocketPerPriority, "SocketPerPriority refuses TxTimestamps (tested above)");
        using PacketReceiver sink = Loopback.Receiver(AddressFamily.InterNetwork); // bound, never read
        using PacketSender tx = CreateSender(new PacketSenderOptions { ConnectTo = sink.LocalAddress, TxTimestamps = true });
        byte[] payload = new byte[64];
        var records = new TxTimestamp[256];
        long drained = 0;

        Assert.Equal(0, SteadyState.AllocatedBytes(n =>
        {
            for (int i = 0; i < n; i++)
            {
                if (!tx.TryEnqueue(payload, (uint)(i % 7)))
                {
                    tx.Flush();
                    drained += tx.DrainTxTimestamps(records);
                }
            }

            tx.Flush();
            drained += tx.DrainTxTimestamps(records);
        }));
        Assert.True(drained > 0);
    }

    /// <summary>Drains records until <paramref name="count"/> came or 10 s passed.</summary>
    internal static TxTimestamp[] DrainAll(PacketSender tx, int count)
    {
        var all = new List<TxTimestamp>(count);
        var buffer = new TxTimestamp[512];
        long deadline = Environment.TickCount64 + 10_000;
        while (all.Count < count && Environment.TickCount64 < deadline)
        {
            int n = tx.DrainTxTimestamps(buffer);
            all.AddRange(buffer.AsSpan(0, n));
            if (n == 0)
            {
                Thread.Sleep(5);
            }
        }

        return [.. all];
    }
}
