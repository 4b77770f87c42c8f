using System.Buffers.Binary;

namespace Perf.Host;

/// <summary>
/// fq_codel's own statistics as a qdisc (struct tc_fq_codel_qd_stats, behind TCA_FQ_CODEL_XSTATS_QDISC): tc's
/// <c>maxpacket</c>, <c>drop_overlimit</c>, <c>new_flow_count</c>, <c>ecn_mark</c>, <c>new_flows_len</c>,
/// <c>old_flows_len</c>, <c>ce_mark</c>, <c>memory_used</c> and <c>drop_overmemory</c>.
/// </summary>
public readonly record struct FqCodelStatistics(uint MaxPacket, uint DropOverlimit, uint EcnMark, uint NewFlowCount, uint NewFlowsLength,
    uint OldFlowsLength, uint CeMark, uint MemoryUsage, uint DropOverMemory)
{
    /// <summary>Reads the struct behind its 4-byte type; null for a class's statistics or a shorter one.</summary>
    internal static FqCodelStatistics? From(ReadOnlySpan<byte> x)
    {
        if (x.Length < 40 || BinaryPrimitives.ReadUInt32LittleEndian(x) != 0)
        {
            return null;
        }

        x = x[4..];
        return new FqCodelStatistics(U32(x, 0), U32(x, 1), U32(x, 2), U32(x, 3), U32(x, 4), U32(x, 5), U32(x, 6), U32(x, 7), U32(x, 8));
    }

    private static uint U32(ReadOnlySpan<byte> x, int index) => BinaryPrimitives.ReadUInt32LittleEndian(x[(index * 4)..]);
}
