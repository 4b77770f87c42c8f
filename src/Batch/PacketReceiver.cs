using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Receives UDP datagrams in batches with recvmmsg, each with the <c>skb-&gt;priority</c> the kernel reports through
/// SO_RCVPRIORITY. A batch stays readable through <see cref="this[int]"/> until the next <see cref="Receive"/>.
/// </summary>
/// <remarks>Not thread-safe; receiving allocates nothing.</remarks>
public sealed unsafe class PacketReceiver : IDisposable
{
    private readonly SafeFdHandle _socket;
    private readonly SlotRing _slots;
    private readonly int _batch;
    private int _count;
    private bool _disposed;

    private PacketReceiver(SafeFdHandle socket, SlotRing slots, int batch, DatagramAddress local)
    {
        _socket = socket;
        _slots = slots;
        _batch = batch;
        LocalAddress = local;
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
            if (options.ReceivePriority)
            {
                UdpSocket.SetInt(socket, Interop.SOL_SOCKET, Interop.SO_RCVPRIORITY, 1, "SO_RCVPRIORITY");
            }

            UdpSocket.SetBufferSize(socket, send: false, options.ReceiveBufferSize);
            UdpSocket.Bind(socket, options.LocalAddress);
            DatagramAddress local = UdpSocket.GetLocalAddress(socket);
            slots = new SlotRing(options.BatchSize, options.MaxDatagramSize, priorityCmsg: false);
            return new PacketReceiver(socket, slots, options.BatchSize, local);
        }
        catch
        {
            slots?.Dispose();
            socket?.Dispose();
            throw;
        }
    }

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
    /// </summary>
    /// <returns>The number received, 0 on timeout.</returns>
    public int Receive(int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _count = 0;
        while (true)
        {
            _slots.ArmForReceive(_batch);
            int n = Interop.Sys.RecvMMsg(_socket, _slots.Messages, (uint)_batch, Interop.MSG_DONTWAIT, null);
            if (n > 0)
            {
                _count = n;
                Received += n;
                for (int i = 0; i < n; i++)
                {
                    ReceivedBytes += _slots.Messages[i].Len;
                }

                return n;
            }

            int errno = n == 0 ? Errno.EAGAIN : Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR)
            {
                continue;
            }

            if (errno != Errno.EAGAIN)
            {
                ThrowHelper.ThrowSocket("recvmmsg", errno);
            }

            if (timeoutMs == 0 || !UdpSocket.Poll(_socket, Interop.POLLIN, timeoutMs))
            {
                return 0;
            }
        }
    }

    /// <summary>Datagram <paramref name="index"/> of the current batch; valid until the next <see cref="Receive"/>.</summary>
    public ReceivedDatagram this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(index), "Index is outside the current batch.");
            }

            ref Interop.MMsgHdr m = ref _slots.Messages[index];
            bool hasPriority = CmsgWriter.TryReadPriority((byte*)m.Hdr.Control, m.Hdr.ControlLen, out uint priority);
            int length = (int)Math.Min(m.Len, (uint)_slots.MaxPayload);
            return new ReceivedDatagram(
                new ReadOnlySpan<byte>(_slots.PayloadPtr(index), length),
                priority,
                hasPriority,
                (byte*)m.Hdr.Name,
                (int)m.Hdr.NameLen,
                (m.Hdr.Flags & Interop.MSG_TRUNC) != 0);
        }
    }

    /// <summary>Closes the socket and frees the buffers; idempotent.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _count = 0;
        _socket.Dispose();
        _slots.Dispose();
    }
}

/// <summary>One received datagram, borrowed from its receiver's buffers until the next receive.</summary>
public readonly unsafe ref struct ReceivedDatagram
{
    // Safety: points into the receiver's slab, valid until its next Receive, like Payload. Source is built only when
    // asked for: a forwarder never needs it.
    private readonly byte* _name;
    private readonly int _nameLength;

    internal ReceivedDatagram(ReadOnlySpan<byte> payload, uint priority, bool hasPriority, byte* name, int nameLength, bool truncated)
    {
        Payload = payload;
        Priority = priority;
        HasPriority = hasPriority;
        _name = name;
        _nameLength = nameLength;
        Truncated = truncated;
    }

    /// <summary>The payload (cut at MaxDatagramSize when <see cref="Truncated"/>).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The datagram's <c>skb-&gt;priority</c>, when <see cref="HasPriority"/>.</summary>
    public uint Priority { get; }

    /// <summary>Whether the kernel reported a priority (SO_RCVPRIORITY on).</summary>
    public bool HasPriority { get; }

    /// <summary>The sender's address.</summary>
    public DatagramAddress Source => new(_name, _nameLength);

    /// <summary>The datagram was longer than the receiver's MaxDatagramSize.</summary>
    public bool Truncated { get; }
}
