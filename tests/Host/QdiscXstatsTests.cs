using System.Globalization;
using System.Text.RegularExpressions;
using Perf.Batch;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Host;

/// <summary>
/// Each qdisc's own statistics (TCA_STATS_APP) as Perf.Host reads them, against what <c>tc -s qdisc show</c> prints
/// for the same qdisc: fq_codel's, fq's and cake's tins. This machine has none of the three; the lab's kernels do.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed partial class QdiscXstatsTests
{
    [Fact]
    public void FqCodelsOwnCountersEqualWhatTcPrints()
    {
        using VethPair net = Shaped("xfqc", "fq_codel");
        using PacketReceiver rx = net.ReceiverInB();
        QdiscTraffic.Send(net, rx, 2000, _ => 0, flows: 8);
        Thread.Sleep(600);
        FqCodelStatistics x = Leaf(net, "fq_codel").FqCodel ?? throw new InvalidOperationException("no fq_codel xstats");
        string tc = net.A.Exec("tc -s qdisc show dev " + VethPair.DeviceA);
        Match m = FqCodelLine().Match(tc);
        Assert.True(m.Success, tc);
        Assert.Equal((uint.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), uint.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            uint.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), uint.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture)),
            (x.MaxPacket, x.DropOverlimit, x.NewFlowCount, x.EcnMark));
        Assert.True(x.MaxPacket >= 400 && x.NewFlowCount >= 8, x.ToString());
    }

    [Fact]
    public void FqsOwnCountersEqualWhatTcPrints()
    {
        using VethPair net = Shaped("xfq", "fq");
        using PacketReceiver rx = net.ReceiverInB();
        QdiscTraffic.Send(net, rx, 2000, i => i % 2 == 0 ? 0u : 6u, flows: 5);
        Thread.Sleep(600);
        FqStatistics x = Leaf(net, "fq").Fq ?? throw new InvalidOperationException("no fq xstats");
        string tc = net.A.Exec("tc -s qdisc show dev " + VethPair.DeviceA);
        Match flows = FqFlowsLine().Match(tc);
        Assert.True(flows.Success, tc);
        Assert.Equal(int.Parse(flows.Groups[1].Value, CultureInfo.InvariantCulture), x.Flows);
        Assert.Equal(int.Parse(flows.Groups[2].Value, CultureInfo.InvariantCulture), x.InactiveFlows);
        Match highprio = FqHighprio().Match(tc);
        Assert.True(highprio.Success, tc);
        Assert.Equal(long.Parse(highprio.Groups[1].Value, CultureInfo.InvariantCulture), x.HighPriorityPackets);
        Assert.True(x.Flows >= 5, x.ToString());
    }

    /// <summary>diffserv4's four tins, each reached by a priority whose major is cake's handle (1:1 to 1:4).</summary>
    [Fact]
    public void CakesTinsEqualWhatTcPrints()
    {
        using VethPair net = Pair("xcake", "cake bandwidth 100mbit diffserv4");
        using PacketReceiver rx = net.ReceiverInB();
        long sent = QdiscTraffic.Send(net, rx, 2000, i => 0x10001u + (uint)(i % 4));
        Thread.Sleep(300);
        IReadOnlyList<CakeTinStatistics> tins = Root(net, "cake").CakeTins;
        string tc = net.A.Exec("tc -s qdisc show dev " + VethPair.DeviceA);
        Assert.Equal(4, tins.Count);
        Assert.Equal(Row(tc, "pkts"), tins.Select(t => t.SentPackets));
        Assert.Equal(Row(tc, "bytes"), tins.Select(t => t.SentBytes));
        Assert.Equal(Row(tc, "drops"), tins.Select(t => t.DroppedPackets));
        Assert.Equal(Row(tc, "marks"), tins.Select(t => t.EcnMarkedPackets));
        Assert.InRange(tins.Sum(t => t.SentPackets + t.DroppedPackets), sent, sent + 16); // the lab's kernels count a few more (tc prints the same)
        Assert.True(tins.All(t => t.SentPackets > 0), "a priority 1:N reaches tin N: " + string.Join(", ", tins));
    }

    // The root qdisc, and a leaf under an HTB class where one is given. As a root on a veth, fq_codel and fq are bypassed
    // while their queue is empty (TCQ_F_CAN_BYPASS: the device never stops), and their own counters stay 0; as the
    // leaf under an HTB class of 20 Mbit/s every packet is queued.
    private static VethPair Pair(string tag, string qdisc, string? leaf = null)
    {
        VethPair net = VethPair.Create(tag, quiet: true);
        try
        {
            net.A.ExecOrSkip("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: " + qdisc);
            if (leaf is not null)
            {
                net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid 1:1 htb rate 20mbit");
                net.A.ExecOrSkip("tc qdisc add dev " + VethPair.DeviceA + " parent 1:1 handle 10: " + leaf);
            }

            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    private static VethPair Shaped(string tag, string leaf) => Pair(tag, "htb default 1", leaf);

    private static TcStatistics Leaf(VethPair net, string kind)
    {
        TcStatistics leaf = QdiscStatistics.Read(VethPair.DeviceA, net.A.Name).Single(s => !s.IsClass && s.Handle == TcHandle.Parse("10:"));
        Assert.Equal(kind, leaf.Kind);
        return leaf;
    }

    private static TcStatistics Root(VethPair net, string kind)
    {
        TcStatistics root = QdiscStatistics.Read(VethPair.DeviceA, net.A.Name).Single(s => !s.IsClass && s.Parent == TcHandle.Root);
        Assert.Equal(kind, root.Kind);
        return root;
    }

    // A row of cake's tin table ("  pkts   0   2000   0   0"): one number per tin, in tc's column order.
    private static long[] Row(string tc, string name)
    {
        Match m = Regex.Match(tc, "^\\s*" + name + "((?:\\s+\\d+)+)\\s*$", RegexOptions.Multiline);
        Assert.True(m.Success, "no " + name + " row: " + tc);
        return [.. m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture))];
    }

    [GeneratedRegex(@"maxpacket (\d+) drop_overlimit (\d+) new_flow_count (\d+) ecn_mark (\d+)")]
    private static partial Regex FqCodelLine();

    [GeneratedRegex(@"flows (\d+) \(inactive (\d+) throttled (\d+)\)")]
    private static partial Regex FqFlowsLine();

    [GeneratedRegex(@"highprio (\d+)")]
    private static partial Regex FqHighprio();
}
