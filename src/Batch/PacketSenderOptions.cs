using System.Net.Sockets;

namespace Perf.Batch;

/// <summary>How a <see cref="PacketSender"/> is built. Read once at creation; later changes have no effect.</summary>
public sealed record PacketSenderOptions
{
    /// <summary>IPv4 (default) or IPv6. Must agree with <see cref="LocalAddress"/> and <see cref="ConnectTo"/> when they are set.</summary>
    public AddressFamily AddressFamily { get; init; } = AddressFamily.InterNetwork;

    /// <summary>Local address to bind; unset binds the wildcard address with an ephemeral port.</summary>
    public DatagramAddress LocalAddress { get; init; }

    /// <summary>Connects the socket to this destination; every datagram then goes there and carries no address of its own.</summary>
    public DatagramAddress ConnectTo { get; init; }

    /// <summary>Number of slots: a power of two from 64 to 65536. Default 1024.</summary>
    public int RingSize { get; init; } = 1024;

    /// <summary>Largest payload a slot holds, 1 to 65507 bytes. Default 2048.</summary>
    public int MaxDatagramSize { get; init; } = 2048;

    /// <summary>Datagrams per sendmmsg call, 1 to 1024 (UIO_MAXIOV) and at most <see cref="RingSize"/>. Default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// When true (default), an enqueue that completes a batch sends it at once, without waiting if the kernel pushes back.
    /// When false, datagrams leave only on <see cref="PacketSender.Flush"/> or <see cref="PacketSender.FlushAsync"/>.
    /// </summary>
    public bool AutoFlush { get; init; } = true;

    /// <summary>
    /// Give every datagram its own priority (default), by <see cref="PriorityStrategy"/>. When false, datagrams take the
    /// socket's priority and the priority given at enqueue is only recorded.
    /// </summary>
    public bool PerPacketPriority { get; init; } = true;

    /// <summary>
    /// Give every datagram its own DSCP and ECN (the IP TOS byte, or the IPv6 traffic class), given at enqueue: an IP_TOS
    /// or IPV6_TCLASS cmsg ahead of the priority cmsg, so the priority still wins (an IP_TOS cmsg alone would set the
    /// datagram's priority to the kernel's <c>rt_tos2priority(tos)</c>). Needs the priority in a cmsg:
    /// <see cref="PriorityStrategy.Cmsg"/> (Linux 6.14+) or <see cref="PriorityStrategy.MarkAndBpf"/>, whose classifier
    /// sets it after the IP layer; Create refuses the socket strategies, saying so. Datagrams enqueued without one get 0.
    /// </summary>
    public bool PerPacketTrafficClass { get; init; }

    /// <summary>How datagrams get their priority: Auto (default), Cmsg, SocketPerPriority, SetsockoptPerRun or MarkAndBpf.</summary>
    public PriorityStrategy PriorityStrategy { get; init; } = PriorityStrategy.Auto;

    /// <summary>Tells Auto that the mark-to-priority classifier is attached to the egress device, so it may pick MarkAndBpf.</summary>
    public bool ClassifierAttached { get; init; }

    /// <summary>
    /// When false (default), a flush gathers what is queued by (priority, destination), keeping the order within each,
    /// so datagrams of one priority leave together: as UDP GSO runs where segmentation is on, and in one call per
    /// priority under SocketPerPriority and SetsockoptPerRun. Across priorities it reorders, as any priority qdisc would.
    /// When true, datagrams leave in exact enqueue order: runs form only from neighbours, and the socket strategies pay
    /// one call per run of equal priority.
    /// </summary>
    public bool StrictPriorityOrder { get; init; }

    /// <summary>
    /// UDP GSO (Auto by default: on where the kernel takes it). Runs of datagrams with the same priority, destination and
    /// length (the last may be shorter; neighbours after grouping, see <see cref="StrictPriorityOrder"/>) leave as one UDP_SEGMENT message, up to the kernel's segment
    /// limit and 65507 bytes; each datagram keeps its priority and its own result.
    /// </summary>
    public SegmentationMode Segmentation { get; init; } = SegmentationMode.Auto;

    /// <summary>
    /// Most datagrams one UDP GSO message carries, 2 to 128; the kernel's own limit (probed) caps it. Default 64, the
    /// fastest measured (runs of 64 against 128, in C and C#: docs/performance.md, from bench/results).
    /// </summary>
    public int MaxSegments { get; init; } = 64;

    /// <summary>SocketPerPriority: at most this many sockets (distinct priorities) at once, 1 to 1024. Default 16.</summary>
    public int MaxPrioritySockets { get; init; } = 16;

    /// <summary>SocketPerPriority: a priority's socket unused this long is closed when the ring is empty. Default 30 s.</summary>
    public TimeSpan PrioritySocketIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one flush waits for the kernel to accept more (EAGAIN, ENOBUFS) without any progress. Default 5 s.</summary>
    public TimeSpan WouldBlockTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Turn on IP_RECVERR (IPV6_RECVERR), so a datagram the qdisc or device queue drops comes back as ENOBUFS: then a
    /// per-datagram failure with that errno, where it is otherwise a silent success (default false). The kernel then
    /// also queues ICMP errors on the socket and reports them on later sends (ECONNREFUSED even unconnected).
    /// </summary>
    public bool ReportQdiscDrops { get; init; }

    /// <summary>
    /// Transmit timestamps for every datagram (default false): SO_TIMESTAMPING with TX_SCHED and TX_SOFTWARE, matched
    /// to datagrams by OPT_ID, so <see cref="PacketSender.DrainTxTimestamps"/> tells when each entered the qdisc and
    /// when the driver took it. One kernel message is one skb: a UDP GSO run's datagrams share one pair. The sender reads
    /// its error queue after every send call. Needs one socket: Auto then avoids SocketPerPriority (SetsockoptPerRun
    /// instead), and SocketPerPriority asked for is refused.
    /// </summary>
    public bool TxTimestamps { get; init; }

    /// <summary>
    /// Give every datagram its own launch time (default false): SO_TXTIME on the socket and an SCM_TXTIME cmsg on each
    /// datagram, given at enqueue in ns of <see cref="TxTimeClock"/> (<see cref="DatagramInfo.TxTimeNs"/>). etf sends each datagram at its time less its delta and drops
    /// one it can no longer send in time; fq holds each until its time. One GSO run is one skb with one launch time, so
    /// only datagrams with equal times form runs. With <see cref="TxTimestamps"/>, etf's drops come back
    /// (SOF_TXTIME_REPORT_ERRORS) as <see cref="TxTimestamp.TxTimeDrop"/>. Needs one socket, as TxTimestamps does.
    /// Linux 4.19+.
    /// </summary>
    public bool TxTime { get; init; }

    /// <summary>TxTime: the clock of the launch times. <see cref="Perf.Batch.TxTimeClock.Tai"/> (default, for etf) needs CAP_NET_ADMIN.</summary>
    public TxTimeClock TxTimeClock { get; init; } = TxTimeClock.Tai;

    /// <summary>TxTimestamps: records kept until drained, rounded up to a power of two; the oldest give way when full. Default 65536.</summary>
    public int TxTimestampCapacity { get; init; } = 65536;

    /// <summary>TxTimestamps: how long a record waits for its SND report (a qdisc may drop the datagram) before it is drained incomplete. Default 5 s.</summary>
    public TimeSpan TxTimestampTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>SO_SNDBUF in bytes (SO_SNDBUFFORCE when privileged); 0 keeps the kernel default.</summary>
    public int SendBufferSize { get; init; }

    /// <summary>The kernel interface: Auto (default), Sendmmsg or IoUring.</summary>
    public SendBackendKind Backend { get; init; } = SendBackendKind.Auto;

    /// <summary>io_uring settings, used when the io_uring backend runs.</summary>
    public IoUringOptions IoUring { get; init; } = new();

    /// <summary>How many failed-packet records are kept for <see cref="PacketSender.DrainFailures"/>; older ones are counted and dropped. Default 1024.</summary>
    public int FailureLogCapacity { get; init; } = 1024;

    internal const int MinRingSize = 64;
    internal const int MaxRingSize = 65536;

    internal void Validate()
    {
        ValidateAddresses();
        ValidateSizes();
        ValidateChoices();
    }

    private void ValidateAddresses()
    {
        if (AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            ThrowHelper.ThrowArgument("AddressFamily must be InterNetwork or InterNetworkV6.", nameof(AddressFamily));
        }

        if (!LocalAddress.IsEmpty && LocalAddress.AddressFamily != AddressFamily)
        {
            ThrowHelper.ThrowArgument("LocalAddress " + LocalAddress.ToString() + " is not of AddressFamily " + AddressFamily.ToString() + ".", nameof(LocalAddress));
        }

        if (!ConnectTo.IsEmpty && ConnectTo.AddressFamily != AddressFamily)
        {
            ThrowHelper.ThrowArgument("ConnectTo " + ConnectTo.ToString() + " is not of AddressFamily " + AddressFamily.ToString() + ".", nameof(ConnectTo));
        }
    }

    private void ValidateSizes()
    {
        if (RingSize < MinRingSize || RingSize > MaxRingSize || (RingSize & (RingSize - 1)) != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(RingSize), "RingSize must be a power of two from 64 to 65536.");
        }

        if (MaxDatagramSize < 1 || MaxDatagramSize > SlotLayout.MaxUdpPayload)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxDatagramSize), "MaxDatagramSize must be 1 to 65507 bytes.");
        }

        if (BatchSize < 1 || BatchSize > Interop.UIO_MAXIOV || BatchSize > RingSize)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(BatchSize), "BatchSize must be 1 to 1024 and at most RingSize.");
        }

        if (WouldBlockTimeout < TimeSpan.Zero)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(WouldBlockTimeout), "WouldBlockTimeout must not be negative.");
        }

        if (SendBufferSize < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(SendBufferSize), "SendBufferSize must not be negative.");
        }

        if (MaxSegments is < 2 or > 128)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxSegments), "MaxSegments must be 2 to 128.");
        }

        if (MaxPrioritySockets is < 1 or > 1024)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxPrioritySockets), "MaxPrioritySockets must be 1 to 1024.");
        }

        if (TxTimestampCapacity is < 64 or > (1 << 24))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(TxTimestampCapacity), "TxTimestampCapacity must be 64 to 16777216.");
        }

        if (TxTimestampTimeout <= TimeSpan.Zero)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(TxTimestampTimeout), "TxTimestampTimeout must be positive.");
        }

        if (FailureLogCapacity < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(FailureLogCapacity), "FailureLogCapacity must not be negative.");
        }
    }

    private void ValidateChoices()
    {
        if (!Enum.IsDefined(Backend))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(Backend), "Backend must be Auto, Sendmmsg or IoUring.");
        }

        ArgumentNullException.ThrowIfNull(IoUring, nameof(IoUring));
        if (IoUring.SqPollIdleMs < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(IoUring), "IoUring.SqPollIdleMs must not be negative.");
        }

        if (!Enum.IsDefined(TxTimeClock))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(TxTimeClock), "TxTimeClock must be Tai or Monotonic.");
        }

        if (!Enum.IsDefined(PriorityStrategy))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(PriorityStrategy), "PriorityStrategy is not one of Auto, Cmsg, SocketPerPriority, SetsockoptPerRun, MarkAndBpf.");
        }

        if (!Enum.IsDefined(Segmentation))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(Segmentation), "Segmentation must be Auto, On or Off.");
        }
    }
}
