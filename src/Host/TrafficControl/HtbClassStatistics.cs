using System.Buffers.Binary;

namespace Perf.Host;

/// <summary>
/// An HTB class's own statistics (struct tc_htb_xstats): how often it lent and borrowed, packets too big for its
/// quantum, and its token buckets (tc's <c>lended</c>, <c>borrowed</c>, <c>giants</c>, <c>tokens</c>, <c>ctokens</c>).
/// </summary>
public readonly record struct HtbClassStatistics(uint Lends, uint Borrows, uint Giants, int Tokens, int CTokens)
{
    /// <summary>Reads the 20-byte struct; null when it is shorter.</summary>
    internal static HtbClassStatistics? From(ReadOnlySpan<byte> x) => x.Length < 20 ? null : new HtbClassStatistics(
        BinaryPrimitives.ReadUInt32LittleEndian(x), BinaryPrimitives.ReadUInt32LittleEndian(x[4..]), BinaryPrimitives.ReadUInt32LittleEndian(x[8..]),
        BinaryPrimitives.ReadInt32LittleEndian(x[12..]), BinaryPrimitives.ReadInt32LittleEndian(x[16..]));
}
