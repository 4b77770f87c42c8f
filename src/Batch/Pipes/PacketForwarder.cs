using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Rewrites one received datagram into its outgoing slot. Return the output length (1 or more) to forward it, 0 to
/// drop it (a transform drop), or a negative value when it does not fit in <paramref name="output"/> (an oversize
/// drop). <paramref name="priority"/> arrives mapped and may be changed. Runs on the forwarding thread; an exception
/// ends <see cref="PacketForwarder.Run"/>. It must not allocate if the forwarder is to stay allocation-free.
/// </summary>
public delegate int ForwardTransform(ReadOnlySpan<byte> input, Span<byte> output, ref uint priority);

/// <summary>Why a forwarder dropped a datagram.</summary>
public enum ForwardDropReason
{
    /// <summary>The transform returned 0.</summary>
    Transform,

    /// <summary>The output (after the transform) is larger than the sender's MaxDatagramSize, or the transform returned a bad length.</summary>
    Oversize,

    /// <summary>The datagram was longer than the receive buffer and arrived truncated.</summary>
    Truncated,

    /// <summary>The sender failed it with an errno (see <see cref="PacketForwarder.GetSendFailures"/>).</summary>
    SendFailed,

    /// <summary>Cancellation came while the output ring was full and the kernel was not draining it.</summary>
    Shutdown,
}

/// <summary>What a forwarder reads from each received datagram to look up its outgoing priority in the <see cref="PriorityMap"/>.</summary>
public enum ForwardPriorityKey
{
    /// <summary>The received priority where the input reports it (6.14+), otherwise the mark where it reports it, otherwise the DSCP.</summary>
    Auto,

    /// <summary>The received <c>skb-&gt;priority</c> (SO_RCVPRIORITY, Linux 6.14+).</summary>
    Priority,

    /// <summary>The received mark (SO_RCVMARK, Linux 5.19+; the input needs <see cref="PacketReceiverOptions.ReceiveMark"/>).</summary>
    Mark,

    /// <summary>The received DSCP, 0–63 (the input needs <see cref="PacketReceiverOptions.ReceiveTrafficClass"/>).</summary>
    Dscp,
}

/// <summary>A snapshot of a forwarder's counters. <c>Received = Forwarded + Dropped + InFlight</c> at any time.</summary>
/// <param name="Received">Datagrams read from the input socket.</param>
/// <param name="Forwarded">Datagrams the kernel accepted on the output socket.</param>
/// <param name="Dropped">Datagrams dropped, each with a reason.</param>
/// <param name="InFlight">Datagrams queued on the output sender, not yet ended.</param>
public readonly record struct ForwarderStats(long Received, long Forwarded, long Dropped, long InFlight);

/// <summary>
/// The packet-forwarding loop a tunnel gateway needs: receive on one socket in batches (recvmmsg), transform each
/// datagram into an outgoing slot, and send on another socket in batches, each datagram keeping its received priority
/// or taking one from a <see cref="PriorityMap"/> looked up by its priority, mark or DSCP (<see cref="ForwardPriorityKey"/>).
/// </summary>
/// <remarks>
/// <para>Without a transform, datagrams are sent from the receive buffers themselves: each output slot's iovec points at
/// the received bytes, and an encapsulation header, if any, is a second iovec in front (scatter-gather, no copy). Only a
/// transform, which rewrites the payload, copies it into the output slot. A run of datagrams received together (UDP GRO
/// on the input) leaves together, as one UDP GSO message where the output segments.</para>
/// <para>Where the output sender carries a traffic class per datagram (<see cref="PacketSenderOptions.PerPacketTrafficClass"/>),
/// each datagram leaves with the DSCP and ECN it arrived with (the input's <see cref="PacketReceiverOptions.ReceiveTrafficClass"/>).</para>
/// <para>Nothing already read is lost to back-pressure: each received batch is sent (or failed with its errno) before
/// the next receive, and while the kernel pushes back the forwarder waits, reading nothing, until it drains or the
/// forwarder is cancelled (what is still queued then ends as failed with ECANCELED). Steady-state forwarding allocates
/// nothing. The forwarder drives both sockets from the thread that calls <see cref="Run"/>, or from the thread pool
/// between waits with <see cref="RunAsync"/>; it does not own them.</para>
/// </remarks>
public sealed unsafe partial class PacketForwarder
{
    private readonly PacketReceiver _input;
    private readonly PacketSender _output;
    private readonly PriorityMap _map;
    private readonly ForwardTransform? _transform;
    private readonly ForwardPriorityKey _key;
    private readonly byte[] _header; // pinned (POH): the output's iovecs point at it
    private readonly long[] _dropped = new long[5];
    private readonly long[] _perPriority = new long[PriorityBuckets];
    private long _received;

    /// <summary>Per-priority counts cover priorities 0..(this - 2); larger ones share the last bucket.</summary>
    public const int PriorityBuckets = 17;

    /// <summary>Creates a forwarder from <paramref name="input"/> to <paramref name="output"/> whose map looks up the <see cref="ForwardPriorityKey.Auto"/> key.</summary>
    /// <param name="input">The receiving socket.</param>
    /// <param name="output">The sending socket, connected.</param>
    /// <param name="map">Outgoing priority by the received priority (or mark, or DSCP: <see cref="ForwardPriorityKey.Auto"/>); null keeps it.</param>
    /// <param name="transform">Rewrites each datagram; null copies it as it is.</param>
    /// <exception cref="ArgumentException">The input receiver reports nothing the map could look up on this kernel.</exception>
    // As shipped in 0.1, defaults and all (a source and binary contract). RS0027 wants the longest overload to own the
    // defaults instead; here the newer one takes its key without a default, so no call can bind to both.
#pragma warning disable RS0027
    public PacketForwarder(PacketReceiver input, PacketSender output, PriorityMap? map = null, ForwardTransform? transform = null)
#pragma warning restore RS0027
        : this(input, output, ReadOnlySpan<byte>.Empty, map, transform, ForwardPriorityKey.Auto)
    {
    }

    /// <summary>Creates a forwarder from <paramref name="input"/> to <paramref name="output"/> whose map looks up <paramref name="key"/>.</summary>
    /// <param name="input">The receiving socket.</param>
    /// <param name="output">The sending socket, connected.</param>
    /// <param name="map">Outgoing priority by <paramref name="key"/>; null keeps the key's value.</param>
    /// <param name="transform">Rewrites each datagram; null copies it as it is.</param>
    /// <param name="key">What the map looks up.</param>
    /// <exception cref="ArgumentException">The input receiver does not report what <paramref name="key"/> needs on this kernel.</exception>
    public PacketForwarder(PacketReceiver input, PacketSender output, PriorityMap? map, ForwardTransform? transform, ForwardPriorityKey key)
        : this(input, output, ReadOnlySpan<byte>.Empty, map, transform, key)
    {
    }

    /// <summary>
    /// Creates a forwarder that puts <paramref name="encapsulationHeader"/> in front of every datagram it forwards (a
    /// tunnel header), sent as its own iovec next to the received payload: nothing is copied.
    /// </summary>
    /// <param name="input">The receiving socket.</param>
    /// <param name="output">The sending socket, connected.</param>
    /// <param name="encapsulationHeader">Bytes in front of every datagram; copied once here.</param>
    /// <param name="map">Outgoing priority by <paramref name="key"/>; null keeps the key's value.</param>
    /// <param name="key">What the map looks up: the received priority where the kernel reports it, by default.</param>
    /// <exception cref="ArgumentException">The input cannot report what <paramref name="key"/> needs, or the header leaves no room in the output's MaxDatagramSize.</exception>
    public static PacketForwarder Encapsulating(PacketReceiver input, PacketSender output, ReadOnlySpan<byte> encapsulationHeader, PriorityMap? map = null, ForwardPriorityKey key = ForwardPriorityKey.Auto) =>
        new(input, output, encapsulationHeader, map, transform: null, key);

    private PacketForwarder(PacketReceiver input, PacketSender output, ReadOnlySpan<byte> header, PriorityMap? map, ForwardTransform? transform, ForwardPriorityKey key)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (output.RemoteAddress.IsEmpty)
        {
            ThrowHelper.ThrowArgument("The output sender must be connected (ConnectTo): forwarded datagrams carry no destination of their own.", nameof(output));
        }

        if (header.Length >= output.MaxDatagramSize)
        {
            ThrowHelper.ThrowArgument("The encapsulation header (" + header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) +
                " bytes) leaves no room in the output's MaxDatagramSize.", nameof(header));
        }

        if (output.PerPacketTrafficClass && !input.ReportsTrafficClass)
        {
            ThrowHelper.ThrowArgument("The output carries each datagram's traffic class (PerPacketTrafficClass), which the forwarder takes from the input: set ReceiveTrafficClass on it.", nameof(input));
        }

        _key = ResolveKey(input, key);
        _input = input;
        _output = output;
        _map = map ?? PriorityMap.Identity;
        _transform = transform;
        _header = GC.AllocateArray<byte>(header.Length, pinned: true);
        header.CopyTo(_header);
    }

    /// <summary>What each datagram's outgoing priority is looked up by (<see cref="ForwardPriorityKey.Auto"/> resolved).</summary>
    public ForwardPriorityKey PriorityKey => _key;

    // Never a made-up priority: a key the input cannot report is refused here, not turned into 0 per datagram.
    private static ForwardPriorityKey ResolveKey(PacketReceiver input, ForwardPriorityKey key)
    {
        ForwardPriorityKey resolved = key switch
        {
            ForwardPriorityKey.Auto => input.ReportsPriority ? ForwardPriorityKey.Priority
                : input.ReportsMark ? ForwardPriorityKey.Mark
                : input.ReportsTrafficClass ? ForwardPriorityKey.Dscp
                : ForwardPriorityKey.Auto,
            ForwardPriorityKey.Priority or ForwardPriorityKey.Mark or ForwardPriorityKey.Dscp => key,
            _ => throw new ArgumentOutOfRangeException(nameof(key)),
        };
        bool reported = resolved switch
        {
            ForwardPriorityKey.Priority => input.ReportsPriority,
            ForwardPriorityKey.Mark => input.ReportsMark,
            ForwardPriorityKey.Dscp => input.ReportsTrafficClass,
            _ => false,
        };
        if (!reported)
        {
            ThrowHelper.ThrowArgument(
                resolved switch
                {
                    ForwardPriorityKey.Priority => "The input receiver reports no priority: that needs ReceivePriority and Linux 6.14+ (SO_RCVPRIORITY). Key the map by Mark or Dscp instead.",
                    ForwardPriorityKey.Mark => "The input receiver reports no mark: set ReceiveMark (SO_RCVMARK needs Linux 5.19+).",
                    ForwardPriorityKey.Dscp => "The input receiver reports no DSCP: set ReceiveTrafficClass.",
                    _ => "The input receiver reports no priority (SO_RCVPRIORITY needs Linux 6.14+), mark or DSCP: set ReceiveMark or ReceiveTrafficClass.",
                },
                nameof(input));
        }

        return resolved;
    }

    /// <summary>A snapshot of the counters (read from another thread, they may lag by a batch).</summary>
    public ForwarderStats Stats
    {
        get
        {
            SenderStats s = _output.Stats;
            long dropped = _dropped[(int)ForwardDropReason.Transform] + _dropped[(int)ForwardDropReason.Oversize] +
                _dropped[(int)ForwardDropReason.Truncated] + _dropped[(int)ForwardDropReason.Shutdown] + s.Failed;
            return new ForwarderStats(_received, s.Sent, dropped, s.Pending);
        }
    }

    /// <summary>Datagrams dropped for <paramref name="reason"/>.</summary>
    public long GetDropped(ForwardDropReason reason) => reason == ForwardDropReason.SendFailed ? _output.Stats.Failed : _dropped[(int)reason];

    /// <summary>Datagrams the output sender failed with <paramref name="errno"/>.</summary>
    public long GetSendFailures(int errno) => _output.GetFailureCount(errno);

    /// <summary>Datagrams received with key value <paramref name="priority"/> (the priority, mark or DSCP; before mapping).</summary>
    public long GetReceived(uint priority) => _perPriority[Math.Min(priority, PriorityBuckets - 1)];

    /// <summary>
    /// Forwards until <paramref name="cancellationToken"/> is cancelled, then flushes what is queued. Holds the calling
    /// thread throughout (a gateway that pins a thread per core); <see cref="RunAsync"/> holds none while it waits.
    /// </summary>
    /// <param name="cancellationToken">Stops the loop; checked at least every <paramref name="pollMs"/>.</param>
    /// <param name="pollMs">Longest wait for input before checking for cancellation.</param>
    public void Run(CancellationToken cancellationToken, int pollMs = 100)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            RunOnce(pollMs, cancellationToken);
        }

        _output.Flush();
    }

    /// <summary>
    /// One step of <see cref="Run"/>: waits up to <paramref name="pollMs"/> for a batch, forwards it, and sends it all
    /// (waiting while the kernel pushes back) before returning.
    /// </summary>
    /// <returns>Datagrams received in this step.</returns>
    public int RunOnce(int pollMs, CancellationToken cancellationToken = default)
    {
        int n = _input.Receive(pollMs);
        int i = ForwardBatch(0, n);
        while (i < n)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                DropRest(i, n);
                break;
            }

            _output.Flush(); // the output ring is full: make room, then go on with the same batch
            i = ForwardBatch(i, n);
        }

        if (n > 0)
        {
            SendAll(cancellationToken);
        }

        return n;
    }

    /// <summary>Forwards datagrams <paramref name="from"/>..<paramref name="count"/> of the batch until the output ring is full.</summary>
    /// <returns>The first datagram not forwarded: <paramref name="count"/> when all were.</returns>
    private int ForwardBatch(int from, int count)
    {
        for (int i = from; i < count; i++)
        {
            if (!_output.HasFreeSlot)
            {
                return i;
            }

            ForwardOne(_input[i]);
        }

        return count;
    }

    /// <summary>Counts datagrams <paramref name="from"/>..<paramref name="count"/> as received and dropped at shutdown.</summary>
    private void DropRest(int from, int count)
    {
        for (int i = from; i < count; i++)
        {
            Count(_input[i]);
            _dropped[(int)ForwardDropReason.Shutdown]++;
        }
    }

    // Every datagram taken from the input is counted once, by its key: Received = Forwarded + Dropped (+ in flight).
    private uint Count(ReceivedDatagram d)
    {
        _received++;
        uint received = _key switch
        {
            ForwardPriorityKey.Priority => d.Priority,
            ForwardPriorityKey.Mark => d.Mark,
            _ => d.Dscp,
        };
        _perPriority[Math.Min(received, PriorityBuckets - 1)]++;
        return received;
    }

    // The output has a free slot: the datagram is queued or dropped, never left waiting.
    private void ForwardOne(ReceivedDatagram d)
    {
        uint received = Count(d);
        if (d.Truncated)
        {
            _dropped[(int)ForwardDropReason.Truncated]++;
            return;
        }

        uint priority = _map.Map(received);
        if (_transform is null)
        {
            ForwardInPlace(d.Payload, new DatagramInfo(priority, TrafficClassOf(d)));
            return;
        }

        _output.TryReserve(out Span<byte> slot); // cannot fail: the caller saw a free slot
        int length = _transform(d.Payload, slot, ref priority);
        if (length == 0)
        {
            Drop(ForwardDropReason.Transform);
            return;
        }

        if (length < 0 || length > slot.Length)
        {
            Drop(ForwardDropReason.Oversize);
            return;
        }

        _output.Commit(length, new DatagramInfo(priority, TrafficClassOf(d)));
    }

    // The output slot points at the received bytes (after the header, if any): nothing is copied. The receive buffer
    // stays untouched until SendAll has ended every queued datagram, before the next receive.
    private void ForwardInPlace(ReadOnlySpan<byte> payload, in DatagramInfo info)
    {
        if (payload.Length + _header.Length > _output.MaxDatagramSize || payload.Length == 0)
        {
            _dropped[(int)ForwardDropReason.Oversize]++;
            return;
        }

        // Safety: the span lies in the receiver's native slab, and the header in a pinned array; neither moves.
        byte* data = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(payload));
        byte* header = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_header));
        _output.TryEnqueueReference(data, payload.Length, in info, header, _header.Length); // a free slot was seen
    }

    /// <summary>
    /// Sends everything queued, waiting while the kernel pushes back, until nothing is left or cancellation comes: then
    /// what is still queued ends as failed (ECANCELED), since it may point at receive buffers the next receive reuses.
    /// </summary>
    private void SendAll(CancellationToken cancellationToken)
    {
        while (_output.Flush().Pending > 0)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                _output.FailQueued(Errno.ECANCELED);
                return;
            }
        }
    }

    // The received DSCP and ECN travel on where the output carries a class per datagram.
    private byte TrafficClassOf(ReceivedDatagram d) => _output.PerPacketTrafficClass ? d.TrafficClass : (byte)0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Drop(ForwardDropReason reason)
    {
        _output.CancelReservation();
        _dropped[(int)reason]++;
    }
}
