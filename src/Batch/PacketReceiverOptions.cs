namespace Perf.Batch;

/// <summary>How a <see cref="PacketReceiver"/> is built. Read once at creation.</summary>
public sealed class PacketReceiverOptions
{
    /// <summary>Address to bind, required; port 0 takes an ephemeral port (read it back from <see cref="PacketReceiver.LocalAddress"/>).</summary>
    public DatagramAddress LocalAddress { get; init; }

    /// <summary>Datagrams per recvmmsg call, 1 to 1024. Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Largest datagram kept whole, 1 to 65535 bytes; longer ones arrive truncated and flagged. Default 65535.</summary>
    public int MaxDatagramSize { get; init; } = 65535;

    /// <summary>SO_RCVBUF in bytes (SO_RCVBUFFORCE when privileged); 0 keeps the kernel default.</summary>
    public int ReceiveBufferSize { get; init; }

    /// <summary>
    /// Ask for each datagram's <c>skb-&gt;priority</c> (SO_RCVPRIORITY, Linux 6.14+; default true). On an older kernel
    /// the receiver works without it: <see cref="PacketReceiver.ReportsPriority"/> is false and no datagram has a priority.
    /// </summary>
    public bool ReceivePriority { get; init; } = true;

    /// <summary>
    /// Ask for each datagram's <c>skb-&gt;mark</c> (SO_RCVMARK, Linux 5.19+; default false). A sender using
    /// <see cref="PriorityStrategy.MarkAndBpf"/> puts the priority in the mark, so on loopback the mark is the priority.
    /// <see cref="PacketReceiver.ReportsMark"/> says whether the kernel took it.
    /// </summary>
    public bool ReceiveMark { get; init; }

    /// <summary>
    /// Ask for each datagram's IPv4 TOS or IPv6 traffic class byte (IP_RECVTOS / IPV6_RECVTCLASS; default false), whose
    /// upper six bits are the DSCP: what a gateway maps to a priority when the kernel cannot report one.
    /// </summary>
    public bool ReceiveTrafficClass { get; init; }

    /// <summary>
    /// Turn on UDP GRO (UDP_GRO, Linux 5.0+; default false): the kernel hands over runs of datagrams from one sender
    /// coalesced in one buffer (and a GSO message sent over loopback arrives whole), which the receiver splits at the
    /// gso_size it reports: fewer, larger receives for the same datagrams. Each buffer is then 64 KiB. On a kernel
    /// without it the receiver works on and <see cref="PacketReceiver.Gro"/> is false.
    /// </summary>
    public bool Gro { get; init; }

    /// <summary>
    /// Set SO_REUSEPORT before binding (default false), so several receivers, one per thread, can share one address and
    /// port; the kernel spreads flows across them. That is how a gateway spreads its input across cores.
    /// </summary>
    public bool ReusePort { get; init; }

    internal void Validate()
    {
        if (LocalAddress.IsEmpty)
        {
            ThrowHelper.ThrowArgument("LocalAddress is required.", nameof(LocalAddress));
        }

        if (BatchSize < 1 || BatchSize > Interop.UIO_MAXIOV)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(BatchSize), "BatchSize must be 1 to 1024.");
        }

        if (MaxDatagramSize < 1 || MaxDatagramSize > 65535)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxDatagramSize), "MaxDatagramSize must be 1 to 65535 bytes.");
        }

        if (ReceiveBufferSize < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(ReceiveBufferSize), "ReceiveBufferSize must not be negative.");
        }
    }
}
