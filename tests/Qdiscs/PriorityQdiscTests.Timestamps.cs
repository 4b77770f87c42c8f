using Perf.Batch;
using Perf.Tests.Backends;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Qdiscs;

// Transmit timestamps behind a shaping qdisc: a datagram's time in its HTB class, SND - SCHED, per priority. The slow
// class's backlog shows as milliseconds of qdisc delay; the fast class's datagrams pass in microseconds.
public sealed partial class PriorityQdiscTests
{
    public static TheoryData<PriorityStrategy> OneSocketStrategies => new() { PriorityStrategy.Cmsg, PriorityStrategy.MarkAndBpf, PriorityStrategy.SetsockoptPerRun };

    [Theory]
    [MemberData(nameof(OneSocketStrategies))]
    public void TxTimestampsMeasureEachDatagramsTimeInItsClass(PriorityStrategy strategy)
    {
        const uint slow = 0x10010, fast = 0x10020;
        using QdiscLab lab = QdiscLab.Create("txts", strategy, "htb default 20", setup: net =>
        {
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:10 htb rate 8mbit ceil 8mbit");
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:20 htb rate 1gbit");
        });
        using PacketSender tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = strategy,
            ClassifierAttached = strategy == PriorityStrategy.MarkAndBpf,
            ConnectTo = lab.Destination,
            SendBufferSize = 4 << 20, // the slow class's backlog must not push back on the fast one's datagrams
            TxTimestamps = true,
        }));
        Dictionary<string, (long Packets, long Bytes)> before = lab.Net.ClassCounters();
        const int perClass = 200; // 200 x 1000 B at 8 Mbit/s: the last waits about 200 ms in 1:10
        byte[] payload = new byte[1000];
        for (int i = 0; i < 2 * perClass; i++)
        {
            while (!tx.TryEnqueue(payload, i % 2 == 0 ? slow : fast))
            {
                tx.Flush();
            }
        }

        Assert.Equal(0, tx.Flush().Pending);
        TxTimestamp[] records = SenderContractTests.DrainAll(tx, 2 * perClass);
        Assert.Equal(2 * perClass, records.Length);
        Assert.All(records, t => Assert.True(t.IsComplete, "incomplete: " + t));
        long[] slowDelays = [.. records.Where(t => t.Priority == slow).Select(t => t.QdiscDelayNs).Order()];
        long[] fastDelays = [.. records.Where(t => t.Priority == fast).Select(t => t.QdiscDelayNs).Order()];
        Assert.Equal(perClass, slowDelays.Length);
        Assert.Equal(perClass, fastDelays.Length);
        Assert.True(slowDelays[perClass / 2] > 20_000_000, "1:10's median qdisc delay " + slowDelays[perClass / 2] / 1000 + " us; expected tens of ms");
        Assert.True(slowDelays[^1] > 100_000_000, "1:10's longest qdisc delay " + slowDelays[^1] / 1000 + " us; expected 100 ms or more");
        Assert.True(fastDelays[perClass * 9 / 10] < 20_000_000, "1:20's p90 qdisc delay " + fastDelays[perClass * 9 / 10] / 1000 + " us; expected well under 20 ms");

        // And the datagrams were where the timestamps say: each in its class.
        Dictionary<string, (long Packets, long Bytes)> after = lab.Net.ClassCounters();
        Assert.Equal(perClass, after["1:10"].Packets - before.GetValueOrDefault("1:10").Packets);
        Assert.True(after["1:20"].Packets - before.GetValueOrDefault("1:20").Packets >= perClass);
    }

    public static TheoryData<SendBackendKind> Backends => new() { SendBackendKind.Sendmmsg, SendBackendKind.IoUring };

    // With IP_RECVERR a qdisc drop is the datagram's ENOBUFS, yet its skb took an OPT_ID key: the tracker must skip that
    // key, or every later datagram gets its neighbour's timestamps (and the first after the drop none at all).
    [Theory]
    [MemberData(nameof(Backends))]
    public void TxTimestampsStayMatchedWhenTheQdiscDrops(SendBackendKind backend)
    {
        using QdiscLab lab = QdiscLab.Create("txdrop", PriorityStrategy.SetsockoptPerRun, "htb default 10", setup: net =>
        {
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:10 htb rate 8mbit ceil 8mbit");
            net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " parent 1:10 pfifo limit 20");
        });
        PacketSender tx;
        try
        {
            tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
            {
                Backend = backend,
                ConnectTo = lab.Destination,
                SendBufferSize = 4 << 20,
                Segmentation = SegmentationMode.Off, // one skb, one pfifo slot, per datagram
                ReportQdiscDrops = true,
                TxTimestamps = true,
            }));
        }
        catch (PerfSocketException e) when (backend == SendBackendKind.IoUring)
        {
            Assert.Skip("io_uring unavailable here: " + e.Message);
            return;
        }

        using (tx)
        {
            byte[] payload = new byte[1000];
            for (int i = 0; i < 300; i++)
            {
                while (!tx.TryEnqueue(payload, 0x10010))
                {
                    tx.Flush();
                }
            }

            Assert.Equal(0, tx.Flush().Pending);
            long failed = tx.Stats.Failed;
            Assert.True(failed > 0, "the 20-packet pfifo dropped nothing: the test did not test");
            Assert.Equal(failed, tx.GetFailureCount(Errno.ENOBUFS));
            TxTimestamp[] records = SenderContractTests.DrainAll(tx, (int)(300 - failed));
            Assert.Equal(300 - failed, records.Length);
            Assert.All(records, t => Assert.True(t.IsComplete, "incomplete after a drop: " + t));
            Assert.Equal(0, tx.Stats.TxTimestampsMissing);
        }
    }
}
