namespace Perf.Batch;

/// <summary>
/// What the kernel and this process allow, probed once when a sender is created: per-packet priority, and UDP
/// segmentation (GSO).
/// </summary>
public sealed class PriorityCapabilities
{
    internal PriorityCapabilities(bool perPacketPriority, bool privilegedPriorities, int probeErrno, PriorityStrategy strategy, int maxSegments = 0, string? strategyReason = null)
    {
        StrategyReason = strategyReason ?? (perPacketPriority ? "the kernel takes the per-packet SO_PRIORITY cmsg (Linux 6.14+)" : "no per-packet SO_PRIORITY cmsg on this kernel (it came with Linux 6.14)");
        PerPacketPriority = perPacketPriority;
        PrivilegedPriorities = privilegedPriorities;
        ProbeErrno = probeErrno;
        Strategy = strategy;
        MaxSegments = maxSegments;
    }

    internal PriorityCapabilities WithStrategy(PriorityStrategy strategy, string reason) => new(PerPacketPriority, PrivilegedPriorities, ProbeErrno, strategy, MaxSegments, reason);

    /// <summary>Why <see cref="Strategy"/> was chosen: the kernel's answer, the privilege, the classifier on the route.</summary>
    public string StrategyReason { get; }

    /// <summary>
    /// The kernel takes a UDP_SEGMENT cmsg (UDP GSO, Linux 4.18+): one message may carry a run of equal-size datagrams.
    /// </summary>
    public bool Segmentation => MaxSegments > 1;

    /// <summary>How many datagrams one UDP GSO message may carry here (UDP_MAX_SEGMENTS: 64, or 128 on newer kernels); 0 without GSO.</summary>
    public int MaxSegments { get; }

    /// <summary>
    /// The strategy in use: for a sender, the one it resolved (never Auto); straight from the probe, what Auto would pick
    /// without a classifier.
    /// </summary>
    public PriorityStrategy Strategy { get; }

    /// <summary>The kernel accepts a SOL_SOCKET/SO_PRIORITY cmsg on sendmsg (Linux 6.14 and later).</summary>
    public bool PerPacketPriority { get; }

    /// <summary>
    /// Priorities above 6 (and per-packet SO_MARK) are allowed: the process has CAP_NET_ADMIN or CAP_NET_RAW in the
    /// socket's network namespace. Without it such packets fail individually with EPERM.
    /// </summary>
    public bool PrivilegedPriorities { get; }

    /// <summary>The errno the per-packet probe answered (0 when it was accepted; EINVAL on kernels before 6.14).</summary>
    public int ProbeErrno { get; }

    /// <summary>Whether <paramref name="priority"/> can be sent by this process.</summary>
    public bool Allows(uint priority) => priority <= MaxUnprivilegedPriority || PrivilegedPriorities;

    /// <summary>The largest priority any process may use (TC_PRIO_INTERACTIVE).</summary>
    public const uint MaxUnprivilegedPriority = 6;

    /// <inheritdoc/>
    public override string ToString() =>
        "per-packet priority: " + (PerPacketPriority ? "yes" : "no (" + Errno.Name(ProbeErrno) + ")") +
        ", priorities above 6: " + (PrivilegedPriorities ? "yes" : "no (needs CAP_NET_ADMIN or CAP_NET_RAW)") +
        ", strategy: " + Strategy.ToString() + " (" + StrategyReason + ")" +
        ", UDP GSO: " + (Segmentation ? "yes, up to " + MaxSegments.ToString(System.Globalization.CultureInfo.InvariantCulture) + " segments" : "no");
}
