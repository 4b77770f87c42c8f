namespace Perf.Batch;

/// <summary>Whether a sender sends runs of equal datagrams as one UDP GSO message (UDP_SEGMENT).</summary>
public enum SegmentationMode
{
    /// <summary>On where the kernel takes UDP_SEGMENT (Linux 4.18+), off elsewhere.</summary>
    Auto,

    /// <summary>On; creating the sender fails where the kernel lacks UDP_SEGMENT.</summary>
    On,

    /// <summary>Off: one kernel message per datagram.</summary>
    Off,
}
