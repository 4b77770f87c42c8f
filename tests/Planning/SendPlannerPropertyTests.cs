using System.Net;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Planning;

/// <summary>
/// The planner alone, no sockets: random queues planned once (every slot in exactly one message), and the shapes of
/// plan that auto-flush and the strategies rely on. The plans sent, with random outcomes, are the send loop's test.
/// Seeded: a failure names the case that reproduces it.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class SendPlannerPropertyTests
{
    private static readonly DatagramAddress[] Destinations =
    [
        new(IPAddress.Parse("127.0.0.1"), 9000),
        new(IPAddress.Parse("127.0.0.1"), 9001),
        new(IPAddress.Parse("127.0.0.2"), 9000),
    ];

    [Fact]
    public void RandomQueuesPlanEverySlotOnce()
    {
        var seeds = new Random(20261203);
        int cases = Lab.InLab ? 40 : 600; // the kernel cannot change the outcome; the lab runs a few to show it
        for (int c = 0; c < cases; c++)
        {
            int seed = seeds.Next();
            try
            {
                PlanCase(seed);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidOperationException("planner case seed " + seed + " failed: " + e.Message, e);
            }
        }
    }

    [Fact]
    public void InterleavedPrioritiesBecomeFullRunsOnePerKey()
    {
        // Seven priorities interleaved datagram by datagram, 896 of them: every key holds 128, one full run each (at the
        // kernel's limit; PacketSenderOptions.MaxSegments is 64 by default).
        using var ring = new SlotRing(1024, 64, priorityCmsg: true);
        var queue = new SlotQueue(ring.Capacity);
        using var planner = new SendPlanner(ring, queue, batch: 64, priorityCmsg: true, grouped: false, reorder: true, maxSegments: 128, maxSegmentSize: int.MaxValue);
        for (int i = 0; i < 896; i++)
        {
            ring.SetLength(i, 64);
            ring.SetPriority(i, (uint)(i % 7));
        }

        Queue(queue, 896);
        planner.Plan();
        Assert.Equal(1, planner.GroupCount); // one send group: the priority rides in each message's cmsg
        Assert.Equal(7, planner.PlannedMessages);
        for (int m = 0; m < 7; m++)
        {
            Assert.Equal(128, planner.Segments(m));
            Assert.Equal((uint)m, ring.GetPriority(planner.Slot(m, 0)));
        }
    }

    [Fact]
    public void StrictOrderCutsRunsFromNeighboursOnly()
    {
        using var ring = new SlotRing(64, 64, priorityCmsg: true);
        var queue = new SlotQueue(ring.Capacity);
        using var planner = new SendPlanner(ring, queue, batch: 64, priorityCmsg: true, grouped: false, reorder: false, maxSegments: 64, maxSegmentSize: int.MaxValue);
        for (int i = 0; i < 64; i++)
        {
            ring.SetLength(i, 64);
            ring.SetPriority(i, (uint)(i % 2));
        }

        Queue(queue, 64);
        planner.Plan();
        Assert.Equal(64, planner.PlannedMessages); // no two neighbours share a priority: no run
        Assert.False(planner.Reordering);
        Assert.True(planner.Ordered);
    }

    [Fact]
    public void SocketGroupsHoldOnePriorityEachAcrossDestinations()
    {
        using var ring = new SlotRing(256, 64, priorityCmsg: false);
        var queue = new SlotQueue(ring.Capacity);
        using var planner = new SendPlanner(ring, queue, batch: 64, priorityCmsg: false, grouped: true, reorder: true, maxSegments: 0, maxSegmentSize: int.MaxValue);
        for (int i = 0; i < 90; i++)
        {
            ring.SetLength(i, 64);
            ring.SetPriority(i, (uint)(i % 3));
            ring.SetDestination(i, Destinations[i % 2]);
        }

        Queue(queue, 90);
        planner.Plan();
        Assert.Equal(3, planner.GroupCount);
        for (int g = 0; g < 3; g++)
        {
            (int first, int end) = planner.GroupMessages(g);
            for (int m = first; m < end; m++)
            {
                Assert.Equal(planner.GroupPriority(g), ring.GetPriority(planner.Slot(m, 0)));
            }
        }
    }

    [Fact]
    public void SocketGroupsFollowTheOrderPrioritiesFirstAppearedIn()
    {
        using var ring = new SlotRing(64, 64, priorityCmsg: false);
        var queue = new SlotQueue(ring.Capacity);
        using var planner = new SendPlanner(ring, queue, batch: 64, priorityCmsg: false, grouped: true, reorder: true, maxSegments: 0, maxSegmentSize: int.MaxValue);
        uint[] priorities = [5, 2, 5, 7, 2, 7, 5];
        for (int i = 0; i < priorities.Length; i++)
        {
            ring.SetLength(i, 64);
            ring.SetPriority(i, priorities[i]);
            ring.SetDestination(i, Destinations[i % 2]); // two keys per priority, one send group each
        }

        Queue(queue, priorities.Length);
        planner.Plan();
        Assert.Equal(3, planner.GroupCount);
        Assert.Equal([5u, 2u, 7u], new[] { planner.GroupPriority(0), planner.GroupPriority(1), planner.GroupPriority(2) });
    }

    // One random queue planned once: no slot in two messages, each group of one priority where the
    // socket carries it. Sending what was planned is the send loop's test (SendLoopPropertyTests).
    private static void PlanCase(int seed)
    {
        var r = new Random(seed);
        int capacity = 64 << r.Next(3);
        bool grouped = r.Next(3) == 0;
        bool priorityCmsg = !grouped && r.Next(4) != 0;
        int maxSegments = r.Next(4) switch { 0 => 0, 1 => 4, 2 => 64, _ => 128 };
        int batch = 1 + r.Next(Math.Min(capacity, 80));
        int priorities = 1 + r.Next(9);
        using var ring = new SlotRing(capacity, 1500, priorityCmsg);
        var queue = new SlotQueue(capacity);
        using var planner = new SendPlanner(ring, queue, batch, priorityCmsg, grouped, reorder: r.Next(4) != 0, maxSegments, int.MaxValue, r.Next(4) == 0 ? 17 : 0);
        int count = 1 + r.Next(capacity);
        for (int i = 0; i < count; i++)
        {
            ring.SetLength(i, i > 0 && r.Next(4) != 0 ? ring.GetLength(i - 1) : 64 + r.Next(1400));
            ring.SetPriority(i, (uint)r.Next(priorities));
            ring.SetDestination(i, Destinations[r.Next(Destinations.Length)]);
            queue.Publish();
        }

        planner.Plan();
        var seen = new HashSet<int>();
        for (int g = 0; g < planner.GroupCount; g++)
        {
            (int first, int end) = planner.GroupMessages(g);
            for (int m = first; m < end; m++)
            {
                for (int s = 0; s < planner.Segments(m); s++)
                {
                    int slot = planner.Slot(m, s);
                    Assert.True(seen.Add(slot), "slot " + slot + " in two messages of one plan");
                    Assert.True(!grouped || planner.GroupPriority(g) == ring.GetPriority(slot), "a datagram in another priority's group");
                }
            }
        }

        // A plan may take part of the queue (a batch, in ring order); never nothing, never what is not queued.
        Assert.True(seen.Count > 0, "a plan makes progress");
        Assert.Equal(seen.Count, planner.PlannedDatagrams);
        foreach (int slot in seen)
        {
            Assert.True(slot < count, "slot " + slot + " planned but never queued");
        }
    }

    /// <summary>Publishes <paramref name="count"/> slots.</summary>
    private static void Queue(SlotQueue queue, int count)
    {
        for (int i = 0; i < count; i++)
        {
            queue.Publish();
        }
    }
}
