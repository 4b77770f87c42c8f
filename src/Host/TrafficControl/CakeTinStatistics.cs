using System.Buffers.Binary;

namespace Perf.Host;

/// <summary>
/// One tin of a cake qdisc (the TCA_CAKE_TIN_STATS_* attributes): what it sent, dropped and marked, its backlog, its
/// delays and flows; a column of tc's tin table (<c>pkts</c>, <c>bytes</c>, <c>drops</c>, <c>marks</c>, <c>backlog</c>,
/// <c>pk_delay</c>, <c>av_delay</c>, <c>sp_delay</c>, <c>sp_flows</c>, <c>bk_flows</c>, <c>un_flows</c>).
/// </summary>
/// <param name="Tin">The tin's index: 0 is the first column tc prints (diffserv4: Bulk, Best Effort, Video, Voice).</param>
/// <param name="SentPackets">Packets it sent (tc's <c>pkts</c>).</param>
/// <param name="SentBytes">Bytes it sent (<c>bytes</c>).</param>
/// <param name="DroppedPackets">Packets it dropped (<c>drops</c>).</param>
/// <param name="EcnMarkedPackets">Packets it marked CE instead (<c>marks</c>).</param>
/// <param name="BacklogBytes">Bytes queued now (<c>backlog</c>).</param>
/// <param name="ThresholdRateBytesPerSecond">The rate above which it gives way to the other tins (<c>thresh</c>).</param>
/// <param name="PeakDelayMicroseconds">The largest queueing delay lately (<c>pk_delay</c>).</param>
/// <param name="AverageDelayMicroseconds">The average queueing delay (<c>av_delay</c>).</param>
/// <param name="BaseDelayMicroseconds">The sparse flows' delay (<c>sp_delay</c>).</param>
/// <param name="SparseFlows">Sparse flows now (<c>sp_flows</c>).</param>
/// <param name="BulkFlows">Bulk flows now (<c>bk_flows</c>).</param>
/// <param name="UnresponsiveFlows">Flows that ignore its signals (<c>un_flows</c>).</param>
public readonly record struct CakeTinStatistics(int Tin, long SentPackets, long SentBytes, long DroppedPackets, long EcnMarkedPackets,
    long BacklogBytes, long ThresholdRateBytesPerSecond, long PeakDelayMicroseconds, long AverageDelayMicroseconds, long BaseDelayMicroseconds,
    int SparseFlows, int BulkFlows, int UnresponsiveFlows)
{
    private const int TinStats = 10; // TCA_CAKE_STATS_TIN_STATS

    /// <summary>The tins of cake's TCA_STATS_APP: nested attributes, one nest per tin numbered from 1.</summary>
    internal static IReadOnlyList<CakeTinStatistics> From(ReadOnlySpan<byte> app)
    {
        var tins = new List<CakeTinStatistics>();
        foreach ((ushort type, byte[] nest) in RouteNetlink.Attributes(app))
        {
            if ((type & 0x3FFF) == TinStats)
            {
                foreach ((ushort tin, byte[] stats) in RouteNetlink.Attributes(nest))
                {
                    tins.Add(Read((tin & 0x3FFF) - 1, stats));
                }
            }
        }

        return tins;
    }

    private static CakeTinStatistics Read(int index, ReadOnlySpan<byte> nest)
    {
        Span<long> v = stackalloc long[26]; // by TCA_CAKE_TIN_STATS_* number: u32 or u64 values
        foreach ((ushort type, byte[] value) in RouteNetlink.Attributes(nest))
        {
            int t = type & 0x3FFF;
            if (t < v.Length)
            {
                v[t] = value.Length >= 8 ? BinaryPrimitives.ReadInt64LittleEndian(value) : value.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(value) : 0;
            }
        }

        return new CakeTinStatistics(index, v[2], v[3], v[4], v[8], v[11], v[12], v[18], v[19], v[20], (int)v[21], (int)v[22], (int)v[23]);
    }
}
