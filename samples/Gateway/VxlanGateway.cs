using System.Runtime.CompilerServices;
using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Gateway;

/// <summary>
/// A userspace VXLAN tunnel endpoint (RFC 7348) on Perf: every frame read from the TAP leaves as one datagram to the
/// peer behind an 8-byte VXLAN header, with the priority its inner DSCP maps to and the inner DSCP and ECN as its own
/// (RFC 6040, normal mode); every datagram from the peer with the right VNI is written to the TAP. Both directions run
/// on the async APIs: no thread is held while either waits.
/// </summary>
internal sealed class VxlanGateway : IDisposable
{
    private readonly GatewaySettings _settings;
    private readonly TapDevice _tap;
    private readonly PacketReceiver _receiver;
    private readonly PacketSender _sender;
    private readonly int[] _bucketByDscp = new int[64];
    private readonly System.Net.IPAddress _peerAddress;
    private readonly byte[] _marked = new byte[GatewaySettings.MaxFrame]; // an inner frame whose ECN decapsulation changed
    private readonly int _largestFrame; // the TAP's MTU, its Ethernet header and one VLAN tag: what fits the underlay
    private readonly byte[] _read = new byte[GatewaySettings.MaxRead]; // one read: a frame or a super-packet, behind its header
    private int _readLength; // a frame read whose segments did not all fit the ring yet; 0 for none
    private int _nextSegment;
    private readonly FrameCoalescer? _coalescer; // with TSO granted: TCP segments from the peer merged into one write
    private long _heldBytes;

    // What the TAP may hand over: TSO (with ECN) and, from Linux 6.2, USO super-packets, and unfinished checksums.
    private const TunnelOffloads Offloads = TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6 | TunnelOffloads.TsoEcn |
        TunnelOffloads.Uso4 | TunnelOffloads.Uso6;

    private VxlanGateway(GatewaySettings settings, TapDevice tap, PacketReceiver receiver, PacketSender sender)
    {
        _settings = settings;
        _peerAddress = settings.Peer.ToIPAddress();
        _tap = tap;
        _largestFrame = Math.Min(GatewaySettings.MaxFrame, tap.Mtu + 14 + 4);
        if ((tap.Offloads & (TunnelOffloads.Tso4 | TunnelOffloads.Tso6)) != 0)
        {
            _coalescer = new FrameCoalescer(ethernet: true);
        }

        _receiver = receiver;
        _sender = sender;
        Counters = new GatewayCounters(settings.Priorities.Distinct);
        for (int d = 0; d < 64; d++)
        {
            _bucketByDscp[d] = Counters.Bucket(settings.Priorities.Of((byte)d));
        }
    }

    // Frames from the peer are finished packets: no checksum left to do, no super-packet.
    private static readonly VirtioNetHeader s_finished = new() { GsoType = VirtioNetHeader.GsoNone };

    internal GatewayCounters Counters { get; }

    /// <summary>The sender toward the peer: its strategy, and its per-datagram results.</summary>
    internal PacketSender Uplink => _sender;

    internal TapDevice Tap => _tap;

    /// <summary>The TAP refused a GSO write (some 6.6 LTS kernels): frames from the peer go one per write since.</summary>
    internal bool GsoWritesRefused => _coalescer?.GsoWritesRefused ?? false;

    /// <summary>Datagrams taken from the listening socket.</summary>
    internal long Received => _receiver.Received;

    /// <summary>Creates the TAP, binds the listening socket and connects the sender, in the calling thread's namespace.</summary>
    /// <exception cref="PerfSocketException">A setup call failed (with its errno).</exception>
    /// <exception cref="ArgumentException">This kernel and host cannot give each datagram its own priority and traffic class.</exception>
    internal static VxlanGateway Create(GatewaySettings settings)
    {
        TapDevice? tap = null;
        PacketReceiver? receiver = null;
        try
        {
            // The header is on either way (one read path); without offloads every frame is finished and GSO_NONE.
            tap = TapDevice.CreateTap(settings.Tap, new TapOptions { VirtioNetHeader = true, Offloads = settings.Offloads ? Offloads : TunnelOffloads.None });
            tap.Mtu = settings.Mtu ?? UnderlayMtu(settings.Peer) - GatewaySettings.Overhead(settings.Peer);
            receiver = PacketReceiver.Create(new PacketReceiverOptions
            {
                LocalAddress = settings.Listen,
                MaxDatagramSize = Vxlan.HeaderSize + GatewaySettings.MaxFrame,
                BatchSize = 64,
                ReceiveTrafficClass = true, // the outer ECN, for RFC 6040 decapsulation
                ReceivePriority = false,
                ReceiveBufferSize = 4 << 20,
                Gro = settings.Offloads, // the peer's runs arrive as one buffer; the receiver splits it
            });
            PacketSender sender = PacketSender.Create(new PacketSenderOptions
            {
                AddressFamily = settings.Peer.AddressFamily,
                LocalAddress = new DatagramAddress(settings.Listen.ToIPAddress(), 0), // the peer takes any source port (RFC 7348 5)
                ConnectTo = settings.Peer,
                PerPacketTrafficClass = true,
                MaxDatagramSize = Vxlan.HeaderSize + GatewaySettings.MaxFrame, // a frame read bigger than the underlay takes is dropped before
                RingSize = 256,
                BatchSize = 64,
                AutoFlush = false,
            });
            return new VxlanGateway(settings, tap, receiver, sender);
        }
        catch
        {
            receiver?.Dispose();
            tap?.Dispose();
            throw;
        }
    }

    // The path MTU toward the peer as the route has it (IP_MTU on a connected socket: the route's mtu, else the device's).
    private static int UnderlayMtu(DatagramAddress peer)
    {
        using var probe = new System.Net.Sockets.Socket(peer.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        probe.Connect(peer.ToEndPoint());
        bool v6 = peer.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        Span<byte> value = stackalloc byte[4];
        probe.GetRawSocketOption(v6 ? 41 : 0, v6 ? 24 : 14, value); // IPPROTO_IPV6/IPV6_MTU, IPPROTO_IP/IP_MTU
        return BitConverter.ToInt32(value);
    }

    /// <summary>Carries frames both ways until <paramref name="stop"/>; then sends what is queued and returns.</summary>
    internal async Task RunAsync(CancellationToken stop)
    {
        Task outbound = OutboundAsync(stop).AsTask();
        Task inbound = InboundAsync(stop).AsTask();
        await Task.WhenAll(outbound, inbound).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask OutboundAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                bool drained = ReadFrames();
                if (_sender.PendingCount > 0)
                {
                    await _sender.FlushAsync(stop).ConfigureAwait(false);
                }

                if (drained)
                {
                    await _tap.WaitReadableAsync(stop).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // SIGTERM: what was read goes out below
        }

        await _sender.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Reads frames and cuts super-packets into the sender's slots until the TAP is empty (true) or the ring is full.</summary>
    private bool ReadFrames()
    {
        while (true)
        {
            if (_readLength == 0)
            {
                int n = _tap.TryRead(_read);
                if (n <= 0)
                {
                    return true;
                }

                _readLength = n;
                _nextSegment = 0;
            }

            if (!QueueSegments())
            {
                return false; // the rest of this frame after a flush
            }

            _readLength = 0;
        }
    }

    /// <summary>
    /// Queues the frame read (every segment of a super-packet, from <see cref="_nextSegment"/> on), each behind its VXLAN
    /// header, written straight into a slot; false when the ring filled first.
    /// </summary>
    private bool QueueSegments()
    {
        if (!SuperFrame.TryRead(_read.AsSpan(0, _readLength), ethernet: true, out SuperFrame frame))
        {
            Counters.Malformed();
            return true;
        }

        if (frame.SegmentLength > _largestFrame)
        {
            Counters.Oversize(); // too big for the underlay: never a fragment
            return true;
        }

        if (_nextSegment == 0 && frame.IsSegmented)
        {
            Counters.SuperFrame();
        }

        Vxlan.TryTrafficClass(frame.Frame, out byte tos); // no IP: DSCP 0's priority, traffic class 0
        int dscp = tos >> 2;
        var info = new DatagramInfo(_settings.Priorities.Of((byte)dscp), tos);
        uint vni = _settings.Vni;
        for (; _nextSegment < frame.SegmentCount; _nextSegment++)
        {
            if (!_sender.TryReserve(out Span<byte> slot))
            {
                return false;
            }

            Vxlan.WriteHeader(slot, vni);
            int n = frame.WriteSegment(_nextSegment, slot[Vxlan.HeaderSize..]);
            _sender.Commit(Vxlan.HeaderSize + n, in info);
            Counters.Out(_bucketByDscp[dscp], n);
        }

        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask InboundAsync(CancellationToken stop)
    {
        try
        {
            while (true)
            {
                int n = await _receiver.ReceiveAsync(stop).ConfigureAwait(false);
                Deliver(n);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private void Deliver(int count)
    {
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> datagram = _receiver[i].Payload;
            InboundDrop drop = !FromPeer(_receiver[i].Source) ? InboundDrop.ForeignSource
                : _receiver[i].Truncated ? InboundDrop.Malformed : Vxlan.Check(datagram, _settings.Vni);
            ReadOnlySpan<byte> frame = drop == InboundDrop.None ? datagram[Vxlan.HeaderSize..] : default; // a short one has none
            if (drop == InboundDrop.None && _receiver[i].HasTrafficClass && (_receiver[i].TrafficClass & 3) != Ecn.NotEct)
            {
                drop = Decapsulate(_receiver[i].TrafficClass, ref frame);
            }

            if (drop == InboundDrop.None)
            {
                drop = Write(frame);
            }

            if (drop != InboundDrop.None)
            {
                Counters.Drop(drop);
            }
        }

        WriteHeld();
    }

    // Merges the frame into the TCP super-packet held, where it continues it; else writes what is held, then the frame.
    private InboundDrop Write(ReadOnlySpan<byte> frame)
    {
        if (_coalescer is not null)
        {
            if (_coalescer.TryAdd(frame))
            {
                _heldBytes += frame.Length;
                return InboundDrop.None;
            }

            WriteHeld();
            if (_coalescer.TryAdd(frame))
            {
                _heldBytes = frame.Length;
                return InboundDrop.None;
            }
        }

        InboundDrop drop = Dropped(_tap.Write(in s_finished, frame));
        if (drop == InboundDrop.None)
        {
            Counters.In(1, frame.Length);
        }

        return drop;
    }

    private void WriteHeld()
    {
        int segments = _coalescer?.Count ?? 0;
        if (segments == 0)
        {
            return;
        }

        InboundDrop drop = Dropped(_coalescer!.WriteHeld(_tap));
        if (drop == InboundDrop.None)
        {
            Counters.In(segments, _heldBytes);
            Counters.Coalesced(segments);
        }
        else
        {
            Counters.Drop(drop, segments);
        }

        _heldBytes = 0;
    }

    private static InboundDrop Dropped(int errno) => errno == 0 ? InboundDrop.None : errno == Errno.EIO ? InboundDrop.TapDown : InboundDrop.TapError;

    // RFC 6040: an outer ECN mark changes the inner packet, in a copy (the receive buffer is the receiver's).
    private InboundDrop Decapsulate(byte outer, ref ReadOnlySpan<byte> frame)
    {
        if (!Vxlan.TryTrafficClass(frame, out byte inner))
        {
            return InboundDrop.None; // no IP inside: nothing to mark
        }

        int ecn = Ecn.Decapsulated(outer, inner);
        if (ecn < 0)
        {
            return InboundDrop.EcnNotEct;
        }

        if (ecn != (inner & 3))
        {
            Span<byte> copy = _marked.AsSpan(0, frame.Length);
            frame.CopyTo(copy);
            Ecn.TrySet(copy, (byte)ecn);
            frame = copy;
        }

        return InboundDrop.None;
    }

    // Only the configured peer is trusted: anyone else who reaches the port with the right VNI would otherwise put frames
    // on the inner network. Any source port is the peer's (RFC 7348 5: it comes from a hash of the inner flow).
    private bool FromPeer(in DatagramAddress source) => source == new DatagramAddress(_peerAddress, source.Port);

    public void Dispose()
    {
        _sender.Dispose();
        _receiver.Dispose();
        _tap.Dispose();
    }
}
