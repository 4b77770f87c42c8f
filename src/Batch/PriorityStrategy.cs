namespace Perf.Batch;

/// <summary>How each datagram gets its own <c>skb-&gt;priority</c>.</summary>
public enum PriorityStrategy
{
    /// <summary>
    /// <see cref="Cmsg"/> where the kernel takes it (6.14+); otherwise <see cref="MarkAndBpf"/> when
    /// <see cref="PacketSenderOptions.ClassifierAttached"/> says the classifier is in place, else <see cref="SocketPerPriority"/>.
    /// </summary>
    Auto,

    /// <summary>A SOL_SOCKET/SO_PRIORITY control message on every datagram (Linux 6.14+). One socket, batches of any mix.</summary>
    Cmsg,

    /// <summary>
    /// One socket per distinct priority (setsockopt SO_PRIORITY once each, all bound to the same local address with
    /// SO_REUSEPORT, connected alike). A flush sends each priority's datagrams on its priority's socket, one call per
    /// priority; with <see cref="PacketSenderOptions.StrictPriorityOrder"/>, one call per run of equal priority in
    /// enqueue order instead.
    /// </summary>
    SocketPerPriority,

    /// <summary>
    /// One socket; setsockopt(SO_PRIORITY) before each run of equal priority. Fragile: anything else that sends on or
    /// sets options on this socket between the setsockopt and the send races it, so the sender must own the socket
    /// alone (it does: the socket never leaves the sender). Costs a syscall per priority change.
    /// </summary>
    SetsockoptPerRun,

    /// <summary>
    /// A SOL_SOCKET/SO_MARK control message on every datagram (needs CAP_NET_RAW or CAP_NET_ADMIN), and a tc eBPF
    /// program on the egress device (clsact egress; Perf.Host's MarkClassifier loads it) that copies skb->mark to
    /// skb->priority before the root qdisc classifies. The mark is then not available for other uses (fwmark routing).
    /// </summary>
    MarkAndBpf,
}
