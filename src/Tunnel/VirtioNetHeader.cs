using System.Runtime.InteropServices;

namespace Perf.Tunnel;

/// <summary>
/// struct virtio_net_hdr (linux/virtio_net.h), 10 bytes in front of every frame read from or written to a device made with
/// <see cref="TapOptions.VirtioNetHeader"/>: whether the frame's L4 checksum is still to be finished, and whether it is a
/// super-packet to be cut into segments of <see cref="GsoSize"/> payload bytes. Little-endian (the tun default on x86-64
/// and arm64).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct VirtioNetHeader
{
    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at <see cref="ChecksumStart"/> + <see cref="ChecksumOffset"/> holds only the pseudo-header sum.</summary>
    public const byte NeedsChecksum = 1;

    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was checked (on frames the kernel hands over).</summary>
    public const byte DataValid = 2;

    /// <summary>VIRTIO_NET_HDR_GSO_NONE: one packet.</summary>
    public const byte GsoNone = 0;

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV4.</summary>
    public const byte GsoTcpV4 = 1;

    /// <summary>VIRTIO_NET_HDR_GSO_TCPV6.</summary>
    public const byte GsoTcpV6 = 4;

    /// <summary>VIRTIO_NET_HDR_GSO_UDP_L4: UDP segmentation (USO).</summary>
    public const byte GsoUdpL4 = 5;

    /// <summary>VIRTIO_NET_HDR_GSO_ECN, or'ed into <see cref="GsoType"/>.</summary>
    public const byte GsoEcn = 0x80;

    /// <summary>The size the kernel reads and writes: 10 bytes.</summary>
    public const int Size = 10;

    /// <summary><see cref="NeedsChecksum"/>, <see cref="DataValid"/>.</summary>
    public byte Flags;

    /// <summary>One of the Gso* values.</summary>
    public byte GsoType;

    /// <summary>Bytes of headers (Ethernet, IP, L4) before the payload that is cut.</summary>
    public ushort HeaderLength;

    /// <summary>Payload bytes per segment.</summary>
    public ushort GsoSize;

    /// <summary>Where the checksum's coverage starts (the L4 header).</summary>
    public ushort ChecksumStart;

    /// <summary>The checksum field's offset from <see cref="ChecksumStart"/> (16 for TCP, 6 for UDP).</summary>
    public ushort ChecksumOffset;

    /// <summary>Reads the header at the start of a frame read from the device.</summary>
    public static VirtioNetHeader Read(ReadOnlySpan<byte> frame) => MemoryMarshal.Read<VirtioNetHeader>(frame);

    /// <summary>Writes the header at the start of <paramref name="frame"/>.</summary>
    public readonly void Write(Span<byte> frame) => MemoryMarshal.Write(frame, in this);
}
