using System.Buffers.Binary;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Self-describing test datagrams: 8-byte LE sequence, 4-byte LE priority, then filler derived from the sequence,
/// so a receiver can check bytes, length and priority of each one on its own.
/// </summary>
internal static class TestPayload
{
    internal const int HeaderSize = 12;

    internal static int Write(Span<byte> dst, long seq, uint priority, int length)
    {
        BinaryPrimitives.WriteInt64LittleEndian(dst, seq);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], priority);
        for (int i = HeaderSize; i < length; i++)
        {
            dst[i] = Filler(seq, i);
        }

        return length;
    }

    internal static byte Filler(long seq, int i) => (byte)((seq * 31) + (i * 7));

    /// <summary>Checks a received payload; returns null when good, else what is wrong.</summary>
    internal static string? Check(ReadOnlySpan<byte> p, int expectedLength, out long seq, out uint priority)
    {
        seq = -1;
        priority = 0;
        if (p.Length < HeaderSize)
        {
            return "short datagram of " + p.Length;
        }

        seq = BinaryPrimitives.ReadInt64LittleEndian(p);
        priority = BinaryPrimitives.ReadUInt32LittleEndian(p[8..]);
        if (expectedLength >= 0 && p.Length != expectedLength)
        {
            return "seq " + seq + ": length " + p.Length + " != " + expectedLength;
        }

        for (int i = HeaderSize; i < p.Length; i++)
        {
            if (p[i] != Filler(seq, i))
            {
                return "seq " + seq + ": byte " + i + " corrupt";
            }
        }

        return null;
    }
}
