using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Receives UDP datagrams in batches with recvmmsg, each with what the kernel reports of it: its <c>skb-&gt;priority</c>
/// (SO_RCVPRIORITY, Linux 6.14+), its mark (SO_RCVMARK) and its TOS or traffic class, as the options ask. With UDP GRO
/// (<see cref="PacketReceiverOptions.Gro"/>) the kernel hands over coalesced buffers and the receiver splits them: each
/// datagram is still its own <see cref="ReceivedDatagram"/>. A batch stays readable through <see cref="this[int]"/> until
/// the next <see cref="Receive"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: one receive at a time. Receiving allocates nothing. To stop a <see cref="ReceiveAsync"/> that waits,
/// cancel its token; a Dispose also ends the wait (with <see cref="ObjectDisposedException"/>).
/// </remarks>
public sealed unsafe partial class PacketReceiver : IDisposable, IGateOwner
{
    /// <summary>
    /// Datagrams one coalesced buffer may hold: UDP GRO merges at most 64 (UDP_GRO_CNT_MAX), and a GSO message sent
    /// over loopback to a GRO socket arrives whole, with up to UDP_MAX_SEGMENTS (128).
    /// </summary>
    internal const int MaxSegmentsPerBuffer = 128;

    private readonly SafeFdHandle _socket;
    private readonly SlotRing _slots;
    private readonly int _batch;
    private readonly ReceivedFields _reports; // what the kernel took of what the options asked for
    private readonly ReadinessWaiter _waiter = new();
    private readonly LifetimeGate _gate;
    private int _count;

    // GRO only: each datagram of the batch as (buffer, offset, length), and what each buffer's cmsgs said.
    private readonly int[]? _datagramBuffer;
    private readonly int[]? _datagramOffset;
    private readonly int[]? _datagramLength;
    private readonly uint[]? _bufferPriority;
    private readonly uint[]? _bufferMark;
    private readonly byte[]? _bufferTrafficClass;
    private readonly ReceivedFields[]? _bufferFound;
    private long _coalescedBuffers;

    private PacketReceiver(SafeFdHandle socket, SlotRing slots, int batch, DatagramAddress local, ReceivedFields reports, bool gro)
    {
        _socket = socket;
        _slots = slots;
        _gate = new LifetimeGate(this);
        _batch = batch;
        LocalAddress = local;
        _reports = reports;
        if (gro)
        {
            _datagramBuffer = new int[batch * MaxSegmentsPerBuffer];
            _datagramOffset = new int[batch * MaxSegmentsPerBuffer];
            _datagramLength = new int[batch * MaxSegmentsPerBuffer];
            _bufferPriority = new uint[batch];
            _bufferMark = new uint[batch];
            _bufferTrafficClass = new byte[batch];
            _bufferFound = new ReceivedFields[batch];
        }
    }

    /// <summary>Opens, configures and binds the socket and allocates the batch buffers.</summary>
    /// <exception cref="PerfSocketException">A setup call failed.</exception>
    public static PacketReceiver Create(PacketReceiverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        SafeFdHandle? socket = null;
        SlotRing? slots = null;
        try
        {
            socket = UdpSocket.Create(options.LocalAddress.AddressFamily);
            ReceivedFields reports = ReceivedFields.None;
            if (options.ReceivePriority && Enable(socket, Interop.SOL_SOCKET, Interop.SO_RCVPRIORITY, "SO_RCVPRIORITY"))
            {
                reports |= ReceivedFields.Priority;
            }

            if (options.ReceiveMark && Enable(socket, Interop.SOL_SOCKET, Interop.SO_RCVMARK, "SO_RCVMARK"))
            {
                reports |= ReceivedFields.Mark;
            }

            if (options.ReceiveTrafficClass)
            {
                bool v6 = options.LocalAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                if (v6 ? Enable(socket, Interop.SOL_IPV6, Interop.IPV6_RECVTCLASS, "IPV6_RECVTCLASS") : Enable(socket, Interop.SOL_IP, Interop.IP_RECVTOS, "IP_RECVTOS"))
                {
                    reports |= ReceivedFields.TrafficClass;
                }
            }

            // UDP_GRO (Linux 5.0+): the kernel may hand over up to 64 KiB of coalesced datagrams in one buffer, so
            // every buffer is then the largest a UDP payload can be.
            bool gro = options.Gro && Enable(socket, Interop.SOL_UDP, Interop.UDP_GRO, "UDP_GRO");
            UdpSocket.SetBufferSize(socket, send: false, options.ReceiveBufferSize);
            if (options.ReusePort)
            {
                UdpSocket.SetInt(socket, Interop.SOL_SOCKET, Interop.SO_REUSEPORT, 1, "SO_REUSEPORT");
            }

            UdpSocket.Bind(socket, options.LocalAddress);
            DatagramAddress local = UdpSocket.GetLocalAddress(socket);
            slots = new SlotRing(options.BatchSize, gro ? MaxCoalescedBuffer : options.MaxDatagramSize, priorityCmsg: false);
            return new PacketReceiver(socket, slots, options.BatchSize, local, reports, gro);
        }
        catch
        {
            slots?.Dispose();
            socket?.Dispose();
            throw;
        }
    }

    // Turns on a receive option; false when this kernel lacks it (ENOPROTOOPT: SO_RCVPRIORITY before 6.14, SO_RCVMARK
    // before 5.19), so the receiver works on and says so. Any other failure is a setup error.
    private static bool Enable(SafeFdHandle socket, int level, int name, string what)
    {
        int errno = UdpSocket.TrySetInt(socket, level, name, 1);
        if (errno == Errno.ENOPROTOOPT)
        {
            return false;
        }

        if (errno != 0)
        {
            ThrowHelper.ThrowSocket("setsockopt(" + what + ")", errno);
        }

        return true;
    }

    /// <summary>Whether each datagram carries its <c>skb-&gt;priority</c>: asked for, and the kernel has SO_RCVPRIORITY (6.14+).</summary>
    public bool ReportsPriority => (_reports & ReceivedFields.Priority) != 0;

    /// <summary>Whether each datagram carries its mark: asked for, and the kernel has SO_RCVMARK (5.19+).</summary>
    public bool ReportsMark => (_reports & ReceivedFields.Mark) != 0;

    /// <summary>Whether each datagram carries its TOS or traffic class byte.</summary>
    public bool ReportsTrafficClass => (_reports & ReceivedFields.TrafficClass) != 0;

    /// <summary>Whether the kernel coalesces datagrams into buffers for this socket (UDP GRO asked for, Linux 5.0+).</summary>
    public bool Gro => _datagramBuffer is not null;

    /// <summary>Buffers that held two or more coalesced datagrams (GRO), since creation.</summary>
    public long CoalescedBuffers => _coalescedBuffers;

    private const int MaxCoalescedBuffer = 65535;

    /// <summary>The bound address, with the port the kernel chose.</summary>
    public DatagramAddress LocalAddress { get; }

    /// <summary>Datagrams in the current batch.</summary>
    public int Count => _count;

    /// <summary>Datagrams received since creation.</summary>
    public long Received { get; private set; }

    /// <summary>Payload bytes received since creation.</summary>
    public long ReceivedBytes { get; private set; }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (-1: forever) for datagrams, then takes up to a batch of them with one recvmmsg.
    /// Holds the calling thread while it waits; <see cref="ReceiveAsync"/> does not.
    /// </summary>
    /// <returns>The number received, 0 on timeout.</returns>
    /// <exception cref="ObjectDisposedException">The receiver was disposed, including while the wait lasted.</exception>
    public int Receive(int timeoutMs)
    {
        _gate.Enter();
        int n;
        try
        {
            n = ReceiveBlocking(timeoutMs);
        }
        catch
        {
            _gate.Exit();
            throw;
        }

        // The batch stays mapped until the next call, even where a Dispose from another thread comes meanwhile.
        _gate.ExitHolding();
        return n;
    }

    private int ReceiveBlocking(int timeoutMs)
    {
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        while (true)
        {
            int n = TryReceive();
            if (n >= 0)
            {
                return n;
            }

            // Waits in slices, so a Dispose from another thread is seen within one.
            long remaining = deadline - Environment.TickCount64;
            if (remaining <= 0 || _gate.DisposeRequested)
            {
                return 0;
            }

            UdpSocket.Poll(_socket, Interop.POLLIN, (int)Math.Min(remaining, WaitSliceMs));
        }
    }

    private const int WaitSliceMs = 100;

    /// <summary>One non-blocking recvmmsg: the count received, or -1 when nothing is queued. Called inside the gate.</summary>
    private int TryReceive()
    {
        _count = 0;
        while (true)
        {
            _slots.ArmForReceive(_batch);
            int n = Interop.Sys.RecvMMsg(_socket, _slots.Messages, (uint)_batch, Interop.MSG_DONTWAIT, null);
            if (n > 0)
            {
                _count = _datagramBuffer is null ? n : Split(n);
                Received += _count;
                for (int i = 0; i < n; i++)
                {
                    ReceivedBytes += _slots.Messages[i].Len;
                }

                return _count;
            }

            int errno = n == 0 ? Errno.EAGAIN : Marshal.GetLastPInvokeError();
            if (errno == Errno.EAGAIN)
            {
                return -1;
            }

            if (errno != Errno.EINTR)
            {
                ThrowHelper.ThrowSocket("recvmmsg", errno);
            }
        }
    }

    // Cuts each coalesced buffer at its gso_size (the last datagram may be shorter) and notes what its cmsgs said: the
    // kernel coalesces only datagrams of one flow with equal priority and mark, so they hold for every datagram in it.
    private int Split(int buffers)
    {
        int count = 0;
        for (int b = 0; b < buffers; b++)
        {
            ref Interop.MMsgHdr m = ref _slots.Messages[b];
            ReceivedFields found = CmsgWriter.ReadReceived((byte*)m.Hdr.Control, m.Hdr.ControlLen,
                out _bufferPriority![b], out _bufferMark![b], out _bufferTrafficClass![b], out int segment);
            _bufferFound![b] = found & _reports;
            int length = (int)Math.Min(m.Len, (uint)_slots.MaxPayload);
            if ((found & ReceivedFields.Coalesced) == 0 || segment <= 0 || segment >= length)
            {
                segment = Math.Max(length, 1);
            }
            else
            {
                _coalescedBuffers++;
            }

            // Safety: at most MaxSegmentsPerBuffer per buffer (the kernel's own limits); a buffer claiming more keeps
            // the rest in its last datagram rather than overrunning the index.
            int last = count + MaxSegmentsPerBuffer - 1;
            for (int offset = 0; offset < length || offset == 0; offset += segment)
            {
                _datagramBuffer![count] = b;
                _datagramOffset![count] = offset;
                _datagramLength![count] = count == last ? length - offset : Math.Min(segment, length - offset);
                count++;
                if (count > last)
                {
                    break;
                }
            }
        }

        return count;
    }

    /// <summary>
    /// Datagram <paramref name="index"/> of the current batch; valid until the next receive, or a
    /// <see cref="Dispose"/> on the thread that received it (one from another thread waits for the next receive).
    /// </summary>
    public ReceivedDatagram this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(index), "Index is outside the current batch.");
            }

            if (_datagramBuffer is not null)
            {
                return Coalesced(index);
            }

            ref Interop.MMsgHdr m = ref _slots.Messages[index];
            uint priority = 0, mark = 0;
            byte trafficClass = 0;
            ReceivedFields found = _reports == ReceivedFields.None
                ? ReceivedFields.None
                : CmsgWriter.ReadReceived((byte*)m.Hdr.Control, m.Hdr.ControlLen, out priority, out mark, out trafficClass);
            int length = (int)Math.Min(m.Len, (uint)_slots.MaxPayload);
            return new ReceivedDatagram(
                new ReadOnlySpan<byte>(_slots.PayloadPtr(index), length),
                priority,
                mark,
                trafficClass,
                found,
                (byte*)m.Hdr.Name,
                (int)m.Hdr.NameLen,
                (m.Hdr.Flags & Interop.MSG_TRUNC) != 0);
        }
    }

    private ReceivedDatagram Coalesced(int index)
    {
        int b = _datagramBuffer![index];
        ref Interop.MMsgHdr m = ref _slots.Messages[b];
        return new ReceivedDatagram(
            new ReadOnlySpan<byte>(_slots.PayloadPtr(b) + _datagramOffset![index], _datagramLength![index]),
            _bufferPriority![b],
            _bufferMark![b],
            _bufferTrafficClass![b],
            _bufferFound![b],
            (byte*)m.Hdr.Name,
            (int)m.Hdr.NameLen,
            (m.Hdr.Flags & Interop.MSG_TRUNC) != 0);
    }

    /// <summary>
    /// Closes the socket and frees the buffers; idempotent and safe from any thread at any moment. Where a receive is
    /// running, or a batch was received on another thread, the receive (or the next one, which then throws
    /// <see cref="ObjectDisposedException"/>) does it, so no datagram handed out points at freed memory while in use.
    /// </summary>
    public void Dispose()
    {
        if (_gate.Dispose())
        {
            _waiter.Abort(); // a ReceiveAsync waiting now sees the request at once, and tears down on its way out
        }
        else
        {
            _socket.Dispose(); // no call runs: the port is let go now, even where a batch held elsewhere keeps the buffers
        }
    }

    void IGateOwner.Teardown(bool finalSend)
    {
        _count = 0;
        _socket.Dispose();
        _slots.Dispose();
    }
}
