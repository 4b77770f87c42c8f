namespace Perf.Tunnel;

/// <summary>How a TAP or TUN device is opened.</summary>
public sealed record TapOptions
{
    /// <summary>
    /// IFF_VNET_HDR: every frame read or written starts with a <see cref="Tunnel.VirtioNetHeader"/>. Needed for any
    /// offload.
    /// </summary>
    public bool VirtioNetHeader { get; init; }

    /// <summary>
    /// The offloads asked for (with <see cref="VirtioNetHeader"/>); the device takes what the kernel grants, probed at
    /// open: USO, which Linux before 6.2 lacks, is dropped where the kernel refuses it.
    /// <see cref="TapDevice.Offloads"/> says what was granted.
    /// </summary>
    public TunnelOffloads Offloads { get; init; }

    /// <summary>IFF_MULTI_QUEUE: each open of the same name is one more queue of the device (one per worker).</summary>
    public bool MultiQueue { get; init; }
}
