using System.Runtime.CompilerServices;
using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Gateway;

/// <summary>
/// Inward: datagrams from the peer (received with UDP GRO where offloads are on), checked (the peer's address, the VNI,
/// RFC 6040 for the outer ECN) and written to this queue of the TAP, a flow's TCP segments (UDP datagrams) merged into
/// one super-packet where the TAP has TSO (USO).
/// </summary>
internal sealed partial class GatewayWorker
{
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

    // Merges the frame into the super-packet held, where it continues it; else writes what is held, then the frame.
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
}
