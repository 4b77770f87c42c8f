using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// Sends UDP datagrams in batches, each with its own <c>skb-&gt;priority</c>, from a ring of preallocated native slots.
/// </summary>
/// <remarks>
/// <para>Producers fill slots with <see cref="TryEnqueue(ReadOnlySpan{byte}, uint)"/> (copy) or
/// <see cref="TryReserve"/> + <see cref="Commit(int, uint)"/> (write in place). Slots leave in batches of
/// <see cref="PacketSenderOptions.BatchSize"/> through one sendmmsg call each. A full ring makes enqueue return false;
/// nothing is ever dropped silently: every datagram ends as sent or as failed with its errno.</para>
/// <para>Not thread-safe: one thread (or one logical flow of async calls) drives a sender. The one exception is
/// <see cref="Dispose"/>, which may come from another thread while a flush waits on the kernel; the flush then stops
/// within 100 ms and the sender is torn down when it returns.</para>
/// <para>Steady-state enqueue and flush allocate nothing.</para>
/// </remarks>
public sealed partial class PacketSender : IDisposable
{
    private readonly SafeFdHandle _socket;
    private readonly SlotRing _ring;
    private readonly SendBackend _backend;
    private readonly SendPlanner _planner;
    private readonly int[] _results;
    private readonly int _mask;
    private readonly int _batch;
    private int _autoFlushAt; // queued datagrams that make a batch: BatchSize messages per group, as the last plan cut them
    private readonly int _maxPayload;
    private readonly bool _connected;
    private readonly bool _autoFlush;
    private readonly AddressFamily _family;
    private readonly int _wouldBlockTimeoutMs;

    private readonly bool[] _referenced; // slots pointing at a payload outside the ring (TryEnqueueReference)
    private int _references;             // how many of them are queued

    private long _tail;      // enqueue ordinal of the next datagram
    private long _head;      // enqueue ordinal of the oldest datagram not yet ended
    private int _endedAhead; // a flush grouped by priority: datagrams past _head that ended before it
    private bool _reserved;  // a TryReserve is outstanding on slot _tail

    private readonly PriorityStrategy _strategy;
    private readonly PrioritySocketPool? _pool;   // SocketPerPriority only
    private long _socketPriority = -1;             // SetsockoptPerRun: the priority last set on _socket

    private PacketSender(PacketSenderOptions options, SafeFdHandle socket, SlotRing ring, SendPlanner planner, SendBackend backend, PrioritySocketPool? pool, PriorityCapabilities caps, DatagramAddress local)
    {
        _planner = planner;
        _strategy = options.PerPacketPriority ? caps.Strategy : PriorityStrategy.Auto;
        _pool = pool;
        _socket = socket;
        _ring = ring;
        _backend = backend;
        _results = new int[options.BatchSize];
        _referenced = new bool[options.RingSize];
        _mask = options.RingSize - 1;
        _batch = options.BatchSize;
        _autoFlushAt = options.BatchSize;
        _maxPayload = options.MaxDatagramSize;
        _connected = !options.ConnectTo.IsEmpty;
        _autoFlush = options.AutoFlush;
        _family = options.AddressFamily;
        _wouldBlockTimeoutMs = (int)Math.Min(options.WouldBlockTimeout.TotalMilliseconds, int.MaxValue);
        _failureLog = new FailedPacket[options.FailureLogCapacity];
        _waiter = new WritableWaiter();
        Capabilities = caps;
        LocalAddress = local;
        RemoteAddress = options.ConnectTo;
        PerPacketPriority = options.PerPacketPriority;
    }

    /// <summary>
    /// Creates a sender: probes the kernel's priority capabilities, opens and binds (and optionally connects) a
    /// non-blocking UDP socket, and allocates the slot ring.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range or inconsistent.</exception>
    /// <exception cref="PerfSocketException">A setup call failed, or the kernel lacks the per-packet SO_PRIORITY cmsg (before 6.14).</exception>
    public static PacketSender Create(PacketSenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        PriorityCapabilities caps = CapabilityProbe.Probe();
        PriorityStrategy strategy = ResolveStrategy(options, caps, out string reason);
        caps = caps.WithStrategy(strategy, reason);

        int maxSegments = ResolveSegmentation(options, caps);
        SafeFdHandle? socket = null;
        SlotRing? ring = null;
        SendPlanner? planner = null;
        SendBackend? backend = null;
        PrioritySocketPool? pool = null;
        try
        {
            socket = UdpSocket.Create(options.AddressFamily);
            UdpSocket.SetBufferSize(socket, send: true, options.SendBufferSize);
            UdpSocket.ReportDrops(socket, options);
            if (options.PerPacketPriority && strategy == PriorityStrategy.SocketPerPriority)
            {
                // Every priority's socket binds the same local address and port, which needs SO_REUSEPORT on all of them.
                UdpSocket.SetInt(socket, Interop.SOL_SOCKET, Interop.SO_REUSEPORT, 1, "SO_REUSEPORT");
            }

            DatagramAddress bindTo = options.LocalAddress.IsEmpty
                ? new DatagramAddress(options.AddressFamily == AddressFamily.InterNetworkV6 ? System.Net.IPAddress.IPv6Any : System.Net.IPAddress.Any, 0)
                : options.LocalAddress;
            UdpSocket.Bind(socket, bindTo);
            if (!options.ConnectTo.IsEmpty)
            {
                UdpSocket.Connect(socket, options.ConnectTo);
            }

            DatagramAddress local = UdpSocket.GetLocalAddress(socket);
            int cmsgType = !options.PerPacketPriority ? 0 : strategy switch
            {
                PriorityStrategy.Cmsg => Interop.SO_PRIORITY,
                PriorityStrategy.MarkAndBpf => Interop.SO_MARK,
                _ => 0,
            };
            ring = new SlotRing(options.RingSize, options.MaxDatagramSize, cmsgType);
            bool grouped = options.PerPacketPriority && strategy is PriorityStrategy.SocketPerPriority or PriorityStrategy.SetsockoptPerRun;
            // SENDMSG_ZC pins a GSO run's pages as skb frags (MAX_SKB_FRAGS, 17 by default). A run over more pages fails
            // with EMSGSIZE on 6.12, and on 6.1 and 6.18 falls back to a copy that lost and duplicated datagrams of runs
            // over grouped (non-contiguous) slots: cap such runs at 16 segments and 17 pages.
            bool zeroCopy = options.IoUring.ZeroCopy && options.Backend != SendBackendKind.Sendmmsg;
            planner = new SendPlanner(ring, options.BatchSize, priorityCmsg: cmsgType != 0, grouped, reorder: !options.StrictPriorityOrder,
                zeroCopy ? Math.Min(maxSegments, 16) : maxSegments, MaxSegmentSize(socket, options), maxPages: zeroCopy ? 17 : 0);
            backend = CreateBackend(socket, options);
            if (options.PerPacketPriority && strategy == PriorityStrategy.SocketPerPriority)
            {
                pool = new PrioritySocketPool(options, local);
            }

            return new PacketSender(options, socket, ring, planner, backend, pool, caps, local);
        }
        catch
        {
            // Reverse order of acquisition.
            pool?.Dispose();
            backend?.Dispose();
            planner?.Dispose();
            ring?.Dispose();
            socket?.Dispose();
            throw;
        }
    }

    private static PriorityStrategy ResolveStrategy(PacketSenderOptions options, PriorityCapabilities caps, out string reason)
    {
        if (!options.PerPacketPriority)
        {
            reason = "per-packet priority is off (PerPacketPriority = false): datagrams take the socket's priority";
            return caps.Strategy;
        }

        PriorityStrategy strategy = options.PriorityStrategy;
        reason = "asked for (PriorityStrategy = " + strategy.ToString() + ")";
        if (strategy == PriorityStrategy.Auto)
        {
            strategy = AutoStrategy(options, caps, out reason);
        }

        if (strategy == PriorityStrategy.Cmsg && !caps.PerPacketPriority)
        {
            ThrowHelper.ThrowSocket("sendmsg with a SOL_SOCKET/SO_PRIORITY cmsg", caps.ProbeErrno,
                "This kernel does not accept a per-packet priority (it needs Linux 6.14 or later); use PriorityStrategy Auto, SocketPerPriority, SetsockoptPerRun or MarkAndBpf.");
        }

        if (strategy == PriorityStrategy.MarkAndBpf && !caps.PrivilegedPriorities)
        {
            ThrowHelper.ThrowSocket("sendmsg with a SOL_SOCKET/SO_MARK cmsg", Errno.EPERM,
                "MarkAndBpf puts an SO_MARK cmsg on every datagram, which needs CAP_NET_RAW or CAP_NET_ADMIN; this process has neither. Use SocketPerPriority instead.");
        }

        return strategy;
    }

    // Auto: the cmsg where the kernel takes it; before 6.14 the fastest fallback that works here: MarkAndBpf when the
    // classifier is on the route's egress device (0.98x of cmsg in bench/results), else SocketPerPriority.
    private static PriorityStrategy AutoStrategy(PacketSenderOptions options, PriorityCapabilities caps, out string reason)
    {
        if (caps.PerPacketPriority)
        {
            reason = "the kernel takes the per-packet SO_PRIORITY cmsg (Linux 6.14+)";
            return PriorityStrategy.Cmsg;
        }

        const string NoCmsg = "no per-packet SO_PRIORITY cmsg on this kernel (it came with Linux 6.14)";
        if (options.ClassifierAttached)
        {
            reason = NoCmsg + "; ClassifierAttached says mark_to_priority is on the egress device";
            return PriorityStrategy.MarkAndBpf;
        }

        string why;
        if (!caps.PrivilegedPriorities)
        {
            why = "MarkAndBpf needs CAP_NET_RAW or CAP_NET_ADMIN";
        }
        else if (options.ConnectTo.IsEmpty)
        {
            why = "an unconnected sender has no one route to look for the classifier on (set ClassifierAttached where it is attached)";
        }
        else
        {
            try
            {
                if (MarkClassifier.Check(options.ConnectTo, out string report))
                {
                    reason = NoCmsg + "; " + report;
                    return PriorityStrategy.MarkAndBpf;
                }

                why = report;
            }
            catch (PerfSocketException e)
            {
                why = "cannot look for the classifier: " + e.Message;
            }
        }

        reason = NoCmsg + "; " + why + "; SocketPerPriority needs nothing";
        return PriorityStrategy.SocketPerPriority;
    }

    private static int ResolveSegmentation(PacketSenderOptions options, PriorityCapabilities caps)
    {
        switch (options.Segmentation)
        {
            case SegmentationMode.Off:
                return 0;
            case SegmentationMode.On when !caps.Segmentation:
                ThrowHelper.ThrowSocket("sendmsg with a SOL_UDP/UDP_SEGMENT cmsg", Errno.EINVAL,
                    "This kernel does not take UDP GSO (it needs Linux 4.18 or later); use Segmentation Auto or Off.");
                return 0;
            default:
                return Math.Min(caps.MaxSegments, options.MaxSegments);
        }
    }

    // GSO cuts segments at the path MTU and refuses (EINVAL) a segment that does not fit it. A connected socket knows
    // its path MTU, so runs of larger datagrams are not formed there; elsewhere a refusal turns segmentation off.
    private static int MaxSegmentSize(SafeFdHandle socket, PacketSenderOptions options)
    {
        if (options.ConnectTo.IsEmpty || options.Segmentation == SegmentationMode.Off)
        {
            return int.MaxValue;
        }

        bool v6 = options.AddressFamily == AddressFamily.InterNetworkV6;
        int mtu = 0;
        uint len = sizeof(int);
        unsafe
        {
            if (Interop.Sys.GetSockOpt(socket, v6 ? Interop.SOL_IPV6 : Interop.SOL_IP, v6 ? Interop.IPV6_MTU : Interop.IP_MTU, &mtu, &len) != 0)
            {
                return int.MaxValue;
            }
        }

        return mtu - (v6 ? 48 : 28);
    }

    private static SendBackend CreateBackend(SafeFdHandle socket, PacketSenderOptions options)
    {
        // Auto takes io_uring only for what only it has: plain sends are faster through sendmmsg on every sink measured
        // (bench/results: io_uring SENDMSG at 0.79-0.86x of it, in C and C# alike).
        bool wantsUring = options.Backend == SendBackendKind.IoUring || options.IoUring.SqPoll || options.IoUring.ZeroCopy;
        if (options.Backend == SendBackendKind.Sendmmsg || !wantsUring)
        {
            return new SendmmsgBackend(options.ReportQdiscDrops);
        }

        ISendBackendProvider? uring = BackendRegistry.IoUring;
        int errno = Errno.ENOSYS;
        string? detail = "the Perf.Uring assembly is not part of this application";
        SendBackend? backend = uring?.TryCreate(socket, options, out errno, out detail);
        if (backend is not null)
        {
            return backend;
        }

        if (options.Backend == SendBackendKind.IoUring)
        {
            ThrowHelper.ThrowSocket("io_uring backend", errno, detail);
        }

        return new SendmmsgBackend(options.ReportQdiscDrops); // Auto: io_uring unavailable here, fall back silently
    }

    /// <summary>What the kernel and this process allow, probed at creation.</summary>
    public PriorityCapabilities Capabilities { get; }

    /// <summary>The bound local address, with the port the kernel chose.</summary>
    public DatagramAddress LocalAddress { get; }

    /// <summary>The connected destination; empty for an unconnected sender.</summary>
    public DatagramAddress RemoteAddress { get; }

    /// <summary>Whether each datagram gets its own priority (by <see cref="PriorityStrategy"/>).</summary>
    public bool PerPacketPriority { get; }

    /// <summary>How datagrams get their priority (what Auto resolved to); also in <see cref="Capabilities"/> and <see cref="Stats"/>.</summary>
    public PriorityStrategy PriorityStrategy => Capabilities.Strategy;

    /// <summary>
    /// Whether datagrams leave in exact enqueue order. False where a flush gathers the queue by priority and destination
    /// (the default wherever that makes GSO runs or saves socket changes; see
    /// <see cref="PacketSenderOptions.StrictPriorityOrder"/>): order then holds within each priority and destination.
    /// </summary>
    public bool PreservesOrder => !_planner.Reordering;

    /// <summary>The backend object, for tests that look at what it did.</summary>
    internal SendBackend BackendInstance => _backend;

    /// <summary>The kernel interface in use: "sendmmsg" or "io_uring" (what Auto chose).</summary>
    public string Backend => _backend.Name;

    /// <summary>The backend in use (never Auto).</summary>
    public SendBackendKind BackendKind => _backend.Kind;

    /// <summary>Number of slots.</summary>
    public int Capacity => _mask + 1;

    /// <summary>Largest payload one datagram may carry.</summary>
    public int MaxDatagramSize => _maxPayload;

    /// <summary>Datagrams queued and not yet ended.</summary>
    public int PendingCount => (int)(_tail - _head) - _endedAhead;

    /// <summary>Enqueue ordinal the next datagram will get; <see cref="FailedPacket.Sequence"/> refers to it.</summary>
    public long NextSequence => _tail;

    /// <summary>Queues a copy of <paramref name="payload"/> with its own <paramref name="priority"/> on a connected sender.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="ArgumentException">The payload is empty or larger than <see cref="MaxDatagramSize"/>, or the sender is unconnected.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        return TryEnqueueCore(payload, priority, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues a copy of <paramref name="payload"/> with its own <paramref name="priority"/> and <paramref name="destination"/> on an unconnected sender.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="ArgumentException">Bad payload size, a destination of the wrong family, or a connected sender.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        return TryEnqueueCore(payload, priority, in destination);
    }

    /// <summary>Reserves the next slot and hands out its payload area (<see cref="MaxDatagramSize"/> bytes) to write in place.</summary>
    /// <returns>False when the ring is full. Finish with <see cref="Commit(int, uint)"/> or <see cref="Commit(int, uint, in DatagramAddress)"/>.</returns>
    public bool TryReserve(out Span<byte> payload)
    {
        ThrowIfDisposed();
        if (_reserved)
        {
            ThrowHelper.ThrowInvalidOperation("A slot is already reserved; commit it first.");
        }

        if (!HasFreeSlot())
        {
            payload = default;
            return false;
        }

        _reserved = true;
        payload = _ring.Payload((int)_tail & _mask);
        return true;
    }

    /// <summary>Gives back a slot taken by <see cref="TryReserve"/> without sending it; nothing is queued.</summary>
    public void CancelReservation()
    {
        ThrowIfDisposed();
        _reserved = false;
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> (connected sender).</summary>
    public void Commit(int length, uint priority)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        CommitCore(length, priority, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> to <paramref name="destination"/>.</summary>
    public void Commit(int length, uint priority, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        CommitCore(length, priority, in destination);
    }

    private bool TryEnqueueCore(ReadOnlySpan<byte> payload, uint priority, ref readonly DatagramAddress destination)
    {
        ThrowIfDisposed();
        if ((uint)(payload.Length - 1) >= (uint)_maxPayload)
        {
            ThrowBadLength(payload.Length);
        }

        if (_reserved)
        {
            ThrowHelper.ThrowInvalidOperation("A slot is reserved; commit it before enqueueing another datagram.");
        }

        if (!HasFreeSlot())
        {
            return false;
        }

        int index = (int)_tail & _mask;
        payload.CopyTo(_ring.Payload(index));
        _ring.SetLength(index, payload.Length);
        Publish(index, priority, in destination);
        return true;
    }

    /// <summary>
    /// Queues a datagram whose payload stays where it is (a forwarder's receive buffer), after an optional
    /// <paramref name="header"/>: the kernel reads both in place (scatter-gather), nothing is copied. Connected senders only.
    /// </summary>
    /// <remarks>
    /// Safety: the caller keeps <paramref name="payload"/> and <paramref name="header"/> valid and unchanged until no
    /// reference is queued (<see cref="QueuedReferences"/> is 0: flushed, or ended by <see cref="FailQueued"/>).
    /// </remarks>
    /// <returns>False when the ring is full: flush, then try again. Nothing was queued.</returns>
    internal unsafe bool TryEnqueueReference(byte* payload, int length, uint priority, byte* header, int headerLength)
    {
        ThrowIfDisposed();
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        if ((uint)(length + headerLength - 1) >= (uint)_maxPayload)
        {
            ThrowBadLength(length + headerLength);
        }

        if (_reserved)
        {
            ThrowHelper.ThrowInvalidOperation("A slot is reserved; commit it before enqueueing another datagram.");
        }

        if (!HasFreeSlot())
        {
            return false;
        }

        int index = (int)_tail & _mask;
        _ring.SetReference(index, payload, length, header, headerLength);
        _referenced[index] = true;
        _references++;
        Publish(index, priority, in Unsafe.NullRef<DatagramAddress>());
        return true;
    }

    /// <summary>Queued datagrams whose payload lies outside the ring (<see cref="TryEnqueueReference"/>).</summary>
    internal int QueuedReferences => _references;

    private void CommitCore(int length, uint priority, ref readonly DatagramAddress destination)
    {
        ThrowIfDisposed();
        if (!_reserved)
        {
            ThrowHelper.ThrowInvalidOperation("Commit without a reserved slot; call TryReserve first.");
        }

        if ((uint)(length - 1) >= (uint)_maxPayload)
        {
            ThrowBadLength(length);
        }

        // Publish first: if it throws (a full SocketPerPriority pool) the reservation stands and nothing is queued.
        int index = (int)_tail & _mask;
        _ring.SetLength(index, length);
        Publish(index, priority, in destination);
        _reserved = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Publish(int index, uint priority, ref readonly DatagramAddress destination)
    {
        // SocketPerPriority: the priority's socket must exist before the datagram is queued; a full pool throws here,
        // with nothing queued (a referenced slot is pointed back at its own payload area first).
        if (_pool is not null)
        {
            EnsurePrioritySocket(index, priority);
        }

        _ring.SetPriority(index, priority);
        if (!Unsafe.IsNullRef(in destination))
        {
            _ring.SetDestination(index, in destination);
        }

        _tail++;
        if (_autoFlush && _tail - _head >= _autoFlushAt)
        {
            SendFullBatches();
        }
    }

    private void EnsurePrioritySocket(int index, uint priority)
    {
        try
        {
            _pool!.Ensure(priority);
        }
        catch
        {
            ReleaseReference(index);
            throw;
        }
    }

    /// <summary>Points a slot that referenced outside memory back at its own payload area once it has ended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReleaseReference(int index)
    {
        if (_referenced[index])
        {
            _referenced[index] = false;
            _references--;
            _ring.Restore(index);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool HasFreeSlot()
    {
        if (_tail - _head <= _mask)
        {
            return true;
        }

        // Full: with auto-flush, give the kernel one non-blocking chance before reporting back-pressure.
        if (_autoFlush)
        {
            SendFullBatches();
        }

        return _tail - _head <= _mask;
    }

    private void ValidateDestination(in DatagramAddress destination)
    {
        if (_connected)
        {
            ThrowHelper.ThrowArgument("This sender is connected to " + RemoteAddress.ToString() + "; per-datagram destinations are for unconnected senders. Nothing was queued.", nameof(destination));
        }

        if (destination.AddressFamily != _family)
        {
            ThrowWrongFamily(destination);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowWrongFamily(in DatagramAddress destination) =>
        ThrowHelper.ThrowArgument("Destination " + destination.ToString() + " is not " + _family.ToString() + ", the sender's family. Nothing was queued.", nameof(destination));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadLength(int length)
    {
        if (length <= 0)
        {
            ThrowHelper.ThrowEmptyPayload();
        }

        ThrowHelper.ThrowPayloadTooLarge(length, _maxPayload);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNeedsDestination() =>
        ThrowHelper.ThrowInvalidOperation("This sender is not connected: give each datagram a destination, or set ConnectTo. Nothing was queued.");
}
