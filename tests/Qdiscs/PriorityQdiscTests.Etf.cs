using Perf.Batch;
using Perf.Tests.Backends;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Qdiscs;

// Launch times behind etf: every datagram leaves within etf's delta before its own SCM_TXTIME, by its SND timestamp, or
// etf reports that it dropped it (its time passed in the queue: under the lab's emulated CPU etf's timer once fired more
// than 5 ms late); one whose time is already past is that datagram's failure, and its neighbours still leave on time.
// etf is a module (sch_etf): the lab's Debian kernels load it, this host has none and skips.
public sealed partial class PriorityQdiscTests
{
    [Fact]
    [Trait(Lab.Trait, Lab.EveryKernel)]
    public void EtfSendsEveryDatagramWithinDeltaOfItsLaunchTime()
    {
        const long delta = 10_000_000;
        using QdiscLab lab = QdiscLab.Create("etf", PriorityStrategy.SetsockoptPerRun, "etf clockid CLOCK_TAI delta " + delta);
        using PacketSender tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = lab.Destination, AutoFlush = false, Segmentation = SegmentationMode.Off,
            TxTime = true, TxTimestamps = true, ReportQdiscDrops = true,
        }));
        const int count = 50;
        byte[] payload = new byte[200];
        long start = PacketSender.TxTimeNow() + 100_000_000; // every time still ahead when the flush reaches etf
        var times = new long[count + 1];
        for (int i = 0; i < count; i++)
        {
            times[i] = start + (i * 1_000_000L);
            Assert.True(tx.TryEnqueue(payload, new DatagramInfo((uint)(i % 3), TxTimeNs: times[i])));
            if (i == count / 2)
            {
                times[count] = PacketSender.TxTimeNow() - 1_000_000_000; // a second late: etf refuses it at enqueue
                Assert.True(tx.TryEnqueue(payload, new DatagramInfo(1, TxTimeNs: times[count])));
            }
        }

        FlushOutcome flushed = tx.Flush();
        Assert.Equal(count, flushed.Sent);
        Assert.Equal(1, flushed.Failed);
        Assert.Equal(1, tx.GetFailureCount(Errno.ENOBUFS)); // IP_RECVERR: etf's drop is the datagram's ENOBUFS

        // SND is CLOCK_REALTIME; the launch times CLOCK_TAI, ahead by the kernel's whole-second offset.
        long offset = (long)Math.Round((PacketSender.TxTimeNow() - (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100.0) / 1e9) * 1_000_000_000L;
        TxTimestamp[] records = SenderContractTests.DrainAll(tx, count);
        Assert.Equal(count, records.Length);
        int missed = 0;
        foreach (TxTimestamp t in records)
        {
            Assert.Contains(t.TxTimeNs, times);
            if (t.TxTimeDrop == TxTimeDrop.Missed && !t.IsComplete)
            {
                missed++; // etf's report, matched to its datagram by the launch time
                continue;
            }

            Assert.True(t.IsComplete, "no SND for a datagram etf should have sent, and no report of a drop: " + t);
            Assert.Equal(TxTimeDrop.None, t.TxTimeDrop);
            long early = t.TxTimeNs - (t.SentNs + offset);
            Assert.True(early >= -5_000_000 && early <= delta, "left " + early / 1000 + " us before its launch time; etf's window is 0 to " + delta / 1000 + " us");
        }

        Assert.InRange(missed, 0, count / 10);
    }

    // Without IP_RECVERR the kernel swallows etf's refusal: the send succeeds, and only etf's report on the error queue
    // says the datagram never left. The tracker matches it by its launch time, so its record says so at once.
    [Fact]
    [Trait(Lab.Trait, Lab.EveryKernel)]
    public void WithoutRecverrEtfsRefusalComesBackAsTheDatagramsRecord()
    {
        using QdiscLab lab = QdiscLab.Create("etfrf", PriorityStrategy.SetsockoptPerRun, "etf clockid CLOCK_TAI delta 10000000");
        using PacketSender tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = lab.Destination, AutoFlush = false, Segmentation = SegmentationMode.Off, TxTime = true, TxTimestamps = true,
        }));
        byte[] payload = new byte[200];
        long late = PacketSender.TxTimeNow() - 1_000_000_000;
        long onTime = PacketSender.TxTimeNow() + 100_000_000;
        Assert.True(tx.TryEnqueue(payload, new DatagramInfo(1, TxTimeNs: onTime)));
        Assert.True(tx.TryEnqueue(payload, new DatagramInfo(1, TxTimeNs: late)));
        Assert.Equal(2, tx.Flush().Sent); // no IP_RECVERR: the refusal is not the send call's error
        TxTimestamp[] records = SenderContractTests.DrainAll(tx, 2);
        Assert.Equal(2, records.Length);
        TxTimestamp refused = records.Single(t => t.TxTimeNs == late);
        Assert.Equal(TxTimeDrop.InvalidParameter, refused.TxTimeDrop);
        Assert.False(refused.IsComplete);
        Assert.Equal(0, tx.Stats.TxTimestampsMissing);
    }
}
