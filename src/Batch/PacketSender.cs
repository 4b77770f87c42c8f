using System.ComponentModel;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// Sends UDP datagrams in batches, each with its own <c>skb-&gt;priority</c>, from a ring of preallocated native slots.
/// </summary>
/// <remarks>
/// <para>Producers fill slots with <see cref="TryEnqueue(ReadOnlySpan{byte}, in DatagramInfo)"/> (copy) or
/// <see cref="TryReserve"/> + <see cref="Commit(int, in DatagramInfo)"/> (write in place); a <see cref="DatagramInfo"/>
/// describes each datagram (its priority, traffic class and launch time). Slots leave in batches of
/// <see cref="PacketSenderOptions.BatchSize"/> through one sendmmsg call each. A full ring makes enqueue return false;
/// nothing is ever dropped silently: every datagram ends as sent or as failed with its errno.</para>
/// <para>Not thread-safe: one thread (or one logical flow of async calls) drives a sender. The one exception is
/// <see cref="Dispose"/>, which may come from any thread at any moment: a call running then ends with its result or
/// <see cref="ObjectDisposedException"/>, a waiting flush stops within 100 ms (an async one at once), and the sender
/// is torn down by the last of them, so no call runs on freed memory.</para>
/// <para>Steady-state enqueue and flush allocate nothing.</para>
/// </remarks>
public sealed partial class PacketSender : IDisposable, IGateOwner
{
    private readonly SafeFdHandle _socket;
    private readonly SlotRing _ring;
    private readonly SlotQueue _queue;
    private readonly SendLoop _loop;
    private readonly LifetimeGate _gate;
    private readonly FailureLog _failures;
    private readonly TimestampRecorder? _timestamps;
    private readonly ReadinessWaiter _waiter;
    private readonly int _maxPayload;
    private readonly bool _connected;
    private readonly bool _autoFlush;
    private readonly AddressFamily _family;
    private readonly int _wouldBlockTimeoutMs;
    private readonly bool _trafficClass; // each slot carries its own DSCP and ECN
    private readonly bool _txTime;       // each slot carries its own launch time

    private PacketSender(PacketSenderOptions options, SafeFdHandle socket, SlotRing ring, SlotQueue queue, SendLoop loop,
        FailureLog failures, TimestampRecorder? timestamps, PriorityCapabilities caps, DatagramAddress local)
    {
        _socket = socket;
        _ring = ring;
        _queue = queue;
        _loop = loop;
        _failures = failures;
        _timestamps = timestamps;
        _gate = new LifetimeGate(this);
        _waiter = new ReadinessWaiter();
        _trafficClass = ring.CarriesTrafficClass;
        _txTime = ring.CarriesTxTime;
        _maxPayload = options.MaxDatagramSize;
        _connected = !options.ConnectTo.IsEmpty;
        _autoFlush = options.AutoFlush;
        _family = options.AddressFamily;
        _wouldBlockTimeoutMs = (int)Math.Min(options.WouldBlockTimeout.TotalMilliseconds, int.MaxValue);
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
    public bool PreservesOrder => !_loop.Planner.Reordering;

    /// <summary>The backend object, for tests that look at what it did.</summary>
    internal SendBackend BackendInstance => _loop.Backend;

    /// <summary>The kernel interface in use: "sendmmsg" or "io_uring" (what Auto chose).</summary>
    public string Backend => _loop.Backend.Name;

    /// <summary>The backend in use (never Auto).</summary>
    public SendBackendKind BackendKind => _loop.Backend.Kind;

    /// <summary>Number of slots.</summary>
    public int Capacity => _queue.Capacity;

    /// <summary>Largest payload one datagram may carry.</summary>
    public int MaxDatagramSize => _maxPayload;

    /// <summary>Datagrams queued and not yet ended.</summary>
    public int PendingCount => _queue.Pending;

    /// <summary>Enqueue ordinal the next datagram will get; <see cref="FailedPacket.Sequence"/> refers to it.</summary>
    public long NextSequence => _queue.Tail;

    /// <summary>Queues a copy of <paramref name="payload"/>, described by <paramref name="info"/>, on a connected sender.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="ArgumentException">The payload is empty or larger than <see cref="MaxDatagramSize"/>, or <paramref name="info"/> asks for what the sender was not created for.</exception>
    /// <exception cref="InvalidOperationException">The sender is unconnected, or a slot is reserved.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, in DatagramInfo info)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        Validate(payload.Length, in info);
        return TryEnqueueCore(payload, in info, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues a copy of <paramref name="payload"/>, described by <paramref name="info"/>, to <paramref name="destination"/> on an unconnected sender.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="ArgumentException">Bad payload size, <paramref name="info"/> asks for what the sender was not created for, a destination of the wrong family, or a connected sender.</exception>
    public bool TryEnqueue(ReadOnlySpan<byte> payload, in DatagramInfo info, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        Validate(payload.Length, in info);
        return TryEnqueueCore(payload, in info, in destination);
    }

    /// <summary>Queues a copy of <paramref name="payload"/> with <paramref name="priority"/>: the same as passing it as a <see cref="DatagramInfo"/>.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    [EditorBrowsable(EditorBrowsableState.Never)] // shipped in 0.1; a bare uint priority still binds here, inlined into the DatagramInfo form
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority) => TryEnqueue(payload, new DatagramInfo(priority));

    /// <summary>Queues a copy of <paramref name="payload"/> with <paramref name="priority"/> to <paramref name="destination"/>: the same as passing it as a <see cref="DatagramInfo"/>.</summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    [EditorBrowsable(EditorBrowsableState.Never)] // shipped in 0.1; a bare uint priority still binds here, inlined into the DatagramInfo form
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnqueue(ReadOnlySpan<byte> payload, uint priority, in DatagramAddress destination) =>
        TryEnqueue(payload, new DatagramInfo(priority), in destination);

    /// <summary>Reserves the next slot and hands out its payload area (<see cref="MaxDatagramSize"/> bytes) to write in place.</summary>
    /// <returns>False when the ring is full. Finish with <see cref="Commit(int, in DatagramInfo)"/> or <see cref="CancelReservation"/>.</returns>
    /// <remarks>
    /// Safety: the span is the caller's until it commits or cancels. A <see cref="Dispose"/> from another thread
    /// meanwhile leaves the ring mapped; the next call (which then throws <see cref="ObjectDisposedException"/>) frees it.
    /// </remarks>
    public bool TryReserve(out Span<byte> payload)
    {
        _gate.Enter();
        ThrowIfReserved();
        if (!ClaimSlot())
        {
            _gate.Exit();
            payload = default;
            return false;
        }

        _queue.Reserve();
        payload = _ring.Payload(_queue.TailIndex);
        _gate.ExitHolding();
        return true;
    }

    /// <summary>Gives back a slot taken by <see cref="TryReserve"/> without sending it; nothing is queued.</summary>
    public void CancelReservation()
    {
        _gate.Enter();
        _queue.CancelReservation();
        _gate.ExitReleasing();
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes, described by <paramref name="info"/> (connected sender).</summary>
    /// <exception cref="ArgumentException">Bad length, or <paramref name="info"/> asks for what the sender was not created for; the reservation stands.</exception>
    public void Commit(int length, in DatagramInfo info)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        Validate(length, in info);
        CommitCore(length, in info, in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes, described by <paramref name="info"/>, to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">Bad length or destination, or <paramref name="info"/> asks for what the sender was not created for; the reservation stands.</exception>
    public void Commit(int length, in DatagramInfo info, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        Validate(length, in info);
        CommitCore(length, in info, in destination);
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/>: the same as passing it as a <see cref="DatagramInfo"/>.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)] // shipped in 0.1; a bare uint priority still binds here, inlined into the DatagramInfo form
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Commit(int length, uint priority) => Commit(length, new DatagramInfo(priority));

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/> to <paramref name="destination"/>: the same as passing it as a <see cref="DatagramInfo"/>.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)] // shipped in 0.1; a bare uint priority still binds here, inlined into the DatagramInfo form
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Commit(int length, uint priority, in DatagramAddress destination) => Commit(length, new DatagramInfo(priority), in destination);

    // No exception handling on this path: nothing between Enter and Exit throws but a send, which leaves the gate itself.
    private bool TryEnqueueCore(ReadOnlySpan<byte> payload, in DatagramInfo info, ref readonly DatagramAddress destination)
    {
        _gate.Enter();
        ThrowIfReserved();
        if (!ClaimSlot())
        {
            _gate.Exit();
            return false;
        }

        int index = _queue.TailIndex;
        payload.CopyTo(_ring.Payload(index));
        _ring.SetLength(index, payload.Length);
        Publish(index, in info, in destination);
        _gate.Exit();
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
    internal unsafe bool TryEnqueueReference(byte* payload, int length, in DatagramInfo info, byte* header, int headerLength)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        Validate(length + headerLength, in info);
        _gate.Enter();
        ThrowIfReserved();
        if (!ClaimSlot())
        {
            _gate.Exit();
            return false;
        }

        int index = _queue.TailIndex;
        _ring.SetReference(index, payload, length, header, headerLength);
        Publish(index, in info, in Unsafe.NullRef<DatagramAddress>());
        _gate.Exit();
        return true;
    }

    /// <summary>Queued datagrams whose payload lies outside the ring (<see cref="TryEnqueueReference"/>).</summary>
    internal int QueuedReferences => _ring.References;

    private void CommitCore(int length, in DatagramInfo info, ref readonly DatagramAddress destination)
    {
        _gate.Enter();
        if (!_queue.IsReserved)
        {
            _gate.Exit();
            ThrowHelper.ThrowInvalidOperation("Commit without a reserved slot; call TryReserve first.");
        }

        int index = _queue.TailIndex;
        _ring.SetLength(index, length);
        Publish(index, in info, in destination);
        _gate.ExitReleasing();
    }

    /// <summary>A free tail slot; with auto-flush, a full ring gets one non-blocking send first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ClaimSlot()
    {
        if (_queue.HasFreeSlot)
        {
            return true;
        }

        if (_autoFlush)
        {
            SendFullBatches();
        }

        return _queue.HasFreeSlot;
    }

    /// <summary>Auto-flush: one non-blocking pass over full batches. A send that throws leaves the gate on its way out.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SendFullBatches()
    {
        try
        {
            _loop.SendQueued(fullBatchesOnly: true);
        }
        catch
        {
            _gate.ExitReleasing(); // no hold is out here but a Commit's, which this call ends
            throw;
        }
    }

    // After Enter, so a call after Dispose gets ObjectDisposedException first; leaves the gate before it throws.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfReserved()
    {
        if (_queue.IsReserved)
        {
            _gate.Exit();
            ThrowHelper.ThrowInvalidOperation("A slot is reserved; commit it before enqueueing another datagram.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Publish(int index, in DatagramInfo info, ref readonly DatagramAddress destination)
    {
        _ring.SetPriority(index, info.Priority);
        if (_trafficClass)
        {
            _ring.SetTrafficClass(index, info.TrafficClass);
        }

        if (_txTime)
        {
            _ring.SetTxTime(index, info.TxTimeNs);
        }

        if (!Unsafe.IsNullRef(in destination))
        {
            _ring.SetDestination(index, in destination);
        }

        _queue.Publish();
        if (_autoFlush && _loop.HasFullBatch)
        {
            SendFullBatches();
        }
    }

    /// <summary>Whether a datagram can be queued now, without sending anything.</summary>
    internal bool HasFreeSlot => _queue.HasFreeSlot;
}
