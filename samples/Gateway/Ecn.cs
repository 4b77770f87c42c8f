using System.Buffers.Binary;

namespace Perf.Gateway;

/// <summary>
/// RFC 6040 decapsulation (normal mode): the outer header's congestion mark carried onto the inner packet. An outer CE
/// becomes the inner CE where the inner packet is ECN-capable, and drops one that is not (its sender cannot hear of the
/// congestion any other way); an outer ECT(1) over an inner ECT(0) becomes ECT(1). Anything else leaves the inner as it is.
/// </summary>
internal static class Ecn
{
    internal const byte NotEct = 0;
    internal const byte Ect1 = 1;
    internal const byte Ect0 = 2;
    internal const byte Ce = 3;

    /// <summary>The inner ECN field RFC 6040 asks for, or -1 where the frame must be dropped.</summary>
    internal static int Decapsulated(byte outer, byte inner) => (outer & 3, inner & 3) switch
    {
        (Ce, NotEct) => -1,
        (Ce, _) => Ce,
        (Ect1, Ect0) => Ect1,
        (_, var same) => same,
    };

    /// <summary>
    /// Sets the ECN field of the frame's IP header (after at most one 802.1Q tag), updating an IPv4 header checksum by
    /// RFC 1624. False for a frame that carries no IP.
    /// </summary>
    internal static bool TrySet(Span<byte> frame, byte ecn)
    {
        int offset = 12;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        if (type == 0x8100 && frame.Length >= offset + 6)
        {
            offset += 4;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }

        int ip = offset + 2;
        if (type == 0x0800 && frame.Length >= ip + 20 && frame[ip] >> 4 == 4)
        {
            ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(frame[ip..]);
            frame[ip + 1] = (byte)((frame[ip + 1] & ~3) | ecn);
            ushort newWord = BinaryPrimitives.ReadUInt16BigEndian(frame[ip..]);
            // HC' = ~(~HC + ~m + m') (RFC 1624, eqn. 3), over the 16-bit word that holds the TOS byte.
            uint sum = (uint)(~BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 10)..]) & 0xFFFF) + (uint)(~oldWord & 0xFFFF) + newWord;
            sum = (sum & 0xFFFF) + (sum >> 16);
            sum = (sum & 0xFFFF) + (sum >> 16);
            BinaryPrimitives.WriteUInt16BigEndian(frame[(ip + 10)..], (ushort)~sum);
            return true;
        }

        if (type == 0x86DD && frame.Length >= ip + 40 && frame[ip] >> 4 == 6)
        {
            frame[ip + 1] = (byte)((frame[ip + 1] & ~0x30) | (ecn << 4)); // the traffic class straddles bytes 0 and 1
            return true;
        }

        return false;
    }
}
