using System.Buffers.Binary;

namespace Perf.Host;

/// <summary>
/// fq's own statistics (struct tc_fq_qd_stats): tc's <c>flows</c>, <c>inactive</c>, <c>throttled</c> (flows),
/// <c>gc</c>, <c>highprio</c>, <c>throttled</c> (events), <c>flows_plimit</c>, <c>pkts_too_long</c>,
/// <c>alloc_errors</c>, <c>ce_mark</c> and the horizon's drops and caps (zero where the kernel predates them).
/// </summary>
public readonly record struct FqStatistics(long GcFlows, long HighPriorityPackets, long Throttled, long FlowsPacketLimit, long PacketsTooLong,
    long AllocationErrors, int Flows, int InactiveFlows, int ThrottledFlows, long CeMark, long HorizonDrops, long HorizonCaps)
{
    /// <summary>Reads the struct (80 bytes, 104 with ce_mark and the horizon counters); null when it is shorter.</summary>
    internal static FqStatistics? From(ReadOnlySpan<byte> x)
    {
        if (x.Length < 80)
        {
            return null;
        }

        return new FqStatistics(I64(x, 0), I64(x, 8), I64(x, 24), I64(x, 32), I64(x, 40), I64(x, 48),
            BinaryPrimitives.ReadInt32LittleEndian(x[64..]), BinaryPrimitives.ReadInt32LittleEndian(x[68..]), BinaryPrimitives.ReadInt32LittleEndian(x[72..]),
            x.Length >= 88 ? I64(x, 80) : 0, x.Length >= 96 ? I64(x, 88) : 0, x.Length >= 104 ? I64(x, 96) : 0);
    }

    private static long I64(ReadOnlySpan<byte> x, int offset) => BinaryPrimitives.ReadInt64LittleEndian(x[offset..]);
}
