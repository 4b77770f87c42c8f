using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Sink;

/// <summary>How a sink learns each datagram's priority, strongest first.</summary>
internal enum SinkVerify
{
    /// <summary>SO_RCVPRIORITY where the kernel has it (6.14+); else the echo on lo as root with clang; else none.</summary>
    Auto,

    /// <summary>SO_RCVPRIORITY (Linux 6.14+).</summary>
    Priority,

    /// <summary>The mark the sender put on each datagram (--priority-strategy mark-bpf), through SO_RCVMARK (5.19+).</summary>
    Mark,

    /// <summary>The priority_to_mark echo on lo's clsact ingress copies the real skb->priority into the mark (root, clang, loopback).</summary>
    Echo,

    /// <summary>Counts, loss, order and duplicates only.</summary>
    None,
}
