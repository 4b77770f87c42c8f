using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Perf.Batch;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Qdiscs;

/// <summary>
/// The qdiscs that classify on skb->priority and that this machine's kernel lacks (prio, ets, mqprio, cake, fq_codel)
/// and VLAN PCP (8021q). They run where the kernel has them, such as the kernel lab's Debian kernels, and skip with the
/// reason elsewhere. Every priority is sent in its own phase, with every strategy the kernel offers, and must move
/// exactly the counter the kernel's rules name, read from the qdisc's own statistics on the sending device.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed partial class PriorityQdiscTests
{
    private const int PerPhase = 5;

    public static TheoryData<PriorityStrategy> Strategies => new()
    {
        PriorityStrategy.Cmsg,
        PriorityStrategy.SocketPerPriority,
        PriorityStrategy.SetsockoptPerRun,
        PriorityStrategy.MarkAndBpf,
    };

    // 0-15 through the priomap, the qdisc's own major:minor ids (band named directly), and a foreign major (priomap again).
    private static readonly uint[] s_bandPriorities = [0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 0x10001, 0x10002, 0x10003, 0x10009, 0x20001];

    [Theory]
    [MemberData(nameof(Strategies))]
    public void PrioSendsEachPriorityToItsPriomapBandOrTheBandItsIdNames(PriorityStrategy strategy) =>
        CheckBands(strategy, "prio", "prio bands 3 priomap ", 3, [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]); // the kernel's default

    [Theory]
    [MemberData(nameof(Strategies))]
    public void EtsSendsEachPriorityToItsPriomapBandOrTheBandItsIdNames(PriorityStrategy strategy) =>
        CheckBands(strategy, "ets", "ets bands 4 strict 4 priomap ", 4, [3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0]);

    private static void CheckBands(PriorityStrategy strategy, string tag, string qdisc, int bands, int[] priomap)
    {
        using QdiscLab lab = QdiscLab.Create(tag, strategy, qdisc + string.Join(' ', priomap));
        foreach (uint p in s_bandPriorities)
        {
            lab.SendExpectingClass(p, "1:" + Band(p, bands, priomap).ToString("x", CultureInfo.InvariantCulture));
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void MqprioSendsEachPriorityThroughItsTrafficClassToItsTxQueue(PriorityStrategy strategy)
    {
        int[] map = [3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0]; // priority -> traffic class; class N owns queue N
        using QdiscLab lab = QdiscLab.Create("mqprio", strategy, "mqprio num_tc 4 map " + string.Join(' ', map) + " queues 1@0 1@1 1@2 1@3 hw 0", "numtxqueues 4 numrxqueues 4");
        foreach (uint p in (uint[])[0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 0x10002])
        {
            // mqprio reads priority & 15; queue class 1:N is tx queue N-1.
            lab.SendExpectingClass(p, "1:" + (map[p & 15] + 1).ToString(CultureInfo.InvariantCulture));
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void CakeSendsAPriorityWhoseMajorIsItsHandleToTheTinItsMinorNames(PriorityStrategy strategy)
    {
        using QdiscLab lab = QdiscLab.Create("cake", strategy, "cake diffserv3");
        // diffserv3's tins as tc lists them: Bulk, Best Effort, Voice. 1:N picks the Nth; anything else goes by DSCP,
        // and these datagrams carry DSCP 0: Best Effort.
        foreach ((uint p, int tin) in ((uint, int)[])[(0x10001, 0), (0x10002, 1), (0x10003, 2), (0x10004, 1), (5, 1), (0x20003, 1), (0x10003, 2)])
        {
            long[] before = lab.CakeTinPackets();
            lab.Send(p);
            long[] after = QdiscLab.WaitFor(lab.CakeTinPackets, before);
            for (int i = 0; i < after.Length; i++)
            {
                Assert.True(after[i] - before[i] == (i == tin ? PerPhase : 0), "priority 0x" + p.ToString("x", CultureInfo.InvariantCulture) + ": tin " + i + " moved by " + (after[i] - before[i]) + ", expected the datagrams in tin " + tin);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void FqCodelSendsAPriorityWhoseMajorIsItsHandleToTheFlowItsMinorNames(PriorityStrategy strategy)
    {
        // fq_codel lists only flows that hold packets, so it sits under an HTB class that lets one large pilot datagram
        // through (burst 1b) and then owes 11 s at 1kbit: every later datagram waits in its flow, to be counted there.
        using QdiscLab lab = QdiscLab.Create("fqcodel", strategy, "htb default 10", setup: net =>
        {
            net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:10 htb rate 1kbit ceil 1kbit burst 1b cburst 1b");
            net.A.ExecOrSkip("tc qdisc add dev " + VethPair.DeviceA + " parent 1:10 handle 10: fq_codel");
        });
        lab.SendPilot();
        (uint P, string Flow, int Count)[] cases = [(0x100003, "10:3", 3), (0x100007, "10:7", 2), (0x10000c, "10:c", 4), (0x100400, "10:400", 1)];
        foreach ((uint p, string _, int count) in cases)
        {
            lab.Send(p, count: count);
        }

        Dictionary<string, long> backlog = lab.FqCodelBacklog();
        foreach ((uint p, string flow, int count) in cases)
        {
            Assert.True(backlog.GetValueOrDefault(flow) == count, "priority 0x" + p.ToString("x", CultureInfo.InvariantCulture) + ": flow " + flow + " holds " + backlog.GetValueOrDefault(flow) + " of " + count + " (" + string.Join(", ", backlog) + ")");
        }

        Assert.Equal(cases.Sum(c => c.Count), backlog.Values.Sum());

        // A foreign major: fq_codel hashes the flow. Its hash is perturbed at random when the qdisc is created, so it can
        // land on one of the named flows (about 4 runs in 1024): counted after them, only by the total.
        lab.Send(6, count: 2);
        Assert.Equal(cases.Sum(c => c.Count) + 2, lab.FqCodelBacklog().Values.Sum());
    }

    // prio_classify and ets_classify: a priority whose major is the qdisc's handle (1:) names band minor-1, or falls
    // back to priomap[0] when no such band exists; one with another non-zero major also takes priomap[0]; a plain
    // 0-15 (bits above 15 ignored) goes through the priomap. Returns the class minor (band + 1).
    private static int Band(uint priority, int bands, int[] priomap) =>
        priority >> 16 == 1 ? ((priority & 0xFFFF) >= 1 && (priority & 0xFFFF) <= bands ? (int)(priority & 0xFFFF) : priomap[0] + 1)
        : priority >> 16 != 0 ? priomap[0] + 1
        : priomap[priority & 15] + 1;

    /// <summary>A quiet veth pair with a qdisc under test on A's device and a sender using one strategy.</summary>
    private sealed class QdiscLab : IDisposable
    {
        private readonly VethPair _net;
        private readonly PacketReceiver _sink;
        private readonly PacketSender _sender;
        private readonly byte[] _payload = new byte[64];
        private Dictionary<string, (long Packets, long Bytes)>? _counters;

        private QdiscLab(VethPair net, PacketReceiver sink, PacketSender sender)
        {
            _net = net;
            _sink = sink;
            _sender = sender;
        }

        internal VethPair Net => _net;

        internal DatagramAddress Destination => _sink.LocalAddress;

        internal PacketSender Sender => _sender;

        /// <summary>
        /// Builds the lab, or skips the test with the reason this kernel or host cannot run it. mark-bpf's classifier
        /// goes on <paramref name="classifierDevice"/>: the device the route leaves by.
        /// </summary>
        internal static QdiscLab Create(string tag, PriorityStrategy strategy, string? rootQdisc, string linkOptions = "", Action<VethPair>? setup = null, string classifierDevice = VethPair.DeviceA)
        {
            string? why = NetNs.Unavailable();
            Assert.SkipWhen(why is not null, why ?? string.Empty);
            SkipUnlessStrategyWorks(strategy);
            VethPair net = VethPair.Create(tag, linkOptions, quiet: true);
            try
            {
                if (rootQdisc is not null)
                {
                    net.A.ExecOrSkip("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: " + rootQdisc);
                }

                setup?.Invoke(net);
                if (strategy == PriorityStrategy.MarkAndBpf)
                {
                    MarkClassifier.Attach(classifierDevice, net.A.Name); // mark -> priority before the root qdisc
                }

                PacketReceiver sink = net.ReceiverInB(); // bound, never read: no ICMP port unreachable comes back
                // One skb per datagram: these tests read per-datagram counters (fq_codel's flows, frames on the wire),
                // which count a UDP GSO skb once however many datagrams it carries (seen on 6.1 in the lab).
                PacketSender sender = net.A.Run(() => PacketSender.Create(new PacketSenderOptions
                {
                    PriorityStrategy = strategy,
                    ClassifierAttached = strategy == PriorityStrategy.MarkAndBpf,
                    AutoFlush = false,
                    Segmentation = SegmentationMode.Off,
                }));
                Assert.Equal(strategy, sender.PriorityStrategy);
                return new QdiscLab(net, sink, sender);
            }
            catch
            {
                net.Dispose();
                throw;
            }
        }

        internal static void SkipUnlessStrategyWorks(PriorityStrategy strategy)
        {
            if (strategy == PriorityStrategy.Cmsg)
            {
                using PacketSender probe = PacketSender.Create(new PacketSenderOptions());
                Assert.SkipUnless(probe.Capabilities.PerPacketPriority, "the per-packet SO_PRIORITY cmsg needs Linux 6.14+; the fallback strategies run here instead");
            }
        }

        /// <summary>Sends <see cref="PerPhase"/> datagrams of <paramref name="priority"/> to <paramref name="destination"/> (default: B's sink).</summary>
        internal void Send(uint priority, DatagramAddress destination = default, int count = PerPhase)
        {
            _counters = null;
            DatagramAddress to = destination.IsEmpty ? _sink.LocalAddress : destination;
            BitConverter.TryWriteBytes(_payload, priority);
            for (int i = 0; i < count; i++)
            {
                Assert.True(_sender.TryEnqueue(_payload, priority, to));
            }

            FlushOutcome r = _sender.Flush();
            Assert.Equal(0, r.Failed);
            Assert.Equal(0, r.Pending);
        }

        /// <summary>One phase: the datagrams of <paramref name="priority"/> must move class <paramref name="expected"/>'s counter, and no other.</summary>
        internal void SendExpectingClass(uint priority, string expected)
        {
            // One phase's final counters are the next one's start: each tc run counts under the lab's emulated CPU.
            Dictionary<string, (long Packets, long Bytes)> before = _counters ?? _net.ClassCounters();
            Send(priority);
            Dictionary<string, (long Packets, long Bytes)> after = WaitForCounters(before, PerPhase);
            _counters = after;
            foreach ((string cls, (long packets, long _)) in after)
            {
                long delta = packets - before.GetValueOrDefault(cls).Packets;
                if (cls == expected)
                {
                    Assert.True(delta == PerPhase, "priority 0x" + priority.ToString("x", CultureInfo.InvariantCulture) + ": class " + cls + " counted " + delta + " of " + PerPhase);
                }
                else if (!IsAggregate(cls))
                {
                    Assert.True(delta == 0, "priority 0x" + priority.ToString("x", CultureInfo.InvariantCulture) + " (expected in " + expected + ") moved class " + cls + " by " + delta);
                }
            }

            Assert.True(after.ContainsKey(expected), "no class " + expected + " in: " + string.Join(", ", after.Keys));
        }

        /// <summary>A 1400-byte datagram of priority 0 that HTB lets through before it throttles.</summary>
        internal void SendPilot()
        {
            Assert.True(_sender.TryEnqueue(new byte[1400], 0, _sink.LocalAddress));
            Assert.Equal(0, _sender.Flush().Failed);
            Thread.Sleep(100);
        }

        /// <summary>cake's packets sent per tin, in tc's order (<c>tc -s -j qdisc show</c>: tins[].sent_packets).</summary>
        internal long[] CakeTinPackets()
        {
            using var doc = System.Text.Json.JsonDocument.Parse(_net.A.Exec("tc -s -j qdisc show dev " + VethPair.DeviceA));
            foreach (System.Text.Json.JsonElement q in doc.RootElement.EnumerateArray())
            {
                if (q.GetProperty("kind").GetString() == "cake")
                {
                    return [.. q.GetProperty("tins").EnumerateArray().Select(t => t.GetProperty("sent_packets").GetInt64())];
                }
            }

            throw new InvalidOperationException("no cake qdisc on " + VethPair.DeviceA);
        }

        /// <summary>Packets waiting in each fq_codel flow ("class fq_codel 10:N", then "backlog Bb Pp").</summary>
        internal Dictionary<string, long> FqCodelBacklog()
        {
            var result = new Dictionary<string, long>();
            string? flow = null;
            foreach (string line in _net.A.Exec("tc -s class show dev " + VethPair.DeviceA).Split('\n'))
            {
                Match c = FqCodelClass().Match(line);
                if (c.Success)
                {
                    flow = c.Groups[1].Value;
                    continue;
                }

                Match b = BacklogLine().Match(line);
                if (b.Success && flow is not null)
                {
                    result[flow] = long.Parse(b.Groups[1].Value, CultureInfo.InvariantCulture);
                    flow = null;
                }
            }

            return result;
        }

        /// <summary>Polls <paramref name="read"/> until its total moved by <see cref="PerPhase"/> from <paramref name="before"/>, or 3 s passed.</summary>
        internal static long[] WaitFor(Func<long[]> read, long[] before)
        {
            long deadline = Environment.TickCount64 + 3000;
            while (true)
            {
                long[] now = read();
                if (now.Sum() - before.Sum() >= PerPhase || Environment.TickCount64 > deadline)
                {
                    return now;
                }

                Thread.Sleep(20);
            }
        }

        // mqprio also reports one class per traffic class (1:ffe0 and up), each summing its queues.
        private static bool IsAggregate(string cls) => cls.Contains(":ffe", StringComparison.Ordinal) || cls.Contains(":fff", StringComparison.Ordinal);

        private Dictionary<string, (long Packets, long Bytes)> WaitForCounters(Dictionary<string, (long Packets, long Bytes)> before, int sent)
        {
            long deadline = Environment.TickCount64 + 3000;
            while (true)
            {
                Dictionary<string, (long Packets, long Bytes)> now = _net.ClassCounters();
                long moved = 0;
                foreach ((string cls, (long packets, long _)) in now)
                {
                    if (!IsAggregate(cls))
                    {
                        moved += packets - before.GetValueOrDefault(cls).Packets;
                    }
                }

                if (moved >= sent || Environment.TickCount64 > deadline)
                {
                    return now;
                }

                Thread.Sleep(20);
            }
        }

        public void Dispose()
        {
            _sender.Dispose();
            _sink.Dispose();
            _net.Dispose();
        }
    }

    [GeneratedRegex(@"^class fq_codel (\S+) ")]
    private static partial Regex FqCodelClass();

    [GeneratedRegex(@"^\s*backlog \S+ (\d+)p")]
    private static partial Regex BacklogLine();
}
