using System.Buffers.Binary;

namespace Perf.Host;

// Qdisc and class statistics: an RTM_GETQDISC or RTM_GETTCLASS dump of one device, as `tc -s` sends it.
internal sealed unsafe partial class RouteNetlink
{
    /// <summary>Every qdisc (or every class) of <paramref name="ifindex"/>, with its TCA_STATS2 statistics.</summary>
    internal List<TcStatistics> TrafficControl(int ifindex, bool classes, out int errno)
    {
        var found = new List<TcStatistics>();
        ushort reply = classes ? HostInterop.Netlink.RTM_NEWTCLASS : HostInterop.Netlink.RTM_NEWQDISC;
        var m = new MessageBuilder(stackalloc byte[64]);
        m.Begin(classes ? HostInterop.Netlink.RTM_GETTCLASS : HostInterop.Netlink.RTM_GETQDISC, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_DUMP, ++_seq);
        m.Append(TcMsg(ifindex, 0, 0, 0));
        errno = Exchange(m.Finish(), (type, payload) =>
        {
            // A qdisc dump is of every device (the kernel ignores tcm_ifindex there): keep this one's.
            if (type == reply && payload.Length >= HostInterop.Netlink.TcMsgSize && BinaryPrimitives.ReadInt32LittleEndian(payload[4..]) == ifindex)
            {
                found.Add(Statistics(payload, classes));
            }
        });
        return found;
    }

    private static TcStatistics Statistics(ReadOnlySpan<byte> payload, bool isClass)
    {
        string kind = string.Empty;
        var stats = new TcStatistics
        {
            Kind = string.Empty,
            IsClass = isClass,
            Handle = new TcHandle(BinaryPrimitives.ReadUInt32LittleEndian(payload[8..])),
            Parent = new TcHandle(BinaryPrimitives.ReadUInt32LittleEndian(payload[12..])),
        };
        foreach ((ushort t, byte[] v) in Attributes(payload[HostInterop.Netlink.TcMsgSize..]))
        {
            ushort type = (ushort)(t & ~HostInterop.Netlink.NLA_F_NESTED);
            if (type == HostInterop.Netlink.TCA_KIND)
            {
                kind = CString(v);
            }
            else if (type == HostInterop.Netlink.TCA_STATS2)
            {
                stats = WithStats2(stats, v);
            }
        }

        return stats with { Kind = kind };
    }

    // TCA_STATS2's nested attributes (linux/gen_stats.h), each a struct the kernel fills in whole.
    private static TcStatistics WithStats2(TcStatistics s, ReadOnlySpan<byte> nested)
    {
        long pkt64 = -1;
        foreach ((ushort t, byte[] v) in Attributes(nested))
        {
            ReadOnlySpan<byte> x = v;
            switch (t)
            {
                case HostInterop.Netlink.TCA_STATS_BASIC when x.Length >= 12:
                    s = s with { Bytes = (long)BinaryPrimitives.ReadUInt64LittleEndian(x), Packets = BinaryPrimitives.ReadUInt32LittleEndian(x[8..]) };
                    break;
                case HostInterop.Netlink.TCA_STATS_PKT64 when x.Length >= 8:
                    pkt64 = (long)BinaryPrimitives.ReadUInt64LittleEndian(x);
                    break;
                case HostInterop.Netlink.TCA_STATS_QUEUE when x.Length >= 20:
                    s = s with
                    {
                        QueueLength = BinaryPrimitives.ReadUInt32LittleEndian(x),
                        BacklogBytes = BinaryPrimitives.ReadUInt32LittleEndian(x[4..]),
                        Drops = BinaryPrimitives.ReadUInt32LittleEndian(x[8..]),
                        Requeues = BinaryPrimitives.ReadUInt32LittleEndian(x[12..]),
                        Overlimits = BinaryPrimitives.ReadUInt32LittleEndian(x[16..]),
                    };
                    break;
                case HostInterop.Netlink.TCA_STATS_RATE_EST when x.Length >= 8 && s.RateBytesPerSecond == 0:
                    s = s with { RateBytesPerSecond = BinaryPrimitives.ReadUInt32LittleEndian(x), RatePacketsPerSecond = BinaryPrimitives.ReadUInt32LittleEndian(x[4..]) };
                    break;
                case HostInterop.Netlink.TCA_STATS_RATE_EST64 when x.Length >= 16:
                    s = s with { RateBytesPerSecond = (long)BinaryPrimitives.ReadUInt64LittleEndian(x), RatePacketsPerSecond = (long)BinaryPrimitives.ReadUInt64LittleEndian(x[8..]) };
                    break;
                case HostInterop.Netlink.TCA_STATS_APP:
                    s = s with { ExtendedStatistics = v };
                    break;
            }
        }

        return pkt64 >= 0 ? s with { Packets = pkt64 } : s;
    }
}
