using System.Net;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Planning;

using Sys = Perf.Batch.Interop;

/// <summary>
/// The planner alone, no sockets: random queues (destinations, priorities, sizes) planned and "sent" with random
/// outcomes (sent, failed, pushed back, a segmented message refused), driven the way the sender drives it. Checks that
/// every slot is in at most one message of a plan and ends exactly once, that order holds within each (destination,
/// priority), that no run exceeds the segment limit or one IP datagram, and that a run's sizes are equal but the last.
/// Seeded: a failure names the case that reproduces it.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed unsafe class SendPlannerPropertyTests
{
    private static readonly DatagramAddress[] Destinations =
    [
        new(IPAddress.Parse("127.0.0.1"), 9000),
        new(IPAddress.Parse("127.0.0.1"), 9001),
        new(IPAddress.Parse("127.0.0.2"), 9000),
    ];

    [Fact]
    public void RandomQueuesEndEveryDatagramOnceInOrderPerKey()
    {
        var seeds = new Random(20261203);
        int cases = Lab.InLab ? 40 : 600; // the kernel cannot change the outcome; the lab runs a few to show it
        for (int c = 0; c < cases; c++)
        {
            int seed = seeds.Next();
            try
            {
                RunCase(seed);
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

    private static void RunCase(int seed)
    {
        var r = new Random(seed);
        int capacity = 64 << r.Next(3);
        bool grouped = r.Next(3) == 0;           // SocketPerPriority / SetsockoptPerRun
        bool priorityCmsg = !grouped && r.Next(4) != 0; // Cmsg / MarkAndBpf; else per-packet priority off
        bool reorder = r.Next(4) != 0;
        bool unconnected = r.Next(2) == 0;
        int maxSegments = r.Next(4) switch { 0 => 0, 1 => 4, 2 => 64, _ => 128 };
        int maxPages = r.Next(4) == 0 ? 17 : 0;
        int batch = 1 + r.Next(Math.Min(capacity, 80));
        int priorities = 1 + r.Next(9);
        int total = capacity * (1 + r.Next(6));
        int maxPayload = 1500;

        using var ring = new SlotRing(capacity, maxPayload, priorityCmsg);
        var queue = new SlotQueue(capacity);
        using var planner = new SendPlanner(ring, queue, batch, priorityCmsg, grouped, reorder, maxSegments, int.MaxValue, maxPages);
        var sim = new Simulation(r, ring, queue, planner, capacity, total, priorities, unconnected, grouped, grouped || priorityCmsg);
        sim.Run();
    }

    /// <summary>One queue driven to empty, the way PacketSender.SendQueued drives the planner.</summary>
    private static void Queue(SlotQueue queue, int count)
    {
        for (int i = 0; i < count; i++)
        {
            queue.Publish();
        }
    }

    private sealed class Simulation(Random r, SlotRing ring, SlotQueue queue, SendPlanner planner, int capacity, int total, int priorities, bool unconnected, bool socketGroups, bool priorityKeyed)
    {
        private readonly long[] _ordinal = new long[capacity]; // per ring index: the queued datagram's ordinal
        private readonly bool[] _ended = new bool[capacity];
        private readonly Dictionary<(string, uint), long> _lastEnded = [];
        private readonly int[] _sizes = [64, 64, 64, 200, 1200, 1400, 9000 / 9];
        private long _endedCount;

        internal void Run()
        {
            int passes = 0;
            while (_endedCount < total)
            {
                Refill();
                planner.Plan();
                CheckPlan();
                int completed = SendPlan();
                Advance(completed);
                Assert.True(++passes < total * 20, "no progress");
            }

            Assert.True(queue.IsEmpty);
        }

        private void Refill()
        {
            int burst = queue.IsEmpty ? 1 + r.Next(capacity) : r.Next(capacity + 1); // never plan an empty queue
            while (queue.HasFreeSlot && queue.Tail < total && burst-- > 0)
            {
                int index = queue.TailIndex;
                // Runs need equal neighbours: repeat the last size most of the time.
                int size = r.Next(4) == 0 || queue.Tail == 0 ? _sizes[r.Next(_sizes.Length)] : ring.GetLength(queue.IndexOf(queue.Tail - 1));
                ring.SetLength(index, size);
                ring.SetPriority(index, (uint)r.Next(priorities));
                if (unconnected)
                {
                    ring.SetDestination(index, Destinations[r.Next(Destinations.Length)]);
                }

                _ordinal[index] = queue.Tail;
                _ended[index] = false;
                queue.Publish();
            }
        }

        private void CheckPlan()
        {
            var seen = new HashSet<int>();
            int datagrams = 0;
            for (int g = 0; g < planner.GroupCount; g++)
            {
                (int first, int end) = planner.GroupMessages(g);
                for (int m = first; m < end; m++)
                {
                    CheckMessage(m, seen);
                    if (socketGroups)
                    {
                        Assert.Equal(planner.GroupPriority(g), ring.GetPriority(planner.Slot(m, 0)));
                    }

                    datagrams += planner.Segments(m);
                }
            }

            Assert.Equal(planner.PlannedDatagrams, datagrams);
            Assert.True(datagrams > 0, "a plan makes progress");
        }

        private void CheckMessage(int m, HashSet<int> seen)
        {
            int n = planner.Segments(m);
            Assert.True(n == 1 || (planner.Segmenting && n <= planner.MaxSegments), "run of " + n + " over the limit " + planner.MaxSegments);
            int first = planner.Slot(m, 0);
            int segment = ring.GetLength(first);
            int bytes = 0;
            long previous = -1;
            for (int s = 0; s < n; s++)
            {
                int slot = planner.Slot(m, s);
                Assert.True(seen.Add(slot), "slot " + slot + " in two messages of one plan");
                Assert.False(_ended[slot], "slot " + slot + " planned after it ended");
                Assert.True(_ordinal[slot] >= queue.Head && _ordinal[slot] < queue.Tail, "slot outside the queue");
                Assert.Equal(_ordinal[slot], queue.SequenceOf(slot));
                Assert.True(_ordinal[slot] > previous, "a run out of enqueue order");
                previous = _ordinal[slot];
                Assert.True(ring.SameIpHeader(first, slot), "a run across destinations");
                Assert.True(!priorityKeyed || ring.GetPriority(first) == ring.GetPriority(slot), "a run across priorities");
                int length = ring.GetLength(slot);
                Assert.True(s == n - 1 ? length <= segment : length == segment, "run sizes: " + length + " after " + segment);
                bytes += length;
            }

            Assert.True(bytes <= SendPlanner.MaxRunBytes, "a run of " + bytes + " bytes");
            Sys.MMsgHdr* h = planner.Messages(m);
            long iovBytes = 0;
            for (int j = 0; j < (int)h->Hdr.IovLen; j++)
            {
                iovBytes += (long)h->Hdr.Iov[j].Length;
            }

            Assert.Equal(bytes, iovBytes);
        }

        // Each message: sent (most), failed with an errno, pushed back (the rest of its group waits), or a segmented
        // message refused (the pass ends and everything not ended is planned again). Returns the ordered plan's prefix.
        private int SendPlan()
        {
            int completed = 0;
            for (int g = 0; g < planner.GroupCount; g++)
            {
                (int first, int end) = planner.GroupMessages(g);
                for (int m = first; m < end; m++)
                {
                    int roll = r.Next(100);
                    if (roll < 4)
                    {
                        if (planner.Ordered)
                        {
                            return completed;
                        }

                        break; // pushed back: the sender goes on with the other send groups
                    }

                    if (roll < 7 && planner.Segments(m) > 1)
                    {
                        planner.StopSegmenting();
                        return completed;
                    }

                    for (int s = 0; s < planner.Segments(m); s++)
                    {
                        End(planner.Slot(m, s));
                        completed++;
                    }
                }
            }

            return completed;
        }

        private void End(int slot)
        {
            Assert.False(_ended[slot], "slot " + slot + " ended twice");
            _ended[slot] = true;
            _endedCount++;
            var key = (unconnected ? ring.GetDestination(slot).ToString() : "", priorityKeyed ? ring.GetPriority(slot) : 0u);
            long ordinal = _ordinal[slot];
            if (_lastEnded.TryGetValue(key, out long last))
            {
                Assert.True(ordinal > last, "order broken within a key: " + ordinal + " ended after " + last);
            }

            _lastEnded[key] = ordinal;
            if (!planner.Ordered)
            {
                queue.EndEarly(slot);
            }
        }

        private void Advance(int completed)
        {
            if (!planner.Ordered)
            {
                queue.AdvanceOverEnded();
                return;
            }

            // Ordered plans end a prefix of the queue.
            for (int k = 0; k < completed; k++)
            {
                Assert.True(_ended[queue.IndexOf(queue.Head + k)], "an ordered plan ended out of order");
            }

            queue.EndAtHead(completed);
        }
    }
}
