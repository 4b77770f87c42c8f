using System.Globalization;
using Perf.Batch;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Qdiscs;

// Grouped flushes: priorities interleaved datagram by datagram leave as UDP GSO runs of one priority each, and every
// datagram must still land in the class its priority names. HTB and prio count a GSO skb as its datagrams.
public sealed partial class PriorityQdiscTests
{
    public static TheoryData<string, PriorityStrategy> GroupedCases => new()
    {
        { "htb", PriorityStrategy.Cmsg },
        { "htb", PriorityStrategy.SocketPerPriority },
        { "htb", PriorityStrategy.MarkAndBpf },
        { "prio", PriorityStrategy.Cmsg },
        { "prio", PriorityStrategy.SocketPerPriority }, // SetsockoptPerRun groups as SocketPerPriority does: PriorityStrategyTests
    };

    [Theory]
    [MemberData(nameof(GroupedCases))]
    public void InterleavedPrioritiesLeaveAsGsoRunsAndEachLandsInItsClass(string qdisc, PriorityStrategy strategy)
    {
        // HTB: the priority names the leaf class (1:10, 1:20, 1:30). prio: a priority whose major is the qdisc's handle
        // names the band (1:1, 1:2, 1:3).
        bool htb = qdisc == "htb";
        uint[] priorities = htb ? [0x10010, 0x10020, 0x10030] : [0x10001, 0x10002, 0x10003];
        using QdiscLab lab = QdiscLab.Create("grp" + qdisc, strategy, htb ? "htb" : "prio bands 3", setup: net =>
        {
            foreach (uint p in htb ? priorities : [])
            {
                net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid " + ClassOf(p) + " htb rate 1gbit");
            }
        });
        int count = Lab.Scaled(3000);
        using PacketSender tx = lab.Net.A.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            PriorityStrategy = strategy,
            ClassifierAttached = strategy == PriorityStrategy.MarkAndBpf,
            ConnectTo = lab.Destination,
        }));
        Dictionary<string, (long Packets, long Bytes)> before = lab.Net.ClassCounters();
        byte[] payload = new byte[100];
        for (int i = 0; i < count; i++)
        {
            while (!tx.TryEnqueue(payload, priorities[i % priorities.Length]))
            {
                tx.Flush();
            }
        }

        FlushOutcome r = tx.Flush();
        Assert.Equal(0, r.Pending);
        SenderStats s = tx.Stats;
        Assert.Equal(count, s.Sent);
        Assert.False(tx.PreservesOrder && tx.Segmenting, "a default sender groups where it segments");
        if (tx.Segmenting)
        {
            Assert.True(s.AverageSegments > 8, "grouping should make runs of one priority; average " + s.AverageSegments);
        }

        // Counters move at dequeue: poll (bounded) until every class has its share.
        Dictionary<string, (long Packets, long Bytes)> after;
        long deadline = Environment.TickCount64 + 5000;
        do
        {
            after = lab.Net.ClassCounters();
        }
        while (priorities.Sum(p => after.GetValueOrDefault(ClassOf(p)).Packets - before.GetValueOrDefault(ClassOf(p)).Packets) < count
            && Environment.TickCount64 < deadline && Sleep(50));

        foreach (uint p in priorities)
        {
            string cls = ClassOf(p);
            long delta = after.GetValueOrDefault(cls).Packets - before.GetValueOrDefault(cls).Packets;
            Assert.True(delta == count / priorities.Length, "class " + cls + " counted " + delta + " of " + (count / priorities.Length) + " (" + string.Join(", ", after) + ")");
        }
    }

    private static string ClassOf(uint priority) => "1:" + (priority & 0xFFFF).ToString("x", CultureInfo.InvariantCulture);

    private static bool Sleep(int ms)
    {
        Thread.Sleep(ms);
        return true;
    }
}
