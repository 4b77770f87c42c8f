using Perf.LoadGen;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Self-describing test datagrams: perfgen's 32-byte header (<see cref="PacketHeader"/>: sequence and priority; flow
/// and time 0), then filler derived from the sequence, so a receiver can check bytes, length and priority of each one
/// on its own.
/// </summary>
internal static class TestPayload
{
    internal const int HeaderSize = PacketHeader.Size;

    internal static int Write(Span<byte> dst, long seq, uint priority, int length)
    {
        PacketHeader.Write(dst, flow: 0, (ulong)seq, priority, timeNs: 0);
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

        if (!PacketHeader.TryRead(p, out _, out ulong sequence, out priority))
        {
            return "no perfgen header";
        }

        seq = (long)sequence;
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
