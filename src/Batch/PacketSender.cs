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


    private long _tail;      // enqueue ordinal of the next datagram
    private long _head;      // enqueue ordinal of the oldest datagram not yet ended
    private int _endedAhead; // a flush grouped by priority: datagrams past _head that ended before it
    private bool _reserved;  // a TryReserve is outstanding on slot _tail

    private readonly PriorityPath _path;
    private readonly bool _admits; // the path checks each datagram's priority before it is queued (SocketPerPriority)
    private readonly bool _trafficClass; // each slot carries its own DSCP and ECN
    private readonly bool _txTime;       // each slot carries its own launch time

    private PacketSender(PacketSenderOptions options, SafeFdHandle socket, SlotRing ring, SendPlanner planner, SendBackend backend, PriorityPath path, PriorityCapabilities caps, DatagramAddress local)
    {
        _planner = planner;
        _path = path;
        _admits = path.Admits;
        _trafficClass = ring.CarriesTrafficClass;
        _txTime = ring.CarriesTxTime;
        _socket = socket;
        _ring = ring;
        _backend = backend;
        _results = new int[options.BatchSize];
        _mask = options.RingSize - 1;
        _batch = options.BatchSize;
        _autoFlushAt = options.BatchSize;
        _maxPayload = options.MaxDatagramSize;
        _connected = !options.ConnectTo.IsEmpty;
        _autoFlush = options.AutoFlush;
        _family = options.AddressFamily;
        _wouldBlockTimeoutMs = (int)Math.Min(options.WouldBlockTimeout.TotalMilliseconds, int.MaxValue);
        _failureLog = new FailedPacket[options.FailureLogCapacity];
        _waiter = new ReadinessWaiter();
        _timestamps = options.TxTimestamps ? new TxTimestampTracker(options.TxTimestampCapacity, options.TxTimestampTimeout, options.ReportQdiscDrops) : null;
        _reportsDrops = options.ReportQdiscDrops;
        Capabilities = caps;
        LocalAddress = local;
        RemoteAddress = options.ConnectTo;
        PerPacketPriority = options.PerPacketPriority;
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

        return TryEnqueueCore(payload, priority, 0, NoTxTime, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues a copy of <paramref name="payload"/> with its own <paramref name="priority"/> and <paramref name="destination"/> on an unconnected sender.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="ArgumentException">Bad payload size, a destination of the wrong family, or a connected sender.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        return TryEnqueueCore(payload, priority, 0, NoTxTime, in destination);
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

        CommitCore(length, priority, 0, NoTxTime, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> to <paramref name="destination"/>.</summary>
    public void Commit(int length, uint priority, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        CommitCore(length, priority, 0, NoTxTime, in destination);
    }

    private bool TryEnqueueCore(ReadOnlySpan<byte> payload, uint priority, byte trafficClass, long txTime, ref readonly DatagramAddress destination)
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
        Publish(index, priority, trafficClass, txTime, in destination);
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
    internal unsafe bool TryEnqueueReference(byte* payload, int length, uint priority, byte trafficClass, byte* header, int headerLength)
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
        Publish(index, priority, trafficClass, NoTxTime, in Unsafe.NullRef<DatagramAddress>());
        return true;
    }

    /// <summary>Queued datagrams whose payload lies outside the ring (<see cref="TryEnqueueReference"/>).</summary>
    internal int QueuedReferences => _ring.References;

    private void CommitCore(int length, uint priority, byte trafficClass, long txTime, ref readonly DatagramAddress destination)
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
        Publish(index, priority, trafficClass, txTime, in destination);
        _reserved = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Publish(int index, uint priority, byte trafficClass, long txTime, ref readonly DatagramAddress destination)
    {
        if (_txTime != (txTime != NoTxTime))
        {
            ReleaseReference(index); // nothing is queued
            ThrowTxTimeMismatch();
        }

        // SocketPerPriority: the priority's socket must exist before the datagram is queued; a full pool throws here,
        // with nothing queued (a referenced slot is pointed back at its own payload area first).
        if (_admits)
        {
            Admit(index, priority);
        }

        _ring.SetPriority(index, priority);
        if (_trafficClass)
        {
            _ring.SetTrafficClass(index, trafficClass);
        }

        if (_txTime)
        {
            _ring.SetTxTime(index, txTime);
        }

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

    private void Admit(int index, uint priority)
    {
        try
        {
            _path.Admit(priority);
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
        if (_ring.References != 0)
        {
            _ring.Restore(index);
        }
    }

    /// <summary>Whether a datagram can be queued now (when full with auto-flush, after one non-blocking send).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool HasFreeSlot()
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
