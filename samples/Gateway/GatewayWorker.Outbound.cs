using System.Runtime.CompilerServices;
using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Gateway;

/// <summary>
/// Outward: frames and TSO/USO super-packets read from this queue of the TAP, cut into frames written straight into the
/// slots of the sender whose source port the inner flow hashes to, each behind its VXLAN header, with the priority its
/// inner DSCP maps to and the inner DSCP and ECN outside.
/// </summary>
internal sealed partial class GatewayWorker
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask OutboundAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                bool drained = ReadFrames();
                await FlushAsync(stop).ConfigureAwait(false);
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

        await FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private async ValueTask FlushAsync(CancellationToken stop)
    {
        foreach (PacketSender sender in _uplinks)
        {
            if (sender.PendingCount > 0)
            {
                await sender.FlushAsync(stop).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads frames and cuts super-packets into the senders' slots until the TAP is empty (true) or a ring is full.</summary>
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
        PacketSender sender = _uplinks.Length == 1 ? _uplinks[0] : _uplinks[FlowHash.Of(frame.Frame, ethernet: true) % (uint)_uplinks.Length];
        uint vni = _settings.Vni;
        for (; _nextSegment < frame.SegmentCount; _nextSegment++)
        {
            if (!sender.TryReserve(out Span<byte> slot))
            {
                return false;
            }

            Vxlan.WriteHeader(slot, vni);
            int n = frame.WriteSegment(_nextSegment, slot[Vxlan.HeaderSize..]);
            sender.Commit(Vxlan.HeaderSize + n, in info);
            Counters.Out(_bucketByDscp[dscp], n);
        }

        return true;
    }
}
