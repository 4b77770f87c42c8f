using System.Buffers.Binary;
using Perf.Tunnel.Offload;

namespace Perf.Tunnel;

/// <summary>
/// A hash of a frame's inner flow, for spreading flows over a tunnel's outer source ports (RFC 7348 5: the peer's RSS and
/// any ECMP path then see each inner flow as its own): the IP addresses, the protocol and, for TCP and UDP that are not
/// fragments, the ports; for a frame without IP, its Ethernet addresses and type. Equal for every frame of a flow and
/// every segment of a super-packet.
/// </summary>
public static class FlowHash
{
    private const uint Prime = 16777619;
    private const uint Basis = 2166136261;

    /// <summary>The hash of <paramref name="frame"/>'s flow.</summary>
    /// <param name="frame">A frame (TAP) or an IP packet (TUN).</param>
    /// <param name="ethernet">True for a TAP's Ethernet frames.</param>
    public static uint Of(ReadOnlySpan<byte> frame, bool ethernet)
    {
        int ip = PacketLayout.NetworkOffset(frame, ethernet, out bool v6);
        if (ip < 0)
        {
            return Mix(Basis, frame[..Math.Min(frame.Length, 14)]);
        }

        int header = v6 ? 40 : (frame[ip] & 0x0F) * 4;
        if (frame.Length < ip + Math.Max(header, 20))
        {
            return Mix(Basis, frame[ip..]);
        }

        byte protocol = v6 ? frame[ip + 6] : frame[ip + 9];
        uint hash = Mix(Basis, v6 ? frame.Slice(ip + 8, 32) : frame.Slice(ip + 12, 8));
        hash = (hash ^ protocol) * Prime;
        bool fragment = !v6 && (BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 6)..]) & 0x3FFF) != 0;
        if (protocol is PacketLayout.Tcp or PacketLayout.Udp && !fragment && frame.Length >= ip + header + 4)
        {
            hash = Mix(hash, frame.Slice(ip + header, 4));
        }

        return hash ^ (hash >> 16); // the low bits pick a port: fold the high ones in
    }

    // FNV-1a: a few dozen bytes, no table, no allocation.
    private static uint Mix(uint hash, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }
}
