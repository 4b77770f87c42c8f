namespace Perf.Tunnel;

/// <summary>
/// What a TAP or TUN device's reader takes from the kernel in place of finished packets (TUNSETOFFLOAD, the TUN_F_* flags of
/// linux/if_tun.h): with these, the kernel hands over TCP and UDP super-packets of up to 64 KB with a
/// <see cref="VirtioNetHeader"/> saying how to cut them, and packets whose checksum is still to be finished.
/// </summary>
[Flags]
public enum TunnelOffloads : uint
{
    /// <summary>Finished packets only.</summary>
    None = 0,

    /// <summary>TUN_F_CSUM: packets whose L4 checksum is left to the reader (every other offload needs it).</summary>
    Checksum = 0x01,

    /// <summary>TUN_F_TSO4: TCP over IPv4 super-packets.</summary>
    Tso4 = 0x02,

    /// <summary>TUN_F_TSO6: TCP over IPv6 super-packets.</summary>
    Tso6 = 0x04,

    /// <summary>TUN_F_TSO_ECN: TCP super-packets with ECN (CWR on the first segment only).</summary>
    TsoEcn = 0x08,

    /// <summary>TUN_F_USO4: UDP over IPv4 super-packets (UDP GSO; Linux 6.2+).</summary>
    Uso4 = 0x20,

    /// <summary>TUN_F_USO6: UDP over IPv6 super-packets (Linux 6.2+).</summary>
    Uso6 = 0x40,
}
