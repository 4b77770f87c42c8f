using System.Buffers.Binary;

namespace Perf.LoadGen.Measurement;

/// <summary>
/// The 32-byte little-endian header every perfgen datagram starts with, so any receiver can verify it:
/// magic "PRF1" | flow id u32 | sequence u64 | requested priority u32 | reserved u32 | send time ns (CLOCK_MONOTONIC) u64.
/// </summary>
internal static class PacketHeader
{
    internal const uint Magic = 0x31465250; // the bytes "PRF1"
    internal const int Size = 32;

    internal static void Write(Span<byte> dst, uint flow, ulong seq, uint priority, ulong timeNs)
    {
        // One checked 32-byte store per datagram, not six sliced ones (x86-64 and arm64 are little-endian).
        if (!BitConverter.IsLittleEndian || dst.Length < Size)
        {
            WriteSlow(dst, flow, seq, priority, timeNs);
            return;
        }

        System.Runtime.CompilerServices.Unsafe.WriteUnaligned(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst),
            new Layout { Magic = Magic, Flow = flow, Sequence = seq, Priority = priority, TimeNs = timeNs });
    }

    private static void WriteSlow(Span<byte> dst, uint flow, ulong seq, uint priority, ulong timeNs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], flow);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], seq);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[16..], priority);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[20..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[24..], timeNs);
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 4)]
    private struct Layout
    {
        public uint Magic;
        public uint Flow;
        public ulong Sequence;
        public uint Priority;
        public uint Reserved;
        public ulong TimeNs;
    }

    internal static bool TryRead(ReadOnlySpan<byte> src, out uint flow, out ulong seq, out uint priority) =>
        TryRead(src, out flow, out seq, out priority, out _);

    internal static bool TryRead(ReadOnlySpan<byte> src, out uint flow, out ulong seq, out uint priority, out ulong sentNs)
    {
        if (src.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(src) != Magic)
        {
            flow = 0;
            seq = 0;
            priority = 0;
            sentNs = 0;
            return false;
        }

        flow = BinaryPrimitives.ReadUInt32LittleEndian(src[4..]);
        seq = BinaryPrimitives.ReadUInt64LittleEndian(src[8..]);
        priority = BinaryPrimitives.ReadUInt32LittleEndian(src[16..]);
        sentNs = BinaryPrimitives.ReadUInt64LittleEndian(src[24..]);
        return true;
    }

    /// <summary>CLOCK_MONOTONIC in ns: Stopwatch on Linux reads clock_gettime(CLOCK_MONOTONIC) at 1 ns resolution.</summary>
    internal static ulong MonotonicNs() => (ulong)System.Diagnostics.Stopwatch.GetTimestamp();
}
